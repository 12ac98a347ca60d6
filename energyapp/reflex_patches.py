"""A fix for Reflex 0.10.1 until upstream has one (reflex-dev/reflex#7060).

The single-worker state manager (StateManagerDisk) keeps each browser tab's UI state in
`.states/`, so it survives a restart. Its write loop wakes each time a tab's
debounced write is due (several times a second while answers stream) and every time lists and
stats every state file, although a file only expires after an hour of silence. With 320 files
a scan is ~1 ms of CPU; a deployment with hundreds of tabs keeps thousands. Scanning at most
once a minute removes expired files at most a minute late.
"""

from __future__ import annotations

import functools
import math
import time

from reflex.istate.manager.disk import StateManagerDisk

PURGE_INTERVAL_SECONDS = 60.0


def _at_most_every(interval: float, purge):  # noqa: ANN001, ANN202 - wraps a method
    @functools.wraps(purge)
    def throttled(manager: StateManagerDisk) -> None:
        now = time.monotonic()
        if now - manager.__dict__.get("_energyapp_last_purge", -math.inf) < interval:
            return
        manager.__dict__["_energyapp_last_purge"] = now
        purge(manager)

    throttled.__energyapp_patch__ = True
    return throttled


def apply() -> None:
    """Idempotent: the app module may be imported more than once per process."""
    if not getattr(StateManagerDisk._purge_expired_states, "__energyapp_patch__", False):
        StateManagerDisk._purge_expired_states = _at_most_every(
            PURGE_INTERVAL_SECONDS, StateManagerDisk._purge_expired_states)
