"""Audit trail: a row in `audit_events` and a line in audit.log for each event.

The rows are append-only (database triggers refuse UPDATE and DELETE, migration 0008) and form
a hash chain: each row stores the previous row's `row_hash` as `prev_hash`, and its own
`row_hash` is SHA-256 over that plus the row's canonical content (`chain_hash`). Changing,
removing or reordering a stored row breaks the chain at that row; `verify_chain` (the
`python -m energyapp verify-audit` command) finds the first broken link.

`record()` queues the event on the caller's session; the session's commit appends it
(`append_pending`, run by a `before_commit` hook): every other change of the transaction is
flushed first, then the chain's lock is taken (PostgreSQL: a transaction-level advisory lock;
SQLite: the database write lock), the last row read, the hashes computed and the rows
inserted. Two transactions appending at once therefore never fork the chain, and the lock is
held only from that last flush to the commit, after every row lock the transaction takes (no
deadlock with the rows it writes). The audit.log line is written once the commit succeeded
(`after_commit`): a rolled-back action leaves neither a row nor a line.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event as sa_event
from sqlalchemy import text
from sqlalchemy.orm import Session as OrmSession
from sqlalchemy.orm import SessionTransaction
from sqlmodel import Session, col, select

from energyapp.db.models import AuditEvent
from energyapp.logging_setup import AUDIT_LOGGER, log_event

GENESIS = "0" * 64  # prev_hash of the first row
# pg_advisory_xact_lock key of the chain ("EAAUDIT1" as a 64-bit integer).
CHAIN_LOCK_KEY = int.from_bytes(b"EAAUDIT1", "big", signed=True)
_PENDING = "energyapp.audit.pending"  # events to append at the commit
_LINES = "energyapp.audit.lines"  # their audit.log lines, written after the commit


def record(
    session: Session,
    action: str,
    *,
    actor_id: int | None = None,
    target_type: str | None = None,
    target_id: int | str | None = None,
    ip: str | None = None,
    **details: Any,
) -> AuditEvent:
    """Add an audit event to the caller's transaction (it commits with the change it records;
    the row is appended to the chain at the commit, so its id is set only then, and its
    audit.log line is written after the commit)."""
    details = {k: v for k, v in details.items() if v is not None}
    event = AuditEvent(
        actor_id=actor_id,
        action=action,
        target_type=target_type,
        target_id=None if target_id is None else str(target_id),
        details=json.dumps(details, ensure_ascii=False, default=str) if details else None,
        ip=ip,
    )
    if not session.in_transaction():
        session.begin()  # so that a rollback ends it and forgets the queued event
    session.info.setdefault(_PENDING, []).append(event)
    line = {"actor_id": actor_id, "target_type": target_type, "target_id": target_id, "ip": ip}
    session.info.setdefault(_LINES, []).append((action, {**line, **details}))
    return event


# --- the chain ---------------------------------------------------------------------------------
def _utc_text(value: datetime) -> str:
    if value.utcoffset() is None:  # SQLite hands back naive UTC
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical(row: Any) -> bytes:
    """The content a row's hash covers: every column but the two hashes, as compact JSON with
    sorted keys (the stored strings exactly; the time in UTC to the microsecond)."""
    return json.dumps(
        {
            "id": row.id,
            "created_at": _utc_text(row.created_at),
            "actor_id": row.actor_id,
            "action": row.action,
            "target_type": row.target_type,
            "target_id": row.target_id,
            "details": row.details,
            "ip": row.ip,
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    ).encode("utf-8")


def chain_hash(prev_hash: str, row: Any) -> str:
    return hashlib.sha256(prev_hash.encode("ascii") + b"\n" + canonical(row)).hexdigest()


def lock_chain(connection: Any) -> None:
    """Serialize appends until this transaction ends."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": CHAIN_LOCK_KEY})
    else:
        # A write that matches no row makes SQLite take its database write lock now (waiting
        # busy_timeout for another writer), so the last row read below stays the last one.
        connection.execute(text("UPDATE audit_events SET id = id WHERE 0"))


