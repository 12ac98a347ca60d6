"""`?next=` targets: only local paths, so a login link can never send a user to another site."""

from __future__ import annotations

from urllib.parse import urlsplit

DEFAULT_AFTER_LOGIN = "/dashboard"


def safe_next(target: str | None, default: str = DEFAULT_AFTER_LOGIN) -> str:
    if not target or len(target) > 500:
        return default
    target = target.strip()
    parts = urlsplit(target)
    if (
        not target.startswith("/")
        or target.startswith(("//", "/\\"))
        or "\\" in target
        or parts.scheme
        or parts.netloc
        or any(ord(c) < 32 for c in target)
        or parts.path.startswith(("/api", "/_event", "/login", "/register"))
    ):
        return default
    return target
