"""Plan parsing, the step-naming errors, YAML/JSON round trips and the JSON schema used for
constrained decoding (checked with jsonschema and llama.cpp's grammar converter)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from llama_cpp import LlamaGrammar

from llmpilot.errors import LlmpilotError
from llmpilot.transforms.plan import (
    OPS,
    STEP_TYPES,
    WHY_MAX_CHARS,
    DropLines,
    PlanCandidates,
    PlanError,
    TransformPlan,
    dump_plan,
    line_pattern,
    load_plan,
    parse_plan,
    plan_json_schema,
    plan_to_data,
    steps_as_config,
)

# One plan using every op, with non-default values where an op has options.
EVERY_OP: dict[str, Any] = {
    "version": 1,
    "request": "푸터와 목차를 지우고 개인정보를 가려줘",
    "steps": [
        {"op": "drop_lines", "pattern": r"^Page \d+ of \d+$", "ignore_case": True, "why": "page numbers"},
        {"op": "drop_block", "text": "Copyright 2024 ACME\nAll rights reserved.", "sources": "web/*"},
        {"op": "drop_section", "start": "^목차$", "end": None},
        {"op": "keep_section", "start": "^Abstract$", "end": "^References$", "if_missing": "drop"},
        {"op": "regex_replace", "pattern": r"\(내선 (\d+)\)", "replacement": r"[ext \1]"},
        {"op": "split_documents", "pattern": r"^제\d+장", "title_from_match": False},
        {"op": "extract_field", "field": "author", "pattern": r"작성자:\s*(\S+)", "remove": True},
        {"op": "redact_pii", "kinds": ["email", "phone"], "replacement": "<{kind}>"},
        {"op": "filter_language", "keep": ["ko", "en"]},
        {"op": "filter_length", "min_chars": 20, "max_chars": 100000},
        {"op": "drop_documents", "pattern": r"\[임시\]"},
        {"op": "normalize_dates", "day_first": True},
        {"op": "normalize_numbers", "fullwidth": False},
        {"op": "deduplicate", "near": True, "threshold": 0.85},
    ],
}
MINIMAL: dict[str, Any] = {"steps": [{"op": "deduplicate"}]}
EXAMPLE_PLANS = [
    EVERY_OP,
    {"version": 1, **MINIMAL},
    {"version": 1, "request": None, "steps": [{"op": "normalize_dates"}]},
]


def test_every_op_is_covered_by_the_example() -> None:
    assert {s["op"] for s in EVERY_OP["steps"]} == set(OPS) == set(STEP_TYPES)


def test_parse_plan_builds_typed_steps() -> None:
    plan = parse_plan(EVERY_OP)
    assert plan.request == EVERY_OP["request"]
    assert [s.op for s in plan.steps] == [s["op"] for s in EVERY_OP["steps"]]
    first = plan.steps[0]
    assert isinstance(first, DropLines) and first.ignore_case and first.why == "page numbers"
    assert plan.steps[1].sources == "web/*"
    assert TransformPlan.model_validate(EVERY_OP) == plan  # the discriminated union agrees


def test_defaults() -> None:
    plan = parse_plan(MINIMAL)
    assert plan.version == 1 and plan.request is None
    assert plan.steps[0].model_dump() == {
        "why": None,
        "sources": None,
        "op": "deduplicate",
        "near": False,
        "threshold": 0.9,
    }


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {
                "steps": [
                    {"op": "drop_lines", "pattern": "x"},
                    {"op": "regex_replace", "pattern": "a(", "replacement": ""},
                ]
            },
            "plan.yaml: step 2 (regex_replace): pattern: invalid regex 'a(' "
            "(missing ), unterminated subpattern at position 1)",
        ),
        (
            {"steps": [{"op": "drop_line", "pattern": "x"}]},
            "plan.yaml: step 1: op: unknown op 'drop_line'; did you mean 'drop_lines'? "
            "valid ops: drop_lines, drop_block,",
        ),
        (
            {"steps": [{"pattern": "x"}]},
            "plan.yaml: step 1: op: required field is missing; valid ops: drop_lines,",
        ),
        (
            {"steps": [{"op": "drop_lines"}]},
            "plan.yaml: step 1 (drop_lines): pattern: required field is missing",
        ),
        (
            {"steps": [{"op": "drop_lines", "pattern": "x", "colour": "red"}]},
            "step 1 (drop_lines): colour: unknown field; valid fields: pattern, ignore_case, why, sources",
        ),
        (
            {"steps": [{"op": "drop_lines", "pattern": "x*"}]},
            "step 1 (drop_lines): pattern: 'x*' matches the empty string, so it would hit every line",
        ),
        ({"steps": [{"op": "drop_lines", "pattern": ""}]}, "matches the empty string"),
        ({"steps": [{"op": "drop_lines", "pattern": r"\b"}]}, "matches the empty string"),
        ({"steps": [{"op": "drop_documents", "pattern": ".*"}]}, "would hit every document"),
        ({"steps": [{"op": "split_documents", "pattern": "(제1장)?"}]}, "step 1 (split_documents): pattern:"),
        (
            {"steps": [{"op": "drop_lines", "pattern": "x", "ignore_case": "yes"}]},
            "ignore_case: input should be a valid boolean, got 'yes'",
        ),
        (
            {"steps": [{"op": "regex_replace", "pattern": "a", "replacement": r"\2"}]},
            "step 1 (regex_replace): replacement: '\\\\2' does not fit the pattern "
            "(invalid group reference 2",
        ),
        (
            {"steps": [{"op": "extract_field", "field": "author", "pattern": "Author: .+"}]},
            "step 1 (extract_field): pattern: 'Author: .+' has 0 capture groups, needs exactly 1",
        ),
        (
            {"steps": [{"op": "extract_field", "field": "author", "pattern": "(a)(b)"}]},
            "has 2 capture groups",
        ),
        (
            {"steps": [{"op": "extract_field", "field": "Author", "pattern": "(a)"}]},
            "step 1 (extract_field): field: invalid field name 'Author'",
        ),
        ({"steps": [{"op": "extract_field", "field": "a" * 41, "pattern": "(a)"}]}, "invalid field name"),
        (
            {"steps": [{"op": "redact_pii", "kinds": ["email", "ssn"]}]},
            "step 1 (redact_pii): kinds: unknown PII kind(s) ssn; valid kinds: email, rrn, card, phone",
        ),
        (
            {"steps": [{"op": "redact_pii", "kinds": []}]},
            "kinds: empty; list at least one of email, rrn, card, phone",
        ),
        ({"steps": [{"op": "filter_language", "keep": []}]}, "step 1 (filter_language): keep: empty"),
        ({"steps": [{"op": "filter_language", "keep": ["Korean"]}]}, "invalid language code(s) 'Korean'"),
        (
            {"steps": [{"op": "filter_length"}]},
            "step 1 (filter_length): min_chars and max_chars are both null; set at least one",
        ),
        (
            {"steps": [{"op": "filter_length", "min_chars": 10, "max_chars": 5}]},
            "min_chars 10 is greater than max_chars 5; swap them",
        ),
        ({"steps": [{"op": "filter_length", "min_chars": -1}]}, "step 1 (filter_length): min_chars:"),
        (
            {"steps": [{"op": "deduplicate", "threshold": 0}]},
            "step 1 (deduplicate): threshold: 0.0 is outside (0, 1]",
        ),
        ({"steps": [{"op": "deduplicate", "threshold": 1.5}]}, "threshold: 1.5 is outside (0, 1]"),
        (
            {"steps": [{"op": "drop_section", "start": "[", "end": None}]},
            "step 1 (drop_section): start: invalid regex '['",
        ),
        (
            {"steps": [{"op": "keep_section", "start": "x", "end": "(", "if_missing": "drop"}]},
            "step 1 (keep_section): end: invalid regex",
        ),
        (
            {"steps": [{"op": "keep_section", "start": "x", "if_missing": "delete"}]},
            "if_missing: input should be 'keep' or 'drop'",
        ),
        ({"steps": [{"op": "drop_block", "text": "\n \n"}]}, "step 1 (drop_block): text: the block is blank"),
        ({"steps": [{"op": "drop_lines", "pattern": "x", "sources": " "}]}, "sources: empty glob"),
        (
            {"steps": [{"op": "normalize_numbers", "thousands": False, "fullwidth": False}]},
            "the step does nothing; remove it",
        ),
        ({"steps": ["drop_lines"]}, "plan.yaml: step 1: must be a mapping with an 'op' field, got str"),
        ({"steps": "drop_lines"}, "plan.yaml: steps: must be a list of steps, got str"),
        ({"steps": []}, "plan.yaml: steps: the plan has no steps; add at least one"),
        ({"version": 1}, "plan.yaml: steps: required field is missing"),
        (
            {"version": 2, "steps": [{"op": "deduplicate"}]},
            "plan.yaml: unsupported version 2; this llmpilot reads version 1 plans",
        ),
        ({"version": True, "steps": [{"op": "deduplicate"}]}, "unsupported version True"),
        (
            {"steps": [{"op": "deduplicate"}], "step": []},
            "plan.yaml: unknown field(s) step; a plan has only version, request and steps",
        ),
        (
            {"request": 5, "steps": [{"op": "deduplicate"}]},
            "plan.yaml: request: must be a string or null, got int",
        ),
        (["drop_lines"], "plan.yaml: a plan must be a mapping with version, request and steps, got list"),
        (None, "got NoneType"),
    ],
)
def test_errors_name_the_step_field_and_fix(data: object, message: str) -> None:
    with pytest.raises(PlanError) as info:
        parse_plan(data, where="plan.yaml")
    assert message in str(info.value)
    assert "\n" not in str(info.value)
    assert isinstance(info.value, LlmpilotError)


def test_error_attributes() -> None:
    with pytest.raises(PlanError) as info:
        parse_plan(
            {"steps": [{"op": "deduplicate"}, {"op": "filter_length", "max_chars": "10"}]}, where="p.json"
        )
    error = info.value
    assert (error.where, error.step, error.op, error.field) == ("p.json", 2, "filter_length", "max_chars")


def test_patterns_for_blank_lines_and_empty_documents_are_allowed() -> None:
    # They match "" but not every line: "drop blank lines", "split on blank lines", "drop empty documents".
    parse_plan(
        {"steps": [{"op": "drop_lines", "pattern": r"^\s*$"}, {"op": "split_documents", "pattern": "^$"}]}
    )
    parse_plan({"steps": [{"op": "drop_documents", "pattern": r"^\s*$"}]})


# ---- files -----------------------------------------------------------------------------------------


def test_yaml_round_trip_is_readable(tmp_path: Path) -> None:
    plan = parse_plan(EVERY_OP)
    text = dump_plan(plan)
    assert "푸터와 목차를" in text  # allow_unicode: Korean is written as is
    assert "text: |-\n    Copyright 2024 ACME\n    All rights reserved." in text  # blocks as literal blocks
    assert "ignore_case: false" not in text  # defaults are left out
    path = tmp_path / "plan.yaml"
    path.write_text(text, encoding="utf-8")
    assert load_plan(path) == plan


def test_steps_as_config_round_trip() -> None:
    plan = parse_plan(EVERY_OP)
    config_steps = steps_as_config(plan)
    assert config_steps[0] == {
        "op": "drop_lines",
        "pattern": r"^Page \d+ of \d+$",
        "ignore_case": True,
        "why": "page numbers",
    }
    assert config_steps[-2] == {"op": "normalize_numbers", "fullwidth": False}
    assert json.loads(json.dumps(config_steps)) == config_steps
    assert parse_plan({"steps": config_steps}).steps == plan.steps


def test_json_round_trip(tmp_path: Path) -> None:
    plan = parse_plan(EVERY_OP)
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(plan_to_data(plan), ensure_ascii=False), encoding="utf-8")
    assert load_plan(path) == plan


@pytest.mark.parametrize(
    "text", ["a\n", "a\n\n", "\nlead", "  indented\nline", "trailing space \nx", "탭\t문자\n"]
)
def test_dump_keeps_awkward_block_texts(text: str, tmp_path: Path) -> None:
    plan = parse_plan({"steps": [{"op": "drop_block", "text": "x" + text}]})
    assert parse_plan(yaml.safe_load(dump_plan(plan))) == plan


def test_load_plan_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(
        PlanError, match=r"missing\.yaml: cannot read the plan file \(No such file or directory\)"
    ):
        load_plan(tmp_path / "missing.yaml")
    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text("steps:\n  - op: drop_lines\n    pattern: [unclosed\n", encoding="utf-8")
    with pytest.raises(PlanError, match=r"bad\.yaml: invalid YAML at line \d+ column \d+"):
        load_plan(bad_yaml)
    bad_json = tmp_path / "bad.json"
    bad_json.write_text('{"steps": [}', encoding="utf-8")
    with pytest.raises(PlanError, match=r"bad\.json: invalid JSON at line 1 column 12"):
        load_plan(bad_json)
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text("steps:\n  - op: drop_lines\n    pattern: 'a('\n", encoding="utf-8")
    with pytest.raises(PlanError, match=r"wrong\.yaml: step 1 \(drop_lines\): pattern: invalid regex"):
        load_plan(wrong)


# ---- JSON schema -----------------------------------------------------------------------------------


ALLOWED_KEYWORDS = {
    "type",
    "properties",
    "required",
    "enum",
    "anyOf",
    "items",
    "additionalProperties",
    "minItems",
    "maxLength",
}


def _keywords(node: object) -> set[str]:
    """Schema keywords used anywhere (the names under "properties" are fields, not keywords)."""
    if isinstance(node, list):
        return {key for item in node for key in _keywords(item)}
    if not isinstance(node, dict):
        return set()
    found = set(node)
    for key, value in node.items():
        subschemas = value.values() if key == "properties" else [value]
        for sub in subschemas:
            found |= _keywords(sub)
    return found


@pytest.mark.parametrize(
    "candidates",
    [None, PlanCandidates(blocks=["Copyright\nAll rights"], lines=["Page (1)"], languages=["ja"])],
)
def test_schema_is_flat_and_uses_only_the_portable_subset(candidates: PlanCandidates | None) -> None:
    schema = plan_json_schema(candidates)
    jsonschema.Draft202012Validator.check_schema(schema)
    text = json.dumps(schema)
    assert "$ref" not in text and "$defs" not in text and "const" not in text
    steps = schema["properties"]["steps"]["items"]["anyOf"]
    assert [s["properties"]["op"]["enum"] for s in steps] == [[op] for op in OPS]
    for step_schema in steps:
        assert step_schema["additionalProperties"] is False
        assert step_schema["properties"]["why"] == {"type": "string", "maxLength": WHY_MAX_CHARS}
        assert "why" not in step_schema["required"]
    assert _keywords(schema) <= ALLOWED_KEYWORDS


def test_schema_fields_match_the_models() -> None:
    steps = plan_json_schema()["properties"]["steps"]["items"]["anyOf"]
    for step_schema in steps:
        op = step_schema["properties"]["op"]["enum"][0]
        model_fields = STEP_TYPES[op].model_fields
        assert set(step_schema["properties"]) == set(model_fields)
        assert set(step_schema["required"]) == {
            "op",
            *(n for n, f in model_fields.items() if f.is_required()),
        }


@pytest.mark.parametrize("example", EXAMPLE_PLANS)
def test_schema_accepts_every_example_plan(example: dict[str, Any]) -> None:
    validator = jsonschema.Draft202012Validator(plan_json_schema())
    validator.validate(example)
    validator.validate(plan_to_data(parse_plan(example)))
    candidates = PlanCandidates(languages=["ko", "en"])
    jsonschema.Draft202012Validator(plan_json_schema(candidates)).validate(plan_to_data(parse_plan(example)))


@pytest.mark.parametrize(
    "bad",
    [
        {"steps": [{"op": "drop_linez", "pattern": "x"}]},
        {"steps": [{"op": "drop_lines", "pattern": "x", "colour": "red"}]},
        {"steps": [{"op": "drop_lines"}]},
        {"steps": []},
        {"version": 2, "steps": [{"op": "deduplicate"}]},
        {"steps": [{"op": "redact_pii", "kinds": ["ssn"]}]},
        {"steps": [{"op": "deduplicate", "why": "x" * (WHY_MAX_CHARS + 1)}]},
    ],
)
def test_schema_rejects_what_the_generator_must_not_write(bad: dict[str, Any]) -> None:
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(plan_json_schema()).validate(bad)


def test_schema_offers_the_profile_candidates() -> None:
    candidates = PlanCandidates(
        blocks=["Copyright 2024 ACME\nAll rights reserved."],
        lines=["- 1 -", "무단 전재 금지"],
        languages=["ja", "ko"],
    )
    validator = jsonschema.Draft202012Validator(plan_json_schema(candidates))
    validator.validate({"version": 1, "steps": [{"op": "drop_block", "text": candidates.blocks[0]}]})
    with pytest.raises(jsonschema.ValidationError):
        validator.validate({"version": 1, "steps": [{"op": "drop_block", "text": "made up"}]})
    # drop_lines: the profile's lines are offered as anchored literal patterns; free patterns stay possible.
    validator.validate({"version": 1, "steps": [{"op": "drop_lines", "pattern": line_pattern("- 1 -")}]})
    validator.validate({"version": 1, "steps": [{"op": "drop_lines", "pattern": r"^Page \d+$"}]})
    languages = plan_json_schema(candidates)["properties"]["steps"]["items"]["anyOf"][
        OPS.index("filter_language")
    ]
    assert languages["properties"]["keep"]["items"]["enum"] == ["en", "ja", "ko"]
    with pytest.raises(jsonschema.ValidationError):
        validator.validate({"version": 1, "steps": [{"op": "filter_language", "keep": ["fr"]}]})


def test_line_pattern_matches_exactly_its_line() -> None:
    plan = parse_plan({"steps": [{"op": "drop_lines", "pattern": line_pattern("(주) 회사 * 1.0")}]})
    step = plan.steps[0]
    assert isinstance(step, DropLines)
    assert re.search(step.pattern, "  (주) 회사 * 1.0 ")
    assert not re.search(step.pattern, "(주) 회사 * 1.0 and more")


def test_candidates_from_profile() -> None:
    profile = {
        "languages": {"ko": 10, "en": 2, "und": 1},
        "boilerplate": [
            {"text": "Copyright\nAll rights", "kind": "block", "count": 9},
            {"text": "- 1 -", "kind": "line", "count": 30},
        ],
    }
    candidates = PlanCandidates.from_profile(profile)
    assert candidates == PlanCandidates(
        blocks=["Copyright\nAll rights"], lines=["- 1 -"], languages=["ko", "en", "und"]
    )


@pytest.mark.parametrize(
    "candidates",
    [
        None,
        PlanCandidates(
            blocks=['Copyright "ACME"\n\tAll rights \\ reserved.', "무단 전재\n금지"],
            lines=["Page (1) of [2]", "- 1 -"],
            languages=["ja"],
        ),
    ],
)
def test_llama_cpp_compiles_the_schema_to_a_grammar(candidates: PlanCandidates | None) -> None:
    grammar = LlamaGrammar.from_json_schema(json.dumps(plan_json_schema(candidates)), verbose=False)
    assert grammar is not None
