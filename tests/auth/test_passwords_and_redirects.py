"""Password hashing as NIST SP 800-63B asks (NFKC, any length, old hashes still verify), the
list of common passwords, and safe `?next=` targets."""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import bcrypt
import pytest

from energyapp.auth import passwords
from energyapp.auth.passwords import (
    MAX_PASSWORD_CHARS,
    PasswordTooLongError,
    common_passwords,
    hash_password,
    is_common,
    needs_rehash,
    verify_password,
)
from energyapp.auth.redirects import safe_next

# passlib's documented bcrypt_sha256 (v2) example, the hash of "password"
PASSLIB_EXAMPLE = (
    "$bcrypt-sha256$v=2,t=2b,r=12$n79VH.0Q2TMWmt3Oqt9uku$Kq4Noyk3094Y2QlB8NdRT8SvGiI4ft2"
)


def legacy_hash(password: str) -> str:
    """A plain bcrypt hash, as EnergyApp stored them before bcrypt-sha256."""
    return bcrypt.hashpw(password.encode("utf-8"), bcrypt.gensalt(4)).decode("ascii")


# --- hashing ------------------------------------------------------------------------------------
def test_new_hashes_are_bcrypt_sha256_and_tell_themselves_apart() -> None:
    hashed = hash_password("contraseña-1", rounds=4)
    assert hashed.startswith("$bcrypt-sha256$v=2,t=2b,r=4$")
    assert verify_password("contraseña-1", hashed)
    assert not verify_password("otra", hashed)


def test_the_scheme_is_passlibs_bcrypt_sha256_and_keyed_by_no_app_secret() -> None:
    """A hash made elsewhere, with no EnergyApp secret, verifies: rotating secret_key never
    invalidates a password."""
    assert verify_password("password", PASSLIB_EXAMPLE)
    assert not verify_password("Password", PASSLIB_EXAMPLE)


@pytest.mark.parametrize(
    "password",
    ["a" * 200, "ж" * 100, "contraseña " * 90],
    ids=["200-ascii", "100-cyrillic", "990-spanish"],
)
def test_long_and_non_ascii_passwords_count_whole(password: str) -> None:
    """Past bcrypt's 72 bytes nothing is cut off: the last character still matters."""
    hashed = hash_password(password, rounds=4)
    assert verify_password(password, hashed)
    assert not verify_password(password[:-1] + "x", hashed)
    assert not verify_password(password[:72], hashed)


def test_input_is_capped_to_bound_the_work() -> None:
    assert len(hash_password("a" * MAX_PASSWORD_CHARS, rounds=4)) < 100  # fits the column
    with pytest.raises(PasswordTooLongError):
        hash_password("a" * (MAX_PASSWORD_CHARS + 1), rounds=4)
    assert verify_password("a" * (MAX_PASSWORD_CHARS + 1), hash_password("a", rounds=4)) is False


@pytest.mark.parametrize(
    ("typed_at_signup", "typed_later"),
    [
        ("\ufb01esta-2024!", "fiesta-2024!"),  # the "ﬁ" ligature is "fi"
        ("a\u00f1o-nuevo-77", "an\u0303o-nuevo-77"),  # composed "ñ" vs "n" + combining tilde
        ("ＡＢＣ-clave-９", "ABC-clave-9"),
    ],  # full-width forms
    ids=["ligature", "composed-decomposed", "full-width"],
)
def test_passwords_are_compared_in_nfkc(typed_at_signup: str, typed_later: str) -> None:
    assert typed_at_signup != typed_later
    assert verify_password(typed_later, hash_password(typed_at_signup, rounds=4))
    assert verify_password(typed_at_signup, hash_password(typed_later, rounds=4))


def test_old_plain_bcrypt_hashes_still_verify_and_ask_to_be_replaced() -> None:
    old = legacy_hash("clave-vieja-1")
    assert verify_password("clave-vieja-1", old) and not verify_password("clave-vieja-2", old)
    assert needs_rehash(old, rounds=4)
    assert not needs_rehash(hash_password("clave-vieja-1", rounds=4), rounds=4)
    assert needs_rehash(hash_password("clave-vieja-1", rounds=4), rounds=5)  # cost raised


def test_an_old_hash_of_a_composed_password_accepts_it_typed_decomposed() -> None:
    assert verify_password("an\u0303o-nuevo-77", legacy_hash("a\u00f1o-nuevo-77"))


def test_an_old_hash_never_raises_for_a_password_past_72_bytes() -> None:
    """bcrypt 5 raises ValueError past 72 bytes: a login must get False, not a 500."""
    assert verify_password("ж" * 40, legacy_hash("clave-vieja-1")) is False


def test_no_more_hashes_run_at_once_than_there_are_cores(monkeypatch) -> None:
    running, peak, lock = 0, 0, threading.Lock()
    real_hashpw = bcrypt.hashpw

    def counting_hashpw(password: bytes, salt: bytes) -> bytes:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        try:
            return real_hashpw(password, salt)
        finally:
            with lock:
                running -= 1

    monkeypatch.setattr(passwords.bcrypt, "hashpw", counting_hashpw)
    hashed = hash_password("clave", rounds=8)
    with ThreadPoolExecutor(max_workers=12) as pool:
        results = list(pool.map(lambda _: verify_password("clave", hashed), range(24)))
    assert all(results)
    assert 1 <= peak <= (os.cpu_count() or 1)


@pytest.mark.parametrize(
    "stored",
    [
        "",
        "not-a-hash",
        "$2b$04$short",
        "$2b$04$" + "!" * 53,
        "$bcrypt-sha256$",
        "$bcrypt-sha256$v=2,t=2b,r=4$short$x",
        "$bcrypt-sha256$v=2,t=2b,r=99$n79VH.0Q2TMWmt3Oqt9uku$Kq4Noyk3094Y2QlB8NdRT8SvGiI4ft2",
        "$bcrypt-sha256$v=1,t=2b,r=12$n79VH.0Q2TMWmt3Oqt9uku$Kq4Noyk3094Y2QlB8NdRT8SvGiI4ft2",
        "contraseña",
    ],
)
def test_malformed_stored_hash_is_a_plain_false(stored: str) -> None:
    assert verify_password("x", stored) is False
    assert verify_password("password", stored) is False
    assert needs_rehash(stored, rounds=4)


# --- common and breached passwords ---------------------------------------------------------------
def test_the_common_password_list_is_large_and_loaded_once() -> None:
    assert len(common_passwords()) >= 10_000
    assert common_passwords() is common_passwords()
    assert passwords.COMMON_PASSWORDS_FILE.read_text(encoding="utf-8").startswith("# ")


@pytest.mark.parametrize(
    "password", ["password123", "PASSWORD123", "Qwerty123", "iloveyou", "ｐａｓｓｗｏｒｄ１２３"]
)
def test_common_passwords_match_whatever_the_case_or_width(password: str) -> None:
    assert is_common(password)


@pytest.mark.parametrize("password", ["clave-segura-1", "caballo correcto batería grapa"])
def test_uncommon_passwords_pass(password: str) -> None:
    assert not is_common(password)


def test_checking_a_password_against_the_list_is_fast() -> None:
    common_passwords()
    started = time.perf_counter()
    for index in range(10_000):
        is_common(f"clave-{index}")
    assert time.perf_counter() - started < 0.5


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
