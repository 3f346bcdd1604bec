"""Generators: local GGUF models (`llamacpp`: llama-cpp) and OpenAI-compatible servers
(`openai_chat`: openai). Importing this package loads no model; modules register on import.
`models` locates shipped models."""
