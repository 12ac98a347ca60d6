"""Fixes for Reflex 0.10.1 until upstream has them.

1. Event payloads never reach a log. Reflex logs a websocket event it cannot resolve (an unknown
   handler name, an undecodable payload, an argument of the wrong type) together with its
   payload and router data: typed passwords and the handshake's session cookie would land in
   stdout (journald). A filter on Reflex's log handlers cuts the payload out.
2. A tab's socket closing runs a callback (the app forgets secrets shown in that tab).
3. The state manager's purge of expired files (reflex-dev/reflex#7060), below.

The single-worker state manager (StateManagerDisk) keeps each browser tab's UI state in
`.states/`, so it survives a restart. Its write loop wakes each time a tab's
debounced write is due (several times a second while answers stream) and every time lists and
stats every state file, although a file only expires after an hour of silence. With 320 files
a scan is ~1 ms of CPU; a deployment with hundreds of tabs keeps thousands. Scanning at most
once a minute removes expired files at most a minute late.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import re
import time
from collections.abc import Awaitable, Callable

from reflex.app import EventNamespace
from reflex.istate.manager.disk import StateManagerDisk
from reflex_base.utils import log as reflex_log

from energyapp.logging_setup import scrub

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


# Where Reflex's messages start quoting an event or its payload.
_PAYLOAD_MARKERS = re.compile(
    r"Event\(|Event data|event data|with value|Failed to deserialize|payload for handler")
REDACTED_PAYLOAD = "[event payload redacted]"


class RedactEventPayloads(logging.Filter):
    """Keeps the reason, drops the quoted event (and masks credential-shaped text)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        marker = _PAYLOAD_MARKERS.search(message)
        clean = scrub(message[:marker.start()] + REDACTED_PAYLOAD if marker else message)
        if clean != message or record.args:
            record.msg, record.args = clean, None
        if record.exc_info and record.exc_info[1] is not None and marker:
            record.exc_text = f"{type(record.exc_info[1]).__name__}: {REDACTED_PAYLOAD}"
            record.exc_info = None
        return True


_redactor = RedactEventPayloads()


def _filter_reflex_handlers() -> None:
    for handler in logging.getLogger("reflex").handlers:
        if _redactor not in handler.filters:
            handler.addFilter(_redactor)


def _after(original: Callable[[], None]) -> Callable[[], None]:
    @functools.wraps(original)
    def configure() -> None:
        original()
        _filter_reflex_handlers()

    configure.__energyapp_patch__ = True  # type: ignore[attr-defined]
    return configure


_disconnect_callbacks: list[Callable[[str], Awaitable[None]]] = []


def _on_disconnect_too(original):  # noqa: ANN001, ANN202 - wraps a method
    @functools.wraps(original)
    def on_disconnect(namespace: EventNamespace, sid: str) -> asyncio.Task | None:
        token = namespace.sid_to_token.get(sid)
        task = original(namespace, sid)
        if token:
            for callback in _disconnect_callbacks:
                asyncio.get_running_loop().create_task(callback(token))
        return task

    on_disconnect.__energyapp_patch__ = True
    return on_disconnect


def apply(on_disconnect: Callable[[str], Awaitable[None]] | None = None) -> None:
    """Idempotent: the app module may be imported more than once per process."""
    if not getattr(StateManagerDisk._purge_expired_states, "__energyapp_patch__", False):
        StateManagerDisk._purge_expired_states = _at_most_every(
            PURGE_INTERVAL_SECONDS, StateManagerDisk._purge_expired_states)
    if not getattr(reflex_log.configure, "__energyapp_patch__", False):
        reflex_log.configure = _after(reflex_log.configure)
    _filter_reflex_handlers()
    if not getattr(EventNamespace.on_disconnect, "__energyapp_patch__", False):
        EventNamespace.on_disconnect = _on_disconnect_too(EventNamespace.on_disconnect)
    if on_disconnect is not None and on_disconnect not in _disconnect_callbacks:
        _disconnect_callbacks.append(on_disconnect)
