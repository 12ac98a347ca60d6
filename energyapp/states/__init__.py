"""Reflex UI state. States hold small view objects and call services; every public method can be
invoked from the browser, so each protected handler re-checks the session and the policy."""
