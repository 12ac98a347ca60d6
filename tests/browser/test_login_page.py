"""/login in Chromium against the real server started by `make run`."""

from __future__ import annotations

import httpx
from playwright.sync_api import expect

from tests.browser.conftest import AppServer, PageVisit


def test_login_renders_with_demo_access_and_only_local_requests(visit: PageVisit) -> None:
    page = visit.page
    page.goto("/login")
    expect(page.get_by_role("heading", name="Iniciar sesión")).to_be_visible()
    expect(page.get_by_label("Correo electrónico")).to_be_visible()
    expect(page.get_by_label("Contraseña")).to_be_visible()
    for role in ("Administrador", "Supervisor", "Trabajador"):
        expect(page.get_by_role("button", name=role)).to_be_visible()
    page.get_by_role("button", name="Supervisor").click()
    expect(page.get_by_label("Correo electrónico")).to_have_value("supervisor@alvaradomazzei.cl")
    assert visit.screenshot("login").stat().st_size > 10_000


def test_login_dark_mode_and_phone_width(phone_visit: PageVisit) -> None:
    page = phone_visit.page
    page.emulate_media(color_scheme="dark")
    page.goto("/login")
    expect(page.get_by_role("button", name="Entrar")).to_be_visible()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, "the page must not scroll sideways on a phone"
    phone_visit.screenshot("login-phone-dark")


def test_server_answers_api_and_health_on_the_same_port(app_server: AppServer) -> None:
    health = httpx.get(f"{app_server.url}/api/health", timeout=5)
    assert health.status_code == 200 and health.json()["ollama"]["model_present"] is True
    missing = httpx.get(f"{app_server.url}/api/does-not-exist", timeout=5)
    assert missing.status_code == 404 and missing.json() == {"detail": "Recurso no encontrado."}
    docs = httpx.get(f"{app_server.url}/api/docs", timeout=5)
    assert docs.status_code == 200 and "swagger-ui" in docs.text


def test_health_says_503_naming_ollama_when_it_hangs(app_server: AppServer) -> None:
    app_server.standin.configure(hang=True)
    try:
        health = httpx.get(f"{app_server.url}/api/health", timeout=5)
    finally:
        app_server.standin.reset()
    assert health.status_code == 503 and health.json()["failing"] == ["ollama"]


def test_the_api_docs_page_loads_nothing_from_outside(visit: PageVisit) -> None:
    visit.page.goto("/api/docs")
    expect(visit.page.get_by_text("EnergyApp API")).to_be_visible()


def test_cors_allows_only_the_configured_origin(app_server: AppServer) -> None:
    def preflight(origin: str) -> httpx.Response:
        return httpx.options(
            f"{app_server.url}/api/auth/me",
            timeout=5,
            headers={"Origin": origin, "Access-Control-Request-Method": "POST"},
        )

    foreign = preflight("https://evil.example")
    assert "access-control-allow-origin" not in foreign.headers
    own = preflight(app_server.url)
    assert own.headers["access-control-allow-origin"] == app_server.url
    assert own.headers.get("access-control-allow-origin") != "*"
