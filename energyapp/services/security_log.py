"""Refused requests leave a trace: `authorization_failed` lines in auth.log.

Every API answer 401, 403 or 404 from a service's refusal (another user's object, a demo
account's refused change, a forged or expired token) and every event the websocket gate refuses
writes one line with the user id (when the credential names one), the client IP, the
User-Agent and a request id. A flood cannot fill the disk: per client IP and in total, lines
pass through token buckets (`PER_IP_PER_MINUTE`, `TOTAL_PER_MINUTE`, per worker); what they hold
back is counted and reported once per window in one `authorization_failed_suppressed` line
(written with the next line that passes or the next refusal after the window).
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from energyapp.logging_setup import AUTH_LOGGER, log_event

EVENT = "authorization_failed"
PER_IP_PER_MINUTE = 30  # lines per client IP (burst up to this many, then one every 2 s)
TOTAL_PER_MINUTE = 300  # lines from every IP together
WINDOW_SECONDS = 60.0  # how often a "suppressed" summary may be written
MAX_TRACKED_IPS = 10_000  # beyond this, IPs not seen for a window are forgotten
MAX_FIELD = 200  # User-Agent, path and event names are cut to this length


def new_request_id() -> str:
    return secrets.token_hex(8)


def short_hash(value: str | None) -> str | None:
    """A stable 12-character reference to a value that must not be logged (a tab's token)."""
    return (
        hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:12] if value else None
    )


@dataclass
class _Bucket:
    tokens: float
    updated: float

    def take(self, now: float, per_minute: int) -> bool:
        self.tokens = min(per_minute, self.tokens + (now - self.updated) * per_minute / 60.0)
        self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


@dataclass
class _Limiter:
    clock: Any = time.monotonic
    per_ip: dict[str, _Bucket] = field(default_factory=dict)
    total: _Bucket | None = None
    window_started: float | None = None
    suppressed: int = 0
    suppressed_ips: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def admit(self, ip: str) -> tuple[bool, tuple[int, int] | None]:
        """Whether a line for `ip` may be written now, and the (count, IPs) of a finished
        window's suppressed lines to report first, if any."""
        with self.lock:
            now = self.clock()
            if self.window_started is None:
                self.window_started = now
            report = None
            if now - self.window_started >= WINDOW_SECONDS:
                if self.suppressed:
                    report = (self.suppressed, len(self.suppressed_ips))
                self.window_started, self.suppressed = now, 0
                self.suppressed_ips.clear()
                self._forget_idle(now)
            if self.total is None:
                self.total = _Bucket(TOTAL_PER_MINUTE, now)
            bucket = self.per_ip.get(ip)
            if bucket is None:
                bucket = _Bucket(PER_IP_PER_MINUTE, now)
                if len(self.per_ip) < MAX_TRACKED_IPS:
                    self.per_ip[ip] = bucket
            # The IP's bucket first: one noisy client does not use up the others' share.
            allowed = bucket.take(now, PER_IP_PER_MINUTE) and self.total.take(now, TOTAL_PER_MINUTE)
            if not allowed:
                self.suppressed += 1
                if len(self.suppressed_ips) < MAX_TRACKED_IPS:
                    self.suppressed_ips.add(ip)
            return allowed, report

    def _forget_idle(self, now: float) -> None:
        if len(self.per_ip) >= MAX_TRACKED_IPS // 2:
            for ip in [ip for ip, b in self.per_ip.items() if now - b.updated >= WINDOW_SECONDS]:
                del self.per_ip[ip]


_limiter = _Limiter()


def reset() -> None:
    """Forget every bucket and count (tests)."""
    global _limiter
    _limiter = _Limiter()


def admit(ip: str | None) -> bool:
    """True when a line for this IP may be written now (take it, then call `write`); writes a
    pending "suppressed" summary first."""
    allowed, report = _limiter.admit(ip or "-")
    if report is not None:
        log_event(
            AUTH_LOGGER,
            f"{EVENT}_suppressed",
            logging.WARNING,
            lines=report[0],
            ips=report[1],
            window_s=int(WINDOW_SECONDS),
        )
    return allowed


def write(
    *,
    channel: str,
    reason: str,
    ip: str | None,
    user_agent: str | None,
    request_id: str | None,
    user_id: int | None = None,
    **fields: Any,
) -> None:
    """One `authorization_failed` line (call after `admit` said yes)."""
    clipped = {k: str(v)[:MAX_FIELD] if isinstance(v, str) else v for k, v in fields.items()}
    log_event(
        AUTH_LOGGER,
        EVENT,
        logging.WARNING,
        channel=channel,
        reason=reason,
        user_id=user_id,
        ip=ip or None,
        user_agent=(user_agent or "")[:MAX_FIELD] or None,
        request_id=request_id,
        **clipped,
    )


def authorization_failed(
    *,
    channel: str,
    reason: str,
    ip: str | None,
    user_agent: str | None,
    request_id: str | None,
    user_id: int | None = None,
    **fields: Any,
) -> bool:
    """`admit` and `write` in one call; returns whether the line was written."""
    if not admit(ip):
        return False
    write(
        channel=channel,
        reason=reason,
        ip=ip,
        user_agent=user_agent,
        request_id=request_id,
        user_id=user_id,
        **fields,
    )
    return True


# --- who was calling (the API's refusals) ------------------------------------------------------
def identify(bearer: str | None, cookie: str | None) -> tuple[int | None, str | None]:
    """The user id a request's credential names, and what it was (logged as `auth=`): "bearer",
    "bearer_invalid" (forged, expired, wrong key), "cookie", "cookie_unknown", or None.
    Reads only; a database error gives no user id."""
    if bearer:
        from energyapp.auth.tokens import InvalidTokenError, decode_access_token
        from energyapp.settings import get_settings

        try:
            return decode_access_token(get_settings().secret(), bearer).user_id, "bearer"
        except InvalidTokenError:
            return None, "bearer_invalid"
    if cookie:
        from sqlmodel import select

        from energyapp.auth.tokens import hash_token
        from energyapp.db.engine import session_scope
        from energyapp.db.models import AuthSession

        try:
            with session_scope() as db:
                user_id = db.exec(
                    select(AuthSession.user_id).where(
                        AuthSession.token_hash == hash_token(cookie[:200])
                    )
                ).first()
        except Exception:  # noqa: BLE001 - the database is down: the line goes without it
            return None, "cookie"
        return (user_id, "cookie") if user_id is not None else (None, "cookie_unknown")
    return None, None
