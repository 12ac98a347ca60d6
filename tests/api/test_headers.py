"""Headers the app sets itself on every HTTP response, Caddy or not: pages, /api and Reflex's
own routes all answer with Cross-Origin-Opener-Policy: same-origin."""

from __future__ import annotations

import pytest
from starlette.applications import Starlette
from starlette.responses import HTMLResponse, PlainTextResponse
from starlette.routing import Route

from tests.conftest import ORIGIN


def served_app():
    """The ASGI app as Reflex assembles it from energyapp.energyapp's `api_transformer` list
    (App.__call__: a Starlette transformer mounts what came before, a callable wraps it), over a
    stand-in for Reflex's routes and built pages, which `--env prod` serves on the same app."""
    import energyapp.energyapp as main
    from energyapp.api.app import create_api

    async def page(request) -> HTMLResponse:
        return HTMLResponse("<!doctype html><title>EnergyApp</title>")

    async def ping(request) -> PlainTextResponse:
        return PlainTextResponse("pong")

    asgi = Starlette(routes=[Route("/ping", ping), Route("/login/", page)])
    for transformer in main.app.api_transformer:
        if isinstance(transformer, Starlette):
            transformer = create_api()  # a fresh one: the module's was built at import
            transformer.mount("", asgi)
            asgi = transformer
        else:
            asgi = transformer(asgi)
    return asgi


@pytest.fixture
def site(app_env):
    from fastapi.testclient import TestClient

    with TestClient(served_app(), base_url=ORIGIN) as client:
        yield client


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("get", "/login/", 200),  # a page
        ("get", "/ping", 200),  # Reflex's own route
        ("get", "/api/auth/me", 401),  # an API error
        ("post", "/api/auth/login", 422),
        ("get", "/api/no/such/thing", 404),
    ],
)
def test_every_response_has_cross_origin_opener_policy(
    site, method: str, path: str, status: int
) -> None:
    response = getattr(site, method)(path)
    assert response.status_code == status
    assert response.headers["cross-origin-opener-policy"] == "same-origin"


async def test_the_middleware_keeps_a_header_the_response_already_set() -> None:
    from energyapp.api.headers import security_headers

    sent: list[dict] = []

    async def app(scope, receive, send) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"cross-origin-opener-policy", b"unsafe-none")],
            }
        )

    async def send(message) -> None:
        sent.append(message)

    await security_headers(app)({"type": "http"}, None, send)
    assert sent[0]["headers"] == [(b"cross-origin-opener-policy", b"unsafe-none")]


async def test_websocket_and_lifespan_messages_pass_untouched() -> None:
    from energyapp.api.headers import security_headers

    seen: list[str] = []

    async def app(scope, receive, send) -> None:
        seen.append(scope["type"])
        await send({"type": "websocket.accept"})

    sent: list[dict] = []

    async def send(message) -> None:
        sent.append(message)

    await security_headers(app)({"type": "websocket"}, None, send)
    await security_headers(app)({"type": "lifespan"}, None, send)
    assert seen == ["websocket", "lifespan"]
    assert sent == [{"type": "websocket.accept"}] * 2
