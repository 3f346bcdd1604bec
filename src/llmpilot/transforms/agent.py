"""The data agent: transform plans suggested from a data profile, from a plain-language request (Korean or
English keyword rules), or by a generator whose decoding is constrained to the plan's JSON schema.

Every suggestion passes `check_plan` on a sample before it is shown: a step that changes nothing, empties
a document or cuts more than half of one is dropped with a note. That is what keeps "documents damaged"
at 0 whatever the rules or the model propose.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from llmpilot.errors import LlmpilotError
from llmpilot.generation.structured import generate_json, supports_json
from llmpilot.transforms.intents import ProfileFacts, Step, steps_for_request, steps_from_profile
from llmpilot.transforms.pii import KINDS, redact
from llmpilot.transforms.plan import PlanCandidates, TransformPlan, parse_plan, plan_json_schema
from llmpilot.types import Document

if TYPE_CHECKING:
    from llmpilot.profiling import DataProfile

#: A removal step that takes more than this share of a document's characters is dropped: boilerplate is
#: a small part of a document; cutting most of one means the pattern hit content.
MAX_REMOVED_SHARE = 0.5
#: Steps whose job is to drop whole documents: emptying is not their failure mode.
DOCUMENT_LEVEL_OPS = frozenset({"filter_language", "filter_length", "drop_documents", "deduplicate"})
REMOVAL_OPS = frozenset({"drop_lines", "drop_block", "drop_section", "keep_section"})

#: Model path: sample documents shown in the prompt, and their length cap.
PROMPT_DOCUMENTS = 3
PROMPT_DOCUMENT_CHARS = 500
PROMPT_BOILERPLATE = 6
#: Tokens kept for the answer (a plan of a few steps, with `why` lines and a quoted block or two).
PLAN_MAX_TOKENS = 384
#: A request names a few changes; a longer model plan is a model looping.
MAX_MODEL_STEPS = 4


@dataclass
class Suggestion:
    plan: TransformPlan
    method: str  # "rules" | "model:<generator model_id>"
    #: What was dropped or not understood ("step 2 (drop_lines) dropped: it matches nothing in the sample").
    notes: list[str] = field(default_factory=list)
    #: The model's raw output (model path only).
    raw: str | None = None


# ---- preview checks ---------------------------------------------------------------------------


def check_plan(plan: TransformPlan, sample: Sequence[Document]) -> tuple[TransformPlan, list[str]]:
    """The plan without the steps that would do nothing or damage documents on `sample`, and a note per
    dropped step. Steps run in order on the sample; a dropped step does not run."""
    from llmpilot.transforms.ops import apply_step

    docs = list(sample)
    kept: list[Any] = []
    notes: list[str] = []
    for number, step in enumerate(plan.steps, start=1):
        try:
            after = apply_step(step, docs)
        except LlmpilotError as exc:
            notes.append(f"step {number} ({step.op}) dropped: it fails on the sample ({exc})")
            continue
        problem = step_problem(step, docs, after)
        if problem is not None:
            notes.append(f"step {number} ({step.op}) dropped: {problem}")
            continue
        kept.append(step)
        docs = after
    return plan.model_copy(update={"steps": kept}), notes


def step_problem(step: Any, before: Sequence[Document], after: Sequence[Document]) -> str | None:
    """Why a step's effect on the sample disqualifies it, or None when it is safe."""
    if _unchanged(before, after):
        return "it matches nothing in the sample"
    if before and not after:
        return "it drops every document of the sample"
    old = {doc.id: doc for doc in before}
    op = str(step.op)
    for doc in after:
        was = old.get(doc.id)
        if was is None or was.text == doc.text:
            continue
        if op not in DOCUMENT_LEVEL_OPS and was.text.strip() and not doc.text.strip():
            return f"it leaves document {doc.id!r} empty"
        if _is_removal(step):
            removed = (len(was.text) - len(doc.text)) / max(1, len(was.text))
            if removed > MAX_REMOVED_SHARE:
                return f"it removes {removed:.0%} of document {doc.id!r} (more than {MAX_REMOVED_SHARE:.0%})"
    return None


