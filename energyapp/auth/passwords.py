"""bcrypt password hashing. bcrypt reads at most 72 bytes, so longer passwords are refused
rather than silently truncated.

bcrypt releases the GIL, so many logins at once would each take an OS thread and a core; at
most one hash per core runs at a time, and the rest wait their turn instead of starving the
event loop that is streaming answers (measured in bench/login.py)."""

from __future__ import annotations

import os
import threading
from functools import lru_cache

import bcrypt

MAX_PASSWORD_BYTES = 72
_hashing_slots = threading.BoundedSemaphore(os.cpu_count() or 1)


class PasswordTooLongError(ValueError):
    pass


def password_bytes(password: str) -> bytes:
    data = password.encode("utf-8")
    if len(data) > MAX_PASSWORD_BYTES:
        raise PasswordTooLongError(f"password longer than {MAX_PASSWORD_BYTES} bytes")
    return data


def hash_password(password: str, rounds: int) -> str:
    data = password_bytes(password)
    with _hashing_slots:
        return bcrypt.hashpw(data, bcrypt.gensalt(rounds)).decode("ascii")


def verify_password(password: str, password_hash: str) -> bool:
    """False for a wrong password, an over-long one or a malformed stored hash; never raises."""
    try:
        data, stored = password_bytes(password), password_hash.encode("ascii")
        with _hashing_slots:
            return bcrypt.checkpw(data, stored)
    except (ValueError, UnicodeEncodeError):
        return False


@lru_cache(maxsize=4)
def dummy_hash(rounds: int) -> str:
    """A hash to check against when the account does not exist, so timing reveals nothing."""
    return hash_password("energyapp-no-such-user", rounds)
