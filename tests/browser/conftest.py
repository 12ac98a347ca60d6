"""Browser fixtures: the real app server started with `make run` (the README's command) on a free
port, a temporary SQLite database and the stand-in Ollama; Chromium driven by Playwright.

Every page a test opens records the hosts it contacts; a test fails if any is not the app's own.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import httpx
import pytest

from tests.conftest import TEST_SECRET
from tests.ollama_standin import StandInOllama

PROJECT = Path(__file__).resolve().parents[2]
OUTPUT = PROJECT / "test-output"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
START_TIMEOUT = float(os.environ.get("ENERGYAPP_TEST_START_TIMEOUT", "600"))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class AppServer:
    url: str
    standin: StandInOllama
    log_path: Path
    db_url: str
    env: dict[str, str] = field(default_factory=dict)

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


@pytest.fixture(scope="session")
def app_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppServer]:
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is missing: apt-get install -y chromium (make test does it as root)")
    base = tmp_path_factory.mktemp("server")
    standin = StandInOllama().start()
    port = _free_port()
    url = f"http://localhost:{port}"
    db_url = f"sqlite:///{base / 'energyapp.db'}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ENERGYAPP_")}
    env.update(
        {
            "ENERGYAPP_CONFIG_FILE": str(PROJECT / "tests" / "settings.test.yaml"),
            "ENERGYAPP_PUBLIC_URL": url,
            "ENERGYAPP_PORT": str(port),
            "ENERGYAPP_DB_URL": db_url,
            "ENERGYAPP_DATA_DIR": str(base / "data"),
            "ENERGYAPP_LOG_DIR": str(base / "logs"),
            "ENERGYAPP_SECRET_KEY": TEST_SECRET,
            "ENERGYAPP_OLLAMA_URL": standin.url,
            "ENERGYAPP_PASSWORD_CHANGE_DOMAINS": "inacapmail.cl,cambio.cl",
            # A separate build folder, so tests never disturb a developer's running `make run`.
            "REFLEX_WEB_WORKDIR": str(PROJECT / ".web-test"),
        }
    )
    log_path = base / "server.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            ["make", "--no-print-directory", "run"],
            cwd=PROJECT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = AppServer(url=url, standin=standin, log_path=log_path, db_url=db_url, env=env)
    try:
        _wait_until_up(process, server)
        yield server
    finally:
        _stop(process)
        standin.stop()


def _wait_until_up(process: subprocess.Popen, server: AppServer) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"`make run` exited with {process.returncode}:\n{server.log_tail()}")
        try:
            if httpx.get(f"{server.url}/ping", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(1)
    pytest.fail(f"the app did not answer /ping within {START_TIMEOUT:.0f} s:\n{server.log_tail()}")


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@dataclass
class PageVisit:
    """A page plus every host it talked to (HTTP requests and websockets)."""

    page: object
    hosts: set[str]

    def screenshot(self, name: str) -> Path:
        OUTPUT.mkdir(exist_ok=True)
        path = OUTPUT / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path


def _record_host(hosts: set[str], url: str) -> None:
    parsed = urlparse(url)
    if parsed.scheme in ("http", "https", "ws", "wss"):  # data: and blob: URLs stay in the page
        hosts.add(parsed.netloc)


def _open_page(browser, app_server: AppServer, **context_args) -> tuple[object, PageVisit]:
    context = browser.new_context(base_url=app_server.url, locale="es-CL", **context_args)
    page = context.new_page()
    visit = PageVisit(page=page, hosts=set())
    page.on("request", lambda request: _record_host(visit.hosts, request.url))
    page.on("websocket", lambda ws: _record_host(visit.hosts, ws.url))
    return context, visit


@pytest.fixture
def visit(browser, app_server: AppServer) -> Iterator[PageVisit]:
    """A fresh browser context (no cookies) at desktop size; checks it contacted only the app."""
    context, page_visit = _open_page(browser, app_server, viewport={"width": 1280, "height": 800})
    yield page_visit
    context.close()
    own = urlparse(app_server.url).netloc
    assert page_visit.hosts <= {own}, f"pages contacted other hosts: {page_visit.hosts - {own}}"


@pytest.fixture
def new_visit(browser, app_server: AppServer) -> Iterator:
    """Open more browser contexts in one test (e.g. two devices of one user)."""
    opened: list[tuple[object, PageVisit]] = []

    def factory(**context_args) -> PageVisit:
        context_args.setdefault("viewport", {"width": 1280, "height": 800})
        context, page_visit = _open_page(browser, app_server, **context_args)
        opened.append((context, page_visit))
        return page_visit

    yield factory
    own = urlparse(app_server.url).netloc
    for context, page_visit in opened:
        context.close()
        assert page_visit.hosts <= {own}, f"other hosts contacted: {page_visit.hosts - {own}}"


@pytest.fixture
def phone_visit(browser, app_server: AppServer) -> Iterator[PageVisit]:
    context, page_visit = _open_page(
        browser, app_server, viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
    )
    yield page_visit
    context.close()


# --- helpers shared by the browser tests -------------------------------------------------------
_counter = iter(range(1, 1_000_000))


def unique_email(domain: str = "empresa.cl") -> str:
    return f"persona{next(_counter)}.{int(time.time() * 1000) % 10_000_000}@{domain}"


def api_register(
    app_server: AppServer,
    email: str,
    password: str = "clave-segura-1",
    name: str = "Persona de Prueba",
) -> None:
    response = httpx.post(
        f"{app_server.url}/api/auth/register",
        json={
            "name": name,
            "email": email,
            "password": password,
            "password_confirmation": password,
        },
        timeout=10,
    )
    assert response.status_code == 201, response.text


def api_enable_totp(app_server: AppServer, email: str, password: str = "clave-segura-1") -> str:
    """Turn 2FA on through the API; returns the TOTP secret."""
    import pyotp

    with httpx.Client(base_url=app_server.url, timeout=10) as client:
        tokens = client.post("/api/auth/login", json={"email": email, "password": password})
        auth = {"Authorization": f"Bearer {tokens.json()['access_token']}"}
        client.cookies.clear()
        secret = client.post("/api/auth/totp/setup", headers=auth).json()["secret"]
        confirmed = client.post(
            "/api/auth/totp/confirm", headers=auth, json={"code": pyotp.TOTP(secret).now()}
        )
        assert confirmed.status_code == 200, confirmed.text
    return secret


def ui_login(page, email: str, password: str) -> None:
    page.goto("/login")
    page.get_by_label("Correo electrónico").fill(email)
    page.get_by_label("Contraseña").fill(password)
    page.get_by_role("button", name="Entrar").click()