def _unchanged(before: Sequence[Document], after: Sequence[Document]) -> bool:
    return len(before) == len(after) and all(
        a.id == b.id and a.text == b.text and a.title == b.title and a.metadata == b.metadata
        for a, b in zip(before, after, strict=True)
    )


def _is_removal(step: Any) -> bool:
    if step.op == "regex_replace":
        return not step.replacement
    return step.op in REMOVAL_OPS


# ---- rules ------------------------------------------------------------------------------------


def _facts(profile: DataProfile) -> ProfileFacts:
    return ProfileFacts.from_dict(profile.as_dict())


def _rules_suggestion(steps: list[Step], request: str | None, notes: list[str]) -> Suggestion:
    # parse_plan refuses a plan without steps (a file like that is a mistake); a suggestion may be empty.
    plan = (
        parse_plan({"version": 1, "request": request, "steps": steps}, where="suggested plan")
        if steps
        else TransformPlan(request=request, steps=[])
    )
    return Suggestion(plan=plan, method="rules", notes=notes)


def _checked(suggestion: Suggestion, sample: Sequence[Document] | None) -> Suggestion:
    if sample is None:
        return suggestion
    plan, notes = check_plan(suggestion.plan, sample)
    suggestion.plan = plan
    suggestion.notes.extend(notes)
    return suggestion


def suggest_from_profile(profile: DataProfile, *, sample: Sequence[Document] | None = None) -> Suggestion:
    """A plan for what the profile found (boilerplate, tables of contents, PII, duplicates, near-empty
    documents); checked on `sample` when given."""
    suggestion = _rules_suggestion(steps_from_profile(_facts(profile)), None, [])
    if not suggestion.plan.steps:
        suggestion.notes.append("the profile found nothing to clean (no boilerplate, PII, duplicates)")
    return _checked(suggestion, sample)


#: A request that asks for whole documents to go: only then may a model's plan hold a step that drops
#: documents (filters, drop_documents, deduplicate, keep_section with if_missing: drop). Small models
#: copy such steps from the prompt's examples; a plan that silently removes documents is the damage
#: the preview checks exist to stop.
_DROPS_DOCUMENTS = re.compile(
    # "remove the draft documents", "drop stub pages", "keep only Korean", "duplicates"
    r"\b(?:remove|drop|delete|exclude|discard|filter|skip|get\s+rid\s+of)\b[^,.;]{0,40}"
    r"\b(?:documents?|docs?|files?|pages?(?!\s*(?:numbers?|no\b))|entries|articles?|posts?|drafts?|stubs?)\b"
    r"|\b(?:documents?|docs?|files?|pages?|entries|drafts?|stubs?)\b[^,.;]{0,30}"
    r"\b(?:removed|dropped|deleted|excluded|go|out)\b"
    r"|\bonly\b|\bduplicat\w*|\bdedup\w*"
    # "초안 문서는 빼줘", "짧은 글은 지워", "한국어 문서만 남겨", "중복"
    r"|(?:문서|파일|항목|초안|글|게시물|페이지)[^,.;]{0,12}(?:빼|제외|삭제|지워|없애|거르|걸러|버려)"
    r"|만\s*(?:남|두|유지|있|골라)|중복",
    re.IGNORECASE,
)
SuggestMode = str  # "auto" | "rules" | "model"


def _keeps_documents(plan: TransformPlan, request: str) -> tuple[TransformPlan, list[str]]:
    """A model's plan without document-dropping steps the request does not ask for."""
    if _DROPS_DOCUMENTS.search(request):
        return plan, []
    kept, notes = [], []
    for number, step in enumerate(plan.steps, start=1):
        drops = step.op in DOCUMENT_LEVEL_OPS or (step.op == "keep_section" and step.if_missing == "drop")
        if drops:
            notes.append(f"step {number} ({step.op}) dropped: the request does not ask to remove documents")
            continue
        kept.append(step)
    return plan.model_copy(update={"steps": kept}), notes


#: Requests that may have a model's plan cut a section out (or keep only one).
_ASKS_FOR_SECTION = re.compile(
    r"section|contents|\btoc\b|chapter|part|paragraph|heading|appendix|목차|차례|섹션|부분|단락|장|절|부록|본문",
    re.IGNORECASE,
)
_QUOTED = re.compile(r"[\"“'‘「『](.+?)[\"”'’」』]")
_DIGITS = re.compile(r"\d+")


