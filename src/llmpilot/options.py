"""Parsing of option values that several command-line modules share (kept out of `llmpilot.cli`,
which imports those modules: the CLI layer depends on the library, never the other way round)."""

from __future__ import annotations


def split_names(value: str | None) -> tuple[str, ...]:
    """ "rougeL, chrf,," -> ("rougeL", "chrf"): a comma-separated option, blanks dropped."""
    return tuple(part.strip() for part in (value or "").split(",") if part.strip())
