"""Logs: three rotated files, one event per line, and never a credential."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from energyapp.logging_setup import (
    APP_LOGGER,
    AUDIT_LOGGER,
    AUTH_LOGGER,
    configure_logging,
    log_event,
)
from energyapp.settings import get_settings
from tests.conftest import apply_env

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlLXZhbHVl"


def _flush() -> None:
    for name in (APP_LOGGER, AUTH_LOGGER, AUDIT_LOGGER):
        for handler in logging.getLogger(name).handlers:
            handler.flush()


@pytest.fixture
def log_dir(settings_env: dict) -> Path:
    configure_logging(get_settings())
    return Path(settings_env["ENERGYAPP_LOG_DIR"])


def test_each_logger_writes_its_own_file(log_dir: Path) -> None:
    log_event(AUTH_LOGGER, "login_failed", email="ana@empresa.cl", ip="10.0.0.1")
    log_event(AUDIT_LOGGER, "conversation_reassigned", actor_id=1, target_id=7)
    log_event(APP_LOGGER, "started", workers=1)
    _flush()
    auth = (log_dir / "auth.log").read_text()
    audit = (log_dir / "audit.log").read_text()
    app = (log_dir / "app.log").read_text()
    assert "login_failed email=ana@empresa.cl ip=10.0.0.1" in auth
    assert "conversation_reassigned actor_id=1 target_id=7" in audit
    assert "started workers=1" in app
    assert "login_failed" not in app and "conversation_reassigned" not in app
    first = auth.splitlines()[0].split(" ")
    assert first[0].endswith("Z") and "T" in first[0] and first[1] == "INFO"


def test_one_event_per_line_even_with_newlines_in_values(log_dir: Path) -> None:
    log_event(AUTH_LOGGER, "login_failed", email="x@y.cl\nFORGED 2026 INFO fake_event")
    _flush()
    lines = (log_dir / "auth.log").read_text().splitlines()
    assert len(lines) == 1 and "FORGED" in lines[0]


@pytest.mark.parametrize(
    "emit",
    [
        lambda: log_event(AUTH_LOGGER, "login", password="hunter2-secret"),
        lambda: log_event(AUTH_LOGGER, "login", totp_code="123456", token=JWT),
        lambda: log_event(AUTH_LOGGER, "api_call", header=f"Bearer {JWT}"),
        lambda: log_event(APP_LOGGER, "request", cookie="energyapp_session=abcdef123456"),
        lambda: logging.getLogger(APP_LOGGER).warning("raw message with %s", f"token={JWT}"),
        lambda: logging.getLogger(AUTH_LOGGER).info("password=hunter2-secret totp=123456"),
        lambda: log_event(AUDIT_LOGGER, "totp_enabled", totp_secret="JBSWY3DPEHPK3PXP"),
    ],
)
def test_credentials_never_reach_a_log(log_dir: Path, emit, capsys: pytest.CaptureFixture) -> None:
    emit()
    _flush()
    written = "".join(p.read_text() for p in log_dir.glob("*.log")) + capsys.readouterr().out
    assert written.strip()
    for secret in ("hunter2-secret", JWT, "abcdef123456", "123456", "JBSWY3DPEHPK3PXP"):
        assert secret not in written
    assert "[redacted]" in written


def test_files_rotate_by_size_and_keep_the_configured_count(
    settings_env: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    apply_env(monkeypatch, log_max_bytes="20000", log_backup_count="2")
    configure_logging(get_settings())
    for index in range(2000):
        log_event(APP_LOGGER, "filler", index=index, text="x" * 40)
    _flush()
    files = sorted(p.name for p in Path(settings_env["ENERGYAPP_LOG_DIR"]).glob("app.log*"))
    assert files == ["app.log", "app.log.1", "app.log.2"]
    assert all(
        p.stat().st_size <= 20000 for p in Path(settings_env["ENERGYAPP_LOG_DIR"]).glob("app.log*")
    )


def test_stdout_gets_every_event_for_the_journal(
    log_dir: Path, capsys: pytest.CaptureFixture
) -> None:
    log_event(AUDIT_LOGGER, "user_deactivated", target_id=5)
    assert "user_deactivated target_id=5" in capsys.readouterr().out


def _write_lines(log_dir: str, worker: int, count: int) -> None:
    import os

    os.environ.update(
        {
            "ENERGYAPP_LOG_DIR": log_dir,
            "ENERGYAPP_LOG_ROTATION": "external",
            "ENERGYAPP_SECRET_KEY": "x" * 40,
        }
    )
    from energyapp.logging_setup import configure_logging as configure
    from energyapp.settings import get_settings as settings

    configure(settings(), to_stdout=False)
    for index in range(count):
        log_event(APP_LOGGER, "worker_line", worker=worker, index=index, pad="y" * 200)


def test_several_workers_lose_no_line_across_rotations(tmp_path: Path) -> None:
    """With several workers each process appends and logrotate renames the file: every line
    arrives once, whole, in app.log or a rotated file."""
    import multiprocessing
    import re
    import time

    log_dir = tmp_path / "logs"
    log_dir.mkdir()
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_write_lines, args=(str(log_dir), n, 3000)) for n in range(3)]
    for process in workers:
        process.start()
    rotations = 0
    while any(p.is_alive() for p in workers):
        time.sleep(0.05)
        if (log_dir / "app.log").exists():  # what logrotate's "create" mode does
            rotations += 1
            (log_dir / "app.log").rename(log_dir / f"app.log.{rotations}")
    for process in workers:
        process.join()
        assert process.exitcode == 0
    lines = [line for path in log_dir.glob("app.log*") for line in path.read_text().splitlines()]
    pattern = re.compile(r"^\S+Z INFO energyapp worker_line worker=(\d) index=(\d+) pad=y{200}$")
    seen = [pattern.match(line) for line in lines]
    assert all(seen), "a line was split or interleaved"
    keys = [(m.group(1), m.group(2)) for m in seen]
    assert len(keys) == len(set(keys)) == 9000
    assert rotations >= 3


def test_measurements_named_like_secrets_stay_readable(
    log_dir: Path, capsys: pytest.CaptureFixture
) -> None:
    log_event(APP_LOGGER, "answer_finished", first_token_ms=412, completion_tokens=500)
    assert "first_token_ms=412 completion_tokens=500" in capsys.readouterr().out


# --- file permissions ------------------------------------------------------------------------
def _mode(path: Path) -> int:
    import stat

    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def loose_umask():
    """Start from a permissive umask (022); the process's umask is restored afterwards."""
    import os

    previous = os.umask(0o022)
    yield
    os.umask(previous)


