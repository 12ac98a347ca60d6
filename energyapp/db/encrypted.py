"""Column values encrypted at rest (today `users.totp_secret`) with a key derived from
`secret_key`.

Fernet (AES-128-CBC + HMAC-SHA256, a random IV per value) with its key derived by HKDF-SHA256
from the secret under an `info` of its own, so it is never the key that signs the access
tokens. `previous_secret_keys` keep decrypting after a rotation (MultiFernet tries the current
key first); `python -m energyapp reencrypt-secrets` rewrites every value under the current key,
after which the old keys can go.

A value no configured key opens (the secret was changed without listing the old one) loads as
`UNDECRYPTABLE`, an empty string: services see "no secret", so a TOTP code is refused as
invalid, never a crash, and setting a new value or `None` overwrites it. It is never written
back. Values are randomized, so the column cannot be searched or compared in SQL.
"""

from __future__ import annotations

import base64
import hashlib
import logging
from collections.abc import Sequence
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import Dialect, String, TypeDecorator

from energyapp.settings import Settings, get_settings

__all__ = [
    "UNDECRYPTABLE",
    "EncryptedString",
    "InvalidToken",
    "UndecryptableValue",
    "cipher",
    "decrypt",
    "derive_key",
    "encrypt",
    "rotate",
    "secret_chain",
]

# Changing either value makes every stored secret unreadable: they are part of the format.
_HKDF_SALT = b"energyapp/encrypted-columns"
_HKDF_INFO = b"energyapp column encryption key v1 (Fernet)"
_MAX_WARNED = 1000
_warned: set[str] = set()


class UndecryptableValue(str):
    """What an encrypted column loads as when no configured key opens it (falsy)."""

    __slots__ = ()


UNDECRYPTABLE = UndecryptableValue("")


def derive_key(secret: str) -> bytes:
    """The Fernet key (urlsafe base64 of 32 bytes) for one `secret_key` value."""
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=_HKDF_SALT, info=_HKDF_INFO)
    return base64.urlsafe_b64encode(hkdf.derive(secret.encode("utf-8")))


@lru_cache(maxsize=8)
def _cipher_for(secrets: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(derive_key(secret)) for secret in secrets])


def secret_chain(settings: Settings) -> tuple[str, ...]:
    """The current secret, then the previous ones (without repeats)."""
    previous = (key.get_secret_value() for key in settings.previous_secret_keys)
    return tuple(dict.fromkeys(s for s in (settings.secret(), *previous) if s))


def cipher(
    settings: Settings | None = None, *, secrets: Sequence[str] | None = None
) -> MultiFernet:
    """Encrypts with the current secret; decrypts with it or any previous one."""
    if secrets is None:
        secrets = secret_chain(settings or get_settings())
    return _cipher_for(tuple(secrets))


def encrypt(value: str, settings: Settings | None = None) -> str:
    return cipher(settings).encrypt(value.encode("utf-8")).decode("ascii")


def decrypt(token: str, settings: Settings | None = None) -> str:
    """The plain value; raises `InvalidToken` when no configured key opens it."""
    return cipher(settings).decrypt(token.encode("ascii", "replace")).decode("utf-8")


def rotate(token: str, settings: Settings | None = None) -> str:
    """The same value encrypted under the current key; raises `InvalidToken` like `decrypt`."""
    return cipher(settings).rotate(token.encode("ascii", "replace")).decode("ascii")


def _warn_once(token: str) -> None:
    fingerprint = hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()[:16]
    if fingerprint in _warned:
        return
    if len(_warned) < _MAX_WARNED:
        _warned.add(fingerprint)
    from energyapp.logging_setup import APP_LOGGER, log_event

    log_event(
        APP_LOGGER,
        "secret_undecryptable",
        logging.WARNING,
        fingerprint=fingerprint,
        hint="secret_key changed: list the old one in previous_secret_keys",
    )


class EncryptedString(TypeDecorator):
    """A string column stored encrypted; reads and writes plain values (see the module doc).

    A Fernet token is about 4/3 * (73 + plaintext rounded up to 16) characters: 140 for a
    32-character TOTP secret, 184 for 64."""

    impl = String
    cache_ok = True

    def __init__(self, length: int = 255) -> None:
        super().__init__(length)

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        if value is None:
            return None
        if isinstance(value, UndecryptableValue):
            raise ValueError("refusing to store a value that could not be decrypted")
        return encrypt(value)

    def process_result_value(self, value: str | None, dialect: Dialect) -> str | None:
        if value is None:
            return None
        try:
            return decrypt(value)
        except InvalidToken:
            _warn_once(value)
            return UNDECRYPTABLE