def _masked(line: str) -> str:
    return _DIGITS.sub("0", line.strip())


def _removed_lines(before: Sequence[Document], after: Sequence[Document]) -> list[tuple[Document, str]]:
    """(document, line) for every non-blank line a step took out of a document it kept."""
    from collections import Counter

    kept = {doc.id: Counter(doc.text.split("\n")) for doc in after}
    removed: list[tuple[Document, str]] = []
    for doc in before:
        if doc.id not in kept:
            continue  # dropped whole: the document-level checks judge that
        gone = Counter(doc.text.split("\n")) - kept[doc.id]
        removed.extend((doc, line) for line in gone.elements() if line.strip())
    return removed


#: Where in a document the boilerplate a request names sits ("footer" = the last lines).
_INTENT_POSITIONS = {"header": {"start"}, "footer": {"end"}, "navigation": {"start", "middle"}}
_EDGE_LINES = 3


def _position(doc: Document, line: str) -> str:
    lines = [x for x in doc.text.split("\n") if x.strip()]
    if line not in lines:
        return "middle"
    i = lines.index(line)
    if i < _EDGE_LINES and i <= len(lines) - 1 - i:
        return "start"
    return "end" if len(lines) - 1 - i < _EDGE_LINES else "middle"


#: Rewriting steps a model may only propose when the request asks for that rewrite (the keyword
#: intents name it): tiny models add them to any plan, and a changed figure is damage too.
_REWRITE_INTENT = {"normalize_dates": "dates", "normalize_numbers": "numbers"}
_PII_INTENTS = {
    "phone": {"phone"},
    "email": {"email"},
    "resident registration number": {"rrn"},
    "card": {"card"},
    "all personal information": set(KINDS),
}


#: Intents that ask for lines or blocks to go.
_REMOVAL_INTENTS = frozenset({"header", "footer", "navigation", "page numbers", "remove quoted text"})


def _is_line_removal(step: Any) -> bool:
    return step.op in ("drop_lines", "drop_block") or (step.op == "regex_replace" and not step.replacement)


_ASKS_FOR_LENGTH = re.compile(
    r"\b(?:short\w*|long\w*|length|empty|stubs?|tiny|characters|chars)\b|짧|길이|긴\s|빈\s*문서|글자|자\s*(?:이하|미만|이상|넘)",
    re.IGNORECASE,
)
_LANGUAGE_NAMES = {
    "ko": re.compile(r"korean|한국어|한글|국문", re.IGNORECASE),
    "en": re.compile(r"english|영어|영문", re.IGNORECASE),
    "ja": re.compile(r"japanese|일본어", re.IGNORECASE),
    "zh": re.compile(r"chinese|중국어", re.IGNORECASE),
}
_REMOVE_WORDS = re.compile(
    r"\b(?:remove|drop|delete|exclude|without)\b|빼|제외|삭제|지워|없애", re.IGNORECASE
)


def _languages_agree(keep: set[str], request: str) -> bool:
    """A model's filter_language keeps the languages the request names ("한국어 문서만 남겨줘": ko), or
    only others when the request removes the named ones ("영어 문서는 빼줘": not en)."""
    named = {code for code, words in _LANGUAGE_NAMES.items() if words.search(request)}
    if not named:
        return False
    if keep <= named:
        return True
    return not keep & named and bool(_REMOVE_WORDS.search(request))


def _asked_pii_kinds(intents: Sequence[str]) -> set[str]:
    return set().union(*(_PII_INTENTS[i] for i in intents if i in _PII_INTENTS))


def _allowed_positions(intents: Sequence[str]) -> set[str] | None:
    """Positions whose boilerplate the request names; None: it names none (any repeated line may go)."""
    named = [_INTENT_POSITIONS[i] for i in intents if i in _INTENT_POSITIONS]
    return set().union(*named) if named else None


