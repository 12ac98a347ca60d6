"""The JSON API under /api, mounted into the Reflex server (one server, one port)."""
