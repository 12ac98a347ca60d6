"""The refusal log's rate limits (per IP, in total, one summary per window), and log files that
cannot be written (disk full, permissions) turning /api/health degraded."""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path

import pytest

from energyapp.logging_setup import (
    APP_LOGGER,
    AUDIT_LOGGER,
    AUTH_LOGGER,
    configure_logging,
    log_event,
    write_failures,
)
from energyapp.services import security_log
from energyapp.services.security_log import _Limiter
from energyapp.settings import get_settings
from tests.conftest import apply_env


class Clock:
    def __init__(self) -> None:
        self.now = 5000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def limiter(monkeypatch: pytest.MonkeyPatch) -> tuple[_Limiter, Clock]:
    monkeypatch.setattr(security_log, "PER_IP_PER_MINUTE", 3)
    monkeypatch.setattr(security_log, "TOTAL_PER_MINUTE", 5)
    clock = Clock()
    return _Limiter(clock=clock), clock


def test_each_ip_gets_a_burst_then_a_steady_trickle(limiter) -> None:
    lim, clock = limiter
    assert [lim.admit("10.0.0.1")[0] for _ in range(5)] == [True, True, True, False, False]
    assert lim.admit("10.0.0.2")[0]  # another address has its own bucket
    clock.now += 20  # 3 per minute: one more line every 20 s
    assert lim.admit("10.0.0.1")[0] and not lim.admit("10.0.0.1")[0]


def test_the_total_is_capped_whatever_the_number_of_addresses(limiter) -> None:
    lim, _ = limiter
    admitted = [lim.admit(f"10.0.1.{n}")[0] for n in range(20)]
    assert admitted.count(True) == 5 and not any(admitted[5:])


def test_one_summary_per_window_with_what_was_held_back(limiter) -> None:
    lim, clock = limiter
    for n in range(10):
        assert lim.admit(f"10.0.2.{n % 2}")[1] is None
    clock.now += security_log.WINDOW_SECONDS / 2
    assert lim.admit("10.0.2.9")[1] is None  # the window is not over yet
    clock.now += security_log.WINDOW_SECONDS / 2
    allowed, report = lim.admit("10.0.2.9")
    assert report == (5, 2) and allowed
    clock.now += security_log.WINDOW_SECONDS
    assert lim.admit("10.0.2.9")[1] is None  # nothing held back since: no summary


def test_memory_stays_bounded_under_a_spread_flood(monkeypatch, limiter) -> None:
    monkeypatch.setattr(security_log, "MAX_TRACKED_IPS", 50)
    lim, clock = limiter
    for n in range(500):
        lim.admit(f"10.1.{n // 250}.{n % 250}")
    assert len(lim.per_ip) <= 50 and len(lim.suppressed_ips) <= 50
    clock.now += security_log.WINDOW_SECONDS
    lim.admit("10.9.9.9")
    assert len(lim.per_ip) <= 2  # idle addresses forgotten with the window


def test_request_ids_and_short_hashes() -> None:
    assert len(security_log.new_request_id()) == 16
    assert security_log.new_request_id() != security_log.new_request_id()
    assert security_log.short_hash("tab-token") == security_log.short_hash("tab-token")
    assert len(security_log.short_hash("tab-token")) == 12
    assert security_log.short_hash(None) is None


# --- log files that cannot be written ----------------------------------------------------------
def _handler(file_name: str) -> logging.FileHandler:
    for name in (APP_LOGGER, AUTH_LOGGER, AUDIT_LOGGER):
        for handler in logging.getLogger(name).handlers:
            if getattr(handler, "baseFilename", "").endswith(file_name):
                return handler
    raise AssertionError(file_name)


@pytest.mark.parametrize("rotation", ["internal", "external"])
def test_a_failed_write_is_remembered_until_one_works(
    settings_env: dict,
    monkeypatch: pytest.MonkeyPatch,
    rotation: str,
    capsys: pytest.CaptureFixture,
) -> None:
    apply_env(monkeypatch, log_rotation=rotation)
    configure_logging(get_settings())
    handler = _handler("audit.log")
    good = handler.stream
    assert write_failures() == {}
    full = open("/dev/full", "w")  # every write fails with ENOSPC
    monkeypatch.setattr(handler, "reopenIfNeeded", lambda: None, raising=False)
    handler.stream = full
    log_event(AUDIT_LOGGER, "lost_line")
    assert write_failures() == {"audit.log": "OSError: No space left on device"}
    log_event(AUTH_LOGGER, "other_files_still_work")
    assert set(write_failures()) == {"audit.log"}
    handler.stream = good
    with contextlib.suppress(OSError):  # its buffer still holds the lost line
        full.close()
    log_event(AUDIT_LOGGER, "written_again")
    assert write_failures() == {}
    assert "written_again" in (Path(settings_env["ENERGYAPP_LOG_DIR"]) / "audit.log").read_text()
    assert "Logging error" in capsys.readouterr().err  # the journal still hears of it


def test_health_is_degraded_while_a_log_cannot_be_written(
    api, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert api.get("/api/health").json()["logs"] == {"ok": True, "detail": ""}
    handler = _handler("app.log")
    good = handler.stream
    full = open("/dev/full", "w")
    handler.stream = full
    try:
        log_event(APP_LOGGER, "lost_line")
        response = api.get("/api/health")
        assert response.status_code == 503
        body = response.json()
        assert body["status"] == "degraded" and body["failing"] == ["logs"]
        assert body["logs"] == {"ok": False, "detail": "app.log: OSError: No space left on device"}
    finally:
        handler.stream = good
        with contextlib.suppress(OSError):
            full.close()
    log_event(APP_LOGGER, "written_again")
    assert api.get("/api/health").json()["status"] == "ok"
