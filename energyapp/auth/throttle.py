"""Failed-attempt limits (login and 2FA), per account and per IP, and the registrations per IP,
with the `limits` library.

Storage comes from settings: memory for one worker, Redis when several share the load."""

from __future__ import annotations

import math
import time
from functools import lru_cache

from limits import RateLimitItem, RateLimitItemPerHour, RateLimitItemPerMinute, storage, strategies

from energyapp.settings import Settings, get_settings


@lru_cache(maxsize=4)
def _limiter(storage_url: str) -> strategies.MovingWindowRateLimiter:
    return strategies.MovingWindowRateLimiter(storage.storage_from_string(storage_url))


def _limiter_for(settings: Settings) -> strategies.MovingWindowRateLimiter:
    url = settings.rate_limit_storage_url
    if url == "memory://" and settings.redis_url:  # several workers must share the counters
        url = settings.redis_url
    return _limiter(url)


def _item(amount: int, settings: Settings) -> RateLimitItemPerMinute:
    return RateLimitItemPerMinute(amount, settings.lockout_minutes)


def _keys(
    kind: str, account: str, ip: str | None, settings: Settings
) -> list[tuple[RateLimitItemPerMinute, str, str, str]]:
    per_ip = settings.login_max_failures_per_ip
    per_account = {
        "login": settings.login_max_failures_per_account,
        "totp": settings.totp_max_failures,
    }[kind]
    limits = (per_account, per_ip)
    keys = [(_item(limits[0], settings), kind, "account", account.lower())]
    if ip:
        keys.append((_item(limits[1], settings), kind, "ip", ip))
    return keys


def _seconds_to_reset(
    limiter: strategies.MovingWindowRateLimiter, item: RateLimitItem, *key: str
) -> int:
    reset = limiter.get_window_stats(item, *key).reset_time
    return max(1, math.ceil(reset - time.time()))


def seconds_blocked(kind: str, account: str, ip: str | None) -> int:
    """0 when attempts are allowed, else the seconds until the oldest failure leaves the window."""
    settings = get_settings()
    limiter = _limiter_for(settings)
    wait = 0
    for item, *key in _keys(kind, account, ip, settings):
        if not limiter.test(item, *key):
            wait = max(wait, _seconds_to_reset(limiter, item, *key))
    return wait


def _registration_item(settings: Settings) -> RateLimitItemPerHour:
    return RateLimitItemPerHour(settings.register_max_per_ip, 1)


def registration_wait(ip: str | None) -> int:
    """0 while this IP may register another account, else the seconds until it may."""
    if not ip:
        return 0
    settings = get_settings()
    limiter, item = _limiter_for(settings), _registration_item(settings)
    return (
        0
        if limiter.test(item, "register", "ip", ip)
        else _seconds_to_reset(limiter, item, "register", "ip", ip)
    )


def take_registration(ip: str | None) -> int:
    """Count one registration for this IP (atomically, so a burst cannot slip past the limit):
    0 when it is allowed, else the seconds to wait (nothing is counted then)."""
    if not ip:
        return 0
    settings = get_settings()
    limiter, item = _limiter_for(settings), _registration_item(settings)
    if limiter.hit(item, "register", "ip", ip):
        return 0
    return _seconds_to_reset(limiter, item, "register", "ip", ip)


def record_failure(kind: str, account: str, ip: str | None) -> None:
    settings = get_settings()
    limiter = _limiter_for(settings)
    for item, *key in _keys(kind, account, ip, settings):
        limiter.hit(item, *key)


def clear(kind: str, account: str) -> None:
    """Unlock an account (after a success, or by an admin)."""
    settings = get_settings()
    limiter = _limiter_for(settings)
    item, *key = _keys(kind, account, None, settings)[0]
    limiter.clear(item, *key)


def reset_all() -> None:
    """Forget every counter (tests)."""
    _limiter_for(get_settings()).storage.reset()
