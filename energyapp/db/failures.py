"""Which database errors mean "the database is unavailable" and which are bugs.

Unavailable: the server is unreachable, stalled past `db_timeout_seconds`, restarting,
read-only, locked, out of disk or connections, or its files cannot be written. Such an error
will go away once an operator fixes the database, so callers answer 503 with `Retry-After`
(the API), a Spanish message (the UI), and never lose a request's data silently.

Anything else (an IntegrityError, a syntax error, a missing column) is a bug and stays a 500.

The classification reads the DB-API error under SQLAlchemy's wrapper: SQLite by its result code
(or its message, for errors built by hand), PostgreSQL by its SQLSTATE class, a client-side
psycopg2 error (refused, reset, timed out: no SQLSTATE) as unavailable.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time

from sqlalchemy import exc as sa_exc

from energyapp.domain.errors import DatabaseUnavailable, ServiceError
from energyapp.logging_setup import APP_LOGGER, log_event

try:  # PostgreSQL support is optional for a SQLite-only install
    import psycopg2
    import psycopg2.errors
except ImportError:  # pragma: no cover - psycopg2 ships in requirements.txt
    psycopg2 = None  # type: ignore[assignment]

# SQLite primary result codes that mean "cannot use the database now".
_SQLITE_CODES = {
    sqlite3.SQLITE_BUSY,  # locked by another connection past busy_timeout
    sqlite3.SQLITE_LOCKED,
    sqlite3.SQLITE_NOMEM,
    sqlite3.SQLITE_READONLY,  # file, WAL or directory not writable
    sqlite3.SQLITE_IOERR,  # disk I/O error (e.g. the file turned immutable under us)
    sqlite3.SQLITE_CORRUPT,
    sqlite3.SQLITE_FULL,  # database or disk is full
    sqlite3.SQLITE_CANTOPEN,
    sqlite3.SQLITE_PROTOCOL,
    sqlite3.SQLITE_NOTADB,
}
_SQLITE_MESSAGES = (
    "readonly",
    "read-only",
    "locked",
    "disk i/o",
    "disk is full",
    "unable to open database",
    "disk image is malformed",
    "file is not a database",
    "out of memory",
)
# PostgreSQL SQLSTATE classes: 08 connection, 40 transaction rollback (serialization,
# deadlock: retry), 53 insufficient resources (disk full, too many connections), 57 operator
# intervention (shutdown, statement timeout), 58 system error. Plus single codes.
_PG_CLASSES = {"08", "40", "53", "57", "58"}
_PG_CODES = {
    "25006",  # read_only_sql_transaction: a standby, or default_transaction_read_only
    "25P03",  # idle_in_transaction_session_timeout: the server dropped the connection
    "55P03",  # lock_not_available (lock_timeout)
}
_MAX_DEPTH = 6


def database_unavailable(exc: BaseException | None) -> bool:
    """True when `exc` (or what caused it) says the database cannot be used right now."""
    seen = 0
    while exc is not None and seen < _MAX_DEPTH:
        seen += 1
        if isinstance(exc, DatabaseUnavailable):
            return True
        if isinstance(exc, ServiceError):  # a deliberate domain outcome, whatever its context
            return False
        if isinstance(exc, BaseExceptionGroup):
            return any(database_unavailable(inner) for inner in exc.exceptions)
        verdict = _classify(exc)
        if verdict is not None:
            return verdict
        exc = exc.__cause__ or exc.__context__
    return False


def _classify(exc: BaseException) -> bool | None:
    """True/False when `exc` is a database error this module knows; None to look further."""
    if isinstance(exc, sa_exc.DBAPIError):
        if exc.connection_invalidated:
            return True
        return _classify_dbapi(exc.orig) if exc.orig is not None else None
    if isinstance(exc, sa_exc.DisconnectionError | sa_exc.TimeoutError):  # pool checkout
        return True
    if isinstance(exc, sa_exc.SQLAlchemyError):  # a bug in how SQLAlchemy is used
        return None
    return _classify_dbapi(exc)


def _classify_dbapi(exc: BaseException) -> bool | None:
    if isinstance(exc, sqlite3.Error):
        code = getattr(exc, "sqlite_errorcode", None)
        if code is not None:
            return (code & 0xFF) in _SQLITE_CODES
        message = str(exc).lower()
        return any(part in message for part in _SQLITE_MESSAGES)
    if psycopg2 is not None and isinstance(exc, psycopg2.Error):
        code = getattr(exc, "pgcode", None)
        if code:
            return code[:2] in _PG_CLASSES or code in _PG_CODES
        # No SQLSTATE: the client library failed (refused, reset, closed, timed out), or the
        # error was built in Python rather than received.
        return isinstance(
            exc,
            psycopg2.OperationalError
            | psycopg2.InterfaceError
            | psycopg2.errors.ReadOnlySqlTransaction
            | psycopg2.errors.IdleInTransactionSessionTimeout,
        )
    return None


def describe(exc: BaseException) -> str:
    """One short line for the log: the DB-API error's class and first line."""
    if isinstance(exc, DatabaseUnavailable) and exc.__cause__ is not None:
        exc = exc.__cause__
    if isinstance(exc, sa_exc.DBAPIError) and exc.orig is not None:
        exc = exc.orig  # SQLAlchemy's text goes on with the statement and its parameters
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0][:200]}" if lines else type(exc).__name__


# --- one log line per outage, not one per request ------------------------------------------
_log_lock = threading.Lock()
_last_logged = 0.0
_suppressed = 0
LOG_EVERY_SECONDS = 10.0


def log_unavailable(where: str, exc: BaseException) -> None:
    """Log that the database is unavailable, at most once every 10 s per process (with how
    many times it happened meanwhile), so an outage does not flood the logs."""
    global _last_logged, _suppressed
    now = time.monotonic()
    with _log_lock:
        if now - _last_logged < LOG_EVERY_SECONDS:
            _suppressed += 1
            return
        _last_logged, repeated, _suppressed = now, _suppressed, 0
    log_event(
        APP_LOGGER,
        "database_unavailable",
        logging.WARNING,
        where=where,
        error=describe(exc),
        repeated=repeated,
    )
