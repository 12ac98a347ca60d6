"""bcrypt password hashing. bcrypt reads at most 72 bytes, so longer passwords are refused
rather than silently truncated."""

from __future__ import annotations

from functools import lru_cache

import bcrypt

MAX_PASSWORD_BYTES = 72


class PasswordTooLongError(ValueError):
    pass


def password_bytes(password: str) -> bytes:
    data = password.encode("utf-8")
    if len(data) > MAX_PASSWORD_BYTES:
        raise PasswordTooLongError(f"password longer than {MAX_PASSWORD_BYTES} bytes")
    return data


def hash_password(password: str, rounds: int) -> str:
    return bcrypt.hashpw(password_bytes(password), bcrypt.gensalt(rounds)).decode("ascii")


def verify_password(password: str, password_hash: str) -> bool:
    """False for a wrong password, an over-long one or a malformed stored hash; never raises."""
    try:
        return bcrypt.checkpw(password_bytes(password), password_hash.encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        return False


@lru_cache(maxsize=4)
def dummy_hash(rounds: int) -> str:
    """A hash to check against when the account does not exist, so timing reveals nothing."""
    return hash_password("energyapp-no-such-user", rounds)
