"""audit.log holds committed actions only: `audit.record` writes its line once the transaction
that records the action commits, and a rolled-back action leaves no line (issue #15)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from energyapp.db.engine import session_scope
from energyapp.logging_setup import AUDIT_LOGGER, configure_logging
from energyapp.services import audit
from energyapp.settings import get_settings
from tests.conftest import apply_env


@pytest.fixture
def audit_log(settings_env: dict, db_url: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    apply_env(monkeypatch, db_url=db_url)
    configure_logging(get_settings())
    return Path(settings_env["ENERGYAPP_LOG_DIR"]) / "audit.log"


def _lines(path: Path) -> str:
    for handler in logging.getLogger(AUDIT_LOGGER).handlers:
        handler.flush()
    return path.read_text() if path.exists() else ""


def test_a_rolled_back_action_writes_no_audit_line(audit_log: Path) -> None:
    with pytest.raises(RuntimeError), session_scope() as db:
        audit.record(db, "user_deactivated", target_type="user", target_id=7)
        raise RuntimeError("the change it recorded failed")
    assert "user_deactivated" not in _lines(audit_log)


def test_a_committed_action_is_written_after_its_commit(audit_log: Path) -> None:
    with session_scope() as db:
        audit.record(db, "user_activated", target_type="user", target_id=7, ip="10.0.0.1")
        db.flush()
        assert "user_activated" not in _lines(audit_log)  # not before the commit
    assert "user_activated target_type=user target_id=7 ip=10.0.0.1" in _lines(audit_log)


def test_an_explicit_rollback_drops_only_the_lines_it_undid(audit_log: Path) -> None:
    with session_scope() as db:
        audit.record(db, "first_try")
        db.rollback()
        audit.record(db, "second_try")
    written = _lines(audit_log)
    assert "first_try" not in written and "second_try" in written
