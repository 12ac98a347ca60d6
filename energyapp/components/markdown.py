"""Markdown from the model, shown safely."""

from __future__ import annotations

import reflex as rx


def safe_markdown(text: rx.Var[str]) -> rx.Component:
    """Model output is untrusted: no raw HTML (rehype-raw off); react-markdown also drops
    `javascript:` links. Math is off so "$5.000" stays money."""
    return rx.markdown(
        text, use_raw=False, use_math=False, use_katex=False, class_name="chat-markdown"
    )
