"""Condense a chat history into one standalone retrieval query (Korean and English).

Retrieval sees one string. In a conversation the last user message is often a follow-up that only
makes sense with the history ("When is phone support open on Saturday?" ... "And on Sunday?"), so
retrieving with it alone finds the wrong page or nothing. `condense` turns the conversation into a
query that stands on its own:

    from llmpilot.conversation import Turn, condense, turns_from_messages

    turns = turns_from_messages(body_messages)          # OpenAI-style [{"role", "content"}, ...]
    c = condense(turns)                                 # rules, no model: <0.1 ms; Korean ~3 ms (kiwi)
    c = condense(turns, generator=pipeline.generator)   # ask the LLM, rules as fallback (see README:
                                                        # with SmolLM2-135M this is worse than rules)
    hits = pipeline.search(c.query)
    trace = c.trace()                                   # JSON-able: method, cues, turns used/dropped

How the query is made (`Condensed.method`):

- "as-is": the last user message, unchanged. It is not a follow-up (it has content words of its own
  and no follow-up cue) or there is no earlier user question.
- "rules": no model. A follow-up is recognised by cues (`Condensed.cues`): it starts with a
  connective ("and", "what about", "how about", "also", "그럼", "그리고", "그러면", "또"), ends like
  "...는요?/...은요?/...면요?", has a deictic ("that", "those", "그거", "거기", "그 ..."; the weak "it"
  counts only when the question has at most two content words of its own), says "too"/"as well", or
  has no content word at all. It is then merged with the previous user question (itself condensed
  first, so three-turn chains work): a slot of the same kind is replaced when both have one
  (weekday, month, error code such as E07: "... on Saturday?" + "And on Sunday?" -> "... on
  Sunday?"); otherwise the previous question's content words (English words minus stopwords;
  Korean nouns, foreign words and numbers from kiwipiepy, the analyser of the Korean BM25
  tokenizer) are appended to the follow-up.
  Assistant turns are not mined by the rules: a small model's answer may be wrong.
- "generator": `generator.generate` rewrote the conversation under a strict prompt, and the rewrite
  (its first line, a "Standalone question:" label stripped) passed the checks: non-empty, no longer
  than all user text used, sharing at least one content word with the conversation and keeping at
  least one of the last question's own (so "And on Sunday?" rewritten as the Saturday question is
  refused). Otherwise the rules' query is returned and `Condensed.rejected` says why. Errors raised
  by the generator (server down, ...) propagate; they are not hidden.

History caps: only the last `max_turns` user/assistant turns and, of those before the question, at
most `max_chars` characters (whole turns, newest first) are read; the question itself is always read
whole. `Condensed.used` is exactly what was read and `Condensed.dropped` how many earlier turns were
not, so nothing is cut off without the caller knowing. System turns are instructions, not
conversation, and are never read.

Measured on benchmarks/data/multiturn.jsonl (benchmarks/multiturn.py; figures in the README).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any, Literal

from llmpilot.errors import LlmpilotError
from llmpilot.index.tokenizers import get_kiwi, is_korean
from llmpilot.protocols import Generator

Method = Literal["as-is", "rules", "generator"]
ROLES: tuple[str, ...] = ("user", "assistant", "system")

DEFAULT_MAX_TURNS = 8
DEFAULT_MAX_CHARS = 2000
#: A standalone query is one question: 64 tokens is ample and bounds the cost of a looping model.
DEFAULT_REWRITE_TOKENS = 64


class ConversationError(LlmpilotError):
    """The turns cannot be condensed (bad role, no user question); the message says which turn."""


@dataclass(frozen=True)
class Turn:
    #: "user", "assistant" or "system" (checked at construction: a plain str, so callers can pass a
    #: message's role straight through and get a ConversationError for anything else).
    role: str
    content: str

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ConversationError(f"turn role {self.role!r} is not one of {', '.join(ROLES)}")
        if not isinstance(self.content, str):
            raise ConversationError(f"turn content must be text, got {type(self.content).__name__}")


@dataclass(frozen=True)
class Condensed:
    #: What to retrieve with.
    query: str
    method: Method
    #: The last user message, stripped.
    question: str
    #: Whether the rules judged `question` a follow-up, and the cues that said so.
    followup: bool
    cues: tuple[str, ...]
    #: The rules' query (equals `query` unless the generator's rewrite was used).
    rules_query: str
    #: The user/assistant turns read, oldest first, ending with the question.
    used: tuple[Turn, ...]
    #: Earlier user/assistant turns left out by `max_turns` / `max_chars`.
    dropped: int
    #: Why the generator's rewrite was not used ("" when it was, or when no generator was given).
    rejected: str = ""
    #: The generator's raw reply, for the trace ("" without a generator).
    rewrite: str = field(default="", repr=False)

    def trace(self) -> dict[str, Any]:
        """A JSON-able summary for traces and API responses."""
        return {
            "query": self.query,
            "method": self.method,
            "question": self.question,
            "followup": self.followup,
            "cues": list(self.cues),
            "rules_query": self.rules_query,
            "turns_used": len(self.used),
            "turns_dropped": self.dropped,
            "rejected": self.rejected,
        }


def turns_from_messages(messages: Sequence[Mapping[str, Any]], *, where: str = "messages") -> list[Turn]:
    """OpenAI-style `[{"role": ..., "content": ...}]` -> turns; errors name the item (`messages[2].role`).
    Content may be a string or a list of parts (`{"type": "text", "text": ...}`): text parts are joined."""
    turns: list[Turn] = []
    for i, message in enumerate(messages):
        if not isinstance(message, Mapping):
            raise ConversationError(f"{where}[{i}]: expected an object with role and content")
        role = message.get("role")
        if role not in ROLES:
            raise ConversationError(f"{where}[{i}].role: {role!r} is not one of {', '.join(ROLES)}")
        content = message.get("content", "")
        if content is None:
            content = ""
        if isinstance(content, list):
            content = "\n".join(
                str(part.get("text", ""))
                for part in content
                if isinstance(part, Mapping) and part.get("type") == "text"
            )
        if not isinstance(content, str):
            raise ConversationError(f"{where}[{i}].content: expected text or a list of text parts")
        turns.append(Turn(role=role, content=content))
    return turns


# ---------------------------------------------------------------------------------------------- cues

_EN_CONNECTIVES = (
    "and what about", "and how about", "and what if", "what about", "how about", "what if",
    "and", "also", "or", "but", "then", "plus",
)  # fmt: skip
#: Anaphora that need an antecedent ("that range", "them", "then").
_EN_STRONG_DEICTICS = frozenset({"that", "those", "these", "this", "them", "they", "their", "then", "same"})
#: "it"/"one" are often dummies ("Is it safe to ..."): a cue only in a question with few content words.
_EN_WEAK_DEICTICS = frozenset({"it", "its", "one", "ones"})
_EN_ADDITIVE = re.compile(r"\b(too|as well|either|instead)\b")
#: Not content: question words, auxiliaries, generic verbs and fillers (stopwords come from bm25s).
_EN_FUNCTION_WORDS = """what when where which who whom whose why how much many long often fast soon else
    about also please tell know mean means meant say says do does did done doing can could would should
    will may might must shall get gets got happen happens happened need needs want wants thing things way
    still usually too yes no ok okay thanks thank i me my mine we us our you your he she his her s t
    isn't aren't wasn't weren't don't doesn't didn't can't couldn't won't wouldn't shouldn't i'm i've
    there's what's it's that's let's is are was were be been being am has have had and or but then
    if so to of in on at by for with from as into than up out off over under again further here"""
_EN_FUNCTION = frozenset(_EN_FUNCTION_WORDS.split())
_EN_WORD = re.compile(r"[A-Za-z0-9]+(?:['’][A-Za-z]+|-[A-Za-z0-9]+)*")

_KO_CONNECTIVES = (
    "그렇다면", "그러면", "그럼", "그리고", "그런데", "근데", "아니면", "그래서", "또한", "또",
)  # fmt: skip
_KO_ENDING = re.compile(r"(은|는|도|면)요\s*[?？.!~]*\s*$")
#: Deictics at the start of a word ("그거", "그걸로", "거기", "그때") or a pointing determiner ("그 번호").
#: Matched on the surface: kiwi tags a sentence-initial "그" as an interjection and splits "그걸로" oddly.
_KO_DEICTIC = re.compile(
    r"(?:^|(?<=\s))(거기|여기|저기|그거|그것|그걸|그게|이거|이것|이걸|이게|저거|저것|그곳|이곳|그때|이때"
    r"|(?:그|이|저|그런|이런|저런)(?=\s))"
)
_KO_CONTENT_TAGS = ("NNG", "NNP", "SL", "SN", "SH")
#: Nouns that carry no topic of their own.
_KO_GENERIC_NOUNS_TEXT = "얼마 정도 경우 때 무엇 뭐 어디 언제 누구 방법 거 것 걸 게 지금"
_KO_GENERIC_NOUNS = frozenset(_KO_GENERIC_NOUNS_TEXT.split())

# Slots whose value a follow-up replaces ("Saturday" -> "Sunday").
_WEEKDAYS_EN = "monday|tuesday|wednesday|thursday|friday|saturday|sunday|weekday|weekend"
#: "may" is left out: it is mostly the verb.
_MONTHS_EN = "january|february|march|april|june|july|august|september|october|november|december"
#: One pattern per kind of slot and language; a follow-up's slot replaces one matched by the same pattern.
_SLOTS: tuple[re.Pattern[str], ...] = (
    re.compile(rf"\b(?:{_WEEKDAYS_EN})s?\b", re.IGNORECASE),
    re.compile(r"[월화수목금토일]요일|평일|주말|공휴일"),
    re.compile(rf"\b(?:{_MONTHS_EN})\b", re.IGNORECASE),
    re.compile(r"(?<!\d)(?:1[0-2]|[1-9])월"),
    re.compile(r"\b[A-Z]\d{2,3}\b"),  # error codes such as E07
)


@dataclass(frozen=True)
class _Analysis:
    content: tuple[str, ...]  # content words in order, original form
    cues: tuple[str, ...]


def _norm(text: str) -> str:
    return unicodedata.normalize("NFC", text).strip()


@lru_cache(maxsize=1)
def _en_stopwords() -> frozenset[str]:
    from bm25s.stopwords import STOPWORDS_EN

    return frozenset(STOPWORDS_EN) | _EN_FUNCTION


def _en_content(text: str) -> list[str]:
    stop = _en_stopwords()
    deictic = _EN_STRONG_DEICTICS | _EN_WEAK_DEICTICS
    out: list[str] = []
    for word in _EN_WORD.findall(text):
        low = word.lower().replace("’", "'")
        if low in stop or low in deictic:
            continue
        if len(low) < 2 and not low.isdigit():
            continue
        out.append(word)
    return out


def _ko_tokens(text: str) -> list[tuple[str, str, int, int]]:
    """(form, base tag, start offset, length) per kiwi morpheme."""
    return [(t.form, t.tag.split("-", 1)[0], t.start, t.len) for t in get_kiwi().tokenize(text)]


def _ko_content(tokens: Sequence[tuple[str, str, int, int]]) -> list[str]:
    """Content morphemes; adjacent ones (no space between) are joined back into the written compound,
    so kiwi's "솔 + 박스" stays "솔박스" in a query."""
    out: list[str] = []
    end = -1
    for form, tag, start, length in tokens:
        if not tag.startswith(_KO_CONTENT_TAGS) or form in _KO_GENERIC_NOUNS:
            end = -1
            continue
        word = form.lower() if tag == "SL" else form
        if start == end and out:
            out[-1] += word
        else:
            out.append(word)
        end = start + length
    return out


