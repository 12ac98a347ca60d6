"""Fixes for Reflex 0.10.1 until upstream has them.

1. Event payloads never reach a log. Reflex logs a websocket event it cannot resolve (an unknown
   handler name, an undecodable payload, an argument of the wrong type) together with its
   payload and router data: typed passwords and the handshake's session cookie would land in
   stdout (journald). A filter on Reflex's log handlers cuts the payload out.
   The same filter escapes control characters (a forged line break cannot forge a log line),
   also on Socket.IO's own loggers, which quote a malformed packet in their tracebacks.
2. A tab's socket closing runs a callback (the app forgets secrets shown in that tab).
3. A saved tab state (`.states/` with one worker, Redis with several) never holds the
   handshake's cookie or Authorization header: they are dropped from the router data when the
   state is pickled, and the next event brings them from its socket again.
4. What the browser reports through Reflex's public `handle_frontend_exception` event is logged
   escaped, cut and rate-limited (`log_frontend_exception`).
5. Several app hosts (Redis): a tab whose host died (or was drained) reconnects to another host
   with its own token, so it finds its state. Reflex keeps each token's socket record in Redis
   for an hour and takes a reconnect whose record names another instance for a duplicate tab,
   handing it a new, empty state. Caddy keeps a browser on one host (sticky cookie), so a
   record of another instance means the tab moved: the record is dropped and the token kept.
   A tab duplicated on the same host still gets a new token (Reflex's own check).
6. The state manager's purge of expired files (reflex-dev/reflex#7060), below.

The single-worker state manager (StateManagerDisk) keeps each browser tab's UI state in
`.states/`, so it survives a restart. Its write loop wakes each time a tab's
debounced write is due (several times a second while answers stream) and every time lists and
stats every state file, although a file only expires after an hour of silence. A scan's CPU
grows with the files, and a deployment with hundreds of tabs keeps thousands (docs/benchmarks.md,
Targets, "Fixed in the previous run"). Scanning at most once a minute removes expired files at
most a minute late.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import math
import pickle
import re
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from reflex.app import EventNamespace
from reflex.istate.data import HeaderData, RouterData
from reflex.istate.manager.disk import StateManagerDisk
from reflex.state import BaseState, State
from reflex.utils.token_manager import RedisTokenManager
from reflex_base.utils import log as reflex_log

from energyapp.logging_setup import scrub

PURGE_INTERVAL_SECONDS = 60.0

# Set on each wrapper, so that applying twice wraps once.
_PATCH_MARK = "__energyapp_patch__"
_Function = TypeVar("_Function", bound=Callable[..., Any])


def _wrap_once(owner: object, name: str, wrap: Callable[[_Function], _Function]) -> None:
    """`owner.name = wrap(owner.name)`, unless it is wrapped already. By name, with setattr:
    mypy refuses assignments to a method (and misreads their types)."""
    original = getattr(owner, name)
    if not getattr(original, _PATCH_MARK, False):
        wrapper = wrap(original)
        setattr(wrapper, _PATCH_MARK, True)
        setattr(owner, name, wrapper)


def _at_most_every(
    interval: float, purge: Callable[[StateManagerDisk], object]
) -> Callable[[StateManagerDisk], None]:
    @functools.wraps(purge)
    def throttled(manager: StateManagerDisk) -> None:
        now = time.monotonic()
        if now - manager.__dict__.get("_energyapp_last_purge", -math.inf) < interval:
            return
        manager.__dict__["_energyapp_last_purge"] = now
        purge(manager)

    return throttled


# Where Reflex's messages start quoting an event or its payload.
_PAYLOAD_MARKERS = re.compile(
    r"Event\(|Event data|event data|with value|Failed to deserialize|payload for handler"
)
REDACTED_PAYLOAD = "[event payload redacted]"


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def escape_controls(text: str) -> str:
    """One log record, one line: every control character as a visible escape."""
    return _CONTROL.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


class RedactEventPayloads(logging.Filter):
    """Keeps the reason, drops the quoted event (and masks credential-shaped text)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        marker = _PAYLOAD_MARKERS.search(message)
        clean = escape_controls(
            scrub(message[: marker.start()] + REDACTED_PAYLOAD if marker else message)
        )
        if clean != message or record.args:
            record.msg, record.args = clean, None
        if record.exc_info and record.exc_info[1] is not None and marker:
            record.exc_text = f"{type(record.exc_info[1]).__name__}: {REDACTED_PAYLOAD}"
            record.exc_info = None
        return True


_redactor = RedactEventPayloads()


SOCKET_LOGGERS = ("socketio.server", "engineio.server")


def _filter_reflex_handlers() -> None:
    for handler in logging.getLogger("reflex").handlers:
        if _redactor not in handler.filters:
            handler.addFilter(_redactor)
    for name in SOCKET_LOGGERS:  # their records are created on these loggers
        if _redactor not in logging.getLogger(name).filters:
            logging.getLogger(name).addFilter(_redactor)


