"""The transform plan: a versioned, reviewable list of steps (YAML or JSON) that a person or the data
agent writes and `llmpilot.transforms.ops` applies.

Everything a step needs is checked when the plan is loaded (regexes compile, capture groups,
PII kinds, bounds), so a bad plan fails with one line naming the file, the step, the field and
the fix, before any document is touched.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from llmpilot.errors import LlmpilotError
from llmpilot.transforms.pii import KINDS

PLAN_VERSION = 1
#: Longest `why` the JSON schema lets a generator write (a one-line reason, not an essay).
WHY_MAX_CHARS = 200
FIELD_NAME = re.compile(r"[a-z_][a-z0-9_]{0,39}")
LANGUAGE_CODE = re.compile(r"[a-z]{2,3}")
# Lines that no sensible line pattern should hit all of: a pattern that matches an empty span
# in one of them, or matches "" and all of them, would hit every line.
_PROBE_LINES = ("x", "Lorem ipsum 123.", "가나다 라마바", "#")


class PlanError(LlmpilotError):
    """A plan is invalid. The message names where (file), the step (1-based) and its op, the
    field, what is wrong and what to do."""

    def __init__(
        self,
        where: str,
        problem: str,
        *,
        step: int | None = None,
        op: str | None = None,
        field: str | None = None,
    ) -> None:
        parts = [where]
        if step is not None:
            parts.append(f"step {step}" + (f" ({op})" if op else ""))
        if field:
            parts.append(field)
        super().__init__(": ".join([*parts, problem]))
        self.where = where
        self.step = step
        self.op = op
        self.field = field
        self.problem = problem


def _short(value: object, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def compile_pattern(pattern: str, ignore_case: bool = False) -> re.Pattern[str]:
    """Compile a plan regex, turning re.error into a plan-style message."""
    try:
        return re.compile(pattern, re.IGNORECASE if ignore_case else 0)
    except re.error as exc:
        raise ValueError(f"invalid regex {_short(pattern)} ({exc}); fix it (Python re syntax)") from exc


def _reject_everything_pattern(pattern: str, what: str) -> None:
    compiled = compile_pattern(pattern)
    probes = [compiled.search(line) for line in _PROBE_LINES]
    empty_span = any(m is not None and m.end() == m.start() for m in probes)
    if empty_span or (compiled.search("") is not None and all(probes)):
        raise ValueError(
            f"{_short(pattern)} matches the empty string, so it would hit every {what}; "
            "make it match at least one character (e.g. drop a trailing '*' or '?')"
        )


class _Step(BaseModel):
    # strict: "yes" is not a boolean and 5 is not a pattern; a plan says what it means.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    why: str | None = None
    sources: str | None = None

    @field_validator("sources")
    @classmethod
    def _sources_not_blank(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("empty glob; use null for every document or a glob such as 'docs/*.md'")
        return value


class DropLines(_Step):
    op: Literal["drop_lines"] = "drop_lines"
    pattern: str
    ignore_case: bool = False

    @field_validator("pattern")
    @classmethod
    def _check_pattern(cls, value: str) -> str:
        _reject_everything_pattern(value, "line")
        return value


class DropBlock(_Step):
    op: Literal["drop_block"] = "drop_block"
    text: str

    @field_validator("text")
    @classmethod
    def _check_text(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("the block is blank; give the exact lines to remove")
        return value


class DropSection(_Step):
    op: Literal["drop_section"] = "drop_section"
    start: str
    end: str | None = None
    ignore_case: bool = False

    @field_validator("start", "end")
    @classmethod
    def _check_regex(cls, value: str | None) -> str | None:
        if value is not None:
            compile_pattern(value)
        return value


class KeepSection(_Step):
    op: Literal["keep_section"] = "keep_section"
    start: str
    end: str | None = None
    ignore_case: bool = False
    if_missing: Literal["keep", "drop"] = "keep"

    @field_validator("start", "end")
    @classmethod
    def _check_regex(cls, value: str | None) -> str | None:
        if value is not None:
            compile_pattern(value)
        return value


class RegexReplace(_Step):
    op: Literal["regex_replace"] = "regex_replace"
    pattern: str
    replacement: str
    ignore_case: bool = False

    @field_validator("pattern")
    @classmethod
    def _check_pattern(cls, value: str) -> str:
        compile_pattern(value)
        return value

    @field_validator("replacement")
    @classmethod
    def _check_replacement(cls, value: str, info: ValidationInfo) -> str:
        pattern = info.data.get("pattern")
        if pattern is None:
            return value  # the pattern itself is invalid; that error is reported
        try:
            re.compile(pattern).sub(value, "")  # compiles the template: bad group refs raise here
        except (re.error, IndexError) as exc:
            raise ValueError(
                f"{_short(value)} does not fit the pattern ({exc}); refer only to groups the pattern "
                "has (\\1, \\g<name>)"
            ) from exc
        return value


class SplitDocuments(_Step):
    op: Literal["split_documents"] = "split_documents"
    pattern: str
    title_from_match: bool = True

    @field_validator("pattern")
    @classmethod
    def _check_pattern(cls, value: str) -> str:
        _reject_everything_pattern(value, "line")
        return value


class ExtractField(_Step):
    op: Literal["extract_field"] = "extract_field"
    field: str
    pattern: str
    remove: bool = False

    @field_validator("field")
    @classmethod
    def _check_field(cls, value: str) -> str:
        if not FIELD_NAME.fullmatch(value):
            raise ValueError(
                f"invalid field name {_short(value)}; use lowercase letters, digits and '_' "
                "(start with a letter or '_', at most 40 characters)"
            )
        return value

    @field_validator("pattern")
    @classmethod
    def _check_pattern(cls, value: str) -> str:
        groups = compile_pattern(value).groups
        if groups != 1:
            raise ValueError(
                f"{_short(value)} has {groups} capture groups, needs exactly 1 (the value); "
                "wrap the value in (...) and make other groups non-capturing (?:...)"
            )
        return value


class RedactPii(_Step):
    op: Literal["redact_pii"] = "redact_pii"
    kinds: list[str]
    replacement: str = "[{kind}]"

    @field_validator("kinds")
    @classmethod
    def _check_kinds(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError(f"empty; list at least one of {', '.join(KINDS)}")
        unknown = [kind for kind in value if kind not in KINDS]
        if unknown:
            raise ValueError(f"unknown PII kind(s) {', '.join(unknown)}; valid kinds: {', '.join(KINDS)}")
        return value


class FilterLanguage(_Step):
    op: Literal["filter_language"] = "filter_language"
    keep: list[str]

    @field_validator("keep")
    @classmethod
    def _check_keep(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("empty; list the language codes to keep, e.g. [ko, en]")
        bad = [code for code in value if not LANGUAGE_CODE.fullmatch(code)]
        if bad:
            raise ValueError(
                f"invalid language code(s) {', '.join(map(repr, bad))}; use lowercase ISO 639-1 codes "
                "such as ko, en, ja"
            )
        return value


class FilterLength(_Step):
    op: Literal["filter_length"] = "filter_length"
    min_chars: int | None = Field(default=None, ge=0)
    max_chars: int | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _check_bounds(self) -> FilterLength:
        if self.min_chars is None and self.max_chars is None:
            raise ValueError("min_chars and max_chars are both null; set at least one")
        if self.min_chars is not None and self.max_chars is not None and self.min_chars > self.max_chars:
            raise ValueError(
                f"min_chars {self.min_chars} is greater than max_chars {self.max_chars}; swap them"
            )
        return self


class DropDocuments(_Step):
    op: Literal["drop_documents"] = "drop_documents"
    pattern: str
    ignore_case: bool = False

    @field_validator("pattern")
    @classmethod
    def _check_pattern(cls, value: str) -> str:
        _reject_everything_pattern(value, "document")
        return value


class NormalizeDates(_Step):
    op: Literal["normalize_dates"] = "normalize_dates"
    day_first: bool | None = None


class NormalizeNumbers(_Step):
    op: Literal["normalize_numbers"] = "normalize_numbers"
    thousands: bool = True
    fullwidth: bool = True

    @model_validator(mode="after")
    def _check_something(self) -> NormalizeNumbers:
        if not (self.thousands or self.fullwidth):
            raise ValueError("thousands and fullwidth are both false, so the step does nothing; remove it")
        return self


class Deduplicate(_Step):
    op: Literal["deduplicate"] = "deduplicate"
    near: bool = False
    threshold: float = 0.9

    @field_validator("threshold")
    @classmethod
    def _check_threshold(cls, value: float) -> float:
        if not 0.0 < value <= 1.0:
            raise ValueError(f"{value} is outside (0, 1]; use e.g. 0.9 (higher = only closer duplicates)")
        return value


StepModel = (
    DropLines
    | DropBlock
    | DropSection
    | KeepSection
    | RegexReplace
    | SplitDocuments
    | ExtractField
    | RedactPii
    | FilterLanguage
    | FilterLength
    | DropDocuments
    | NormalizeDates
    | NormalizeNumbers
    | Deduplicate
)
Step = Annotated[StepModel, Field(discriminator="op")]

STEP_TYPES: dict[str, type[_Step]] = {
    cls.model_fields["op"].default: cls
    for cls in (
        DropLines,
        DropBlock,
        DropSection,
        KeepSection,
        RegexReplace,
        SplitDocuments,
        ExtractField,
        RedactPii,
        FilterLanguage,
        FilterLength,
        DropDocuments,
        NormalizeDates,
        NormalizeNumbers,
        Deduplicate,
    )
}
OPS: tuple[str, ...] = tuple(STEP_TYPES)


class TransformPlan(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Literal[1] = 1
    request: str | None = None
    steps: list[Step]


# ---- parsing -------------------------------------------------------------------------------------


def _location(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _problem(error: Mapping[str, Any], valid_fields: list[str]) -> str:
    """One pydantic error as a plan message: what is wrong and what to do."""
    kind = error["type"]
    if kind == "missing":
        return "required field is missing; add it"
    if kind == "extra_forbidden":
        return f"unknown field; valid fields: {', '.join(valid_fields)}"
    if kind == "value_error":
        return str(error["ctx"]["error"])
    message = str(error["msg"])
    message = message[0].lower() + message[1:]
    return f"{message}, got {_short(error.get('input'))}; fix the value"


def _parse_step(raw: object, *, where: str, number: int) -> StepModel:
    if not isinstance(raw, Mapping):
        raise PlanError(where, f"must be a mapping with an 'op' field, got {type(raw).__name__}", step=number)
    op = raw.get("op")
    if op is None:
        raise PlanError(
            where, f"required field is missing; valid ops: {', '.join(OPS)}", step=number, field="op"
        )
    if not isinstance(op, str) or op not in STEP_TYPES:
        close = difflib.get_close_matches(str(op), OPS, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise PlanError(
            where, f"unknown op {_short(op)}; {hint}valid ops: {', '.join(OPS)}", step=number, field="op"
        )
    model = STEP_TYPES[op]
    try:
        return model.model_validate(dict(raw))  # type: ignore[return-value]
    except ValidationError as exc:
        first = exc.errors()[0]
        own = [name for name in model.model_fields if name not in ("op", "why", "sources")]
        valid_fields = [*own, "why", "sources"]
        raise PlanError(
            where,
            _problem(first, valid_fields),
            step=number,
            op=op,
            field=_location(tuple(first["loc"])) or None,
        ) from None


def parse_plan(data: object, *, where: str = "plan") -> TransformPlan:
    """Validate a plan loaded from YAML/JSON (or written by a generator). Raises PlanError naming
    `where`, the step number (1-based), its op and field."""
    if isinstance(data, TransformPlan):
        return data
    if not isinstance(data, Mapping):
        raise PlanError(
            where, f"a plan must be a mapping with version, request and steps, got {type(data).__name__}"
        )
    unknown = [str(key) for key in data if key not in TransformPlan.model_fields]
    if unknown:
        raise PlanError(
            where, f"unknown field(s) {', '.join(unknown)}; a plan has only version, request and steps"
        )
    version = data.get("version", PLAN_VERSION)
    if version != PLAN_VERSION or isinstance(version, bool):
        raise PlanError(
            where, f"unsupported version {_short(version)}; this llmpilot reads version {PLAN_VERSION} plans"
        )
    request = data.get("request")
    if request is not None and not isinstance(request, str):
        raise PlanError(where, f"must be a string or null, got {type(request).__name__}", field="request")
    if "steps" not in data:
        raise PlanError(where, "required field is missing; add a list of steps", field="steps")
    raw_steps = data["steps"]
    if not isinstance(raw_steps, list):
        raise PlanError(where, f"must be a list of steps, got {type(raw_steps).__name__}", field="steps")
    if not raw_steps:
        raise PlanError(where, "the plan has no steps; add at least one", field="steps")
    steps = [_parse_step(raw, where=where, number=i) for i, raw in enumerate(raw_steps, start=1)]
    return TransformPlan(version=PLAN_VERSION, request=request, steps=steps)


def load_plan(path: Path) -> TransformPlan:
    """Read a plan file: JSON when it ends in .json, YAML otherwise. Errors name the file."""
    where = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise PlanError(where, f"cannot read the plan file ({reason}); check the path") from None
    return parse_plan(_decode(text, where=where, is_json=path.suffix.lower() == ".json"), where=where)


def _decode(text: str, *, where: str, is_json: bool) -> object:
    if is_json:
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise PlanError(
                where, f"invalid JSON at line {exc.lineno} column {exc.colno} ({exc.msg})"
            ) from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1} column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise PlanError(where, f"invalid YAML{at} ({problem}); fix the syntax") from None


# ---- writing -------------------------------------------------------------------------------------


def step_to_data(step: StepModel) -> dict[str, Any]:
    """A step as plain data: op first, then the fields that differ from their defaults."""
    rest = step.model_dump(exclude_defaults=True, exclude={"op", "why", "sources"})
    tail = step.model_dump(exclude_none=True, include={"sources", "why"})
    return {"op": step.op, **rest, **tail}


def plan_to_data(plan: TransformPlan) -> dict[str, Any]:
    """The plan as plain JSON-compatible data (what `dump_plan` writes, what the schema describes)."""
    data: dict[str, Any] = {"version": plan.version}
    if plan.request is not None:
        data["request"] = plan.request
    data["steps"] = steps_as_config(plan)
    return data


def steps_as_config(plan: TransformPlan) -> list[dict[str, Any]]:
    """The plan's steps as the plain dicts `transforms.steps` in the config holds (defaults left
    out); `parse_plan({"steps": ...})` reads them back to equal steps."""
    return [step_to_data(step) for step in plan.steps]


class _PlanDumper(yaml.SafeDumper):
    """Writes multi-line strings (drop_block text) as literal `|` blocks, readable in a review."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_PlanDumper.add_representer(str, _represent_str)


