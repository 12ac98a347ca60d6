"""The database engine, created lazily once per process (workers fork after import)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, event, text
from sqlmodel import Session, create_engine

from energyapp.file_modes import FILE_MODE, private_dir, private_file, tighten
from energyapp.settings import get_settings

_engine: Engine | None = None
_engine_pid: int | None = None


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # noqa: ANN001 - DB-API objects
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")  # readers never block the writer
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _private_sqlite_file(path: Path) -> None:
    """The database file exists with mode 0600 before SQLite opens it: SQLite gives its -wal
    and -shm files the database file's mode. A new directory is 0700."""
    if not path.parent.exists():
        private_dir(path.parent)
    private_file(path)
    for side in ("-wal", "-shm", "-journal"):
        tighten(path.with_name(path.name + side), FILE_MODE)


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[1].split("?", 1)[0] if "///" in url else ""
        if path and path != ":memory:":
            _private_sqlite_file(Path(path))
        engine = create_engine(url, connect_args={"check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    settings = get_settings()
    # One connection per blocking thread at most, so threads never wait for the pool.
    return create_engine(url, pool_pre_ping=True, pool_size=10,
                         max_overflow=max(0, settings.blocking_threads - 10))


def get_engine() -> Engine:
    global _engine, _engine_pid
    if _engine is None or _engine_pid != os.getpid():
        _engine = make_engine(get_settings().db_url)
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
