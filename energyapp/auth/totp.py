"""TOTP (RFC 6238) with pyotp: ±1 step, never the same step twice; recovery codes."""

from __future__ import annotations

import hmac
import re
import secrets
import time

import pyotp
import segno

from energyapp.auth.tokens import hash_token

CODE_PATTERN = re.compile(r"[0-9]{6}")  # ASCII digits only: pyotp would accept full-width ones
RECOVERY_PATTERN = re.compile(r"[a-z0-9]{4}-?[a-z0-9]{4}")
STEP_SECONDS = 30


def new_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(secret: str, email: str, issuer: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=issuer)


def qr_svg_data_uri(uri: str) -> str:
    """The QR code as an inline SVG data URI: rendered here, no outside service."""
    return segno.make(uri, error="m").svg_data_uri(scale=5, border=2, dark="#111", light="#fff")


def matching_step(
    secret: str, code: str, last_step: int | None, now: float | None = None
) -> int | None:
    """The time step the code belongs to (within ±1 step), or None. A step at or before
    `last_step` is refused, so a code is never accepted twice."""
    code = code.strip().replace(" ", "")
    if not CODE_PATTERN.fullmatch(code):
        return None
    totp = pyotp.TOTP(secret)
    current = int((time.time() if now is None else now) // STEP_SECONDS)
    for step in (current - 1, current, current + 1):
        if last_step is not None and step <= last_step:
            continue
        if hmac.compare_digest(totp.at(step * STEP_SECONDS), code):
            return step
    return None


def new_recovery_codes(count: int) -> list[str]:
    alphabet = "abcdefghjkmnpqrstuvwxyz23456789"
    return [
        "".join(secrets.choice(alphabet) for _ in range(4))
        + "-"
        + "".join(secrets.choice(alphabet) for _ in range(4))
        for _ in range(count)
    ]


def normalize_recovery_code(code: str) -> str | None:
    code = code.strip().lower().replace(" ", "")
    if not RECOVERY_PATTERN.fullmatch(code):
        return None
    return code if "-" in code else f"{code[:4]}-{code[4:]}"


def hash_recovery_code(code: str) -> str:
    return hash_token(code)
