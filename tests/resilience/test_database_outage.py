"""Database outages: every route answers 503 with Retry-After (never 500), a stream in flight ends
with an error line and its text is saved once the database is back, health reports the failure
on the next probe, a stalled server fails requests in bounded time, and no database error kills
a worker (docs/operations.md, "When the database is down").

How each failure is produced, for real:
- PostgreSQL through `tests.tcp_proxy.TcpProxy`: `cut` resets connections and closes the port,
  `stall` accepts and forwards nothing (a hung server), `restore` forwards again;
  `ALTER DATABASE … default_transaction_read_only` for a read-only server.
- SQLite by making its files unwritable: `chattr +i` when running as root (root ignores file
  modes; the immutable flag binds it too, like a read-only remount), `chmod 0444` otherwise;
  a second connection holding `BEGIN EXCLUSIVE` for "locked". An immutable `-shm` under a
  running worker killed it with SIGBUS before; that case runs in a child process.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from energyapp.domain.errors import DATABASE_UNAVAILABLE
from tests.conftest import (
    BACKENDS,
    ORIGIN,
    PG_URL,
    _truncate_all,
    api_login,
    apply_env,
    needs,
)
from tests.ollama_standin import StandInOllama
from tests.tcp_proxy import TcpProxy

PASSWORD = "clave-segura-1"
FAST = {
    "db_timeout_seconds": "1",
    "db_retry_after_seconds": "1",
    "health_timeout": "1.5",
    "stream_save_seconds": "0.2",
    "answer_repair_seconds": "60",
}
PROJECT = Path(__file__).resolve().parents[2]


# --- making SQLite files unwritable, as root or not --------------------------------------------
def _freeze(paths: list[Path]) -> None:
    if os.geteuid() == 0:
        result = subprocess.run(["chattr", "+i", *map(str, paths)], capture_output=True)
        if result.returncode:
            pytest.skip(f"chattr +i unsupported here: {result.stderr.decode().strip()}")
    else:
        for path in paths:
            path.chmod(0o444)


def _thaw(paths: list[Path]) -> None:
    if not paths:
        return
    if os.geteuid() == 0:
        subprocess.run(["chattr", "-i", *map(str, paths)], capture_output=True)
    else:
        for path in paths:
            path.chmod(0o600)


# --- an outage the test controls -----------------------------------------------------------------
@dataclass
class Outage:
    backend: str
    direct_url: str  # the same database, never through the fault: for checks
    cut: Callable[[], None]
    restore: Callable[[], None]

    def row(self, message_id: int) -> tuple[str, str]:
        engine = create_engine(self.direct_url, poolclass=NullPool)
        try:
            with engine.connect() as conn:
                status, content = conn.execute(
                    text("SELECT status, content FROM messages WHERE id = :id"), {"id": message_id}
                ).one()
        finally:
            engine.dispose()
        return status, content


@pytest.fixture
def pg_proxy(migrated_pg: str) -> Iterator[tuple[TcpProxy, str]]:
    _truncate_all(migrated_pg)
    url = make_url(migrated_pg)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432).start()
    via_proxy = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    yield proxy, via_proxy
    proxy.stop()


@pytest.fixture(params=BACKENDS)
def outage(
    request: pytest.FixtureRequest,
    settings_env: dict[str, str],
    standin: StandInOllama,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> Iterator[Outage]:
    if request.param == "postgresql":
        proxy, via_proxy = request.getfixturevalue("pg_proxy")
        apply_env(monkeypatch, db_url=via_proxy, ollama_url=standin.url, **FAST)
        yield Outage("postgresql", request.getfixturevalue("migrated_pg"), proxy.cut, proxy.restore)
        proxy.restore()
        return
    path = tmp_path / "energyapp.db"
    shutil.copy(request.getfixturevalue("sqlite_template"), path)
    apply_env(monkeypatch, db_url=f"sqlite:///{path}", ollama_url=standin.url, **FAST)
    frozen: list[Path] = []

    def cut() -> None:  # the file and its WAL: writes fail, reads still work
        frozen[:] = [p for p in (path, path.with_name(path.name + "-wal")) if p.exists()]
        _freeze(frozen)

    def restore() -> None:
        _thaw(frozen)
        frozen.clear()

    try:
        yield Outage("sqlite", f"sqlite:///{path}", cut, restore)
    finally:
        restore()


@pytest.fixture
def client(outage: Outage):
    from fastapi.testclient import TestClient

    from energyapp.api.app import create_api

    with TestClient(create_api(), base_url=ORIGIN) as test_client:
        yield test_client


def make_user(email: str, role: str = "trabajador") -> tuple[int, int, str]:
    """A user and a browser session: (user id, session id, cookie value)."""
    from energyapp.db.engine import session_scope
    from energyapp.domain.roles import Role
    from energyapp.services import sessions
    from energyapp.services.users import create_user

    with session_scope() as db:
        user = create_user(
            db, email=email, name="Usuaria de Prueba", password=PASSWORD, role=Role(role)
        )
        db.flush()
        new = sessions.create_session(db, user, "10.0.0.1", "pytest")
        assert user.id is not None
        return user.id, new.session_id, new.token


def bearer(client, email: str) -> dict[str, str]:
    response = api_login(client, email, PASSWORD)
    assert response.status_code == 200, response.text
    client.cookies.clear()
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def assert_unavailable(response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] == "1"
    assert response.json() == {"detail": DATABASE_UNAVAILABLE, "code": "database_unavailable"}


def wait_for(check: Callable[[], bool], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            if check():
                return
        except Exception:  # noqa: BLE001 - the database may still be coming back
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {seconds} s")
        time.sleep(0.1)


def only(backend: str):
    parametrize = pytest.mark.parametrize("outage", [backend], indirect=True)
    if backend == "postgresql":
        return lambda test: needs("postgresql")(parametrize(test))
    return parametrize


# --- the API ----------------------------------------------------------------------------------
@only("postgresql")
def test_every_route_answers_503_with_retry_after_while_postgres_is_cut(
    client, outage: Outage
) -> None:
    make_user("ana@empresa.cl")
    make_user("jefa@empresa.cl", role="admin")
    ana, boss = bearer(client, "ana@empresa.cl"), bearer(client, "jefa@empresa.cl")
    assert client.get("/api/conversations", headers=ana).status_code == 200

    outage.cut()
    assert_unavailable(api_login(client, "ana@empresa.cl", PASSWORD))
    assert_unavailable(client.get("/api/conversations", headers=ana))
    assert_unavailable(client.post("/api/chat", json={"message": "Hola"}, headers=ana))
    assert_unavailable(client.get("/api/admin/users", headers=boss))
    health = client.get("/api/health")
    assert health.status_code == 503 and "database" in health.json()["failing"]

    outage.restore()
    assert client.get("/api/health").status_code == 200
    assert client.get("/api/conversations", headers=ana).status_code == 200
    assert api_login(client, "ana@empresa.cl", PASSWORD).status_code == 200


@only("postgresql")
def test_a_stalled_postgres_fails_requests_within_the_time_limit(
    client, outage: Outage, pg_proxy: tuple[TcpProxy, str]
) -> None:
    """The proxy accepts and forwards nothing: pooled and new connections alike give up after
    `db_timeout_seconds` (1 s here), with 503; health answers within `health_timeout`."""
    proxy, _url = pg_proxy
    make_user("ana@empresa.cl")
    ana = bearer(client, "ana@empresa.cl")

    proxy.stall()
    for request in (
        lambda: client.get("/api/conversations", headers=ana),
        lambda: api_login(client, "ana@empresa.cl", PASSWORD),
    ):
        started = time.monotonic()
        assert_unavailable(request())
        assert time.monotonic() - started < 4.5  # pre-ping (1 s) + a new connection (1 s)
    started = time.monotonic()
    health = client.get("/api/health")
    assert time.monotonic() - started < 2.5
    assert health.status_code == 503  # the probe's own limit, or the database's (1 s)
    assert health.json()["database"]["detail"] in ("timeout", "OperationalError")

    proxy.restore()
    wait_for(lambda: client.get("/api/conversations", headers=ana).status_code == 200)


@only("postgresql")
def test_a_read_only_postgres_answers_503_and_health_says_read_only(client, outage: Outage) -> None:
    from energyapp.db.engine import reset_engine

    make_user("ana@empresa.cl")
    name = make_url(outage.direct_url).database
    # From another database: a session of this one would start read-only, unable to reset it.
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        with admin.connect() as conn:  # new sessions start read-only, as on a standby
            conn.execute(text(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on'))
        reset_engine()
        assert_unavailable(api_login(client, "ana@empresa.cl", PASSWORD))
        health = client.get("/api/health").json()
        assert health["failing"] == ["database"] and health["database"]["detail"] == "read-only"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{name}" RESET default_transaction_read_only'))
        admin.dispose()
        reset_engine()
    assert api_login(client, "ana@empresa.cl", PASSWORD).status_code == 200


@only("sqlite")
def test_a_read_only_sqlite_file_refuses_writes_with_503_and_recovers(
    client, outage: Outage
) -> None:
    make_user("ana@empresa.cl")
    ana = bearer(client, "ana@empresa.cl")  # pooled connections opened writable

    outage.cut()
    assert_unavailable(api_login(client, "ana@empresa.cl", PASSWORD))
    assert client.get("/api/conversations", headers=ana).status_code == 200  # reads still work
    health = client.get("/api/health").json()
    assert health["failing"] == ["database"] and health["database"]["detail"] == "read-only"

    outage.restore()  # connections opened read-only meanwhile are replaced at checkout
    assert api_login(client, "ana@empresa.cl", PASSWORD).status_code == 200
    assert client.get("/api/health").status_code == 200


@only("sqlite")
def test_a_locked_sqlite_database_answers_503_after_the_busy_timeout(
    client, outage: Outage
) -> None:
    make_user("ana@empresa.cl")
    holder = sqlite3.connect(make_url(outage.direct_url).database, isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        started = time.monotonic()
        assert_unavailable(api_login(client, "ana@empresa.cl", PASSWORD))
        assert time.monotonic() - started < 3
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert api_login(client, "ana@empresa.cl", PASSWORD).status_code == 200


def test_health_reports_the_failure_on_the_next_probe_and_recovers(client, outage: Outage) -> None:
    assert client.get("/api/health").status_code == 200
    outage.cut()
    health = client.get("/api/health")
    assert health.status_code == 503 and health.json()["status"] == "degraded"
    assert health.json()["failing"] == ["database"]
    outage.restore()
    assert client.get("/api/health").status_code == 200


def test_a_stream_in_flight_ends_with_an_error_line_and_is_saved_once_the_database_is_back(
    client, outage: Outage, standin: StandInOllama
) -> None:
    from energyapp.services import chat

    make_user("ana@empresa.cl")
    ana = bearer(client, "ana@empresa.cl")
    standin.configure(tokens=150, tokens_per_second=60)
    events: list[dict] = []
    with client.stream("POST", "/api/chat", json={"message": "Hola"}, headers=ana) as response:
        assert response.status_code == 200
        for line in response.iter_lines():
            if line:
                events.append(json.loads(line))
                if sum(e["type"] == "delta" for e in events) == 5:
                    outage.cut()
    message_id = events[0]["message_id"]
    deltas = "".join(e["text"] for e in events if e["type"] == "delta")
    assert events[-1] == {
        "type": "error",
        "code": "database_unavailable",
        "message": DATABASE_UNAVAILABLE,
        "partial": deltas,
    }
    assert 0 < len(deltas) < len("".join(standin.behavior.answer_tokens()))  # model stopped
    assert outage.row(message_id)[0] == "streaming"  # not saved yet: the database is gone

    outage.restore()
    wait_for(lambda: outage.row(message_id) == ("interrupted", deltas))
    wait_for(lambda: chat.repairs.pending() == [])


# --- the Reflex UI ----------------------------------------------------------------------------
def _tab(cookie: str, login_key: str):
    import reflex as rx

    import energyapp.energyapp  # noqa: F401 - registers every state
    from energyapp.states.gate import TabBinding

    root = rx.State(_reflex_internal_init=True)
    headers = {
        "user-agent": "pytest",
        "asgi-scope-client": "10.0.0.1",
        "cookie": f"energyapp_session={cookie}",
    }
    router_data = {
        "headers": headers,
        "sid": "sid-1",
        "token": "tab-token-1",
        "ip": "10.0.0.1",
        "pathname": "/dashboard",
        "asPath": "/dashboard",
        "query": {},
    }
    root.router_data = root._update_router_vars(router_data, {})
    asyncio.run(_bind(root, TabBinding, login_key))
    return root


async def _bind(root, binding_cls, login_key: str) -> None:
    (await root.get_state(binding_cls))._login_key = login_key


def test_the_dashboard_stream_ends_with_the_spanish_message(
    outage: Outage, standin: StandInOllama
) -> None:
    """`ChatState._stream` (the background task's body) finishes without raising: the live
    answer ends, the message shows what arrived with the Spanish note, and the row is repaired
    once the database is back."""
    from energyapp.services import chat, sessions
    from energyapp.states.chat import ChatState, LiveAnswerState

    user_id, _session_id, cookie = make_user("ana@empresa.cl")
    login_key = sessions.resolve(cookie).binding_key
    turn = chat.start_turn(user_id, None, "Hola", chat.choose_model(None))
    root = _tab(cookie, login_key)
    standin.configure(tokens=150, tokens_per_second=60)

    async def run() -> tuple:
        state = await root.get_state(ChatState)
        state.active_id, state.sending = turn.conversation_id, True
        (await root.get_state(LiveAnswerState))._begin()
        threading.Timer(0.4, outage.cut).start()
        await state._stream(turn, user_id, login_key)
        return state, await root.get_state(LiveAnswerState)

    state, live = asyncio.run(run())
    assert live.active is False and state.sending is False
    last = state.messages[-1]
    assert last["note"] == DATABASE_UNAVAILABLE and last["status"] == "interrupted"
    assert last["content"] and last["id"] == str(turn.assistant_message_id)

    outage.restore()
    wait_for(lambda: outage.row(turn.assistant_message_id) == ("interrupted", last["content"]))


def test_the_gate_refuses_with_a_spanish_toast_when_the_database_is_down(
    settings_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from reflex_base.event import Event
    from reflex_base.registry import RegistrationContext

    from energyapp.states.chat import ChatState
    from energyapp.states.gate import SessionGate

    root = _tab("a-session-cookie", "a-login-key")
    load = next(
        name
        for name, registered in RegistrationContext.get().event_handlers.items()
        if registered.states[-1] is ChatState and name.endswith(".load")
    )
    apply_env(monkeypatch, db_url="postgresql://nobody@127.0.0.1:1/none", **FAST)  # refused
    reply = asyncio.run(SessionGate().preprocess(app=None, state=root, event=Event(name=load)))
    assert reply is not None and len(reply.events) == 1  # a toast: nothing ran, nothing reset
    assert "La base de datos no est" in str(reply.events[0])


def test_an_event_handler_hitting_the_database_gets_a_spanish_toast(
    settings_env: dict[str, str],
) -> None:
    from sqlalchemy.exc import OperationalError

    from energyapp.energyapp import backend_error

    readonly = OperationalError(
        "UPDATE users", {}, sqlite3.OperationalError("attempt to write a readonly database")
    )
    assert DATABASE_UNAVAILABLE.split(" ")[0] in str(backend_error(readonly))
    assert "Ocurrió un error inesperado" in str(backend_error(ValueError("boom")))


# --- a worker never dies ------------------------------------------------------------------------
_CHILD = textwrap.dedent("""
    import json, subprocess, sys
    from fastapi.testclient import TestClient
    from energyapp.api.app import create_api
    from tests.resilience.test_database_outage import make_user, bearer, PASSWORD
    from tests.conftest import ORIGIN, api_login

    shm = sys.argv[1]
    make_user("ana@empresa.cl")
    with TestClient(create_api(), base_url=ORIGIN) as client:
        ana = bearer(client, "ana@empresa.cl")  # pooled connections now map the -shm file
        subprocess.run(["chattr", "+i", shm], check=True)
        try:
            found = {
                "read": client.get("/api/conversations", headers=ana).status_code,
                "write": api_login(client, "ana@empresa.cl", PASSWORD).status_code,
                "health": client.get("/api/health").json()["database"],
            }
        finally:
            subprocess.run(["chattr", "-i", shm], check=True)
        found["after"] = api_login(client, "ana@empresa.cl", PASSWORD).status_code
    print(json.dumps(found))
""")


@only("sqlite")
@pytest.mark.skipif(os.geteuid() != 0, reason="chattr +i needs root")
def test_an_immutable_shm_file_never_kills_the_worker(outage: Outage) -> None:
    """SQLite maps `-shm` once per process; once the file turned immutable, the next write
    through that mapping killed the worker with SIGBUS (a read writes there too). Now, while
    the file cannot be written, the worker answers 503 without touching the mapping, and works
    again as soon as it can."""
    path = Path(make_url(outage.direct_url).database or "")
    shm = path.with_name(path.name + "-shm")
    env = {**os.environ, "PYTHONPATH": str(PROJECT)}
    try:
        child = subprocess.run(
            [sys.executable, "-c", _CHILD, str(shm)],
            cwd=PROJECT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        if shm.exists():
            _thaw([shm])
    assert child.returncode == 0, f"exit {child.returncode}: {child.stderr[-2000:]}"
    found = json.loads(child.stdout.strip().splitlines()[-1])
    assert found == {
        "read": 503,
        "write": 503,
        "after": 200,
        "health": {"ok": False, "detail": "read-only"},
    }


# --- what counts as "unavailable" -------------------------------------------------------------
def _sa(orig: Exception, kind: str = "OperationalError") -> Exception:
    from sqlalchemy import exc

    return getattr(exc, kind)("SELECT 1", {}, orig)


def _unavailable_errors() -> list[Exception]:
    import psycopg2
    import psycopg2.errors
    from sqlalchemy import exc

    return [
        _sa(sqlite3.OperationalError("attempt to write a readonly database")),
        _sa(sqlite3.OperationalError("database is locked")),
        _sa(sqlite3.OperationalError("disk I/O error")),
        _sa(sqlite3.OperationalError("database or disk is full")),
        sqlite3.OperationalError("attempt to write a readonly database"),  # raw, unwrapped
        _sa(psycopg2.OperationalError("connection to server failed: Connection refused")),
        _sa(psycopg2.InterfaceError("connection already closed"), "InterfaceError"),
        _sa(psycopg2.errors.ReadOnlySqlTransaction("read-only"), "InternalError"),
        exc.TimeoutError("QueuePool limit reached, connection timed out"),
        exc.DisconnectionError("gone"),
    ]


def _bug_errors() -> list[Exception]:
    import psycopg2.errors

    return [
        _sa(sqlite3.IntegrityError("UNIQUE constraint failed: users.email"), "IntegrityError"),
        _sa(sqlite3.OperationalError("no such table: users")),
        _sa(psycopg2.errors.UndefinedColumn("column x does not exist"), "ProgrammingError"),
        ValueError("not a database error"),
    ]


def test_unavailable_errors_are_503_and_bugs_stay_500(
    settings_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from energyapp.api.errors import install_error_handlers
    from energyapp.db.failures import database_unavailable

    apply_env(monkeypatch, **FAST)
    app = FastAPI()
    install_error_handlers(app)
    errors = {"unavailable": _unavailable_errors(), "bug": _bug_errors()}

    @app.get("/{kind}/{index}")
    def fail(kind: str, index: int) -> None:
        raise errors[kind][index]

    with TestClient(app, raise_server_exceptions=False) as client:
        for index, error in enumerate(errors["unavailable"]):
            assert database_unavailable(error), error
            assert_unavailable(client.get(f"/unavailable/{index}"))
        for index, error in enumerate(errors["bug"]):
            assert not database_unavailable(error), error
            response = client.get(f"/bug/{index}")
            assert response.status_code == 500 and "retry-after" not in response.headers
    grouped = ExceptionGroup("task group", [ValueError("x"), errors["unavailable"][0]])
    assert database_unavailable(grouped)


@only("sqlite")
def test_a_stream_that_raises_a_database_error_still_ends_with_an_error_line(
    client, outage: Outage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The route's own safety net, for a database error `chat.answer` did not turn into an
    outcome: the status is sent, so the last line says what happened."""
    from sqlalchemy.exc import OperationalError

    from energyapp.llm.chat import Delta
    from energyapp.services import chat

    async def failing_answer(_turn):
        yield Delta("Hola")
        raise OperationalError("UPDATE", {}, sqlite3.OperationalError("database is locked"))

    make_user("ana@empresa.cl")
    ana = bearer(client, "ana@empresa.cl")
    monkeypatch.setattr(chat, "answer", failing_answer)
    with client.stream("POST", "/api/chat", json={"message": "Hola"}, headers=ana) as response:
        events = [json.loads(line) for line in response.iter_lines() if line]
    assert events[-1] == {
        "type": "error",
        "code": "database_unavailable",
        "message": DATABASE_UNAVAILABLE,
        "partial": "Hola",
    }
