"""Browser fixtures: the real app server started with `make run` (the README's command) on a free
port, a temporary SQLite database and the stand-in Ollama; Chromium driven by Playwright.

Every page a test opens records the hosts it contacts; a test fails if any is not the app's own.

Every browser context is traced; when a test fails, `test-output/failures/<test>/` keeps each
context's Playwright trace (`playwright show-trace trace-1.zip`), a screenshot of each open
page and what the server logged during the test. A test that passes keeps nothing.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import httpx
import pytest
from playwright.sync_api import Error as PlaywrightError

from tests.conftest import TEST_SECRET, has_failed
from tests.ollama_standin import StandInOllama

PROJECT = Path(__file__).resolve().parents[2]
OUTPUT = PROJECT / "test-output"
FAILURES = OUTPUT / "failures"
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
# The frontend build the test server serves, kept between runs. Two test sessions at once need
# two folders: a second build into the same one replaces the files the first is serving.
WEB_DIR = Path(os.environ.get("ENERGYAPP_TEST_WEB_DIR", str(PROJECT / ".web-test")))


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


@contextmanager
def _only_session_building(web_dir: Path) -> Iterator[None]:
    """Fail at once, saying why, when another test session serves from the same build folder
    (its pages would load this session's rebuilt files, or the other way round)."""
    digest = hashlib.sha256(str(web_dir.resolve()).encode()).hexdigest()[:16]
    with (Path(tempfile.gettempdir()) / f"energyapp-test-web-{digest}.lock").open("w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pytest.fail(
                f"another test session is serving from {web_dir}: wait for it, or give this "
                "one its own folder with ENERGYAPP_TEST_WEB_DIR"
            )
        yield


@pytest.fixture(scope="session")
def app_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppServer]:
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is missing: apt-get install -y chromium (make test does it as root)")
    with _only_session_building(WEB_DIR):
        yield from _serve(tmp_path_factory)


def _serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppServer]:
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
            # Every test registers from 127.0.0.1: the suite is past the hourly limit per IP
            # (the limit itself is tested in tests/api and tests/services).
            "ENERGYAPP_REGISTER_MAX_PER_IP": "1000",
            # A separate build folder, so tests never disturb a developer's running `make run`.
            "REFLEX_WEB_WORKDIR": str(WEB_DIR),
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


class Artifacts:
    """The browser contexts of one test, traced; on failure their traces, screenshots and the
    server's log lines of the test (its output, then its log files) are kept under
    test-output/failures/<test>/."""

    def __init__(self, request: pytest.FixtureRequest, app_server: AppServer) -> None:
        self.request, self.app_server = request, app_server
        self.contexts: list = []
        self.log_offsets = {path: path.stat().st_size for path in self._logs()}

    def _logs(self) -> list[Path]:
        log_dir = Path(self.app_server.env["ENERGYAPP_LOG_DIR"])
        return [self.app_server.log_path, *sorted(log_dir.glob("*.log"))]

    def open(self, browser, **context_args) -> tuple[object, PageVisit]:
        context = browser.new_context(base_url=self.app_server.url, locale="es-CL", **context_args)
        context.tracing.start(screenshots=True, snapshots=True)
        self.contexts.append(context)
        page = context.new_page()
        visit = PageVisit(page=page, hosts=set())
        page.on("request", lambda request: _record_host(visit.hosts, request.url))
        page.on("websocket", lambda ws: _record_host(visit.hosts, ws.url))
        return context, visit

    def close(self) -> None:
        """Keep what a failure needs, then close every context."""
        failed = has_failed(self.request.node)
        folder = FAILURES / re.sub(r"[^\w.=-]+", "_", self.request.node.nodeid)[-150:]
        if failed:
            folder.mkdir(parents=True, exist_ok=True)
            with (folder / "server.log").open("wb") as kept:
                for path in self._logs():
                    kept.write(f"===== {path.name}, lines written during the test\n".encode())
                    with path.open("rb") as log:
                        log.seek(self.log_offsets.get(path, 0))
                        kept.write(log.read())
        for number, context in enumerate(self.contexts, start=1):
            try:
                if failed:
                    for index, page in enumerate(context.pages, start=1):
                        shot = folder / f"context-{number}-page-{index}.png"
                        try:  # a page stuck mid-navigation has no screenshot: the trace has it
                            page.screenshot(path=str(shot), timeout=5_000)
                        except PlaywrightError as error:
                            shot.with_suffix(".txt").write_text(f"no screenshot: {error}\n")
                    context.tracing.stop(path=str(folder / f"trace-{number}.zip"))
                else:
                    context.tracing.stop()
            finally:
                context.close()


@pytest.fixture
def artifacts(request: pytest.FixtureRequest, app_server: AppServer) -> Iterator[Artifacts]:
    kept = Artifacts(request, app_server)
    yield kept
    kept.close()


@pytest.fixture
def visit(browser, artifacts: Artifacts, app_server: AppServer) -> Iterator[PageVisit]:
    """A fresh browser context (no cookies) at desktop size; checks it contacted only the app."""
    _context, page_visit = artifacts.open(browser, viewport={"width": 1280, "height": 800})
    yield page_visit
    own = urlparse(app_server.url).netloc
    assert page_visit.hosts <= {own}, f"pages contacted other hosts: {page_visit.hosts - {own}}"


@pytest.fixture
def new_visit(browser, artifacts: Artifacts, app_server: AppServer) -> Iterator:
    """Open more browser contexts in one test (e.g. two devices of one user)."""
    opened: list[PageVisit] = []

    def factory(**context_args) -> PageVisit:
        context_args.setdefault("viewport", {"width": 1280, "height": 800})
        _context, page_visit = artifacts.open(browser, **context_args)
        opened.append(page_visit)
        return page_visit

    yield factory
    own = urlparse(app_server.url).netloc
    for page_visit in opened:
        assert page_visit.hosts <= {own}, f"other hosts contacted: {page_visit.hosts - {own}}"


@pytest.fixture
def phone_visit(browser, artifacts: Artifacts) -> Iterator[PageVisit]:
    _context, page_visit = artifacts.open(
        browser, viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
    )
    yield page_visit


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
