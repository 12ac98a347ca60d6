"""TOTP secrets are encrypted at rest with a key derived from secret_key; a rotated secret_key
keeps them readable through previous_secret_keys, `reencrypt-secrets` moves them to the new
key, and a key that opens nothing fails closed (the code is refused, never a 500)."""

from __future__ import annotations

import time
from pathlib import Path

import pyotp
import pytest
from cryptography.fernet import Fernet
from sqlalchemy import text
from sqlmodel import select

from alembic import command
from energyapp.__main__ import main
from energyapp.db.encrypted import (
    UNDECRYPTABLE,
    InvalidToken,
    cipher,
    decrypt,
    derive_key,
    encrypt,
)
from energyapp.db.engine import get_engine, session_scope
from energyapp.db.migrate import alembic_config
from energyapp.db.models import User
from energyapp.settings import get_settings
from tests.conftest import TEST_SECRET, api_login, apply_env

EMAIL, PASSWORD = "marta@empresa.cl", "clave-segura-1"
NEW_SECRET = "new-secret-" + "y" * 40
OTHER_SECRET = "other-secret-" + "z" * 40


def _raw_secret(email: str = EMAIL) -> str | None:
    with get_engine().connect() as connection:
        return connection.execute(
            text("SELECT totp_secret FROM users WHERE email = :email"), {"email": email}
        ).scalar_one()


def _model_secret(email: str = EMAIL) -> str | None:
    with session_scope() as db:
        return db.exec(select(User).where(User.email == email)).one().totp_secret


def _login(api, secret: str, offset_steps: int):
    """A login with the code of a given step (within the ±1 window; each step works once)."""
    api.cookies.clear()
    code = pyotp.TOTP(secret).at(time.time() + 30 * offset_steps)
    return api_login(api, EMAIL, PASSWORD, totp=code)


@pytest.fixture
def totp_user(make_user) -> str:
    make_user(EMAIL, PASSWORD, totp=True)
    return _model_secret()


def test_key_is_derived_not_the_secret_and_differs_per_secret() -> None:
    key = derive_key(TEST_SECRET)
    Fernet(key)  # a valid Fernet key
    assert TEST_SECRET.encode() not in key and derive_key(NEW_SECRET) != key
    assert derive_key(TEST_SECRET) == key  # deterministic: the same secret opens old values


def test_current_key_encrypts_previous_keys_only_decrypt() -> None:
    old = cipher(secrets=[TEST_SECRET]).encrypt(b"JBSWY3DPEHPK3PXP")
    rotated = cipher(secrets=[NEW_SECRET, TEST_SECRET]).rotate(old)
    assert cipher(secrets=[NEW_SECRET]).decrypt(rotated) == b"JBSWY3DPEHPK3PXP"
    with pytest.raises(InvalidToken):
        cipher(secrets=[NEW_SECRET]).decrypt(old)


def test_stored_value_is_not_the_secret(totp_user: str) -> None:
    raw = _raw_secret()
    assert raw and raw != totp_user and totp_user not in raw
    assert raw.startswith("gAAAAA")  # a Fernet token
    assert decrypt(raw) == totp_user and len(totp_user) == 32
    assert encrypt(totp_user) != raw  # a random IV per value: equal secrets do not show


def test_totp_login_works_with_the_encrypted_secret(api, totp_user: str) -> None:
    api.cookies.clear()
    assert api_login(api, EMAIL, PASSWORD).json()["code"] == "totp_required"
    assert _login(api, totp_user, 0).status_code == 200


def test_setup_through_the_api_stores_it_encrypted(api, make_user) -> None:
    make_user(EMAIL, PASSWORD)
    assert api_login(api, EMAIL, PASSWORD).status_code == 200
    secret = api.post("/api/auth/totp/setup", headers={"Origin": "http://localhost:8000"}).json()[
        "secret"
    ]
    assert _raw_secret() != secret and decrypt(_raw_secret()) == secret


def test_rotating_secret_key_keeps_totp_working_until_reencrypted(
    api, totp_user: str, monkeypatch, capsys
) -> None:
    old_raw = _raw_secret()
    apply_env(monkeypatch, secret_key=NEW_SECRET, previous_secret_keys=TEST_SECRET)
    assert _login(api, totp_user, -1).status_code == 200

    assert main(["reencrypt-secrets"]) == 0
    assert "1 TOTP secret(s) re-encrypted" in capsys.readouterr().out
    assert _raw_secret() != old_raw

    apply_env(monkeypatch, previous_secret_keys="")
    assert get_settings().previous_secret_keys == []
    assert _model_secret() == totp_user
    assert _login(api, totp_user, 0).status_code == 200


def test_a_key_that_opens_nothing_fails_closed(api, totp_user: str, monkeypatch, capsys) -> None:
    apply_env(monkeypatch, secret_key=OTHER_SECRET)
    assert _model_secret() == "" and _model_secret() is not None
    response = _login(api, totp_user, 0)
    assert response.status_code == 401
    assert response.json()["detail"] == "El código no es válido o ya fue usado."
    api.cookies.clear()
    assert api_login(api, EMAIL, PASSWORD).json()["code"] == "totp_required"
    app_log = (Path(get_settings().log_dir) / "app.log").read_text()
    assert "secret_undecryptable" in app_log and _raw_secret() not in app_log

    assert main(["reencrypt-secrets"]) == 1
    out, err = capsys.readouterr()
    assert "0 TOTP secret(s)" in out and "1 TOTP secret(s) open with no configured key" in err

    # an admin reset really clears the stored value (None is not the loaded "")
    assert main(["reset-2fa", EMAIL]) == 0
    assert _raw_secret() is None


def test_an_undecryptable_value_is_never_written_back(totp_user: str, monkeypatch) -> None:
    apply_env(monkeypatch, secret_key=OTHER_SECRET)
    with session_scope() as db:
        user = db.exec(select(User).where(User.email == EMAIL)).one()
        assert user.totp_secret is not None and user.totp_secret == UNDECRYPTABLE
        user.name = "Otro nombre"  # an unrelated change leaves the column as it is
    apply_env(monkeypatch, secret_key=TEST_SECRET)
    assert _model_secret() == totp_user


def test_migration_encrypts_plaintext_and_downgrade_decrypts(
    app_env, db_url: str, monkeypatch
) -> None:
    config = alembic_config(db_url)
    command.downgrade(config, "0004")
    plain = pyotp.random_base32()
    with get_engine().begin() as connection:
        connection.execute(
            text(
                "INSERT INTO users (email, name, password_hash, role, is_active, is_demo, "
                "totp_secret, totp_enabled, created_at) VALUES (:email, 'Marta', 'x', "
                "'trabajador', true, false, :secret, true, CURRENT_TIMESTAMP)"
            ),
            {"email": EMAIL, "secret": plain},
        )
    try:
        command.upgrade(config, "0005")
        raw = _raw_secret()
        assert raw != plain and decrypt(raw) == plain
        assert _model_secret() == plain

        apply_env(monkeypatch, secret_key=OTHER_SECRET)  # the key it was encrypted with is gone
        with pytest.raises(RuntimeError, match="1 TOTP secret"):
            command.downgrade(config, "0004")
        apply_env(monkeypatch, secret_key=TEST_SECRET)

        command.downgrade(config, "0004")
        assert _raw_secret() == plain
    finally:
        command.upgrade(config, "head")
    assert decrypt(_raw_secret()) == plain