def content_words(text: str) -> list[str]:
    """The words a retriever keys on: English words minus stopwords and question words; in Korean
    text, kiwipiepy nouns, foreign words and numbers (Latin words inside Korean text included)."""
    text = _norm(text)
    if is_korean(text):
        return _ko_content(_ko_tokens(text))
    return _en_content(text)


def _leading(text: str, connectives: Sequence[str]) -> str:
    low = text.lower()
    for conn in connectives:
        if low.startswith(conn) and (len(low) == len(conn) or not low[len(conn)].isalnum()):
            return text[: len(conn)]
    return ""


def _analyze(text: str) -> _Analysis:
    cues: list[str] = []
    if is_korean(text):
        tokens = _ko_tokens(text)
        content = _ko_content(tokens)
        connective = _leading(text, _KO_CONNECTIVES)
        if not connective and tokens and tokens[0][1] == "MAJ":  # any conjunctive adverb at the start
            connective = tokens[0][0]
        if connective:
            cues.append(f"connective:{connective}")
        ending = _KO_ENDING.search(text)
        if ending:
            cues.append(f"ending:{ending.group(1)}요")
        cues.extend(f"deictic:{m.group(1)}" for m in _KO_DEICTIC.finditer(text))
    else:
        content = _en_content(text)
        connective = _leading(text, _EN_CONNECTIVES)
        if connective:
            cues.append(f"connective:{connective.lower()}")
        words = [w.lower() for w in _EN_WORD.findall(text)]
        cues.extend(f"deictic:{w}" for w in dict.fromkeys(words) if w in _EN_STRONG_DEICTICS)
        if len(content) <= 2:
            cues.extend(f"deictic:{w}" for w in dict.fromkeys(words) if w in _EN_WEAK_DEICTICS)
        additive = _EN_ADDITIVE.search(text.lower())
        if additive:
            cues.append(f"additive:{additive.group(1)}")
    if not content:
        cues.append("no-content-word")
    return _Analysis(content=tuple(content), cues=tuple(cues))


