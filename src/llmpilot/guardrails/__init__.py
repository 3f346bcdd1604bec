"""Guardrails (issue 13): input rails (length, PII, topics, prompt injection), retrieved-passage rails
(indirect injection) and output rails (PII leak, profanity, grounding), each decision traced; plus
JSON-schema validation for structured outputs and `evaluate_rails` for `guard eval`."""

from llmpilot.guardrails.decisions import InputVerdict, RailDecision
from llmpilot.guardrails.evaluate import GuardRow, evaluate_rails, load_guard_rows
from llmpilot.guardrails.policy import Guardrails
from llmpilot.guardrails.schema import validate_json

__all__ = [
    "GuardRow",
    "Guardrails",
    "InputVerdict",
    "RailDecision",
    "evaluate_rails",
    "load_guard_rows",
    "validate_json",
]
