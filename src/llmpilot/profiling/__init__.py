"""Data profiling: what is in a set of loaded documents, and what needs cleaning."""

from __future__ import annotations

from llmpilot.profiling.boilerplate import BoilerplateEntry, find_boilerplate, min_documents
from llmpilot.profiling.html import render_profile_html
from llmpilot.profiling.profile import (
    DataProfile,
    Duplicates,
    EncodingExample,
    EncodingReport,
    LengthStats,
    format_of,
    profile_documents,
    source_unit,
)

__all__ = [
    "BoilerplateEntry",
    "DataProfile",
    "Duplicates",
    "EncodingExample",
    "EncodingReport",
    "LengthStats",
    "find_boilerplate",
    "format_of",
    "min_documents",
    "profile_documents",
    "render_profile_html",
    "source_unit",
]
