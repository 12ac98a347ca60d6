"""The database engine, created lazily once per process (workers fork after import).

The application's engine (`get_engine`) never waits forever and never crashes the worker:

- PostgreSQL: every wait on the server (connecting, a statement, a result) is bounded by
  `db_timeout_seconds`, through psycopg2's wait callback, so a server that accepts
  connections but never answers fails the request with "database unavailable" instead of
  holding a thread forever; `statement_timeout` bounds the same work on the server side, and
  `pool_timeout` a wait for a free connection.
- SQLite: `busy_timeout` is `db_timeout_seconds`. A pooled connection whose files changed
  writability since it opened (made read-only, immutable, or writable again) is replaced at
  checkout; one whose `-shm` can no longer be written is never used or closed again (SQLite
  maps that file: writing through the mapping would kill the process with SIGBUS).

Errors keep their driver's type; `energyapp.db.failures.database_unavailable` tells the API's
error handlers, the chat stream and the UI's gate which ones mean "unavailable" (503, a Spanish
message) rather than a bug. Migrations (`make_engine(url)`) keep no time limit.
"""

from __future__ import annotations

import ctypes
import errno
import logging
import math
import os
import select
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event, exc, text
from sqlalchemy.engine import make_url
from sqlmodel import Session, create_engine

from energyapp.db.failures import database_unavailable, log_unavailable
from energyapp.file_modes import FILE_MODE, private_dir, private_file, tighten
from energyapp.logging_setup import APP_LOGGER, log_event
from energyapp.settings import get_settings

_engine: Engine | None = None
_engine_pid: int | None = None
DEFAULT_BUSY_MS = 5000  # SQLite, when no time limit is given (migrations)


def _sqlite_pragmas(busy_ms: int):  # noqa: ANN202 - an event listener
    def apply(dbapi_connection, _record) -> None:  # noqa: ANN001 - DB-API objects
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")  # readers never block the writer
        cursor.execute(f"PRAGMA busy_timeout={int(busy_ms)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA mmap_size=0")  # the main file is read, never mapped
        cursor.close()

    return apply


def _private_sqlite_file(path: Path) -> None:
    """The database file exists with mode 0600 before SQLite opens it: SQLite gives its -wal
    and -shm files the database file's mode. A new directory is 0700."""
    if not path.parent.exists():
        private_dir(path.parent)
    private_file(path)
    for side in ("-wal", "-shm", "-journal"):
        tighten(path.with_name(path.name + side), FILE_MODE)


def sqlite_path(url: str) -> Path | None:
    """The file of a `sqlite:///path` URL; None for memory or `file:` URI databases."""
    path = url.split("///", 1)[1].split("?", 1)[0] if "///" in url else ""
    if not path or path == ":memory:" or path.startswith("file:"):
        return None
    return Path(path)


def make_engine(url: str, *, timeout: float | None = None) -> Engine:
    """An engine for `url`. `timeout` (seconds) bounds every wait on the database: the
    application passes `db_timeout_seconds`; migrations pass nothing and may run long."""
    if url.startswith("sqlite"):
        path = sqlite_path(url)
        if path is not None:
            _private_sqlite_file(path)
        busy_ms = int(timeout * 1000) if timeout else DEFAULT_BUSY_MS
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": busy_ms / 1000}
        )
        event.listen(engine, "connect", _sqlite_pragmas(busy_ms))
        if path is not None:
            _SqliteFileGuard(path).install(engine)
        return engine
    settings = get_settings()
    connect_args: dict[str, Any] = {}
    pool_args: dict[str, Any] = {}
    if timeout:
        _install_wait_callback()
        connect_args["connection_factory"] = _timed_connection(timeout)
        connect_args["connect_timeout"] = max(2, math.ceil(timeout))  # libpq's own, blocking use
        options = make_url(url).query.get("options")
        limit = f"-c statement_timeout={int(timeout * 1000)}"
        connect_args["options"] = f"{options} {limit}" if isinstance(options, str) else limit
        pool_args["pool_timeout"] = timeout
    # One connection per blocking thread at most, so threads never wait for the pool.
    return create_engine(
        url,
        pool_pre_ping=True,
        pool_size=10,
        max_overflow=max(0, settings.blocking_threads - 10),
        connect_args=connect_args,
        **pool_args,
    )


def get_engine() -> Engine:
    global _engine, _engine_pid
    if _engine is None or _engine_pid != os.getpid():
        settings = get_settings()
        _engine = make_engine(settings.db_url, timeout=settings.db_timeout_seconds)
        _engine_pid = os.getpid()
    return _engine


def reset_engine() -> None:
    """Forget the engine (tests switch databases; settings may have changed)."""
    global _engine
    if _engine is not None and _engine_pid == os.getpid():
        _engine.dispose()
    _engine = None


