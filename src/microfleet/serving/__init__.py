"""The inference service: an OpenAI-compatible HTTP API (FastAPI)."""
