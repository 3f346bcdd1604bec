"""Serving: the HTTP API (OpenAI-compatible /v1 and the llmpilot /api), keys, tenants, traces, feedback."""
