"""Embedders: in-process models (`local`: e5-small, minilm, sentence-transformers) and OpenAI-compatible
servers (`openai_compat`: openai). Importing this package loads no model; modules register on import."""
