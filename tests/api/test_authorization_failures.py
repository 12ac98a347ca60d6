"""Authorization failures leave a trace in auth.log: someone else's object (404), a refused demo
action (403), a forged token (401), a refused websocket event; each line names the user (when
the credential does), the IP, the User-Agent and a request id, and a flood is capped."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from energyapp.db.engine import session_scope
from energyapp.db.models import Conversation
from energyapp.services import security_log
from tests.conftest import ORIGIN, api_login
from tests.states.test_gate import app_handlers, personas, run_gate, tab  # noqa: F401

FORGED = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxIiwiZmFtIjoiZiIsInR5cCI6ImFjY2Vzcy"
    "J9.Zm9yZ2VkLXNpZ25hdHVyZS1mb3ItdGVzdHM"
)


@pytest.fixture(autouse=True)
def fresh_limits() -> None:
    security_log.reset()


def refusals(settings_env: dict, event: str = "authorization_failed") -> list[str]:
    path = Path(settings_env["ENERGYAPP_LOG_DIR"]) / "auth.log"
    lines = path.read_text().splitlines() if path.exists() else []
    return [line for line in lines if f" {event} " in line]


def field(line: str, name: str) -> str | None:
    found = re.search(rf"\b{name}=(\"(?:[^\"\\]|\\.)*\"|\S+)", line)
    return found.group(1).strip('"') if found else None


def test_someone_elses_conversation(api, make_user, settings_env: dict) -> None:
    ana = make_user("ana@empresa.cl")
    otro = make_user("otro@empresa.cl")
    with session_scope() as db:
        theirs = Conversation(owner_id=otro.id, model="m")
        db.add(theirs)
    assert api_login(api, "ana@empresa.cl", "clave-segura-1").status_code == 200
    response = api.get(f"/api/conversations/{theirs.id}", headers={"User-Agent": "Curioso/1.0"})
    assert response.status_code == 404
    [line] = refusals(settings_env)
    assert " WARNING energyapp.auth " in line
    assert field(line, "channel") == "api" and field(line, "status") == "404"
    assert field(line, "user_id") == str(ana.id) and field(line, "auth") == "cookie"
    assert field(line, "ip") == "testclient" and field(line, "user_agent") == "Curioso/1.0"
    assert field(line, "path") == f"/api/conversations/{theirs.id}"
    assert field(line, "request_id") == response.headers["X-Request-ID"]
    assert len(response.headers["X-Request-ID"]) == 16


def test_a_forged_token(api, settings_env: dict) -> None:
    response = api.get("/api/auth/me", headers={"Authorization": f"Bearer {FORGED}"})
    assert response.status_code == 401
    [line] = refusals(settings_env)
    assert field(line, "auth") == "bearer_invalid" and field(line, "user_id") is None
    assert field(line, "reason") == "not_authenticated" and field(line, "status") == "401"
    assert FORGED not in line and FORGED[:40] not in line


def test_a_refused_demo_action(api, demo_users, settings_env: dict) -> None:
    login = api_login(api, "trabajador@alvaradomazzei.cl", "worker123")
    response = api.post("/api/auth/totp/setup", headers={"Origin": ORIGIN})
    assert response.status_code == 403
    [line] = refusals(settings_env)
    assert field(line, "reason") == "demo_account" and field(line, "status") == "403"
    assert field(line, "user_id") == str(login.json()["user"]["id"])


def test_successes_and_bad_input_are_not_refusals(api, make_user, settings_env: dict) -> None:
    make_user("ana@empresa.cl")
    assert api_login(api, "ana@empresa.cl", "clave-segura-1").status_code == 200
    assert api.get("/api/auth/me").status_code == 200
    assert api.post("/api/auth/login", json={}).status_code == 422
    assert "X-Request-ID" not in api.get("/api/auth/me").headers
    assert refusals(settings_env) == []


def test_a_flood_is_capped_then_summarized(
    api, settings_env: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(security_log, "PER_IP_PER_MINUTE", 5)
    now = [1000.0]
    monkeypatch.setattr(security_log._limiter, "clock", lambda: now[0])
    for _ in range(40):
        response = api.get("/api/auth/me", headers={"Authorization": f"Bearer {FORGED}"})
        assert response.status_code == 401 and response.headers["X-Request-ID"]
    assert len(refusals(settings_env)) == 5
    now[0] += security_log.WINDOW_SECONDS
    api.get("/api/auth/me", headers={"Authorization": f"Bearer {FORGED}"})
    [summary] = refusals(settings_env, "authorization_failed_suppressed")
    assert field(summary, "lines") == "35" and field(summary, "ips") == "1"
    assert len(refusals(settings_env)) == 6  # the bucket refilled with the time that passed


# --- the websocket gate ------------------------------------------------------------------------
def _handler(state: str, name: str) -> str:
    return next(full for full, s, h in app_handlers() if s == state and h == name)


def test_refused_socket_events(personas, settings_env: dict) -> None:  # noqa: F811
    from energyapp.logging_setup import configure_logging
    from energyapp.settings import get_settings

    configure_logging(get_settings())
    admin_load = _handler("AdminState", "load")
    assert asyncio.run(run_gate(tab(personas["anonymous"]), admin_load)) is not None
    assert asyncio.run(run_gate(tab(personas["trabajador"]), admin_load)) is not None
    assert asyncio.run(run_gate(tab(personas["admin"]), admin_load)) is None  # allowed: no line
    anonymous, worker = refusals(settings_env)
    for line in (anonymous, worker):
        assert field(line, "channel") == "socket" and field(line, "handler") == admin_load
        assert field(line, "ip") == "10.0.0.1" and field(line, "user_agent") == "pytest"
        assert field(line, "request_id") == security_log.short_hash("tab-token-1")
        assert "tab-token-1" not in line
    assert field(anonymous, "reason") == "not_authenticated"
    assert field(anonymous, "user_id") is None
    assert field(worker, "reason") == "forbidden"
    with session_scope() as db:
        from energyapp.db.models import AuthSession

        worker_user = db.get(AuthSession, personas["trabajador"].session_id).user_id
    assert field(worker, "user_id") == str(worker_user)
