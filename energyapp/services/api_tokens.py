"""API credentials: a short-lived JWT access token plus a rotating refresh token.

Refresh tokens form a family; each use spends one and issues the next. Presenting a spent token
again means it was copied: the whole family is revoked (theft detection). An access token names
its family, so revoking the family (logout, password change, deactivation) ends it at once.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlmodel import Session, col, select, update

from energyapp.auth.tokens import (
    InvalidTokenError,
    create_access_token,
    decode_access_token,
    hash_token,
    new_token,
)
from energyapp.db.engine import session_scope
from energyapp.db.models import RefreshToken, User, utcnow
from energyapp.logging_setup import AUTH_LOGGER, log_event
from energyapp.services.errors import NotAuthenticated
from energyapp.services.views import UserView
from energyapp.settings import get_settings

INVALID = "La sesión no es válida o expiró. Vuelve a iniciar sesión."


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int
    token_type: str = "bearer"  # noqa: S105 - the OAuth token type, not a secret


def issue_pair(db: Session, user_id: int, family_id: str | None = None) -> TokenPair:
    settings = get_settings()
    family_id = family_id or str(uuid.uuid4())
    refresh = new_token()
    db.add(RefreshToken(
        token_hash=hash_token(refresh), family_id=family_id, user_id=user_id,
        expires_at=utcnow() + timedelta(days=settings.refresh_token_days),
    ))
    access = create_access_token(settings.secret(), user_id, family_id,
                                 settings.access_token_minutes)
    return TokenPair(access, refresh, settings.access_token_minutes * 60)


def revoke_family(db: Session, family_id: str) -> None:
    db.exec(update(RefreshToken)
            .where(col(RefreshToken.family_id) == family_id, col(RefreshToken.revoked_at).is_(None))
            .values(revoked_at=utcnow()))


def revoke_all_for_user(db: Session, user_id: int) -> None:
    db.exec(update(RefreshToken)
            .where(col(RefreshToken.user_id) == user_id, col(RefreshToken.revoked_at).is_(None))
            .values(revoked_at=utcnow()))


def rotate(refresh_token: str, ip: str | None) -> TokenPair:
    if not refresh_token or len(refresh_token) > 200:
        raise NotAuthenticated(INVALID)
    with session_scope() as db:
        row = db.exec(select(RefreshToken)
                      .where(RefreshToken.token_hash == hash_token(refresh_token))).first()
        if row is None:
            raise NotAuthenticated(INVALID)
        if row.used_at is not None and row.revoked_at is None:
            revoke_family(db, row.family_id)
            db.commit()  # keep the revocation although we refuse the request
            log_event(AUTH_LOGGER, "refresh_token_reused", user_id=row.user_id, ip=ip,
                      family=row.family_id)
            raise NotAuthenticated(INVALID)
        user = db.get(User, row.user_id)
        if (row.revoked_at is not None or row.expires_at <= utcnow() or user is None
                or not user.is_active):
            raise NotAuthenticated(INVALID)
        row.used_at = utcnow()
        pair = issue_pair(db, row.user_id, row.family_id)
    log_event(AUTH_LOGGER, "token_refreshed", user_id=row.user_id, ip=ip)
    return pair


@dataclass(frozen=True)
class BearerCaller:
    user: UserView
    family_id: str


def resolve_bearer(token: str) -> BearerCaller | None:
    """The active user behind a valid access token whose family is not revoked, or None."""
    settings = get_settings()
    try:
        claims = decode_access_token(settings.secret(), token)
    except InvalidTokenError:
        return None
    live_family = select(RefreshToken.id).where(
        RefreshToken.family_id == claims.family_id, col(RefreshToken.revoked_at).is_(None)
    ).exists()
    with session_scope() as db:  # one query: the user, if active and the family is not revoked
        user = db.exec(select(User).where(User.id == claims.user_id,
                                          col(User.is_active).is_(True), live_family)).first()
        if user is None:
            return None
        return BearerCaller(UserView.of(user, settings), claims.family_id)


def logout_family(family_id: str) -> None:
    with session_scope() as db:
        revoke_family(db, family_id)