def dump_plan(plan: TransformPlan) -> str:
    """YAML text of the plan; `load_plan` reads it back to an equal plan."""
    return yaml.dump(plan_to_data(plan), Dumper=_PlanDumper, allow_unicode=True, sort_keys=False, width=100)


# ---- JSON schema for constrained decoding --------------------------------------------------------


@dataclass(frozen=True)
class PlanCandidates:
    """Texts from a data profile that a generator may pick verbatim: boilerplate blocks (for
    drop_block), boilerplate lines (offered to drop_lines as escaped, anchored patterns) and the
    languages seen. Keep the lists short (tens): each entry becomes a grammar alternative."""

    blocks: list[str] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    languages: list[str] = field(default_factory=list)

    @classmethod
    def from_profile(cls, profile: Mapping[str, Any], *, limit: int = 30) -> PlanCandidates:
        """Candidates from `DataProfile.as_dict()`: boilerplate by kind, and the languages."""
        boilerplate = [b for b in profile.get("boilerplate", []) if isinstance(b, Mapping)]
        blocks = [str(b["text"]) for b in boilerplate if b.get("kind") == "block" and b.get("text")]
        lines = [str(b["text"]) for b in boilerplate if b.get("kind") == "line" and b.get("text")]
        languages = [str(code) for code in profile.get("languages", {}) if LANGUAGE_CODE.fullmatch(str(code))]
        return cls(blocks=blocks[:limit], lines=lines[:limit], languages=languages)


