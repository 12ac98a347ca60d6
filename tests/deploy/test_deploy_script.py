"""deploy/deploy.sh: a healthy release goes live; an unhealthy one is rolled back."""

from __future__ import annotations

import json
import os
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[2]


class _Health(BaseHTTPRequestHandler):
    healthy = True

    def do_GET(self) -> None:
        body = json.dumps({"database": {"ok": type(self).healthy}}).encode()
        self.send_response(200 if type(self).healthy else 503)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def world(tmp_path: Path):
    if subprocess.run(
        ["git", "-C", str(PROJECT), "rev-parse", "HEAD"], capture_output=True
    ).returncode:
        pytest.skip("needs a git checkout")
    repo = tmp_path / "root" / "repo"
    subprocess.run(["git", "clone", "-q", str(PROJECT), str(repo)], check=True)
    branch = subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "--abbrev-ref", "HEAD"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    calls = tmp_path / "systemctl.calls"
    systemctl = tmp_path / "systemctl"
    systemctl.write_text(f'#!/bin/sh\necho "$@" >> {calls}\n')
    systemctl.chmod(0o755)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = {
        **os.environ,
        "APP_ROOT": str(tmp_path / "root"),
        "REPO": str(repo),
        "BRANCH": branch,
        "SYSTEMCTL": str(systemctl),
        "INSTALL": "true",
        "PYTHON": str(PROJECT / ".venv" / "bin" / "python"),
        "ENV_FILE": str(tmp_path / "none.env"),
        "HEALTH_TIMEOUT": "3",
        "HEALTH_URL": f"http://127.0.0.1:{server.server_address[1]}/api/health",
        "ENERGYAPP_DB_URL": f"sqlite:///{tmp_path / 'deploy.db'}",
        "ENERGYAPP_SECRET_KEY": "d" * 40,
        "ENERGYAPP_DATA_DIR": str(tmp_path / "data"),
        "ENERGYAPP_LOG_DIR": str(tmp_path / "logs"),
    }
    yield tmp_path / "root", env, calls
    server.shutdown()


def _deploy(env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", str(PROJECT / "deploy" / "deploy.sh")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_healthy_release_goes_live_and_unhealthy_one_rolls_back(world) -> None:
    root, env, calls = world
    _Health.healthy = True
    first = _deploy(env)
    assert first.returncode == 0, first.stdout + first.stderr
    live = (root / "current").resolve()
    assert (live / "energyapp" / "__init__.py").exists()
    assert "is live" in first.stdout
    import time

    time.sleep(1.1)  # release folders are named by the second
    _Health.healthy = False
    second = _deploy(env)
    assert second.returncode == 1
    assert "rolling back" in second.stdout
    assert (root / "current").resolve() == live  # the previous release serves again
    assert calls.read_text().splitlines() == ["restart energyapp"] * 3
    assert len(list((root / "releases").iterdir())) == 2  # kept for a later retry or forensics


# --- the shipped unit and environment: the app listens on loopback, behind Caddy -------------
def _env_example() -> dict[str, str]:
    lines = (PROJECT / "deploy" / "energyapp.env.example").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line.strip() and not line.startswith("#"))


@pytest.fixture
def production_env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    from energyapp.settings import reset_settings_cache

    values = {**_env_example(), "ENERGYAPP_SECRET_KEY": "p" * 48}
    for key in [k for k in os.environ if k.startswith("ENERGYAPP_") and k not in values]:
        if key != "ENERGYAPP_CONFIG_FILE":
            monkeypatch.delenv(key)
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    reset_settings_cache()
    yield values
    reset_settings_cache()


def test_production_env_binds_loopback_and_trusts_only_the_local_proxy(production_env) -> None:
    import runpy

    from energyapp.settings import get_settings

    assert production_env["ENERGYAPP_BIND_HOST"] == "127.0.0.1"
    settings = get_settings()
    assert settings.bind_host == "127.0.0.1"
    assert settings.trusted_proxy_hops == 1 and settings.trusted_proxies == ["127.0.0.1", "::1"]
    assert not settings.api_docs_enabled
    assert settings.session_cookie == "__Host-energyapp_session"
    config = runpy.run_path(str(PROJECT / "rxconfig.py"))["config"]
    assert config.backend_host == "127.0.0.1"  # what `reflex run --env prod` listens on
    assert config.trusted_proxy_hops == 0  # Reflex never applies X-Forwarded-For itself


def test_the_unit_binds_loopback_unless_the_env_file_says_otherwise() -> None:
    unit = (PROJECT / "deploy" / "energyapp.service").read_text().splitlines()
    bind = unit.index("Environment=ENERGYAPP_BIND_HOST=127.0.0.1")
    assert bind < unit.index("EnvironmentFile=/etc/energyapp/energyapp.env")  # file wins
    (start,) = [line for line in unit if line.startswith("ExecStart=")]
    assert "--backend-host" not in start and "0.0.0.0" not in "\n".join(unit)


def test_a_fresh_make_run_listens_on_loopback_where_public_url_points(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from energyapp.settings import Settings

    for key in [k for k in os.environ if k.startswith("ENERGYAPP_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("ENERGYAPP_CONFIG_FILE", os.devnull)
    settings = Settings(_env_file=None)
    assert (settings.bind_host, str(settings.public_url)) == ("127.0.0.1", "http://localhost:8000/")
