"""Opaque tokens (stored only as SHA-256) and signed JWT access tokens for API callers."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta

import jwt

from energyapp.db.models import utcnow

ALGORITHM = "HS256"
REQUIRED_CLAIMS = ["exp", "iat", "sub", "jti", "fam", "typ"]


def new_token() -> str:
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


class InvalidTokenError(Exception):
    pass


@dataclass(frozen=True)
class AccessClaims:
    user_id: int
    family_id: str
    jti: str


def create_access_token(secret: str, user_id: int, family_id: str, minutes: int) -> str:
    now = utcnow()
    claims = {
        "sub": str(user_id),
        "fam": family_id,
        "typ": "access",
        "jti": uuid.uuid4().hex,
        "iat": now,
        "exp": now + timedelta(minutes=minutes),
    }
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def decode_access_token(secret: str, token: str) -> AccessClaims:
    """Verify signature (HS256 only), expiry and required claims; any problem raises
    InvalidTokenError, never another exception."""
    try:
        claims = jwt.decode(
            token, secret, algorithms=[ALGORITHM], options={"require": REQUIRED_CLAIMS}
        )
        if claims["typ"] != "access":
            raise InvalidTokenError("not an access token")
        return AccessClaims(
            user_id=int(claims["sub"]), family_id=str(claims["fam"]), jti=str(claims["jti"])
        )
    except (jwt.PyJWTError, ValueError, TypeError, KeyError) as exc:
        raise InvalidTokenError(type(exc).__name__) from None
