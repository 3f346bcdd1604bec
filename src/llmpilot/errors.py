"""Errors that reach users. Each message says what went wrong and what to do about it."""

from __future__ import annotations


class LlmpilotError(Exception):
    """Base class: the CLI prints these without a traceback."""


class ConfigError(LlmpilotError):
    """A config file or value is invalid."""


class SourceError(LlmpilotError):
    """A source (file, database) could not be read. Ingest reports it and skips the source."""

    def __init__(self, source: str, reason: str) -> None:
        super().__init__(f"{source}: {reason}")
        self.source = source
        self.reason = reason


class ModelNotAvailableError(LlmpilotError):
    """A model or model server is missing; the message says what to install or start."""


class StoreError(LlmpilotError):
    """The store of record is missing, locked or from an unknown schema."""


class DatasetError(LlmpilotError):
    """A dataset file is malformed; the message names the file and line."""
