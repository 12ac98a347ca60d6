"""The database engine, created lazily once per process (workers fork after import)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, event, text
from sqlmodel import Session, create_engine

from energyapp.settings import get_settings

_engine: Engine | None = None
_engine_pid: int | None = None


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # noqa: ANN001 - DB-API objects
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")  # readers never block the writer
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
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