# --- saved states hold no credential ------------------------------------------------------------
CREDENTIAL_HEADERS = frozenset({"cookie", "authorization", "proxy-authorization"})


def _headers_without_credentials(headers: HeaderData) -> HeaderData:
    raw = {k: v for k, v in headers.raw_headers.items() if k.lower() not in CREDENTIAL_HEADERS}
    return dataclasses.replace(headers, cookie="", raw_headers=type(headers.raw_headers)(**raw))


def _without_credentials(value: object) -> object:
    if isinstance(value, HeaderData):
        return _headers_without_credentials(value)
    if isinstance(value, RouterData):
        return dataclasses.replace(value, headers=_headers_without_credentials(value.headers))
    if isinstance(value, dict) and isinstance(value.get("headers"), dict):
        headers = {k: v for k, v in value["headers"].items() if k.lower() not in CREDENTIAL_HEADERS}
        return {**value, "headers": headers}
    return value


def _pickled_without_credentials(
    getstate: Callable[[BaseState], dict[str, Any]],
) -> Callable[[BaseState], dict[str, Any]]:
    @functools.wraps(getstate)
    def getstate_without_credentials(state: BaseState) -> dict[str, Any]:
        fields = getstate(state)
        if type(state) is not State:
            return fields
        return {name: _without_credentials(value) for name, value in fields.items()}

    return getstate_without_credentials


# --- what the browser reports ------------------------------------------------------------------
FRONTEND_ERRORS_PER_MINUTE = 20
_frontend_window = {"start": 0.0, "count": 0}


def log_frontend_exception(exception: Exception) -> None:
    """Reflex's frontend exception handler: anyone can send one, so escape, cut, rate-limit."""
    now = time.monotonic()
    if now - _frontend_window["start"] > 60:
        _frontend_window.update(start=now, count=0)
    _frontend_window["count"] += 1
    if _frontend_window["count"] > FRONTEND_ERRORS_PER_MINUTE:
        return
    logging.getLogger("energyapp").warning(
        "frontend_error message=%s", escape_controls(scrub(str(exception)))[:300]
    )


def _after(original: Callable[[], None]) -> Callable[[], None]:
    @functools.wraps(original)
    def configure() -> None:
        original()
        _filter_reflex_handlers()

    return configure


DisconnectCallback = Callable[[str], Coroutine[Any, Any, None]]
_disconnect_callbacks: list[DisconnectCallback] = []
_OnDisconnect = Callable[[EventNamespace, str], asyncio.Task[Any] | None]


def _on_disconnect_too(original: _OnDisconnect) -> _OnDisconnect:
    @functools.wraps(original)
    def on_disconnect(namespace: EventNamespace, sid: str) -> asyncio.Task[Any] | None:
        token = namespace.sid_to_token.get(sid)
        task = original(namespace, sid)
        if token:
            for callback in _disconnect_callbacks:
                asyncio.get_running_loop().create_task(callback(token))
        return task

    return on_disconnect


# --- several app hosts: a tab that changed host keeps its token ----------------------------------
def _take_over_from_other_hosts(
    link: Callable[[RedisTokenManager, str, str], Awaitable[str | None]],
) -> Callable[[RedisTokenManager, str, str], Coroutine[Any, Any, str | None]]:
    @functools.wraps(link)
    async def link_token_to_sid(manager: RedisTokenManager, token: str, sid: str) -> str | None:
        try:
            key = manager._get_redis_key(token)
            raw = await manager.redis.get(key)
            # Reflex's own record, in Reflex's own format, from the app's own Redis.
            record = pickle.loads(raw) if raw is not None else None  # noqa: S301
            if record is not None and record.instance_id != manager.instance_id:
                await manager.redis.delete(key)  # the tab moved here: same tab, same state
        except Exception:
            logging.getLogger("energyapp").exception("token_record_check_failed")
        return await link(manager, token, sid)

    return link_token_to_sid


def apply(on_disconnect: DisconnectCallback | None = None) -> None:
    """Idempotent: the app module may be imported more than once per process."""
    _wrap_once(
        StateManagerDisk,
        "_purge_expired_states",
        functools.partial(_at_most_every, PURGE_INTERVAL_SECONDS),
    )
    _wrap_once(reflex_log, "configure", _after)
    _filter_reflex_handlers()
    _wrap_once(State, "__getstate__", _pickled_without_credentials)
    _wrap_once(RedisTokenManager, "link_token_to_sid", _take_over_from_other_hosts)
    _wrap_once(EventNamespace, "on_disconnect", _on_disconnect_too)
    if on_disconnect is not None and on_disconnect not in _disconnect_callbacks:
        _disconnect_callbacks.append(on_disconnect)
