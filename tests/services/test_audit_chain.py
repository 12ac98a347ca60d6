"""The audit trail is append-only and hash-chained: the database refuses UPDATE and DELETE, each
row links to the one before, concurrent appends never fork the chain, and `verify-audit` names
the first row that was changed, removed or written around `audit.record`."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from itertools import pairwise

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DatabaseError
from sqlmodel import col, select

from energyapp.db.engine import get_engine, session_scope
from energyapp.db.models import AuditEvent, AuthSession, Conversation, User
from energyapp.services import audit
from energyapp.services.audit import GENESIS, chain_hash, verify_chain
from tests.conftest import apply_env


@pytest.fixture
def db(settings_env: dict, db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    apply_env(monkeypatch, db_url=db_url)
    yield db_url


def _record(n: int = 1, **fields) -> None:
    with session_scope() as session:
        for i in range(n):
            audit.record(session, "test_event", target_type="thing", target_id=i, **fields)


def _rows() -> list[AuditEvent]:
    with session_scope() as session:
        return list(session.exec(select(AuditEvent).order_by(col(AuditEvent.id))))


def _verify():
    with session_scope() as session:
        return verify_chain(session)


def _tamper(sql: str) -> None:
    """Run `sql` past the triggers, as only the schema's owner (or the file's) could."""
    with get_engine().begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SET LOCAL session_replication_role = replica"))
        else:
            connection.execute(text("DROP TRIGGER IF EXISTS audit_events_no_update"))
            connection.execute(text("DROP TRIGGER IF EXISTS audit_events_no_delete"))
        connection.execute(text(sql))


# --- the chain ---------------------------------------------------------------------------------
def test_rows_link_to_the_previous_one_from_the_genesis(db: str) -> None:
    _record(2, note="ñandú ✓", count=3)
    _record(1, ip="10.0.0.1")
    rows = _rows()
    assert len(rows) == 3
    assert rows[0].prev_hash == GENESIS
    for before, row in pairwise(rows):
        assert row.prev_hash == before.row_hash
    for row in rows:
        assert row.row_hash == chain_hash(row.prev_hash, row)
    report = _verify()
    assert report.intact and report.rows == 3 and report.last_id == rows[-1].id
    assert report.last_hash == rows[-1].row_hash


def test_an_empty_trail_is_intact(db: str) -> None:
    report = _verify()
    assert report.intact and report.rows == 0 and report.last_id is None


def test_a_rolled_back_event_is_never_appended(db: str) -> None:
    with pytest.raises(RuntimeError), session_scope() as session:
        audit.record(session, "rolled_back")
        raise RuntimeError("the change it recorded failed")
    with session_scope() as session:
        audit.record(session, "kept")
        session.rollback()  # the queue goes with the transaction
        audit.record(session, "kept_too")
    assert [row.action for row in _rows()] == ["kept_too"]
    assert _verify().intact


def test_the_id_is_known_once_appended(db: str) -> None:
    with session_scope() as session:
        event = audit.record(session, "early")
        assert event.id is None
        audit.append_pending(session)
        assert event.id is not None and event.prev_hash == GENESIS
    assert _rows()[0].id == event.id


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_events SET action = 'nothing_happened'",
        "UPDATE audit_events SET actor_id = NULL",
        "DELETE FROM audit_events",
        "DELETE FROM audit_events WHERE id = (SELECT MAX(id) FROM audit_events)",
    ],
)
def test_the_database_refuses_update_and_delete(db: str, statement: str) -> None:
    _record(2)
    with pytest.raises(DatabaseError, match="append-only"), get_engine().begin() as connection:
        connection.execute(text(statement))
    assert len(_rows()) == 2 and _verify().intact


# --- verification finds the first broken row ---------------------------------------------------
def test_a_changed_row_is_named(db: str) -> None:
    _record(4)
    rows = _rows()
    _tamper(f"UPDATE audit_events SET action = 'innocent' WHERE id = {rows[2].id}")
    report = _verify()
    assert report.broken_id == rows[2].id and report.rows == 2
    assert "does not match the row's content" in report.problem


def test_a_row_rewritten_with_a_fresh_hash_breaks_the_next_link(db: str) -> None:
    _record(3)
    rows = _rows()
    forged = rows[1]
    forged.target_id = "someone-else"
    _tamper(
        f"UPDATE audit_events SET target_id = 'someone-else', "
        f"row_hash = '{chain_hash(forged.prev_hash, forged)}' WHERE id = {forged.id}"
    )
    report = _verify()
    assert report.broken_id == rows[2].id
    assert f"row {rows[1].id}'s row_hash" in report.problem


@pytest.mark.parametrize(
    ("removed", "broken", "says"),
    [
        (1, 2, "a row between them was removed"),
        (0, 1, "the start of the chain"),
    ],
)
def test_a_removed_row_is_named(db: str, removed: int, broken: int, says: str) -> None:
    _record(4)
    rows = _rows()
    _tamper(f"DELETE FROM audit_events WHERE id = {rows[removed].id}")
    report = _verify()
    assert report.broken_id == rows[broken].id and says in report.problem


def test_a_row_written_around_record_is_named(db: str) -> None:
    _record(1)
    _tamper(
        "INSERT INTO audit_events (action, created_at, prev_hash, row_hash) "
        "VALUES ('sneaked_in', '2026-12-01 10:00:00', '', '')"
    )
    report = _verify()
    assert report.broken_id == _rows()[-1].id and "no hash" in report.problem


# --- concurrency -------------------------------------------------------------------------------
def test_a_second_append_waits_for_the_first_transaction(db: str) -> None:
    """A appends and keeps its transaction open; B's commit waits for it, then links to A's row
    (without the lock both would link to the same previous row: a fork)."""
    _record(1)
    finished = threading.Event()
    errors: list[BaseException] = []

    def other() -> None:
        try:
            _record(1, who="B")
        except BaseException as error:  # noqa: BLE001 - reported by the main thread
            errors.append(error)
        finished.set()

    with session_scope() as session:
        audit.record(session, "test_event", who="A")
        audit.append_pending(session)
        thread = threading.Thread(target=other)
        thread.start()
        time.sleep(0.5)
        assert not finished.is_set(), "B appended while A held the chain"
    thread.join(10)
    assert finished.is_set() and not errors
    rows = _rows()
    assert [r.details for r in rows[1:]] == ['{"who": "A"}', '{"who": "B"}']
    assert rows[2].prev_hash == rows[1].row_hash and _verify().intact


def test_many_concurrent_appends_keep_one_chain(db: str) -> None:
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            for _ in range(8):
                with session_scope() as session:
                    session.exec(select(User)).all()  # a read first, as services do
                    audit.record(session, "test_event", worker=n)
                    audit.record(session, "test_event_2", worker=n)
        except BaseException as error:  # noqa: BLE001
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors
    report = _verify()
    assert report.intact and report.rows == 4 * 8 * 2


# --- users can still be deleted ------------------------------------------------------------
def test_deleting_a_user_keeps_its_audit_rows(db: str) -> None:
    """No user-deletion path exists in the app; an operator's DELETE still works: the user's
    data goes by ON DELETE CASCADE, its audit rows stay (and keep its id) and chain intact."""
    from energyapp.services import sessions
    from energyapp.services.users import create_user

    with session_scope() as session:
        user = create_user(session, email="baja@empresa.cl", name="Baja", password="x" * 12)
        sessions.create_session(session, user, "10.0.0.1", "pytest")
        session.add(Conversation(owner_id=user.id, model="m"))
        audit.record(
            session, "user_registered", actor_id=user.id, target_type="user", target_id=user.id
        )
    with session_scope() as session:
        session.delete(session.get(User, user.id))
    with session_scope() as session:
        assert session.exec(select(Conversation)).all() == []
        assert session.exec(select(AuthSession)).all() == []
    assert [row.actor_id for row in _rows()] == [user.id]
    assert _verify().intact


# --- the command -------------------------------------------------------------------------------
def test_verify_audit_command(db: str, capsys: pytest.CaptureFixture) -> None:
    from energyapp.__main__ import main

    assert main(["verify-audit"]) == 0
    assert capsys.readouterr().out == "Audit chain intact: no rows yet.\n"
    _record(3)
    rows = _rows()
    assert main(["verify-audit"]) == 0
    assert capsys.readouterr().out == (
        f"Audit chain intact: 3 row(s), last id {rows[-1].id}, last row_hash {rows[-1].row_hash}.\n"
    )
    _tamper(f"UPDATE audit_events SET ip = '10.6.6.6' WHERE id = {rows[1].id}")
    assert main(["verify-audit"]) == 1
    out, err = capsys.readouterr()
    assert out == "" and len(err.splitlines()) == 1
    assert err.startswith(f"error: audit chain broken at row {rows[1].id}: row_hash ")
    assert "the row was changed (1 row(s) before it are intact)" in err
