"""Reflex's disk state manager scans its state files at most once a minute."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from reflex.istate.manager.disk import StateManagerDisk

from energyapp import reflex_patches

HOUR = 3600


def _stale_file(directory: Path, name: str) -> Path:
    path = directory / f"{name}.pkl"
    path.write_bytes(b"state")
    old = time.time() - 2 * HOUR
    os.utime(path, (old, old))
    return path


@pytest.fixture
def manager(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> StateManagerDisk:
    reflex_patches.apply()
    reflex_patches.apply()  # applying twice wraps once
    manager = StateManagerDisk.__new__(StateManagerDisk)  # no start-up scan of the real dir
    manager.__dict__["states_directory"] = tmp_path
    manager.token_expiration = HOUR
    return manager


def test_expired_state_files_are_still_removed(manager: StateManagerDisk, tmp_path: Path) -> None:
    stale = _stale_file(tmp_path, "old")
    manager._purge_expired_states()
    assert not stale.exists()


def test_a_second_scan_within_a_minute_is_skipped_and_the_next_one_runs(
    manager: StateManagerDisk, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = [1000.0]
    monkeypatch.setattr(reflex_patches.time, "monotonic", lambda: clock[0])
    manager._purge_expired_states()
    stale = _stale_file(tmp_path, "old")

    clock[0] += reflex_patches.PURGE_INTERVAL_SECONDS - 1
    manager._purge_expired_states()
    assert stale.exists()

    clock[0] += 2
    manager._purge_expired_states()
    assert not stale.exists()


def test_the_app_module_applies_the_patch() -> None:
    import energyapp.energyapp  # noqa: F401

    assert getattr(StateManagerDisk._purge_expired_states, "__energyapp_patch__", False)


# --- credentials and logs -------------------------------------------------------------------------
def test_a_saved_tab_state_holds_no_cookie_or_authorization() -> None:
    import pickle

    import reflex as rx

    import energyapp.energyapp  # noqa: F401 - applies the patches

    root = rx.State(_reflex_internal_init=True)
    router_data = {
        "headers": {
            "cookie": "energyapp_session=GALLETA-VIVA",
            "authorization": "Bearer TOKEN-VIVO",
            "user-agent": "Firefox",
        },
        "sid": "s1",
        "token": "t1",
        "pathname": "/dashboard",
        "asPath": "/dashboard",
    }
    root.router_data = root._update_router_vars(router_data, {})
    saved = pickle.dumps(root)
    assert b"GALLETA-VIVA" not in saved and b"TOKEN-VIVO" not in saved
    assert root.router_data["headers"]["cookie"]  # the live state still has it for the gate
    restored = pickle.loads(saved)
    assert restored.router.headers.user_agent == "Firefox"


def test_reflex_log_lines_escape_control_characters_and_drop_payloads() -> None:
    import logging

    from energyapp.reflex_patches import RedactEventPayloads

    record = logging.LogRecord(
        "reflex.app",
        logging.ERROR,
        __file__,
        1,
        "[Reflex Frontend Exception]\n 2026 INFO energyapp.auth login_succeeded user_id=1\u2028x",
        None,
        None,
    )
    RedactEventPayloads().filter(record)
    assert "\n" not in record.getMessage() and "\u2028" not in record.getMessage()
    record = logging.LogRecord(
        "socketio.server",
        logging.ERROR,
        __file__,
        1,
        "message async handler error: Event data: %s",
        ({"password": "clave-canario"},),
        None,
    )
    RedactEventPayloads().filter(record)
    assert "clave-canario" not in record.getMessage()


def test_frontend_reports_are_rate_limited(caplog) -> None:
    import logging

    from energyapp import reflex_patches

    reflex_patches._frontend_window.update(start=0.0, count=0)
    with caplog.at_level(logging.WARNING, logger="energyapp"):
        for index in range(50):
            reflex_patches.log_frontend_exception(Exception(f"falso\nlinea {index}"))
    lines = [r for r in caplog.records if "frontend_error" in r.getMessage()]
    assert len(lines) == reflex_patches.FRONTEND_ERRORS_PER_MINUTE
    assert all("\n" not in r.getMessage() for r in lines)


# --- several app hosts ---------------------------------------------------------------------------
def test_a_tab_that_moved_host_keeps_its_token_and_a_duplicated_tab_does_not() -> None:
    """A socket record another instance left in Redis means the tab moved (Caddy keeps a
    browser on one host): same token, same state. The same instance seeing a second socket for
    one token is a duplicated tab: Reflex's new token."""
    import asyncio
    import os
    import pickle
    import uuid

    from tests.conftest import skip_unless

    skip_unless("redis")
    url = os.environ["ENERGYAPP_TEST_REDIS_URL"]
    from redis.asyncio import Redis
    from reflex.utils.token_manager import RedisTokenManager, SocketRecord

    import energyapp.energyapp  # noqa: F401 - applies the patches

    async def scenario() -> tuple:
        redis = Redis.from_url(url)
        try:
            here, dead_host = RedisTokenManager(redis), RedisTokenManager(redis)
            moved = f"tab-{uuid.uuid4()}"
            await redis.set(
                here._get_redis_key(moved),
                pickle.dumps(
                    SocketRecord(instance_id=dead_host.instance_id, sid="sid-on-dead-host")
                ),
                ex=60,
            )
            kept = await here.link_token_to_sid(moved, "sid-here")
            duplicated = f"tab-{uuid.uuid4()}"
            await here.link_token_to_sid(duplicated, "first-socket")
            second = await here.link_token_to_sid(duplicated, "second-socket")
            for token in (moved, duplicated):
                await redis.delete(here._get_redis_key(token))
            return kept, second
        finally:
            await redis.aclose()

    kept, second = asyncio.run(scenario())
    assert kept is None  # linked under its own token
    assert second is not None and second != "tab"
