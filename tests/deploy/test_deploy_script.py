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
    if subprocess.run(["git", "-C", str(PROJECT), "rev-parse", "HEAD"],
                      capture_output=True).returncode:
        pytest.skip("needs a git checkout")
    repo = tmp_path / "root" / "repo"
    subprocess.run(["git", "clone", "-q", str(PROJECT), str(repo)], check=True)
    branch = subprocess.run(["git", "-C", str(repo), "rev-parse", "--abbrev-ref", "HEAD"],
                            capture_output=True, text=True, check=True).stdout.strip()
    calls = tmp_path / "systemctl.calls"
    systemctl = tmp_path / "systemctl"
    systemctl.write_text(f'#!/bin/sh\necho "$@" >> {calls}\n')
    systemctl.chmod(0o755)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = {**os.environ, "APP_ROOT": str(tmp_path / "root"), "REPO": str(repo),
           "BRANCH": branch, "SYSTEMCTL": str(systemctl), "INSTALL": "true",
           "PYTHON": str(PROJECT / ".venv" / "bin" / "python"),
           "ENV_FILE": str(tmp_path / "none.env"), "HEALTH_TIMEOUT": "3",
           "HEALTH_URL": f"http://127.0.0.1:{server.server_address[1]}/api/health",
           "ENERGYAPP_DB_URL": f"sqlite:///{tmp_path / 'deploy.db'}",
           "ENERGYAPP_SECRET_KEY": "d" * 40, "ENERGYAPP_DATA_DIR": str(tmp_path / "data"),
           "ENERGYAPP_LOG_DIR": str(tmp_path / "logs")}
    yield tmp_path / "root", env, calls
    server.shutdown()


def _deploy(env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(PROJECT / "deploy" / "deploy.sh")], env=env,
                          capture_output=True, text=True, timeout=120)


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
