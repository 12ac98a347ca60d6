"""The production shape: `reflex run --env prod` with 2 workers on PostgreSQL + Redis, behind
Debian's Caddy (deploy/Caddyfile, `tls internal`), driven in Chromium: login, streamed chat,
admin reassignment. Then SIGTERM in the middle of an answer keeps the partial text."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect
from sqlalchemy import create_engine, text

from tests.browser.conftest import PROJECT, _free_port, _record_host
from tests.conftest import PG_URL, REDIS_URL, TEST_SECRET, needs
from tests.ollama_standin import StandInOllama

pytestmark = [
    pytest.mark.browser,
    needs("postgresql", "redis", "caddy"),
]


@dataclass
class Stack:
    url: str  # https through Caddy
    app_port: int
    db_url: str
    standin: StandInOllama
    server: subprocess.Popen
    log_dir: Path
    base: Path


def _start(cmd: list[str], env: dict, log: Path, cwd: Path = PROJECT) -> subprocess.Popen:
    with log.open("w") as handle:
        return subprocess.Popen(
            cmd, cwd=cwd, env=env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True
        )


def _stop(process: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    if process.poll() is None:
        os.killpg(process.pid, sig)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _wait(url: str, process: subprocess.Popen, log: Path, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"{process.args} exited:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(url, timeout=2, verify=False).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(1)
    pytest.fail(f"{url} did not answer:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    base = tmp_path_factory.mktemp("production")
    name = f"energyapp_prod_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    db_url = PG_URL.rsplit("/", 1)[0] + f"/{name}"
    redis_url = REDIS_URL.rsplit("/", 1)[0] + "/7"
    subprocess.run(["redis-cli", "-u", redis_url, "flushdb"], check=True, capture_output=True)
    standin = StandInOllama().start()
    app_port, https_port, http_port = _free_port(), _free_port(), _free_port()
    # Not "localhost": Reflex sends the websocket of an https "localhost" page to port 443.
    url = f"https://127.0.0.1:{https_port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ENERGYAPP_")}
    env.update(
        {
            "ENERGYAPP_CONFIG_FILE": str(PROJECT / "tests" / "settings.test.yaml"),
            "ENERGYAPP_ENV": "production",
            "ENERGYAPP_SECRET_KEY": TEST_SECRET,
            "ENERGYAPP_PUBLIC_URL": url,
            "ENERGYAPP_PORT": str(app_port),
            "ENERGYAPP_TRUSTED_PROXY_HOPS": "1",
            "ENERGYAPP_DB_URL": db_url,
            "ENERGYAPP_REDIS_URL": redis_url,
            "ENERGYAPP_DATA_DIR": str(base / "data"),
            "ENERGYAPP_LOG_DIR": str(base / "logs"),
            "ENERGYAPP_OLLAMA_URL": standin.url,
            "GRANIAN_WORKERS": "2",
            "REFLEX_WEB_WORKDIR": str(PROJECT / ".web-prod"),
        }
    )
    server = _start(["make", "--no-print-directory", "run"], env, base / "server.log")
    caddy_env = {
        **env,
        "XDG_DATA_HOME": str(base / "caddy"),
        "XDG_CONFIG_HOME": str(base / "caddy"),
        "ENERGYAPP_DOMAIN": f"127.0.0.1:{https_port}",
        "ENERGYAPP_UPSTREAM": f"127.0.0.1:{app_port}",
        "ENERGYAPP_TLS": "tls internal",
        "CADDY_GLOBAL": f"admin off\nskip_install_trust\nhttp_port {http_port}\n"
        f"https_port {https_port}",
    }
    caddy_file = base / "Caddyfile"  # the shipped file, with the access log kept in tmp
    caddy_file.write_text(
        (PROJECT / "deploy" / "Caddyfile").read_text().replace("/var/log/caddy/", f"{base}/")
    )
    caddy = _start(
        ["caddy", "run", "--config", str(caddy_file), "--adapter", "caddyfile"],
        caddy_env,
        base / "caddy.log",
        cwd=base,
    )
    try:
        _wait(f"http://127.0.0.1:{app_port}/ping", server, base / "server.log")
        _wait(f"{url}/ping", caddy, base / "caddy.log", timeout=60)
        yield Stack(url, app_port, db_url, standin, server, base / "logs", base)
    finally:
        _stop(caddy)
        _stop(server)
        standin.stop()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def context(browser, stack: Stack) -> Iterator:
    hosts: set[str] = set()
    opened = []

    def open_page():
        ctx = browser.new_context(
            base_url=stack.url,
            ignore_https_errors=True,
            locale="es-CL",
            viewport={"width": 1280, "height": 800},
        )
        page = ctx.new_page()
        page.on("request", lambda r: _record_host(hosts, r.url))
        page.on("websocket", lambda ws: _record_host(hosts, ws.url))
        opened.append(ctx)
        return page

    yield open_page
    for ctx in opened:
        ctx.close()
    assert hosts <= {stack.url.removeprefix("https://")}, hosts


def _login(page, email: str, password: str) -> None:
    page.goto("/login")
    page.get_by_label("Correo electrónico").fill(email)
    page.get_by_label("Contraseña").fill(password)
    page.get_by_role("button", name="Entrar").click()
    expect(page).to_have_url(re.compile(r"/dashboard/?$"))


def test_two_workers_are_running(stack: Stack) -> None:
    children = subprocess.run(
        ["pgrep", "-f", "-g", str(stack.server.pid), "reflex run"], capture_output=True, text=True
    ).stdout.split()
    assert len(children) >= 3  # the reflex supervisor and two workers


def test_login_chat_and_reassign_through_caddy(stack: Stack, context) -> None:
    # Slow enough that the typing indicator and the live bubble can be seen through Caddy.
    stack.standin.configure(tokens=40, tokens_per_second=20, first_token_delay=0.5)
    worker = context()
    _login(worker, "trabajador@alvaradomazzei.cl", "worker123")
    cookie = next(
        c for c in worker.context.cookies() if c["name"] == "__Host-energyapp_session"
    )  # https: the __Host- prefix
    assert cookie["secure"] and cookie["httpOnly"] and cookie["path"] == "/"
    box = worker.get_by_label("Mensaje")
    box.fill("Informe de producción detrás de Caddy")
    box.press("Enter")
    expect(worker.locator("#typing-indicator, #live-answer").first).to_be_visible()
    expected = "".join(stack.standin.behavior.answer_tokens()).strip()
    expect(worker.locator(".bubble-assistant").first).to_have_text(expected, timeout=15_000)

    boss = context()
    _login(boss, "administrador@alvaradomazzei.cl", "admin123")
    boss.goto("/admin")
    boss.locator(".admin-user").filter(has_text="Trabajador Demo").click()
    boss.locator(".admin-conversation").filter(has_text="Informe de producción").click()
    expect(boss.locator(".admin-message")).to_have_count(2)
    boss.get_by_role("button", name="Reasignar", exact=True).click()
    boss.get_by_role("combobox").click()
    boss.get_by_role("option", name=re.compile("Supervisor Demo")).click()
    boss.get_by_role("alertdialog").get_by_role("button", name="Reasignar").click()
    expect(boss.locator("#admin-conversations")).to_contain_text("Supervisor Demo")

    supervisor = context()
    _login(supervisor, "supervisor@alvaradomazzei.cl", "supervisor123")
    expect(
        supervisor.locator(".conversation-item").filter(has_text="Informe de producción")
    ).to_have_count(1)
    worker.reload()
    expect(worker.locator(".conversation-item")).to_have_count(0)


def test_client_ip_comes_from_caddy_and_headers_are_set(stack: Stack) -> None:
    response = httpx.post(
        f"{stack.url}/api/auth/login",
        verify=False,
        headers={"X-Forwarded-For": "203.0.113.50"},
        json={"email": "trabajador@alvaradomazzei.cl", "password": "worker123"},
    )
    assert response.status_code == 200
    assert response.headers["strict-transport-security"].startswith("max-age=")
    assert response.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    engine = create_engine(stack.db_url.replace("postgresql://", "postgresql+psycopg2://"))
    with engine.connect() as conn:
        ip = conn.execute(text("SELECT ip FROM auth_sessions ORDER BY id DESC LIMIT 1")).scalar()
    engine.dispose()
    assert ip == "127.0.0.1"  # Caddy replaced the forged header with the real peer


def test_logs_stay_whole_with_two_workers(stack: Stack) -> None:
    lines = [
        line for path in stack.log_dir.glob("*.log*") for line in path.read_text().splitlines()
    ]
    assert lines and all(
        re.match(r"^\d{4}-\d\d-\d\dT[\d:.]+Z [A-Z]+ energyapp", line) for line in lines
    )


def test_sigterm_during_a_stream_keeps_the_partial_answer(stack: Stack) -> None:
    stack.standin.configure(tokens=400, tokens_per_second=20)
    tokens = httpx.post(
        f"{stack.url}/api/auth/login",
        verify=False,
        json={"email": "trabajador@alvaradomazzei.cl", "password": "worker123"},
    ).json()
    received: list[str] = []

    def consume() -> None:
        try:
            with httpx.stream(
                "POST",
                f"{stack.url}/api/chat",
                verify=False,
                timeout=30,
                headers={"Authorization": f"Bearer {tokens['access_token']}"},
                json={"message": "Una respuesta muy larga"},
            ) as response:
                for line in response.iter_lines():
                    received.append(line)
        except httpx.HTTPError:
            pass

    import threading

    thread = threading.Thread(target=consume)
    thread.start()
    deadline = time.monotonic() + 15
    while len(received) < 60 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(received) >= 60, "the stream did not start"
    seen_words = len("".join(json.loads(line).get("text", "") for line in list(received)).split())
    _stop(stack.server)  # SIGTERM; SIGKILL after 30 s like systemd's TimeoutStopSec
    thread.join(10)
    engine = create_engine(stack.db_url.replace("postgresql://", "postgresql+psycopg2://"))
    with engine.connect() as conn:
        content, status = conn.execute(
            text(
                "SELECT content, status FROM messages WHERE role='assistant' "
                "ORDER BY id DESC LIMIT 1"
            )
        ).one()
    engine.dispose()
    # Graceful stop lets the answer finish; a kill keeps what the last save had. Either way
    # nothing the user had already received is lost.
    assert len(content.split()) >= seen_words - 30, "the partial answer was lost"
    assert status in ("complete", "stopped", "interrupted", "streaming")
    # On the next start the sweeper marks a still-"streaming" answer as interrupted.
    env = {
        **os.environ,
        "ENERGYAPP_DB_URL": stack.db_url,
        "ENERGYAPP_SECRET_KEY": TEST_SECRET,
        "ENERGYAPP_CONFIG_FILE": str(PROJECT / "tests" / "settings.test.yaml"),
        "ENERGYAPP_DATA_DIR": str(stack.base / "data"),
        "ENERGYAPP_LOG_DIR": str(stack.base / "logs"),
    }
    subprocess.run(
        [
            str(PROJECT / ".venv" / "bin" / "python"),
            "-c",
            "from energyapp.services.chat import sweep_stale; sweep_stale(everything=True)",
        ],
        env=env,
        check=True,
        cwd=PROJECT,
    )
    engine = create_engine(stack.db_url.replace("postgresql://", "postgresql+psycopg2://"))
    with engine.connect() as conn:
        final_content, final_status = conn.execute(
            text(
                "SELECT content, status FROM messages WHERE role='assistant' "
                "ORDER BY id DESC LIMIT 1"
            )
        ).one()
    engine.dispose()
    assert final_status in ("complete", "stopped", "interrupted")
    assert final_content == content