def line_pattern(line: str) -> str:
    """A drop_lines pattern that hits exactly this line (give or take surrounding spaces)."""
    return r"^\s*" + re.escape(line.strip()) + r"\s*$"


_STRING: dict[str, Any] = {"type": "string"}
_BOOLEAN: dict[str, Any] = {"type": "boolean"}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


def _field_schemas(candidates: PlanCandidates | None) -> dict[str, dict[str, dict[str, Any]]]:
    """Per op: the JSON schema of each of its own fields (without op/why/sources)."""
    blocks = [b for b in (candidates.blocks if candidates else []) if b.strip()]
    lines = [line_pattern(s) for s in (candidates.lines if candidates else []) if s.strip()]
    languages = sorted({*(candidates.languages if candidates else []), "ko", "en"})
    block_text = {"type": "string", "enum": blocks} if blocks else _STRING
    # Offer the profile's lines first, but let the generator write its own pattern too.
    line_pattern_schema = {"anyOf": [{"type": "string", "enum": lines}, _STRING]} if lines else _STRING
    language_item = {"type": "string", "enum": languages} if candidates else _STRING
    return {
        "drop_lines": {"pattern": line_pattern_schema, "ignore_case": _BOOLEAN},
        "drop_block": {"text": block_text},
        "drop_section": {"start": _STRING, "end": _nullable(_STRING), "ignore_case": _BOOLEAN},
        "keep_section": {
            "start": _STRING,
            "end": _nullable(_STRING),
            "ignore_case": _BOOLEAN,
            "if_missing": {"type": "string", "enum": ["keep", "drop"]},
        },
        "regex_replace": {"pattern": _STRING, "replacement": _STRING, "ignore_case": _BOOLEAN},
        "split_documents": {"pattern": _STRING, "title_from_match": _BOOLEAN},
        "extract_field": {"field": _STRING, "pattern": _STRING, "remove": _BOOLEAN},
        "redact_pii": {
            "kinds": {"type": "array", "items": {"type": "string", "enum": list(KINDS)}, "minItems": 1},
            "replacement": _STRING,
        },
        "filter_language": {"keep": {"type": "array", "items": language_item, "minItems": 1}},
        "filter_length": {
            "min_chars": _nullable({"type": "integer"}),
            "max_chars": _nullable({"type": "integer"}),
        },
        "drop_documents": {"pattern": _STRING, "ignore_case": _BOOLEAN},
        "normalize_dates": {"day_first": _nullable(_BOOLEAN)},
        "normalize_numbers": {"thousands": _BOOLEAN, "fullwidth": _BOOLEAN},
        "deduplicate": {"near": _BOOLEAN, "threshold": {"type": "number"}},
    }