@contextmanager
def session_scope() -> Iterator[Session]:
    """A session that commits on success and rolls back on any error."""
    with Session(get_engine(), expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def ping() -> None:
    with get_engine().connect() as connection:
        connection.execute(text("SELECT 1"))


def probe(timeout: float) -> str:
    """A real round trip to the database, and proof that it takes writes: "" when healthy,
    else a short reason ("read-only"). Raises whatever the driver raises when unreachable."""
    engine = get_engine()
    if engine.dialect.name != "sqlite":
        with engine.connect() as connection:
            read_only = connection.execute(
                text("SELECT current_setting('transaction_read_only')")
            ).scalar()
        return "read-only" if read_only == "on" else ""
    path = sqlite_path(engine.url.render_as_string(hide_password=False))
    if path is not None and shm_unsafe(path):
        return "read-only"  # and no new connection in this process may touch it now
    with engine.connect() as connection:  # reads the file through the WAL index
        connection.execute(text("SELECT count(*) FROM sqlite_master")).scalar()
    return _sqlite_write_probe(path, timeout) if path is not None else ""


_SQLITE_PROBLEMS = {
    sqlite3.SQLITE_READONLY: "read-only",
    sqlite3.SQLITE_BUSY: "locked",
    sqlite3.SQLITE_LOCKED: "locked",
    sqlite3.SQLITE_FULL: "full",
    sqlite3.SQLITE_IOERR: "disk I/O error",
}


def _sqlite_write_probe(path: Path, timeout: float) -> str:
    """Open the file as a new connection would and start a write that is rolled back: it
    fails when the file, its WAL or its directory cannot be written, and adds nothing to the
    WAL (the change never leaves the page cache). A pooled connection could still be writing
    through descriptors opened before the files changed."""
    connection = sqlite3.connect(
        path, timeout=timeout, isolation_level=None, check_same_thread=False
    )
    try:
        connection.execute("BEGIN")
        try:
            connection.execute("CREATE TABLE energyapp_health_probe (x)")
        finally:
            connection.execute("ROLLBACK")
    except sqlite3.Error as error:
        if not database_unavailable(error):
            raise
        code = (getattr(error, "sqlite_errorcode", 0) or 0) & 0xFF
        return _SQLITE_PROBLEMS.get(code, type(error).__name__)
    finally:
        connection.close()
    return ""


# --- PostgreSQL: bounded waits ----------------------------------------------------------------
_callback_lock = threading.Lock()
_callback_installed = False


def _timed_connection(timeout: float) -> type:
    """A psycopg2 connection class that carries its time limit for the wait callback."""
    import psycopg2.extensions

    return type(
        "TimedConnection", (psycopg2.extensions.connection,), {"energyapp_timeout": timeout}
    )


def _install_wait_callback() -> None:
    """psycopg2 in "green" mode: libpq never blocks; `_wait` waits on the socket instead, with
    the connection's time limit (none for connections that carry none, e.g. migrations)."""
    global _callback_installed
    import psycopg2.extensions

    with _callback_lock:
        if not _callback_installed:
            psycopg2.extensions.set_wait_callback(_wait)
            _callback_installed = True


def _wait(connection) -> None:  # noqa: ANN001 - a psycopg2 connection
    import psycopg2
    import psycopg2.extensions as ext

    timeout = getattr(connection, "energyapp_timeout", None)
    deadline = time.monotonic() + timeout if timeout else None
    while True:
        state = connection.poll()
        if state == ext.POLL_OK:
            return
        left = None if deadline is None else deadline - time.monotonic()
        if left is not None and left <= 0:
            # psycopg2 closes the connection when the callback raises: the pool drops it.
            raise psycopg2.OperationalError(
                f"could not receive data from server: no answer within {timeout:g} s "
                "(db_timeout_seconds)"
            )
        if state == ext.POLL_READ:
            select.select([connection.fileno()], [], [], left)
        elif state == ext.POLL_WRITE:
            select.select([], [connection.fileno()], [], left)
        else:
            raise psycopg2.OperationalError(f"bad state from poll: {state}")


# --- SQLite: files that change under a running worker ----------------------------------------
SHM_UNWRITABLE = (
    "unable to open database file: its -shm file can no longer be written "
    "(immutable, or a read-only file system)"
)


def shm_unsafe(path: Path) -> bool:
    """The `-shm` file of `path` exists and may not be written at all: immutable, or on a file
    system now read-only. Writing through a mapping of it made before raises SIGBUS (a mode
    such as 0444 is different: it only stops new opens, mappings keep working)."""
    try:
        fd = os.open(path.with_name(path.name + "-shm"), os.O_RDWR)
    except FileNotFoundError:
        return False
    except OSError as error:
        return error.errno in (errno.EPERM, errno.EROFS)
    os.close(fd)
    return False


class _SqliteFileGuard:
    """Keeps a worker alive, and its pool honest, when the SQLite files change under it.

    SQLite maps the `-shm` file into memory, once per process for all connections to the file
    (opened read-write if the file could be written then). When that file turns immutable or
    its file system read-only, the kernel answers the next write through the mapping with
    SIGBUS and the worker dies, whatever Python does; reads write there too (read marks), and
    so does closing the last connection (checkpoint). So, while this process holds such a
    mapping and the file is in that state, no connection is opened, checked out or closed:
    requests fail with "database unavailable" (503) and the pool's connections are set aside,
    open and unused, until the file can be written again. (A process that never mapped it
    read-write opens it read-only: reads work, writes fail with SQLITE_READONLY.)

    A pooled connection whose files changed writability since it opened (made read-only, or
    writable again) is replaced at checkout, and one that says "readonly" while the files are
    writable is dropped, so the pool follows the files both ways."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.shm = path.with_name(path.name + "-shm")
        self._lock = threading.Lock()
        self._mapped_rw: set[int] = set()  # ids of open connections sharing a writable mapping
        self._set_aside: list[Any] = []

    def install(self, engine: Engine) -> None:
        event.listen(engine, "do_connect", self._before_connect)
        event.listen(engine, "connect", self._on_connect)  # after the pragmas opened the WAL
        event.listen(engine, "checkout", self._on_checkout)
        event.listen(engine, "handle_error", self._on_error)
        dialect = engine.dialect
        close = dialect.do_close

        def do_close(dbapi_connection) -> None:  # noqa: ANN001 - a sqlite3 connection
            if self._mapped_rw and shm_unsafe(self.path):
                self._set_aside_connection(dbapi_connection)
                return
            with self._lock:
                self._mapped_rw.discard(id(dbapi_connection))
            close(dbapi_connection)

        dialect.do_close = do_close  # type: ignore[method-assign]
        dialect.do_terminate = do_close  # type: ignore[method-assign]

    def writability(self) -> tuple[bool, bool]:
        shm_writable = (
            os.access(self.shm, os.W_OK)
            if self.shm.exists()
            else os.access(self.path.parent, os.W_OK)
        )
        return os.access(self.path, os.W_OK), shm_writable

    def _refuse_if_unsafe(self) -> None:
        if self._set_aside and not shm_unsafe(self.path):
            self._release()
        if self._mapped_rw and shm_unsafe(self.path):
            log_unavailable("sqlite_shm", sqlite3.OperationalError(SHM_UNWRITABLE))
            raise sqlite3.OperationalError(SHM_UNWRITABLE)

    def _before_connect(self, _dialect, _record, _cargs, _cparams) -> None:  # noqa: ANN001
        self._refuse_if_unsafe()

    def _on_connect(self, dbapi_connection, record) -> None:  # noqa: ANN001
        record.info["energyapp_writability"] = self.writability()
        if not shm_unsafe(self.path):
            with self._lock:
                self._mapped_rw.add(id(dbapi_connection))

    def _on_checkout(self, _dbapi_connection, record, _proxy) -> None:  # noqa: ANN001
        self._refuse_if_unsafe()  # the pool then invalidates it: set aside by do_close
        now = self.writability()
        if record.info.get("energyapp_writability", now) != now:
            raise exc.DisconnectionError("SQLite files changed writability")  # a new one

    def _on_error(self, context) -> None:  # noqa: ANN001 - an ExceptionContext
        error = context.original_exception
        code = getattr(error, "sqlite_errorcode", 0) or 0
        if (code & 0xFF) == sqlite3.SQLITE_READONLY and all(self.writability()):
            context.is_disconnect = True  # opened while read-only: drop it, the next one writes

    def _set_aside_connection(self, dbapi_connection) -> None:  # noqa: ANN001
        with self._lock:
            self._set_aside.append(dbapi_connection)
            count = len(self._set_aside)
        # One extra reference that is never dropped: not even the garbage collector or the
        # interpreter's exit may close it (and touch the mapping) while the file is unwritable.
        ctypes.pythonapi.Py_IncRef(ctypes.py_object(dbapi_connection))
        log_event(
            APP_LOGGER,
            "sqlite_connection_set_aside",
            logging.WARNING,
            reason="-shm not writable",
            count=count,
        )

    def _release(self) -> None:
        with self._lock:
            connections, self._set_aside = self._set_aside, []
        for connection in connections:
            with self._lock:
                self._mapped_rw.discard(id(connection))
            try:
                connection.close()
            except sqlite3.Error:
                pass
        log_event(APP_LOGGER, "sqlite_connections_released", count=len(connections))
