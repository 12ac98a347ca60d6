"""Password hashing and the list of refused passwords, as NIST SP 800-63B asks.

- A password is NFKC-normalised first, so the same password typed on another keyboard (a
  composed or decomposed "ñ", the "ﬁ" ligature) gives the same bytes.
- Any length up to `MAX_PASSWORD_CHARS` and any script works: bcrypt reads at most 72 bytes,
  so the password is pre-hashed as passlib's `bcrypt_sha256` (version 2) does: HMAC-SHA256
  keyed with the bcrypt salt (not with `secret_key`, which must stay rotatable; the salt key
  keeps a leaked plain SHA-256 from being tested against the bcrypt hash), base64-encoded,
  then bcrypt. Hashes look like passlib's, `$bcrypt-sha256$v=2,t=2b,r=12$<salt>$<checksum>`,
  so they are told apart from the plain bcrypt hashes (`$2b$...`) stored before; those still
  verify and `needs_rehash` says to replace them at the next successful login.
- `is_common` answers from a list of 30,000 common and breached passwords shipped beside this
  module (common_passwords.txt, its source in its header), read once into a frozenset.

bcrypt releases the GIL, so many logins at once would each take an OS thread and a core; at
most one hash per core runs at a time, and the rest wait their turn instead of starving the
event loop that is streaming answers (docs/benchmarks.md §3). Inside `bounded_queue(n)`
(the services use it with the `password_hash_queue` setting) at most n hashes wait: one more
raises `HashingBusy` at once, with a Retry-After estimate, instead of queueing a thread
(bench/login_storm.py). Callers never hold a database connection while they hash."""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import os
import re
import threading
import time
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import lru_cache
from pathlib import Path

import bcrypt

MAX_PASSWORD_CHARS = 1024  # bounds the work per attempt; the API refuses longer fields
SCHEME_PREFIX = "$bcrypt-sha256$"
COMMON_PASSWORDS_FILE = Path(__file__).with_name("common_passwords.txt")
_LEGACY_MAX_BYTES = 72  # plain bcrypt: bcrypt 5 raises ValueError past this
_HASH_PATTERN = re.compile(
    r"\$bcrypt-sha256\$v=2,t=2b,r=(?P<rounds>\d{1,2})"
    r"\$(?P<salt>[./A-Za-z0-9]{22})\$(?P<checksum>[./A-Za-z0-9]{31})"
)


class PasswordTooLongError(ValueError):
    pass


class HashingBusy(Exception):  # noqa: N818 - reads as an outcome, like the service errors
    """More hashes are already waiting than the caller's bound allows."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"password hashing queue full; retry in {retry_after} s")
        self.retry_after = retry_after


_queue_bound: ContextVar[int | None] = ContextVar("password_hash_queue", default=None)


@contextmanager
def bounded_queue(max_waiting: int) -> Iterator[None]:
    """Inside this block (this thread), a hash that would wait behind `max_waiting` others
    raises HashingBusy at once. Outside it (CLI, seeding), a hash waits as long as it takes."""
    token = _queue_bound.set(max_waiting)
    try:
        yield
    finally:
        _queue_bound.reset(token)


class _HashingSlots:
    """One running hash per core; the others wait, at most as many as the caller's bound."""

    def __init__(self, slots: int) -> None:
        self.slots = slots
        self._free = threading.Semaphore(slots)
        self._lock = threading.Lock()
        self.running = 0
        self.waiting = 0
        self._seconds = 0.25  # a recent hash's duration (moving average), for Retry-After

    def full(self, bound: int) -> bool:
        """Whether a hash started now would have to wait behind `bound` others."""
        with self._lock:
            return self.running >= self.slots and self.waiting >= bound

    def retry_after(self) -> int:
        """Seconds until the queue ahead has probably drained."""
        return max(1, math.ceil((self.waiting + self.slots) * self._seconds / self.slots))

    @contextmanager
    def turn(self) -> Iterator[None]:
        bound = _queue_bound.get()
        with self._lock:
            running = self._free.acquire(blocking=False)
            if not running:
                if bound is not None and self.waiting >= bound:
                    raise HashingBusy(self.retry_after())
                self.waiting += 1
        if not running:
            try:
                self._free.acquire()
            finally:
                with self._lock:
                    self.waiting -= 1
        with self._lock:
            self.running += 1
        started = time.perf_counter()
        try:
            yield
        finally:
            elapsed = time.perf_counter() - started
            with self._lock:
                self.running -= 1
                self._seconds = 0.8 * self._seconds + 0.2 * elapsed
            self._free.release()


