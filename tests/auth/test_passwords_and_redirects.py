"""bcrypt limits and safe `?next=` targets."""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import bcrypt
import pytest

from energyapp.auth import passwords
from energyapp.auth.passwords import (
    PasswordTooLongError,
    hash_password,
    verify_password,
)
from energyapp.auth.redirects import safe_next


def test_hash_and_verify() -> None:
    hashed = hash_password("contraseña-1", rounds=4)
    assert hashed.startswith("$2") and verify_password("contraseña-1", hashed)
    assert not verify_password("otra", hashed)


def test_over_72_bytes_is_refused_not_truncated() -> None:
    with pytest.raises(PasswordTooLongError):
        hash_password("ж" * 37, rounds=4)  # 74 bytes
    hashed = hash_password("a" * 72, rounds=4)
    assert not verify_password("a" * 72 + "b", hashed)


def test_no_more_hashes_run_at_once_than_there_are_cores(monkeypatch) -> None:
    running, peak, lock = 0, 0, threading.Lock()
    real_checkpw = bcrypt.checkpw

    def counting_checkpw(password: bytes, hashed: bytes) -> bool:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        try:
            return real_checkpw(password, hashed)
        finally:
            with lock:
                running -= 1

    monkeypatch.setattr(passwords.bcrypt, "checkpw", counting_checkpw)
    hashed = hash_password("clave", rounds=8)
    with ThreadPoolExecutor(max_workers=12) as pool:
        results = list(pool.map(lambda _: verify_password("clave", hashed), range(24)))
    assert all(results)
    assert 1 <= peak <= (os.cpu_count() or 1)


@pytest.mark.parametrize("stored", ["", "not-a-hash", "$2b$04$short"])
def test_malformed_stored_hash_is_a_plain_false(stored: str) -> None:
    assert verify_password("x", stored) is False


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/settings", "/settings"),
        ("/admin?user=3", "/admin?user=3"),
        ("https://evil.example/", "/dashboard"),
        ("//evil.example", "/dashboard"),
        ("/\\evil.example", "/dashboard"),
        ("javascript:alert(1)", "/dashboard"),
        ("/api/auth/logout", "/dashboard"),
        ("/login", "/dashboard"),
        ("", "/dashboard"),
        (None, "/dashboard"),
        ("/ok\nSet-Cookie: x", "/dashboard"),
    ],
)
def test_next_is_only_ever_a_local_page(target: str | None, expected: str) -> None:
    assert safe_next(target) == expected
