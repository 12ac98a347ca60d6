"""The Ollama side: one async client per process and event loop, with timeouts from settings."""