_hashing_slots = _HashingSlots(os.cpu_count() or 1)


def refuse_if_queue_full() -> None:
    """Inside `bounded_queue`: raise HashingBusy now if a hash started now would be refused, so
    a caller can refuse before doing any other work (a database read)."""
    bound = _queue_bound.get()
    if bound is not None and _hashing_slots.full(bound):
        raise HashingBusy(_hashing_slots.retry_after())


def normalize(password: str) -> str:
    """NFKC, the form every password is hashed and compared in."""
    return unicodedata.normalize("NFKC", password)


def _secret(password: str) -> bytes:
    if len(password) > MAX_PASSWORD_CHARS:
        raise PasswordTooLongError(f"password longer than {MAX_PASSWORD_CHARS} characters")
    return normalize(password).encode("utf-8", "surrogatepass")


def _prehash(secret: bytes, salt: str) -> bytes:
    """passlib bcrypt_sha256 v2: base64(HMAC-SHA256(key=salt, secret)), 44 bytes < 72."""
    return base64.b64encode(hmac.new(salt.encode("ascii"), secret, hashlib.sha256).digest())


def _bcrypt_checksum(secret: bytes, salt: str, rounds: int) -> str:
    config = f"$2b${rounds:02d}${salt}".encode("ascii")
    with _hashing_slots.turn():
        return bcrypt.hashpw(_prehash(secret, salt), config).decode("ascii")[-31:]


def hash_password(password: str, rounds: int) -> str:
    """A new hash; raises PasswordTooLongError past MAX_PASSWORD_CHARS (and HashingBusy when
    `bounded_queue` is full)."""
    secret = _secret(password)
    salt = bcrypt.gensalt(rounds).decode("ascii")[-22:]
    checksum = _bcrypt_checksum(secret, salt, rounds)
    return f"{SCHEME_PREFIX}v=2,t=2b,r={rounds}${salt}${checksum}"


def _verify_legacy(password: str, stored: bytes) -> bool:
    """A plain bcrypt hash from before: the password as typed then, or its NFKC form."""
    candidates = [password.encode("utf-8")]
    normalized = normalize(password).encode("utf-8")
    if normalized != candidates[0]:
        candidates.append(normalized)
    for candidate in candidates:
        if len(candidate) <= _LEGACY_MAX_BYTES:
            with _hashing_slots.turn():
                if bcrypt.checkpw(candidate, stored):
                    return True
    return False


def verify_password(password: str, password_hash: str) -> bool:
    """False for a wrong password, an over-long one or a malformed stored hash; never raises
    but HashingBusy, when `bounded_queue` is full."""
    try:
        if len(password) > MAX_PASSWORD_CHARS:
            return False
        if not password_hash.startswith(SCHEME_PREFIX):
            return _verify_legacy(password, password_hash.encode("ascii"))
        parsed = _HASH_PATTERN.fullmatch(password_hash)
        if parsed is None or not 4 <= int(parsed["rounds"]) <= 31:
            return False
        checksum = _bcrypt_checksum(_secret(password), parsed["salt"], int(parsed["rounds"]))
        return hmac.compare_digest(checksum, parsed["checksum"])
    except (ValueError, UnicodeError, TypeError, AttributeError):
        return False


def needs_rehash(password_hash: str, rounds: int) -> bool:
    """True for a plain bcrypt hash from before, or one made with another cost."""
    parsed = _HASH_PATTERN.fullmatch(password_hash or "")
    return parsed is None or int(parsed["rounds"]) != rounds


@lru_cache(maxsize=4)
def dummy_hash(rounds: int) -> str:
    """A hash to check against when the account does not exist, so timing reveals nothing."""
    return hash_password("energyapp-no-such-user", rounds)


def fold(text: str) -> str:
    """The form passwords are compared in against lists and names: NFKC, case-folded."""
    return normalize(text).casefold()


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    lines = COMMON_PASSWORDS_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(fold(line) for line in lines if line and not line.startswith("#"))


def is_common(password: str) -> bool:
    """Whether the password, whatever its case, is in the list of common and breached ones."""
    return fold(password) in common_passwords()
