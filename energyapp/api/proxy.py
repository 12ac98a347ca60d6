"""Behind the trusted reverse proxy (Caddy terminates TLS), take the scheme from
X-Forwarded-Proto, so redirects the server builds (e.g. /login -> /login/) stay on https.

Only from a trusted peer (`energyapp.auth.client_address.is_trusted_proxy`): a client that
reaches the app's port directly cannot pretend its plain-http connection is https."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from energyapp.auth.client_address import is_trusted_proxy


def _peer(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else ""


def trust_forwarded_proto(app: ASGIApp) -> ASGIApp:
    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and is_trusted_proxy(_peer(scope)):
            forwarded = dict(scope.get("headers") or []).get(b"x-forwarded-proto", b"")
            proto = forwarded.decode("latin-1").split(",")[-1].strip().lower()
            if proto in ("http", "https"):
                secure = proto == "https"
                scheme = (
                    ("https" if secure else "http")
                    if scope["type"] == "http"
                    else ("wss" if secure else "ws")
                )
                scope = {**scope, "scheme": scheme}
        await app(scope, receive, send)

    return middleware
