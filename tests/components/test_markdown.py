"""Model output is rendered without raw HTML and without math (Reflex's markdown turns both on
by default)."""

from __future__ import annotations

import reflex as rx

from energyapp.components.markdown import safe_markdown


def test_safe_markdown_renders_without_raw_html_or_math() -> None:
    rendered = str(safe_markdown(rx.Var.create("**hola** <b>x</b> $5.000")))
    assert "ReactMarkdown" in rendered and "chat-markdown" in rendered
    for plugin in ("rehypeRaw", "rehypeKatex", "remarkMath"):
        assert plugin not in rendered
    assert "rehypeRaw" in str(rx.markdown(rx.Var.create("x")))  # the default this guards against
