"""Reusable UI pieces (no state, no services)."""
