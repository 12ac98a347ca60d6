"""API credentials: a short-lived JWT access token plus a rotating refresh token.

Refresh tokens form a family owned by one login (`auth_sessions` row, see services/sessions):
ending the login ends the family and the reverse. Each use spends one token and issues the next,
never later than the family's absolute expiry, counted from the login. Presenting a spent token
again means it was copied: the whole login is ended (theft detection). An access token names its
family, so revoking it (logout, password change, deactivation) ends the access token at once.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_
from sqlmodel import Session, col, select, update

from energyapp.auth.tokens import (
    InvalidTokenError,
    create_access_token,
    decode_access_token,
    hash_token,
    new_token,
)
from energyapp.db.engine import session_scope
from energyapp.db.models import AuthSession, RefreshToken, User, utcnow
from energyapp.domain.errors import NotAuthenticated
from energyapp.logging_setup import AUTH_LOGGER, log_event
from energyapp.services import sessions
from energyapp.services.views import UserView
from energyapp.settings import get_settings

INVALID = "La sesión no es válida o expiró. Vuelve a iniciar sesión."


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int
    token_type: str = "bearer"  # noqa: S105 - the OAuth token type, not a secret


def issue_pair(
    db: Session,
    user_id: int,
    session_id: int | None = None,
    *,
    family_id: str | None = None,
    expires_at: datetime | None = None,
) -> TokenPair:
    """A new family for the login `session_id`, or the next link of `family_id`, which keeps
    the family's `expires_at`: rotation never extends a login."""
    settings = get_settings()
    family_id = family_id or str(uuid.uuid4())
    refresh = new_token()
    db.add(
        RefreshToken(
            token_hash=hash_token(refresh),
            family_id=family_id,
            user_id=user_id,
            session_id=session_id,
            expires_at=expires_at or utcnow() + timedelta(days=settings.refresh_token_days),
        )
    )
    access = create_access_token(
        settings.secret(), user_id, family_id, settings.access_token_minutes
    )
    return TokenPair(access, refresh, settings.access_token_minutes * 60)


def revoke_family(db: Session, family_id: str) -> None:
    db.exec(
        update(RefreshToken)
        .where(col(RefreshToken.family_id) == family_id, col(RefreshToken.revoked_at).is_(None))
        .values(revoked_at=utcnow())
    )


def rotate(refresh_token: str, ip: str | None) -> TokenPair:
    if not refresh_token or len(refresh_token) > 200:
        raise NotAuthenticated(INVALID)
    with session_scope() as db:
        row = db.exec(
            select(RefreshToken).where(RefreshToken.token_hash == hash_token(refresh_token))
        ).first()
        if row is None:
            raise NotAuthenticated(INVALID)
        if row.used_at is not None and row.revoked_at is None:
            revoke_family(db, row.family_id)
            if row.session_id is not None:
                sessions.end(db, [row.session_id])
            db.commit()  # keep the revocation although we refuse the request
            log_event(
                AUTH_LOGGER,
                "refresh_token_reused",
                user_id=row.user_id,
                ip=ip,
                family=row.family_id,
            )
            raise NotAuthenticated(INVALID)
        user = db.get(User, row.user_id)
        login = db.get(AuthSession, row.session_id) if row.session_id is not None else None
        if (
            row.revoked_at is not None
            or row.expires_at <= utcnow()
            or user is None
            or not user.is_active
            or (row.session_id is not None and not sessions.is_live(login))
        ):
            raise NotAuthenticated(INVALID)
        row.used_at = utcnow()
        if login is not None:
            login.last_seen_at = utcnow()  # a refresh is activity: keeps the idle limit away
        pair = issue_pair(
            db, row.user_id, row.session_id, family_id=row.family_id, expires_at=row.expires_at
        )
    log_event(AUTH_LOGGER, "token_refreshed", user_id=row.user_id, ip=ip)
    return pair


@dataclass(frozen=True)
class BearerCaller:
    user: UserView
    family_id: str
    session_id: int | None  # the login that owns the family (None: issued before there was one)


def resolve_bearer(token: str) -> BearerCaller | None:
    """The active user behind a valid access token whose family is not revoked, or None."""
    settings = get_settings()
    try:
        claims = decode_access_token(settings.secret(), token)
    except InvalidTokenError:
        return None
    now = utcnow()
    live_login = or_(
        col(RefreshToken.session_id).is_(None),
        select(AuthSession.id)
        .where(
            AuthSession.id == RefreshToken.session_id,
            col(AuthSession.revoked_at).is_(None),
            AuthSession.expires_at > now,
        )
        .exists(),
    )
    with session_scope() as db:  # one query: the user, if active and the family is not revoked
        found = db.exec(
            select(User, RefreshToken.session_id)
            .join(RefreshToken, col(RefreshToken.user_id) == User.id)
            .where(
                User.id == claims.user_id,
                col(User.is_active).is_(True),
                RefreshToken.family_id == claims.family_id,
                col(RefreshToken.revoked_at).is_(None),
                live_login,
            )
            .limit(1)
        ).first()
        if found is None:
            return None
        user, session_id = found
        return BearerCaller(UserView.of(user, settings), claims.family_id, session_id)


def logout_family(family_id: str) -> None:
    """End the login that owns the family (its cookie session too)."""
    with session_scope() as db:
        owner = db.exec(
            select(RefreshToken.session_id).where(
                RefreshToken.family_id == family_id, col(RefreshToken.session_id).is_not(None)
            )
        ).first()
        revoke_family(db, family_id)
        if owner is not None:
            sessions.end(db, [owner])