def _grounded(
    plan: TransformPlan, sample: Sequence[Document], request: str, intents: Sequence[str] = ()
) -> tuple[TransformPlan, list[str]]:
    """A model's plan without removals the data or the request does not support: a line or block it
    drops must be repeated boilerplate (its digit-masked form in 2+ sample documents) or hold text the
    request quotes; a section is cut only when the request speaks of one. Small models invent patterns
    ("[고객센터]" as a character class) that pass the size checks and still cut content."""
    from llmpilot.transforms.ops import apply_step

    quoted = [q.strip() for q in _QUOTED.findall(request) if q.strip()]
    seen_in: dict[str, set[str]] = {}
    for doc in sample:
        for line in doc.text.split("\n"):
            seen_in.setdefault(_masked(line), set()).add(doc.id)
    asked_kinds = _asked_pii_kinds(intents)
    positions = _allowed_positions(intents)
    page_numbers = "page numbers" in intents
    kept, notes = [], []
    docs = list(sample)
    for number, step in enumerate(plan.steps, start=1):
        problem = None
        if step.op in ("drop_section", "keep_section") and not _ASKS_FOR_SECTION.search(request):
            problem = "the request does not ask to cut a section"
        elif step.op == "filter_length" and not _ASKS_FOR_LENGTH.search(request):
            problem = "the request does not ask to drop documents by length"
        elif step.op == "filter_language" and not _languages_agree(set(step.keep), request):
            problem = f"keeping {', '.join(step.keep)} is not what the request says"
        elif step.op in _REWRITE_INTENT and _REWRITE_INTENT[step.op] not in intents:
            problem = f"the request does not ask for {_REWRITE_INTENT[step.op]}"
        elif step.op == "redact_pii" and not set(step.kinds) <= asked_kinds:
            extra = ", ".join(k for k in step.kinds if k not in asked_kinds)
            asked = [k for k in step.kinds if k in asked_kinds]
            if not asked:
                problem = f"the request does not ask to redact {extra}"
            else:
                notes.append(f"step {number} ({step.op}): {extra} left out (not asked)")
                step = step.model_copy(update={"kinds": asked})
        elif _is_line_removal(step) and intents and not set(intents) & _REMOVAL_INTENTS:
            # The rules understood the request and it asks for no removal ("mask the phone numbers").
            problem = "the request does not ask to remove lines"
        elif _is_line_removal(step):
            try:
                after = apply_step(step, docs)
            except LlmpilotError:
                after = docs
            for doc, line in _removed_lines(docs, after):
                if any(q in line for q in quoted):
                    continue
                if len(seen_in.get(_masked(line), ())) < 2:
                    problem = f"it removes {line.strip()[:60]!r}, which is not repeated boilerplate"
                    break
                varies = _masked(line) != line.strip()
                where = _position(doc, line)
                if positions is not None and where not in positions and not (page_numbers and varies):
                    problem = (
                        f"it removes {line.strip()[:60]!r} ({where} of the document), which was not asked"
                    )
                    break
        if problem is not None:
            notes.append(f"step {number} ({step.op}) dropped: {problem}")
            continue
        kept.append(step)
    return plan.model_copy(update={"steps": kept}), notes


def suggest_for_request(
    request: str,
    profile: DataProfile,
    sample: Sequence[Document],
    *,
    generator: object | None = None,
    mode: SuggestMode = "model",
) -> Suggestion:
    """A plan for `request`, checked on `sample`; never raises for a bad model answer.

    mode "model": `generator` writes it (decoding constrained to the plan schema) when one is given and
    can produce JSON, else the keyword rules; "rules": the keyword rules only; "auto": the rules when
    they understand the request, the generator when they do not."""
    facts = _facts(profile)
    use_model = generator is not None and supports_json(generator) and mode != "rules"
    if use_model and mode == "auto" and steps_for_request(request, facts).intents:
        use_model = False
    if use_model:
        suggestion = _model_suggestion(request, profile, facts, sample, generator)
        plan, notes = _keeps_documents(suggestion.plan, request)
        plan, more = _grounded(plan, sample, request, steps_for_request(request, facts).intents)
        suggestion.plan = plan
        suggestion.notes.extend([*notes, *more])
        return _checked(suggestion, sample)
    rules = steps_for_request(request, facts)
    suggestion = _rules_suggestion(rules.steps, request, list(rules.notes))
    if generator is not None and mode != "rules" and not supports_json(generator):
        name = getattr(generator, "model_id", type(generator).__name__)
        suggestion.notes.insert(
            0, f"generator {name} cannot produce constrained JSON; used the keyword rules"
        )
    return _checked(suggestion, sample)


