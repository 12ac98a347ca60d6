"""deploy/Caddyfile: what Caddy writes down never holds a credential (the websocket's client
token, the one-time login ticket, cookies, Set-Cookie, Authorization), in the access log or in
its own log; and every response carries Cross-Origin-Opener-Policy.

Checked on the configuration Caddy itself compiles (`caddy adapt`), then on a running Caddy."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from tests.conftest import needs

PROJECT = Path(__file__).resolve().parents[2]
CADDYFILE = PROJECT / "deploy" / "Caddyfile"
pytestmark = needs("caddy")

REDACTED_FIELDS = {
    "request>headers>Cookie": {"filter": "delete"},
    "request>headers>Authorization": {"filter": "delete"},
    "resp_headers>Set-Cookie": {"filter": "delete"},
}
REDACTED_QUERY = [
    {"parameter": "token", "type": "delete"},
    {"parameter": "ticket", "type": "delete"},
]


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "HOME": str(tmp_path),
        "ENERGYAPP_DOMAIN": "chat.example.cl",
        "ENERGYAPP_UPSTREAM": "127.0.0.1:8000",
        "ENERGYAPP_TLS": "",
        "CADDY_GLOBAL": "",
        **extra,
    }


@pytest.fixture(scope="module")
def adapted(tmp_path_factory: pytest.TempPathFactory) -> dict:
    tmp_path = tmp_path_factory.mktemp("caddy")
    result = subprocess.run(
        ["caddy", "adapt", "--adapter", "caddyfile", "--config", str(CADDYFILE)],
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _access_logger(config: dict) -> dict:
    logs = config["logging"]["logs"]
    (name,) = [
        n
        for n, log in logs.items()
        if any(i.startswith("http.log.access") for i in log.get("include", []))
    ]
    return logs[name]


@pytest.mark.parametrize("which", ["access log", "caddy's own log"])
def test_logs_drop_credentials(adapted: dict, which: str) -> None:
    logger = (
        _access_logger(adapted) if which == "access log" else adapted["logging"]["logs"]["default"]
    )
    encoder = logger["encoder"]
    assert encoder["format"] == "filter" and encoder["wrap"]["format"] == "json"
    fields = encoder["fields"]
    for field, rule in REDACTED_FIELDS.items():
        assert fields[field] == rule, field
    assert fields["request>uri"]["filter"] == "query"
    assert fields["request>uri"]["actions"] == REDACTED_QUERY


def test_access_log_is_a_file_under_var_log_caddy(adapted: dict) -> None:
    writer = _access_logger(adapted)["writer"]
    assert writer["output"] == "file"
    assert writer["filename"] == "/var/log/caddy/energyapp-access.log"


def _headers_set(node) -> dict:
    """Every `response.set` of a headers handler anywhere in the compiled routes."""
    found: dict = {}
    if isinstance(node, dict):
        if node.get("handler") == "headers":
            found.update(node.get("response", {}).get("set", {}))
        for value in node.values():
            found.update(_headers_set(value))
    elif isinstance(node, list):
        for value in node:
            found.update(_headers_set(value))
    return found


def test_responses_get_cross_origin_opener_policy(adapted: dict) -> None:
    headers = _headers_set(adapted["apps"]["http"])
    assert headers["Cross-Origin-Opener-Policy"] == ["same-origin"]
    assert "Strict-Transport-Security" in headers and "Content-Security-Policy" in headers


def _reverse_proxies(node) -> list[dict]:
    if isinstance(node, dict):
        if node.get("handler") == "reverse_proxy":
            return [node]
        return [p for value in node.values() for p in _reverse_proxies(value)]
    if isinstance(node, list):
        return [p for value in node for p in _reverse_proxies(value)]
    return []


def test_one_app_host_by_default(adapted: dict) -> None:
    (proxy,) = _reverse_proxies(adapted["apps"]["http"])
    assert proxy["upstreams"] == [{"dial": "127.0.0.1:8000"}]
    assert proxy["flush_interval"] == -1


def test_several_app_hosts_with_sticky_tabs_and_health_checks(tmp_path: Path) -> None:
    """ENERGYAPP_EXTRA_UPSTREAMS adds app hosts: a browser sticks to one by a cookie (its
    websocket and its events), a host failing /ping is skipped, a refused request is retried on
    another host (docs/deployment.md, "Several app hosts")."""
    env = _env(tmp_path, ENERGYAPP_EXTRA_UPSTREAMS="10.0.0.12:8000 10.0.0.13:8000")
    for command in ("adapt", "validate"):
        result = subprocess.run(
            ["caddy", command, "--adapter", "caddyfile", "--config", str(CADDYFILE)],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
    (proxy,) = _reverse_proxies(
        json.loads(
            subprocess.run(
                ["caddy", "adapt", "--adapter", "caddyfile", "--config", str(CADDYFILE)],
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
            ).stdout
        )["apps"]
    )
    assert [u["dial"] for u in proxy["upstreams"]] == [
        "127.0.0.1:8000",
        "10.0.0.12:8000",
        "10.0.0.13:8000",
    ]
    balancing = proxy["load_balancing"]
    assert balancing["selection_policy"]["policy"] == "cookie"
    assert balancing["try_duration"] > 0
    active = proxy["health_checks"]["active"]
    assert active["uri"] == "/ping" and active["interval"] > 0
    assert proxy["flush_interval"] == -1


# --- a running Caddy -------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _App(BaseHTTPRequestHandler):
    """Stands in for EnergyApp: /ping answers (health check), the ticket exchange sets the
    session cookie; the websocket path drops the connection (an app restarting), which Caddy
    logs as an upstream error."""

    def do_GET(self) -> None:
        if self.path == "/ping":  # Caddy's active health check
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if self.path.startswith("/_event"):
            self.close_connection = True
            return
        self.send_response(303)
        self.send_header("Location", "/dashboard")
        self.send_header("Set-Cookie", "__Host-energyapp_session=SECRET-NEW-COOKIE; Path=/")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def app_port() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _App)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()


def test_a_running_caddy_writes_no_credentials(tmp_path: Path, app_port: int) -> None:
    port = _free_port()
    config = tmp_path / "Caddyfile"
    config.write_text(CADDYFILE.read_text().replace("/var/log/caddy/", f"{tmp_path}/"))
    env = _env(
        tmp_path,
        ENERGYAPP_DOMAIN=f"http://127.0.0.1:{port}",
        ENERGYAPP_UPSTREAM=f"127.0.0.1:{app_port}",
        CADDY_GLOBAL="admin off",
    )
    secrets = {
        "Cookie": "__Host-energyapp_session=SECRET-COOKIE",
        "Authorization": "Bearer SECRET-BEARER",
    }
    own_log, access_log = tmp_path / "caddy.log", tmp_path / "energyapp-access.log"
    with own_log.open("w") as out:
        caddy = subprocess.Popen(
            ["caddy", "run", "--adapter", "caddyfile", "--config", str(config)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=tmp_path,
        )
    try:
        base, deadline = f"http://127.0.0.1:{port}", time.monotonic() + 30
        while True:
            try:
                login = httpx.get(
                    f"{base}/api/auth/session?ticket=SECRET-TICKET&next=/chat",
                    headers=secrets,
                    timeout=5,
                )
                break
            except httpx.TransportError:
                assert caddy.poll() is None and time.monotonic() < deadline, own_log.read_text()
                time.sleep(0.2)
        socket_url = f"{base}/_event/?EIO=4&transport=websocket&token=SECRET-TAB-TOKEN"
        # lb_try_duration: Caddy retries the dropped GET (another host may take it) for 10 s.
        dropped = httpx.get(socket_url, headers=secrets, timeout=30)
        for _ in range(50):
            if len(access_log.read_text().splitlines()) >= 2 if access_log.exists() else False:
                break
            time.sleep(0.1)
    finally:
        caddy.terminate()
        caddy.wait(timeout=10)
    assert login.status_code == 303 and dropped.status_code == 502
    assert login.headers["cross-origin-opener-policy"] == "same-origin"
    access = access_log.read_text()
    entries = [json.loads(line) for line in access.splitlines()]
    assert [e["request"]["uri"] for e in entries] == [
        "/api/auth/session?next=%2Fchat",
        "/_event/?EIO=4&transport=websocket",
    ]
    errors = own_log.read_text()
    assert "http.log.error" in errors  # the dropped request was logged, request included
    for text in (access, errors):
        assert "SECRET" not in text
