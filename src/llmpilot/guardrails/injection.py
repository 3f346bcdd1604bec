"""Prompt-injection and jailbreak rules, Korean and English.

Each rule is one family of attack phrasing with a weight (how sure a match alone makes us): an
explicit override ("ignore all previous instructions", "이전 지시를 무시하고") is near-certain; a
mention of the system prompt or a role-play request is a weak signal on its own (benign users ask
"what is a system prompt?") and only counts when another signal joins it. Weights combine as
independent evidence, 1 - prod(1 - w), so two weak signals cross the default threshold of 0.5 and a
single one does not. Rule ids (never the matched text) go into `RailDecision.details`.

`DOCUMENT_RULES` adds what only makes sense inside a retrieved passage (indirect injection): text
that addresses the assistant reading it ("AI assistants must…", "모델은 … 답하라") or tells it what to
say to the user.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

_ZERO_WIDTH = re.compile(r"[\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff\u00ad]")
_SPACES = re.compile(r"\s+")


def normalize(text: str) -> str:
    """NFKC (full-width letters, ligatures), case-folded, zero-width characters removed and
    whitespace collapsed: the obfuscations that cost nothing to an attacker."""
    text = unicodedata.normalize("NFKC", text)
    text = _ZERO_WIDTH.sub("", text)
    return _SPACES.sub(" ", text).casefold().strip()


@dataclass(frozen=True)
class Rule:
    id: str
    pattern: re.Pattern[str]
    weight: float


def _rule(rule_id: str, weight: float, pattern: str, flags: int = 0) -> Rule:
    return Rule(rule_id, re.compile(pattern, flags), weight)


# --- English -----------------------------------------------------------------------------------

_EN_VERB = (
    r"(?:ignore|disregard|forget|skip|override|overrule|bypass|neglect|drop|abandon|discard|erase|delete)"
)
_EN_QUAL = (
    r"(?:previous|prior|above|earlier|preceding|initial|original|former|old|all|any|every|your|the system|"
    r"system|developer|existing|default|current|safety|those|these)"
)
_EN_OBJ = (
    r"(?:instructions?|prompts?|rules?|directives?|guidelines?|commands?|context|guardrails?|restrictions?|"
    r"programming|training|constraints?|polic(?:y|ies)|messages?|orders?|settings|conversation|text)"
)

EN_RULES: tuple[Rule, ...] = (
    _rule(
        "en.ignore_above",
        0.8,
        rf"\b{_EN_VERB}\s+(?:all\s+|everything\s+|anything\s+)?(?:of\s+)?(?:the\s+|that\s+)?"
        r"(?:above|preceding|prior|previous|foregoing)\b"
        # "disregard the previous version of this notice" corrects a document.
        r"(?!\s+(?:warning|error|message|step|section|chapter|version|notice|email|letter|edition|post))",
    ),
    _rule(
        "en.ignore_told",
        0.8,
        rf"\b{_EN_VERB}\s+(?:all|everything|anything|ever\w*|what(?:ever)?)\b(?:\s+\S+){{0,3}}?\s+"
        r"(?:told|instructed|taught|programmed|trained|given)\b",
    ),
    # System-prompt extraction phrased as a question (garak's sysprompt family).
    _rule(
        "en.sysprompt_question",
        0.6,
        r"\bwhat (?:are|were|is) your (?:\w+ )?(?:instructions|directives|system (?:prompt|message)|prompt)\b"
        r"|\bwhat were you (?:told|instructed|programmed)\b|\binitiali[sz]ation (?:string|prompt|text)\b"
        r"|\brepeat (?:this|the) (?:entire|whole|full) conversation\b"
        r"|\b(?:not supposed|not allowed|forbidden) to (?:tell|say|reveal|share|disclose)\b"
        r"|\bbeginning with [\"']you are\b",
    ),
    _rule(
        "en.secret_request",
        0.6,
        r"\b(?:what(?:'s| is| are)|share|tell me|give me|confirm|reveal|provide|send|spell|write|encode|"
        r"disclose|say)\b(?:\s+\S+){0,5}?\s+(?:your|the (?:admin|system|secret|confidential))\s+"
        r"(?:password|passcode|passphrase|pass phrase|secret(?: key| string| code)?|api key|"
        r"credentials|pin)\b",
    ),
    _rule(
        "en.ignore_previous",
        0.9,
        rf"\b{_EN_VERB}\b(?:\s+\S+){{0,3}}?\s+{_EN_QUAL}\b(?:\s+\S+){{0,2}}?\s+{_EN_OBJ}\b",
    ),
    _rule(
        "en.ignore_everything", 0.8, rf"\b{_EN_VERB}\s+(?:everything|all(?: of)? (?:that|this|the above))\b"
    ),
    _rule(
        "en.you_are_now",
        0.6,
        (
            r"\byou(?:'re| are) (?:now|from now on|henceforth)\b(?! (?:able|ready|connected|logged|signed|"
            r"registered|done|eligible))"
        ),
    ),
    _rule(
        "en.no_longer",
        0.8,
        (
            r"\byou(?:'re| are) no longer (?:bound|restricted|limited|"
            r"required|an? (?:ai|assistant|language model)|"
            r"chatgpt)"
        ),
    ),
    _rule(
        "en.from_now_on",
        0.5,
        (
            r"\b(?:from now on|for the rest of this conversation|henceforth)\b,? (?:you|act|respond|"
            r"answer|reply|pretend|always|only|never)\b"
        ),
    ),
    _rule(
        "en.dan",
        0.9,
        (
            r"\bdo anything now\b|\b(?:dan|stan|dude|aim) mode\b|"
            r"\bact as dan\b|\byou are dan\b|\bdan,? (?:which|who) stands for\b"
        ),
    ),
    _rule(
        # Also real product words ("developer mode" toggles, phone jailbreaking): weak alone.
        "en.jailbreak_word",
        0.45,
        r"\bjail ?break(?:ing|en)?\b|\bdeveloper mode\b|\bgod mode\b",
    ),
    _rule(
        "en.jailbreak",
        0.6,
        (
            r"\bunfiltered\b|\buncensored\b|"
            r"\bunrestricted (?:ai|mode|assistant|model)\b|"
            r"\bno (?:ethical|moral) (?:guidelines|constraints|restrictions)\b"
        ),
    ),
    _rule(
        "en.without_limits",
        0.45,
        (
            r"\bwithout (?:any )?(?:restrictions|filters|filtering|limits|limitations|censorship|rules|"
            r"guidelines|ethics|morals)\b|\bno (?:restrictions|filters|limits|censorship|rules) (?:apply|"
            r"at all)\b"
        ),
    ),
    _rule(
        "en.bypass_safety",
        0.8,
        (
            r"\b(?:bypass|disable|turn off|switch off|remove|override|"
            r"circumvent|evade|get around|deactivate)\s+(?:your|"
            r"all|any|the(?: ai'?s?)?|its)\s+(?:safety|content|ethical|moral|security)?\s*(?:filters?|"
            r"guidelines|restrictions|guardrails|safeguards|polic(?:y|ies)|censorship|alignment|protocols)\b"
        ),
    ),
    _rule(
        "en.system_prompt",
        0.35,
        (
            r"\b(?:system|initial|hidden|secret|original|developer|"
            r"pre-?)\s?(?:prompt|instructions|message)s?\b|"
            r"\bprompt (?:above|before this)\b"
        ),
    ),
    _rule(
        "en.reveal",
        0.6,
        (
            r"\b(?:reveal|show|print|repeat|output|display|leak|dump|spell out|recite|expose|disclose|"
            r"copy|write out|tell me)\b(?:\s+\S+){0,4}?\s+(?:your|the|its|all|"
            r"these|those|my|above)\s+(?:\S+\s+)?(?:prompt|"
            r"instructions|rules|guidelines|configuration|directives|words above|text above)\b"
        ),
    ),
    _rule(
        "en.repeat_above",
        0.8,
        (
            r"\b(?:repeat|print|output|copy|return)\s+(?:everything|all|"
            r"the (?:text|words|content|lines))\s+(?:above|"
            r"before|preceding|prior)\b"
        ),
    ),
    _rule(
        "en.new_instructions",
        0.6,
        (
            r"\b(?:new|updated|real|actual|true|secret|override|revised)\s+(?:instructions?|task|rules|"
            r"directives?|objective|orders|system prompt)\s*(?::|are\b|is\b|follow)"
        ),
    ),
    _rule(
        "en.roleplay",
        0.4,
        (
            r"\b(?:pretend|act|behave|role-?play|imagine)\s+(?:to be|you are|you're|as if|as|like)\b|"
            r"\bstay in character\b|\bin character\b"
        ),
    ),
    _rule(
        "en.evil_persona",
        0.5,
        (
            r"\b(?:evil|unethical|amoral|immoral|malicious|rogue|unaligned|uncensored|unhinged)\s+(?:ai|"
            r"assistant|bot|chatbot|model|persona|version|twin|character)\b"
        ),
    ),
    _rule(
        "en.special_tokens",
        0.9,
        (
            r"<\|(?:im_start|im_end|system|endoftext|user|assistant)\|>|"
            r"\[/?inst\]|<<\/?sys>>|^#{2,}\s*(?:system|instruction)|"
            r"\[system\]|<system>"
        ),
    ),
    _rule(
        "en.do_not_follow",
        0.7,
        (
            r"\b(?:do not|don't|stop|never)\s+(?:follow|obey|comply with|adhere to|listen to)\s+(?:your|"
            r"the|any|those|these|previous|prior)\b"
        ),
    ),
    _rule(
        "en.hypothetical_harm",
        0.3,
        r"\bhypothetical(?:ly)?\b|\bfor (?:educational|research) purposes only\b|\bin a fictional world\b",
    ),
)

# --- Korean ------------------------------------------------------------------------------------

# Not 안내 ("notice"): "이전 안내문은 무시해 주십시오" corrects a notice, it attacks nothing.
_KO_OBJ = r"(?:지시|지침|명령|규칙|룰|프롬프트|제약|제한|가이드라인|설정|대화|맥락|문맥|요청|정책|원칙)"
_KO_QUAL = (
    r"(?:이전|앞의|앞선|앞에서|위의|위에|위|기존|모든|지금까지|원래|"
    r"초기|너의|네|당신의|니|시스템|개발자|처음|기본)"
)
_KO_IGNORE = (
    r"(?:무시|신경\s?쓰지\s?말|덮어쓰|폐기|잊어|잊고|잊으|잊을|잊는|무효|어기|어겨|"
    r"따르지\s?마|따르지\s?말|지우고|지워|버리고|버려|해제)"
)

KO_RULES: tuple[Rule, ...] = (
    _rule(
        "ko.ignore_above",
        0.8,
        r"(?:위|위에|앞|앞에|이전|지금까지|여태|전에)\s?(?:있는|나온|말한|들은|받은|의)?\s?(?:모든|전부)?\s?"
        r"(?:내용|것|말|지시|지침|규칙|정책|대화)?\s?(?:은|는|을|를|들은|들을)?\s?(?:모두|전부|다)?\s?"
        r"(?:무시하고|무시해|무시하세요|무시할 것|무시하라|잊어|잊고|덮어쓰|폐기|취소|무효)",
    ),
    _rule(
        "ko.secret_request",
        0.6,
        r"(?:네|너의|니|당신의|시스템|관리자|어드민|비밀)\s?(?:비밀번호|비번|암호|패스워드|비밀\s?키|키|인증\s?코드)"
        r"\S*\s?(?:\S+\s?){0,3}?(?:알려|말해|뭐야|뭐지|뭔지|무엇|공유|확인해|보여|출력|써\s?줘|적어)",
    ),
    _rule(
        "ko.ignore_previous",
        0.9,
        rf"{_KO_QUAL}\s?(?:의\s?)?(?:\S+\s?){{0,2}}?{_KO_OBJ}\S*\s?(?:\S+\s?){{0,2}}?{_KO_IGNORE}",
    ),
    _rule(
        "ko.ignore_imperative",
        0.6,
        (
            rf"{_KO_OBJ}\S*\s?(?:은|는|을|를|들은|들을)?\s?(?:모두|전부|다|싹)?\s?(?:무시하고|무시해|"
            rf"무시하라|무시하세요|무시해라|무시할 것|"
            rf"무시하십시오|잊어|잊고|잊으세요|잊어라|잊어버려|따르지 마)"
        ),
    ),
    _rule(
        "ko.system_prompt",
        0.35,
        r"시스템\s?(?:프롬프트|메시지|지시|지침|명령|설정값)|(?:초기|숨겨진|숨은|원래|내부|"
        r"비밀)\s?(?:프롬프트|지시문|지침)|프롬프트\s?(?:원문|전문|내용)",
    ),
    _rule(
        "ko.reveal",
        0.6,
        # Only the assistant's own instructions: "설치 지침을 알려주세요" is a question about a manual.
        rf"(?:(?:너의|네|당신의|니|너에게\s?주어진|네가\s?받은|처음\s?받은|숨겨진|내부)\s?(?:\S+\s?)?{_KO_OBJ}\S*"
        r"|프롬프트\S*|지시문\S*)\s?(?:\S+\s?){0,3}?(?:보여|알려|출력|공개|말해|반복|그대로|"
        r"적어|써 ?줘|써라|읊어|노출|유출|복사)",
    ),
    _rule(
        "ko.you_are_now",
        0.6,
        r"(?:너는|넌|당신은|너|당신|니가|네가)\s?(?:이제|지금부터|이제부터|오늘부터|앞으로)|(?:이제|"
        r"지금부터|이제부터|앞으로)\s?(?:너는|넌|당신은|너|당신|니가|네가)",
    ),
    _rule(
        "ko.jailbreak_word",
        0.45,
        r"탈옥|개발자\s?모드|갓\s?모드",
    ),
    _rule(
        "ko.jailbreak",
        0.6,
        (
            r"무제한\s?모드|제한\s?없는\s?(?:ai|모드|모델|챗봇|어시스턴트)|"
            r"dan\s?모드|검열(?:되지)?\s?(?:없이|없는|안 된|을 해제|을 풀)"
        ),
    ),
    _rule(
        "ko.without_limits",
        0.45,
        r"(?:제한|제약|필터|검열|규칙|윤리|도덕)\S*\s?(?:없이|없는|을 해제|를 해제|을 풀|를 풀|를 꺼|을 꺼|"
        r"을 무시|를 무시|에서 벗어나|에 얽매이지)",
    ),
    _rule(
        "ko.roleplay",
        0.4,
        r"역할극|롤플레이|롤 플레이|(?:인|한|하는)\s?척\s?(?:해|하고|하세요|해줘|해라)|연기해|행세|"
        r"캐릭터를 유지|빙의",
    ),
    _rule(
        "ko.new_instructions",
        0.6,
        rf"(?:새로운|새|진짜|실제|진정한|변경된|수정된)\s?{_KO_OBJ}\S*\s?(?:은|는|:|을 따르)",
    ),
    _rule(
        "ko.do_not_follow",
        0.7,
        rf"{_KO_OBJ}\S*\s?(?:을|를|에)?\s?(?:따르지|지키지|복종하지)\s?(?:마|말|않아도)",
    ),
    _rule(
        "ko.evil_persona",
        0.5,
        r"(?:악당|악한|사악한|비윤리적인|무법|탈옥한|검열 없는)\s?(?:ai|인공지능|어시스턴트|챗봇|모델|"
        r"캐릭터|봇)",
    ),
)

INPUT_RULES: tuple[Rule, ...] = EN_RULES + KO_RULES

# --- retrieved passages only (indirect injection) --------------------------------------------------

_AI = r"(?:ai|a\.i\.|assistant|chatbot|chat bot|language model|llm|gpt|chatgpt|claude|gemini|bot|model)"
DOCUMENT_RULES: tuple[Rule, ...] = (
    # "Assistant:", "AI assistant, ...", "IMPORTANT INSTRUCTION FOR THE ASSISTANT": a passage that
    # talks to the model reading it.
    _rule(
        "doc.ai_vocative",
        0.5,
        rf"(?:^|[\s>(\[*#-])(?:the\s+)?(?:ai\s+)?{_AI}s?\s*[:,]\s"
        r"|\binstructions? (?:for|to) (?:the |any )?(?:ai|assistant|chatbot|model|llm)"
        r"|\bwhen an? (?:ai|assistant|chatbot|model|llm) reads\b",
    ),
    # Text a reader never sees: hidden HTML, comments, markdown link-comments.
    _rule(
        "doc.hidden",
        0.3,
        r"display:\s?none|visibility:\s?hidden|font-size:\s?0|<!--|\[//\]: #|color:\s?(?:white|#fff)",
    ),
    _rule(
        "doc.ignore_context",
        0.6,
        r"\b(?:ignore|disregard|forget)\s+(?:the|all|any|your)?\s*(?:context|question|documents?|sources?|"
        r"retrieved|user'?s? question|passages?|search results?)\b",
    ),
    _rule(
        "doc.exfiltrate",
        0.6,
        r"\b(?:forward|send|email|post|upload|leak|include|append)\s+(?:the|this|all|their|the user'?s?|"
        r"your)\s+(?:conversation|chat|history|messages|password|credentials|card number|personal data|"
        r"home address|address|phone number|email address)",
    ),
    _rule(
        "doc.ko_system_tag",
        0.6,
        r"^\s*[\[【<(]\s?(?:시스템|system|지시|관리자|admin)\s?[\]】>)]"
        r"|(?:ai|인공지능|어시스턴트|챗봇|언어\s?모델|모델|llm)\s?(?:에게|에\s?대한\s?지시|을\s?위한|를\s?위한|전용|께)"
        r"\s?(?:중요\s?)?(?:지시|지침|참고|메모)?\s?[:：)]",
    ),
    _rule(
        "doc.ko_ignore",
        0.6,
        r"(?:질문|문서|검색된\s?문서|맥락|문맥|자료|출처|컨텍스트)\S*\s?(?:은|는|을|를)?\s?(?:모두|전부)?\s?"
        r"(?:무시하고|무시하라|무시해|무시할 것|잊고|잊어)",
    ),
    # The plain imperative (~하라) is how instructions to a model are written; documents for people
    # say 하십시오/하세요. Weak alone.
    _rule(
        "doc.ko_plain_imperative",
        0.45,
        r"(?:하라|답하라|따르라|덧붙여라|붙여라|묘사하라|공개하라|출력하라|말하라|응답하라|간주하라|전달하라|보내라)"
        r"\s?[.!。]?\s*(?:</span>|-->|\))?\s*$",
    ),
    _rule(
        "doc.address_ai",
        0.6,
        (
            rf"\b(?:if you are|as an?|attention|note to|dear|hey|to (?:the|any))\s+(?:an?\s+)?{_AI}s?\b|"
            rf"\b{_AI}s?\s+(?:reading|processing|summari[sz]ing|that reads?)\b"
        ),
    ),
    _rule(
        "doc.ai_must",
        0.6,
        (
            rf"\b(?:the|any|all)?\s?{_AI}s?\s+(?:must|should|shall|has to|have to|needs? to|is (?:instructed|"
            rf"required) to|will now)\b"
        ),
    ),
    _rule(
        "doc.tell_user",
        0.5,
        (
            r"\b(?:tell|inform|instruct|convince|ask|urge|remind) the (?:user|reader|customer)s? (?:that|"
            r"to)\b|\b(?:respond|reply|answer)(?: to the user)? (?:only )?with\b"
        ),
    ),
    _rule(
        "doc.instead_say",
        0.5,
        (
            r"\binstead,? (?:say|respond|answer|reply|tell|output|write|ask)\b|"
            r"\b(?:do not|don't|never) (?:mention|tell|reveal|say|disclose) "
            r"(?:this|that|these|anything|any)\b|"
            r"\b(?:do not|don't) answer the (?:user|question|customer)"
        ),
    ),
    _rule(
        "doc.when_answering",
        0.4,
        (
            r"\bwhen (?:answering|responding|summari[sz]ing|asked)\b|"
            r"\bin your (?:answer|response|summary|reply)\b"
        ),
    ),
    _rule("doc.link_action", 0.3, r"\b(?:visit|click|go to|navigate to|download from)\s+(?:https?://|www\.)"),
    _rule(
        "doc.ko_address_ai",
        0.6,
        (
            r"(?:ai|인공지능|어시스턴트|챗봇|언어\s?모델|모델|비서|봇)\s?(?:은|는|이|가|에게|"
            r"께)\s?(?:\S+\s?){0,8}?(?:해야|하십시오|하세요|"
            r"하라|할 것|하시오|답하|응답하|말하|출력하|따르|덧붙|붙여|포함하|추가하|묘사하|간주하)"
        ),
    ),
    _rule(
        "doc.ko_tell_user",
        0.5,
        (
            r"(?:사용자|이용자|고객|독자)\S*\s?(?:에게|께)\s?(?:\S+\s?){0,6}?(?:말하|알리|전하|안내하|권하|"
            r"유도하|답하)\S*\s?(?:라|"
            r"세요|십시오|시오|할 것)"
        ),
    ),
    _rule(
        "doc.ko_when_answering",
        0.4,
        r"(?:답변|응답|요약|대답)\s?(?:할 때|시에?|하는 경우|하기 전에?)"
        r"|(?:답변|응답)에\s?(?:반드시|항상|꼭)",
    ),
    _rule(
        "doc.ko_instead",
        0.5,
        r"대신\s?(?:\S+\s?){0,3}?(?:라고|다고)\s?(?:말하|답하|출력하)|(?:언급|공개|말)하지\s?(?:마|말|"
        r"마십시오|마세요)",
    ),
)


@dataclass(frozen=True)
class RuleScore:
    score: float
    rules: tuple[str, ...]


def score_rules(text: str, rules: Sequence[Rule] = INPUT_RULES, *, normalized: bool = False) -> RuleScore:
    """Combined weight of the rules matching `text`: 1 - prod(1 - w) over the matching rules."""
    probe = text if normalized else normalize(text)
    matched = [rule for rule in rules if rule.pattern.search(probe)]
    keep = 1.0
    for rule in matched:
        keep *= 1.0 - rule.weight
    return RuleScore(1.0 - keep, tuple(rule.id for rule in matched))