# ---- model ------------------------------------------------------------------------------------

VOCABULARY = """You turn a user's request about cleaning their documents into a JSON transform plan:
{"version": 1, "steps": [STEP, ...]}. Use ONLY the steps the request asks for (usually 1 or 2), and take
texts and patterns from the data profile and the sample documents shown, never invented ones.
Ops and their fields:
- drop_block: text (an exact repeated block from the profile) -- remove a repeated header/footer block
- drop_lines: pattern (Python regex for whole lines) -- remove matching lines (page numbers, a header line)
- drop_section: start (regex of its first line), end (regex or null) -- remove a section (a table of contents)
- keep_section: start, end -- keep only that section
- regex_replace: pattern, replacement -- rewrite text
- split_documents: pattern (regex of the line that starts each new document)
- extract_field: field, pattern (one capture group) -- copy a value into metadata
- redact_pii: kinds (email, phone, rrn = Korean resident registration number, card) -- mask personal data
- filter_language: keep (language codes) -- keep only documents in these languages
- filter_length: min_chars and/or max_chars -- drop too short/long documents
- drop_documents: pattern -- drop whole documents that match
- normalize_dates: (no fields) -- dates to YYYY-MM-DD
- normalize_numbers: (no fields) -- remove thousands separators
- deduplicate: near (true/false) -- drop duplicate documents"""


def profile_summary(profile: DataProfile, facts: ProfileFacts, boilerplate: int = PROMPT_BOILERPLATE) -> str:
    """Counts, the top boilerplate with its exact text, PII kinds and languages, for the prompt."""
    data = profile.as_dict()
    lines = [f"Documents: {facts.documents}"]
    if facts.languages:
        lines.append("Languages: " + ", ".join(f"{k} {n}" for k, n in facts.languages.items()))
    if facts.pii:
        lines.append("PII found: " + ", ".join(f"{k} {n}" for k, n in facts.pii.items()))
    lines.append(f"Duplicates: {facts.exact_duplicates} exact, {facts.near_duplicates} near")
    lines.append(f"Empty or near-empty documents: {facts.short_documents}")
    if facts.toc:
        lines.append(f"Documents with a table of contents: {facts.toc}")
    lengths = data.get("lengths") or {}
    if lengths:
        lines.append(f"Length (chars): median {lengths.get('median')}, max {lengths.get('max')}")
    for found in sorted(facts.boilerplate, key=lambda b: -b.count)[:boilerplate]:
        where = f"{found.kind} at the {found.position}, in {found.count} documents"
        lines.append(f"Boilerplate ({where}): {json.dumps(found.text, ensure_ascii=False)}")
    return "\n".join(lines)


