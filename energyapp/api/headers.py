"""Response headers the app itself sets on every HTTP response (pages, /api, static files),
so they hold also without Caddy in front (deploy/Caddyfile sets the same and more).

- Cross-Origin-Opener-Policy: same-origin: a page from another site that opens EnergyApp in a
  window (or that EnergyApp opens) gets no handle on it (no `window.opener`, no
  cross-window scripting, no XS-Leaks through the window reference).
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"cross-origin-opener-policy", b"same-origin"),
)


def security_headers(app: ASGIApp) -> ASGIApp:
    """ASGI middleware: add SECURITY_HEADERS to every HTTP response that lacks them."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers") or [])
                present = {name.lower() for name, _ in headers}
                headers += [
                    (name, value) for name, value in SECURITY_HEADERS if name not in present
                ]
                message = {**message, "headers": headers}
            await send(message)

        await app(scope, receive, send_with_headers)

    return middleware