def test_log_files_and_directory_are_private(
    settings_env: dict, loose_umask, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    apply_env(monkeypatch, log_max_bytes="10000", log_backup_count="2")
    configure_logging(get_settings())
    log_dir = Path(settings_env["ENERGYAPP_LOG_DIR"])
    assert _mode(log_dir) == 0o700
    for index in range(500):  # past a rotation: the new file is private too
        log_event(APP_LOGGER, "filler", index=index, text="x" * 40)
    _flush()
    files = sorted(log_dir.iterdir())
    assert {p.name for p in files} >= {"app.log", "app.log.1", "auth.log", "audit.log"}
    assert {p.name: _mode(p) for p in files} == {p.name: 0o600 for p in files}
    assert os.umask(0o022) == 0o077  # what the process creates from now on is private


def test_start_up_tightens_existing_logs_and_data_dir(
    settings_env: dict, loose_umask, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    log_dir, data_dir = (Path(settings_env[k]) for k in ("ENERGYAPP_LOG_DIR", "ENERGYAPP_DATA_DIR"))
    states = tmp_path / ".states"
    for directory in (log_dir, data_dir, states):
        directory.mkdir(mode=0o755)
    for name in ("auth.log", "auth.log.1", "app.log"):
        (log_dir / name).touch(mode=0o644)
    monkeypatch.setenv("REFLEX_STATES_WORKDIR", str(states))
    configure_logging(get_settings(), to_stdout=False)
    assert [_mode(d) for d in (log_dir, data_dir, states)] == [0o700] * 3
    assert {p.name: _mode(p) for p in log_dir.iterdir()} == {
        "auth.log": 0o600,
        "auth.log.1": 0o600,
        "app.log": 0o600,
        "audit.log": 0o600,
    }


def test_the_database_created_at_start_up_is_private(settings_env: dict, loose_umask) -> None:
    """Fresh data directory: logging configured, then the engine's first connection."""
    from energyapp.db.engine import get_engine

    configure_logging(get_settings(), to_stdout=False)
    with get_engine().connect() as connection:
        connection.exec_driver_sql("CREATE TABLE t (x INTEGER)")
        connection.commit()
        data_dir = Path(settings_env["ENERGYAPP_DATA_DIR"])
        assert {p.name: _mode(p) for p in data_dir.iterdir()} == {
            "energyapp.db": 0o600,
            "energyapp.db-wal": 0o600,
            "energyapp.db-shm": 0o600,
        }
        assert _mode(data_dir) == 0o700