def pick_examples(
    sample: Sequence[Document], profile: DataProfile, limit: int = PROMPT_DOCUMENTS
) -> list[Document]:
    """Sample documents that show the findings: boilerplate examples and PII first, then the rest."""
    example_ids = [
        str(doc_id)
        for entry in profile.as_dict().get("boilerplate") or []
        for doc_id in entry.get("examples", [])
    ]
    by_id = {doc.id: doc for doc in sample}
    chosen = [by_id[i] for i in dict.fromkeys(example_ids) if i in by_id][: max(1, limit // 2)]
    with_pii = [doc for doc in sample if doc not in chosen and redact(doc.text, KINDS, "")[1]]
    chosen += with_pii[: limit - len(chosen)]
    chosen += [doc for doc in sample if doc not in chosen][: limit - len(chosen)]
    return chosen


def build_messages(
    request: str,
    summary: str,
    examples: Sequence[Document],
    chars: int = PROMPT_DOCUMENT_CHARS,
) -> list[dict[str, str]]:
    shown = "\n\n".join(f"--- document {doc.id} ---\n{doc.text[:chars]}" for doc in examples)
    user = f"Data profile:\n{summary}\n\nSample documents:\n{shown}\n\nRequest: {request}\nPlan (JSON):"
    return [{"role": "system", "content": VOCABULARY}, {"role": "user", "content": user}]


def _token_count(generator: object, messages: Sequence[dict[str, str]]) -> int:
    text = "\n".join(m["content"] for m in messages)
    count = getattr(generator, "count_tokens", None)
    # Without a tokenizer, ~3 characters a token over Korean and English (an overestimate for English).
    return int(count(text)) if callable(count) else len(text) // 3


def fit_messages(
    request: str,
    summary: str,
    examples: Sequence[Document],
    generator: object,
    max_tokens: int,
) -> list[dict[str, str]]:
    """The prompt, with fewer and shorter sample documents until it leaves `max_tokens` (+ slack for the
    chat template) in the generator's context window."""
    window = int(getattr(generator, "context_window", 0) or 0)
    budget = window - max_tokens - 64 if window else None
    shown, chars = list(examples), PROMPT_DOCUMENT_CHARS
    while True:
        messages = build_messages(request, summary, shown, chars)
        if budget is None or _token_count(generator, messages) <= budget or (not shown and chars <= 0):
            return messages
        if chars > 150:
            chars //= 2
        elif shown:
            shown.pop()
        else:
            return messages


def plan_candidates(facts: ProfileFacts) -> PlanCandidates:
    blocks = [b.text for b in facts.boilerplate if b.kind == "block"]
    # A digit-varying line (page numbers) as an exact-line choice would match one page only; the model
    # can still write a pattern for those.
    lines = [b.text for b in facts.boilerplate if b.kind != "block" and b.pattern is None]
    # The profile counts undetectable documents under a label ("unknown"); only real codes are choices.
    languages = sorted(code for code in facts.languages if re.fullmatch(r"[a-z]{2,3}", code))
    return PlanCandidates(blocks=blocks, lines=lines, languages=languages)


def plan_schema(facts: ProfileFacts) -> dict[str, Any]:
    """plan_json_schema with the profile's candidates, without `request` (the agent fills in the user's
    words; tokens the model spends paraphrasing them are wasted) and at most MAX_MODEL_STEPS steps."""
    schema = plan_json_schema(plan_candidates(facts))
    schema["properties"].pop("request", None)
    schema["properties"]["steps"]["maxItems"] = MAX_MODEL_STEPS
    # No `why` from the model: on a CPU every decoded token counts, and the agent writes the reason.
    for option in schema["properties"]["steps"]["items"]["anyOf"]:
        option["properties"].pop("why", None)
        option["properties"].pop("sources", None)
    return schema


def _model_suggestion(
    request: str,
    profile: DataProfile,
    facts: ProfileFacts,
    sample: Sequence[Document],
    generator: object,
) -> Suggestion:
    method = f"model:{getattr(generator, 'model_id', type(generator).__name__)}"
    window = int(getattr(generator, "context_window", 0) or 0)
    max_tokens = min(PLAN_MAX_TOKENS, window // 4) if window else PLAN_MAX_TOKENS
    summary = profile_summary(profile, facts)
    messages = fit_messages(request, summary, pick_examples(sample, profile), generator, max_tokens)
    empty = TransformPlan(request=request, steps=[])
    try:
        raw = generate_json(generator, messages, plan_schema(facts), max_tokens)
    except LlmpilotError as exc:
        return Suggestion(plan=empty, method=method, notes=[f"the generator failed: {exc}"])
    try:
        data = json.loads(raw)
        if isinstance(data, dict):
            data["request"] = request  # the user's words, not the model's paraphrase
        plan = parse_plan(data, where="model output")
    except (ValueError, LlmpilotError) as exc:
        note = f"the model's plan is not valid ({_one_line(exc)}); nothing suggested"
        return Suggestion(plan=empty, method=method, notes=[note], raw=raw)
    return Suggestion(plan=plan, method=method, notes=[], raw=raw)


def _one_line(exc: Exception) -> str:
    return re.sub(r"\s+", " ", str(exc)).strip()[:300]
