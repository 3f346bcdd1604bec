"""llmpilot: build LLM services the measured way."""

__version__ = "0.1.0"
