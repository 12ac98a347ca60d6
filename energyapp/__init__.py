"""EnergyApp: a self-hosted chat platform on a local LLM (Ollama)."""