# --------------------------------------------------------------------------------------------- merge


def _replace_slots(previous: str, followup: str) -> str | None:
    """`previous` with each slot the follow-up names (weekday, month, code) put in place of the slot
    of the same kind there; None when no slot matched."""
    result = previous
    replaced = False
    for pattern in _SLOTS:
        new = pattern.search(followup)
        old = pattern.search(result) if new else None
        if new is None or old is None or old.group(0).lower() == new.group(0).lower():
            continue
        result = result[: old.start()] + new.group(0) + result[old.end() :]
        replaced = True
    return result if replaced else None


def _merge(
    previous: str, previous_content: Sequence[str], question: str, analysis: _Analysis
) -> tuple[str, list[str]]:
    """The follow-up `question` made standalone with the previous (condensed) question, and the
    merged query's content words. Content words are carried forward rather than re-extracted from
    the merged text: kiwi analyses a compound differently in a different sentence."""
    replaced = _replace_slots(previous, question)
    if replaced is not None:
        return replaced, content_words(replaced)
    have = {w.lower() for w in analysis.content}
    carried = [w for w in dict.fromkeys(previous_content) if w.lower() not in have]
    content = [*analysis.content, *carried]
    return (f"{question} {' '.join(carried)}" if carried else question), content


# -------------------------------------------------------------------------------------------- window


