"""Every /api response says `Cache-Control: no-store` (tokens, TOTP secrets, recovery codes and
per-user data must not stay in a browser or proxy cache); the docs' static assets and the pages
mounted behind the API are left to cache as before."""

from __future__ import annotations

import pyotp
import pytest

from tests.conftest import ORIGIN, api_login

EMAIL, PASSWORD = "marta@empresa.cl", "clave-segura-1"


def assert_no_store(response) -> None:
    assert response.headers["cache-control"] == "no-store", response.request.url
    assert response.headers["pragma"] == "no-cache"


@pytest.fixture
def signed_in(api, make_user):
    make_user(EMAIL, PASSWORD)
    login = api_login(api, EMAIL, PASSWORD)
    assert login.status_code == 200 and login.json()["access_token"]
    assert_no_store(login)
    return api


def test_authenticated_and_secret_bearing_answers_are_no_store(signed_in) -> None:
    headers = {"Origin": ORIGIN}
    setup = signed_in.post("/api/auth/totp/setup", headers=headers)
    assert setup.status_code == 200 and setup.json()["secret"]
    assert_no_store(setup)
    confirm = signed_in.post(
        "/api/auth/totp/confirm",
        headers=headers,
        json={"code": pyotp.TOTP(setup.json()["secret"]).now()},
    )
    assert confirm.status_code == 200 and confirm.json()["recovery_codes"]
    assert_no_store(confirm)
    for path in ("/api/auth/me", "/api/conversations", "/api/auth/sessions"):
        response = signed_in.get(path)
        assert response.status_code == 200
        assert_no_store(response)


def test_failures_and_public_api_paths_are_no_store_too(api) -> None:
    for response in (
        api_login(api, "nadie@empresa.cl", "clave-mala-1"),
        api.get("/api/auth/me"),
        api.get("/api/no/such/thing"),
        api.get("/api/health"),
    ):
        assert response.status_code in (200, 401, 404, 503)
        assert_no_store(response)


def test_a_route_that_chooses_its_own_cache_control_keeps_it(app_env) -> None:
    from fastapi.responses import PlainTextResponse
    from fastapi.testclient import TestClient

    from energyapp.api.app import create_api

    api = create_api()

    @api.get("/api/z-cacheable")
    async def cacheable() -> PlainTextResponse:
        return PlainTextResponse("x", headers={"Cache-Control": "public, max-age=60"})

    api.router.routes.insert(0, api.router.routes.pop())  # before the catch-all 404
    with TestClient(api) as client:
        response = client.get("/api/z-cacheable")
    assert response.headers["cache-control"] == "public, max-age=60"
    assert "pragma" not in response.headers


def test_docs_assets_and_pages_behind_the_api_are_untouched(app_env) -> None:
    from fastapi.testclient import TestClient
    from starlette.applications import Starlette
    from starlette.responses import HTMLResponse
    from starlette.routing import Route

    from energyapp.api.app import create_api
    from energyapp.settings import get_settings

    async def page(request) -> HTMLResponse:
        return HTMLResponse("<!doctype html><title>EnergyApp</title>")

    api = create_api()
    api.mount("", Starlette(routes=[Route("/login/", page)]))  # as Reflex mounts itself
    with TestClient(api) as client:
        assert "cache-control" not in client.get("/login/").headers
        if get_settings().api_docs_enabled:
            asset = client.get("/api/docs-static/swagger-ui.css")
            assert asset.status_code == 200 and asset.headers.get("cache-control") != "no-store"