def _required_fields(op: str) -> list[str]:
    fields = STEP_TYPES[op].model_fields
    return [name for name, info in fields.items() if info.is_required()]


def plan_json_schema(candidates: PlanCandidates | None = None) -> dict[str, Any]:
    """JSON schema of a plan for constrained decoding (llama.cpp grammars, OpenAI structured
    outputs): flat (an anyOf of one closed object per op, no $ref), only type / properties /
    required / enum / anyOf / items / minItems / maxLength. It is looser than `parse_plan`
    (regexes are not checked), so generated plans still go through `parse_plan`."""
    fields_by_op = _field_schemas(candidates)
    step_schemas = []
    for op in OPS:
        properties: dict[str, Any] = {"op": {"type": "string", "enum": [op]}, **fields_by_op[op]}
        properties["why"] = {"type": "string", "maxLength": WHY_MAX_CHARS}
        properties["sources"] = _nullable(_STRING)
        step_schemas.append(
            {
                "type": "object",
                "properties": properties,
                "required": ["op", *_required_fields(op)],
                "additionalProperties": False,
            }
        )
    return {
        "type": "object",
        "properties": {
            "version": {"type": "integer", "enum": [PLAN_VERSION]},
            "request": _nullable(_STRING),
            "steps": {"type": "array", "items": {"anyOf": step_schemas}, "minItems": 1},
        },
        "required": ["version", "steps"],
        "additionalProperties": False,
    }