def _window(turns: Sequence[Turn], max_turns: int, max_chars: int) -> tuple[list[Turn], int]:
    """The turns to read (oldest first, ending with the last user message) and how many earlier
    user/assistant turns were left out."""
    chat = [t for t in turns if t.role != "system"]
    last = next(
        (i for i in range(len(chat) - 1, -1, -1) if chat[i].role == "user" and chat[i].content.strip()), None
    )
    if last is None:
        raise ConversationError("no user message with text: nothing to condense into a query")
    chat = chat[: last + 1]
    used = [chat[-1]]
    budget = max_chars
    for turn in reversed(chat[:-1]):
        if len(used) >= max_turns or len(turn.content) > budget:
            break
        used.append(turn)
        budget -= len(turn.content)
    used.reverse()
    return used, len(chat) - len(used)


# -------------------------------------------------------------------------------------------- rules


def _rules(used: Sequence[Turn]) -> tuple[str, bool, tuple[str, ...]]:
    """(query, follow-up?, cues of the last question), condensing each user question in order so a
    follow-up of a follow-up merges with the already condensed question before it."""
    current = ""
    content: list[str] = []
    followup = False
    cues: tuple[str, ...] = ()
    for turn in used:
        if turn.role != "user" or not turn.content.strip():
            continue
        text = _norm(turn.content)
        analysis = _analyze(text)
        followup = bool(current) and bool(analysis.cues)
        cues = analysis.cues
        if followup:
            current, content = _merge(current, content, text, analysis)
        else:
            current, content = text, list(analysis.content)
    return current, followup, cues


