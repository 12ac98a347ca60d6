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


async def test_forwarded_proto_is_trusted_only_behind_a_configured_proxy(
    settings_env, monkeypatch: pytest.MonkeyPatch
) -> None:
    from energyapp.api.proxy import trust_forwarded_proto
    from tests.conftest import apply_env

    seen: list[str] = []

    async def app(scope, receive, send) -> None:
        seen.append(scope["scheme"])

    scope = {"type": "http", "scheme": "http",
             "headers": [(b"x-forwarded-proto", b"https")]}
    await trust_forwarded_proto(app)(scope, None, None)
    apply_env(monkeypatch, trusted_proxy_hops="1")
    await trust_forwarded_proto(app)(scope, None, None)
    await trust_forwarded_proto(app)({**scope, "type": "websocket"}, None, None)
    assert seen == ["http", "https", "wss"]
