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


def test_expired_state_files_are_still_removed(manager: StateManagerDisk,
                                               tmp_path: Path) -> None:
    stale = _stale_file(tmp_path, "old")
    manager._purge_expired_states()
    assert not stale.exists()


def test_a_second_scan_within_a_minute_is_skipped_and_the_next_one_runs(
        manager: StateManagerDisk, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
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
