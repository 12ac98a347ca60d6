"""The data directory, the SQLite database and its -wal/-shm files, and Reflex's .states are
private to the service's user (files 0600, directories 0700), also under a loose umask."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from energyapp.db.engine import make_engine
from energyapp.file_modes import protect_runtime_files


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def loose_umask() -> Iterator[None]:
    """A permissive umask (022) for the test; the process's umask is restored after it."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def test_a_new_sqlite_database_and_its_side_files_are_private(
    tmp_path: Path, loose_umask: None
) -> None:
    database = tmp_path / "data" / "energyapp.db"
    engine = make_engine(f"sqlite:///{database}")
    with engine.connect() as connection:
        connection.execute(text("CREATE TABLE t (x INTEGER)"))
        connection.execute(text("INSERT INTO t VALUES (1)"))
        connection.commit()
        wal, shm = Path(f"{database}-wal"), Path(f"{database}-shm")
        assert wal.exists() and shm.exists()  # WAL mode, connection open
        assert (mode(database.parent), mode(database), mode(wal), mode(shm)) == (
            0o700,
            0o600,
            0o600,
            0o600,
        )
    engine.dispose()


def test_an_existing_database_file_is_tightened(tmp_path: Path, loose_umask: None) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    database = shared / "energyapp.db"
    database.touch(mode=0o644)
    wal = Path(f"{database}-wal")
    wal.touch(mode=0o644)
    make_engine(f"sqlite:///{database}").dispose()
    assert mode(database) == 0o600 and mode(wal) == 0o600
    assert mode(shared) == 0o755  # an existing directory it did not create stays as it is


def test_memory_database_creates_no_file(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    make_engine("sqlite://").dispose()
    make_engine("sqlite:///:memory:").dispose()
    assert list(tmp_path.iterdir()) == []


def test_start_up_makes_reflex_states_private(
    tmp_path: Path, loose_umask: None, monkeypatch
) -> None:
    from reflex.istate.manager.disk import StateManagerDisk

    old_states, new_states = tmp_path / "old" / ".states", tmp_path / "new" / ".states"
    old_states.mkdir(parents=True, mode=0o755)
    data_dir = tmp_path / "data"
    data_dir.mkdir(mode=0o755)
    monkeypatch.setenv("REFLEX_STATES_WORKDIR", str(old_states))
    protect_runtime_files(data_dir, None)
    assert mode(old_states) == 0o700 and mode(data_dir) == 0o700

    monkeypatch.setenv("REFLEX_STATES_WORKDIR", str(new_states))
    manager = StateManagerDisk()  # as the server creates it, after start-up
    assert manager.states_directory == new_states and mode(new_states) == 0o700
    pickle = new_states / "token.pkl"
    pickle.write_bytes(b"state")  # how Reflex writes a tab's state
    assert mode(pickle) == 0o600