# -------------------------------------------------------------------------------------------- generator

REWRITE_SYSTEM = (
    "You rewrite the last user question of a conversation into one standalone search query. "
    "Replace pronouns and fill in what the question leaves out with words from the earlier turns. "
    "Keep the language of the last question. Do not answer it. Output only the rewritten question, "
    "on one line, with no quotes and no explanation."
)
_LABEL = re.compile(
    r"^\s*(?:standalone (?:search )?(?:query|question)|rewritten (?:query|question)|query|question|"
    r"재작성(?:된)? 질문|질문)\s*[:：]\s*",
    re.IGNORECASE,
)


def rewrite_messages(used: Sequence[Turn]) -> list[dict[str, str]]:
    """The strict rewrite prompt for `used` (the last turn is the question). Zero-shot: with worked
    examples in the prompt, SmolLM2-135M copied the examples' words into its rewrites."""
    lines = [f"{'User' if t.role == 'user' else 'Assistant'}: {_norm(t.content)}" for t in used[:-1]]
    question = _norm(used[-1].content)
    body = "Conversation:\n" + "\n".join(lines) + f"\n\nLast question: {question}\n\nStandalone question:"
    return [{"role": "system", "content": REWRITE_SYSTEM}, {"role": "user", "content": body}]


def _clean_rewrite(raw: str) -> str:
    lines = [line.strip() for line in raw.strip().splitlines() if line.strip()]
    if not lines:
        return ""
    text = _LABEL.sub("", lines[0]).strip()
    return text.strip("\"'“”‘’` ").strip()


def _check_rewrite(text: str, used: Sequence[Turn]) -> str:
    """Why the rewrite is unusable ("" if it is usable)."""
    if not text:
        return "empty"
    limit = sum(len(_norm(t.content)) + 1 for t in used if t.role == "user")
    if len(text) > limit:
        return f"too long ({len(text)} chars > {limit}, all user text used)"
    words = {w.lower() for w in content_words(text)}
    conversation = {w.lower() for t in used for w in content_words(t.content)}
    if not conversation & words:
        return "shares no content word with the conversation"
    # A rewrite that drops everything the user just said ("And on Sunday?" -> the Saturday question
    # again) is a rewrite of an earlier question, not of this one.
    own = {w.lower() for w in content_words(used[-1].content)}
    if own and not own & words:
        return "drops the last question's own content words"
    return ""


# ----------------------------------------------------------------------------------------------- api


def condense(
    turns: Sequence[Turn],
    *,
    generator: Generator | None = None,
    max_turns: int = DEFAULT_MAX_TURNS,
    max_chars: int = DEFAULT_MAX_CHARS,
    max_tokens: int = DEFAULT_REWRITE_TOKENS,
) -> Condensed:
    """The standalone retrieval query for the conversation `turns` (oldest first); see the module
    docstring. With `generator`, it is asked whenever there is an earlier user question."""
    if max_turns < 1:
        raise ConversationError(f"max_turns must be at least 1 (the question itself), got {max_turns}")
    if max_chars < 0:
        raise ConversationError(f"max_chars must be 0 or more, got {max_chars}")
    used, dropped = _window(turns, max_turns, max_chars)
    question = _norm(used[-1].content)
    rules_query, followup, cues = _rules(used)
    result = Condensed(
        query=rules_query,
        method="rules" if followup else "as-is",
        question=question,
        followup=followup,
        cues=cues,
        rules_query=rules_query,
        used=tuple(used),
        dropped=dropped,
    )
    has_history = any(t.role == "user" and t.content.strip() for t in used[:-1])
    if generator is None or not has_history:
        return result
    raw = generator.generate(rewrite_messages(used), max_tokens=max_tokens, temperature=0.0)
    rewrite = _clean_rewrite(raw)
    problem = _check_rewrite(rewrite, used)
    if problem:
        return replace(result, rejected=problem, rewrite=raw)
    return replace(result, query=rewrite, method="generator", rewrite=raw)
