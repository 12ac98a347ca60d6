"""The API's frame: JSON errors in Spanish, JSON 404 for unknown /api paths, offline docs."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("method", ["get", "post", "delete"])
def test_unknown_api_path_is_a_json_404(api, method: str) -> None:
    response = getattr(api, method)("/api/no/such/thing")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == {"detail": "Recurso no encontrado."}


def test_wrong_method_is_a_spanish_405(api) -> None:
    response = api.post("/api/health")
    assert response.status_code in (404, 405)
    assert response.json()["detail"] in ("Método no permitido.", "Recurso no encontrado.")


def test_openapi_schema_lists_the_routes(api) -> None:
    schema = api.get("/api/openapi.json").json()
    assert "/api/health" in schema["paths"]
    assert not any("{path" in p for p in schema["paths"])  # the catch-all stays hidden


def test_docs_load_their_assets_from_this_server(api) -> None:
    page = api.get("/api/docs")
    assert page.status_code == 200
    assert "cdn." not in page.text and "https://" not in page.text.split("<body>")[0]
    assert "/api/docs-static/swagger-ui-bundle.js" in page.text
    assert api.get("/api/docs-static/swagger-ui-bundle.js").status_code == 200


async def test_forwarded_proto_is_trusted_only_from_a_configured_proxy(
    settings_env, monkeypatch: pytest.MonkeyPatch
) -> None:
    from energyapp.api.proxy import trust_forwarded_proto
    from tests.conftest import apply_env

    seen: list[str] = []

    async def app(scope, receive, send) -> None:
        seen.append(scope["scheme"])

    via_caddy = {
        "type": "http",
        "scheme": "http",
        "client": ("127.0.0.1", 40000),
        "headers": [(b"x-forwarded-proto", b"https")],
    }
    direct = {**via_caddy, "client": ("198.51.100.7", 40000)}  # reached port 8000 itself
    await trust_forwarded_proto(app)(via_caddy, None, None)  # no proxy configured
    apply_env(monkeypatch, trusted_proxy_hops="1")
    await trust_forwarded_proto(app)(via_caddy, None, None)
    await trust_forwarded_proto(app)({**via_caddy, "type": "websocket"}, None, None)
    await trust_forwarded_proto(app)(direct, None, None)
    await trust_forwarded_proto(app)({**via_caddy, "client": None}, None, None)
    assert seen == ["http", "https", "wss", "http", "http"]


# --- the OpenAPI pages follow `api_docs` -------------------------------------------------------
DOCS_PATHS = [
    "/api/docs",
    "/api/redoc",
    "/api/openapi.json",
    "/api/docs/oauth2-redirect",
    "/api/docs-static/swagger-ui-bundle.js",
]


def _client(monkeypatch: pytest.MonkeyPatch, **env: str):
    from fastapi.testclient import TestClient

    from energyapp.api.app import create_api
    from tests.conftest import apply_env

    apply_env(monkeypatch, **env)
    return TestClient(create_api(), base_url="http://localhost:8000")


@pytest.mark.parametrize("path", DOCS_PATHS)
def test_api_docs_are_off_by_default_in_production(
    settings_env, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    with _client(monkeypatch, env="production") as client:
        response = client.get(path)
    assert response.status_code == 404
    assert response.json() == {"detail": "Recurso no encontrado."}  # like any unknown /api path


@pytest.mark.parametrize(
    ("env", "api_docs", "served"),
    [
        ("development", "auto", True),
        ("production", "auto", False),
        ("production", "true", True),
        ("development", "false", False),
    ],
)
def test_api_docs_setting_decides(
    settings_env, monkeypatch: pytest.MonkeyPatch, env: str, api_docs: str, served: bool
) -> None:
    with _client(monkeypatch, env=env, api_docs=api_docs) as client:
        statuses = {client.get(path).status_code for path in DOCS_PATHS}
    assert statuses == ({200} if served else {404})
