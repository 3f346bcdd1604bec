"""Imports every built-in component module so each registers itself by name."""

from llmpilot.chunking import fixed, recursive, sentence  # noqa: F401
from llmpilot.embedding import hashing, local, openai_compat  # noqa: F401
from llmpilot.generation import extractive, hf, llamacpp, openai_chat  # noqa: F401
from llmpilot.index import keyword, pgvector, vector  # noqa: F401
