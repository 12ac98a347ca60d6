"""What every password check runs inside, for login, password changes, registration and 2FA:
the per-account (and per-IP) lockout, and the bounded hashing queue.

bcrypt takes a core for a good part of a second (docs/benchmarks.md §3). `hashing()` refuses
with Busy (503) at once when `password_hash_queue` hashes already wait, so a login storm cannot
take every thread and every pooled connection from the users who are browsing. Never enter it
with a session open."""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from energyapp.auth import throttle
from energyapp.auth.passwords import HashingBusy, bounded_queue, refuse_if_queue_full
from energyapp.domain.errors import Busy, Throttled
from energyapp.logging_setup import AUTH_LOGGER, log_event
from energyapp.settings import get_settings


def refuse_if_locked(kind: str, account: str, ip: str | None, *, per_ip: bool = True) -> None:
    """Raise Throttled while the account (or, with `per_ip`, the IP) has too many recent
    failures of this kind ("login" or "totp")."""
    wait = throttle.seconds_blocked(kind, account, ip if per_ip else None)
    if wait:
        minutes = math.ceil(wait / 60)
        log_event(AUTH_LOGGER, f"{kind}_throttled", email=account, ip=ip, retry_after=wait)
        raise Throttled(
            f"Demasiados intentos fallidos. Inténtalo de nuevo en {minutes} "
            f"minuto{'s' if minutes != 1 else ''}.",
            retry_after=wait,
        )


@contextmanager
def hashing(**log_fields: Any) -> Iterator[None]:
    """Run password hashes for one request: at most `password_hash_queue` wait for a core, and
    one more raises Busy (503 + Retry-After) at once."""
    try:
        with bounded_queue(get_settings().password_hash_queue):
            yield
    except HashingBusy as exc:
        log_event(AUTH_LOGGER, "hashing_busy", retry_after=exc.retry_after, **log_fields)
        raise Busy(retry_after=exc.retry_after) from None


def refuse_if_busy(**log_fields: Any) -> None:
    """Busy at once, before any database work, when a password hash started now would be
    refused: in a storm, the refused requests cost no connection at all."""
    with hashing(**log_fields):
        refuse_if_queue_full()
