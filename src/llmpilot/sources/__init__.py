"""Document sources: files (txt, md, html, pdf, docx, csv, jsonl) and SQL queries, each split into
fingerprinted units that ingest loads incrementally."""

from __future__ import annotations

from llmpilot.sources.base import LoadResult, SourceUnit
from llmpilot.sources.files import SUPPORTED_EXTENSIONS, Discovery, discover_files
from llmpilot.sources.sql import sql_unit

__all__ = ["SUPPORTED_EXTENSIONS", "Discovery", "LoadResult", "SourceUnit", "discover_files", "sql_unit"]