def _next_id(connection: Any, last_id: int) -> int:
    if connection.dialect.name == "postgresql":
        return int(
            connection.execute(
                text("SELECT nextval(pg_get_serial_sequence('audit_events', 'id'))")
            ).scalar_one()
        )
    return last_id + 1


def append_pending(session: OrmSession) -> list[AuditEvent]:
    """Append the events `record()` queued on this session to the chain (inside its
    transaction). The commit does it; call it earlier only to get the ids before the commit."""
    pending: list[AuditEvent] = session.info.pop(_PENDING, None) or []
    if not pending:
        return []
    session.flush()  # the transaction's other writes (and their row locks) come first
    connection = session.connection()
    lock_chain(connection)
    last = connection.execute(
        text("SELECT id, row_hash FROM audit_events ORDER BY id DESC LIMIT 1")
    ).first()
    last_id, prev_hash = (last[0], last[1]) if last is not None else (0, GENESIS)
    for event in pending:
        event.id = last_id = _next_id(connection, last_id)
        event.prev_hash = prev_hash
        event.row_hash = prev_hash = chain_hash(prev_hash, event)
        session.add(event)
    session.flush()
    return pending


@sa_event.listens_for(OrmSession, "before_commit")
def _append_on_commit(session: OrmSession) -> None:
    if session.info.get(_PENDING):
        append_pending(session)


@sa_event.listens_for(OrmSession, "after_commit")
def _log_on_commit(session: OrmSession) -> None:
    lines: list[tuple[str, dict[str, Any]]] = session.info.pop(_LINES, None) or []
    for action, fields in lines:
        log_event(AUDIT_LOGGER, action, **fields)


@sa_event.listens_for(OrmSession, "after_transaction_end")
def _forget_on_rollback(session: OrmSession, transaction: SessionTransaction) -> None:
    if transaction.parent is None:  # the outermost transaction ended: queued events went too
        session.info.pop(_PENDING, None)
        session.info.pop(_LINES, None)  # after a commit, already written


# --- verification ------------------------------------------------------------------------------
@dataclass(frozen=True)
class ChainReport:
    rows: int  # rows checked (all of them when intact; up to the broken one otherwise)
    last_id: int | None = None
    last_hash: str | None = None
    broken_id: int | None = None  # the first row whose link or hash is wrong
    problem: str = ""

    @property
    def intact(self) -> bool:
        return self.broken_id is None


def _rows(session: Session, batch: int) -> Iterator[AuditEvent]:
    statement = select(AuditEvent).order_by(col(AuditEvent.id)).execution_options(yield_per=batch)
    yield from session.exec(statement)


def _short(value: str | None) -> str:
    return "none" if not value else value[:16]


def verify_chain(session: Session, *, batch: int = 1000) -> ChainReport:
    """Walk every row in id order; stop at the first row whose `prev_hash` is not the previous
    row's `row_hash`, or whose `row_hash` does not match its content."""
    expected_prev, previous_id, count = GENESIS, None, 0
    for row in _rows(session, batch):
        if not row.prev_hash or not row.row_hash:
            return ChainReport(
                count,
                previous_id,
                expected_prev,
                row.id,
                "the row has no hash (written around services/audit.record)",
            )
        if row.prev_hash != expected_prev:
            if previous_id is None:
                where = "the start of the chain: rows before it were removed"
            else:
                where = (
                    f"row {previous_id}'s row_hash {_short(expected_prev)}: a row between "
                    "them was removed, or rows were rewritten"
                )
            return ChainReport(
                count,
                previous_id,
                expected_prev,
                row.id,
                f"prev_hash {_short(row.prev_hash)} is not {where}",
            )
        actual = chain_hash(row.prev_hash, row)
        if actual != row.row_hash:
            return ChainReport(
                count,
                previous_id,
                expected_prev,
                row.id,
                f"row_hash {_short(row.row_hash)} does not match the row's "
                f"content (hashes to {_short(actual)}): the row was changed",
            )
        expected_prev, previous_id, count = row.row_hash, row.id, count + 1
    return ChainReport(count, previous_id, None if previous_id is None else expected_prev)
