"""Logins: one `auth_sessions` row per login owns its HttpOnly cookie (an opaque token, only
its hash stored) and, for an API login, its refresh-token family. Ending a login (`end`)
revokes both and resets the browser tabs whose state it filled.

Every request and UI event resolves the session from the database, so a revoked session, a
deactivated user or a role change takes effect at once, also in a tab that is already open.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlmodel import Session, col, or_, select, update

from energyapp.auth.tokens import hash_token, new_token
from energyapp.db.engine import session_scope
from energyapp.db.models import AuthSession, LoginTicket, RefreshToken, User, utcnow
from energyapp.domain.errors import NotAuthenticated, NotFound
from energyapp.logging_setup import AUTH_LOGGER, log_event
from energyapp.services import audit, limits, ui_tabs
from energyapp.services.views import SessionView, UserView
from energyapp.settings import get_settings

TOUCH_EVERY = timedelta(seconds=60)  # write last_seen at most once a minute per session


@dataclass(frozen=True)
class ResolvedSession:
    session_id: int
    user: UserView
    needs_touch: bool = False  # last_seen_at is over TOUCH_EVERY old (see `touch`)
    # Unique to this login forever (part of its token's hash): what a tab is bound to, since a
    # row id can be reused once a row is gone (SQLite without AUTOINCREMENT, a restore).
    binding_key: str = ""


def _clip(value: str | None, limit: int) -> str | None:
    return value[:limit] if value else None


@dataclass(frozen=True)
class NewSession:
    token: str  # for the cookie; never stored
    session_id: int


def create_session(
    db: Session, user: User, ip: str | None, user_agent: str | None, channel: str = "web"
) -> NewSession:
    """A new session row for a completed login."""
    assert user.id is not None
    settings = get_settings()
    token = new_token()
    now = utcnow()
    row = AuthSession(
        token_hash=hash_token(token),
        user_id=user.id,
        ip=_clip(ip, 64),
        user_agent=_clip(user_agent, limits.USER_AGENT),
        channel=channel,
        created_at=now,
        last_seen_at=now,
        expires_at=now + timedelta(hours=settings.session_absolute_hours),
    )
    db.add(row)
    db.flush()
    assert row.id is not None
    return NewSession(token, row.id)


def is_live(row: AuthSession | None) -> bool:
    """Not revoked, not past its absolute or idle limit."""
    if row is None or row.revoked_at is not None:
        return False
    now = utcnow()
    idle = timedelta(minutes=get_settings().session_idle_minutes)
    return row.expires_at > now and row.last_seen_at + idle > now


def resolve(token: str | None, *, touch: bool = True) -> ResolvedSession | None:
    """The live session and its active user for a cookie value, or None. `touch=False` leaves
    last_seen_at alone (the UI gate touches only once it let the event through)."""
    if not token or len(token) > limits.TOKEN:
        return None
    with session_scope() as db:
        row = db.exec(
            select(AuthSession).where(AuthSession.token_hash == hash_token(token))
        ).first()
        return _resolved(db, row, touch=touch)


def resolve_by_id(session_id: int) -> ResolvedSession | None:
    """The same, for a session the caller already resolved (e.g. to show a changed user)."""
    with session_scope() as db:
        return _resolved(db, db.get(AuthSession, session_id), touch=False)


def _resolved(db: Session, row: AuthSession | None, *, touch: bool) -> ResolvedSession | None:
    if row is None or not is_live(row):
        return None
    user = db.get(User, row.user_id)
    if user is None or not user.is_active:
        return None
    now = utcnow()
    stale = now - row.last_seen_at >= TOUCH_EVERY
    if stale and touch:
        row.last_seen_at = now
    assert row.id is not None
    return ResolvedSession(
        session_id=row.id,
        user=UserView.of(user, get_settings()),
        needs_touch=stale and not touch,
        binding_key=row.token_hash[:24],
    )


def touch(session_id: int) -> None:
    with session_scope() as db:
        row = db.get(AuthSession, session_id)
        if row is not None:
            row.last_seen_at = utcnow()


def list_active(user_id: int, current_id: int | None) -> list[SessionView]:
    now = utcnow()
    with session_scope() as db:
        rows = db.exec(
            select(AuthSession)
            .where(
                AuthSession.user_id == user_id,
                col(AuthSession.revoked_at).is_(None),
                AuthSession.expires_at > now,
            )
            .order_by(col(AuthSession.last_seen_at).desc())
        ).all()
        return [SessionView.of(row, current_id) for row in rows]


def end(db: Session, session_ids: list[int]) -> int:
    """End logins: the session rows, their refresh-token families, and (after the commit) the
    UI state of the tabs they filled. Returns how many sessions were still live."""
    if not session_ids:
        return 0
    now = utcnow()
    count = db.exec(
        update(AuthSession)
        .where(col(AuthSession.id).in_(session_ids), col(AuthSession.revoked_at).is_(None))
        .values(revoked_at=now)
    ).rowcount
    db.exec(
        update(RefreshToken)
        .where(
            col(RefreshToken.session_id).in_(session_ids), col(RefreshToken.revoked_at).is_(None)
        )
        .values(revoked_at=now)
    )
    ui_tabs.announce_after_commit(db, session_ids=session_ids)
    return count


def revoke(user_id: int, session_id: int, ip: str | None = None) -> None:
    """Revoke one of the user's own sessions; another user's session id is "not found"."""
    with session_scope() as db:
        row = db.get(AuthSession, session_id)
        if row is None or row.user_id != user_id or row.revoked_at is not None:
            raise NotFound("La sesión no existe o ya fue cerrada.")
        end(db, [session_id])
        audit.record(
            db,
            "session_revoked",
            actor_id=user_id,
            target_type="session",
            target_id=session_id,
            ip=ip,
        )


def revoke_all(db: Session, user_id: int, *, keep_id: int | None = None) -> int:
    """End every login of a user except `keep_id` (cookie sessions and refresh-token families,
    also families older than the one-login record); returns how many sessions were live."""
    live = select(AuthSession.id).where(
        col(AuthSession.user_id) == user_id, col(AuthSession.revoked_at).is_(None)
    )
    if keep_id is not None:
        live = live.where(col(AuthSession.id) != keep_id)
    count = end(db, [session_id for session_id in db.exec(live).all() if session_id is not None])
    families = (
        update(RefreshToken)
        .where(col(RefreshToken.user_id) == user_id, col(RefreshToken.revoked_at).is_(None))
        .values(revoked_at=utcnow())
    )
    if keep_id is not None:
        families = families.where(
            or_(col(RefreshToken.session_id).is_(None), col(RefreshToken.session_id) != keep_id)
        )
    db.exec(families)
    return count


def revoke_others(user_id: int, current_id: int | None, ip: str | None = None) -> int:
    with session_scope() as db:
        count = revoke_all(db, user_id, keep_id=current_id)
        audit.record(
            db,
            "sessions_revoked",
            actor_id=user_id,
            target_type="user",
            target_id=user_id,
            ip=ip,
            count=count,
        )
    return count


def record_api_logout(user_id: int, ip: str | None) -> None:
    with session_scope() as db:
        audit.record(
            db,
            "logout",
            actor_id=user_id,
            target_type="user",
            target_id=user_id,
            ip=ip,
            channel="api",
        )
    log_event(AUTH_LOGGER, "logout", user_id=user_id, ip=ip, channel="api")


def logout(session_id: int, user_id: int, ip: str | None) -> None:
    with session_scope() as db:
        end(db, [session_id])
        audit.record(
            db, "logout", actor_id=user_id, target_type="session", target_id=session_id, ip=ip
        )
    log_event(AUTH_LOGGER, "logout", user_id=user_id, ip=ip)


# --- login tickets: the bridge from a websocket login to an HttpOnly cookie ---------------------
BAD_LINK = "El enlace de inicio de sesión no es válido."
EXPIRED_LINK = "El enlace de inicio de sesión expiró. Vuelve a ingresar."


def add_ticket(db: Session, user_id: int, user_agent: str | None) -> str:
    """A one-time ticket for a completed web login, in the caller's transaction (the login's
    record commits with it); returns the ticket, of which only the hash is stored."""
    ticket = new_token()
    db.add(
        LoginTicket(
            ticket_hash=hash_token(ticket),
            user_id=user_id,
            user_agent=_clip(user_agent, limits.USER_AGENT),
            expires_at=utcnow() + timedelta(seconds=get_settings().login_ticket_seconds),
        )
    )
    return ticket


def _spend_ticket(ticket: str) -> tuple[int, str | None] | None:
    """Mark a live ticket used and return its user id and User-Agent, or None. Its own
    transaction, one conditional UPDATE: committed before anything can refuse the redemption,
    and two redemptions at once spend it once."""
    now = utcnow()
    with session_scope() as db:
        found = db.exec(
            update(LoginTicket)
            .where(
                col(LoginTicket.ticket_hash) == hash_token(ticket),
                col(LoginTicket.used_at).is_(None),
                col(LoginTicket.expires_at) > now,
            )
            .values(used_at=now)
            .returning(col(LoginTicket.user_id), col(LoginTicket.user_agent))
        ).first()
    return None if found is None else (found[0], found[1])


def redeem_ticket(ticket: str, ip: str | None, user_agent: str | None) -> str:
    """Spend a ticket once, from the same browser, and open a session; returns the cookie token.
    A refused redemption (another browser, an inactive account) still spends the ticket."""
    if not ticket or len(ticket) > limits.TOKEN:
        raise NotAuthenticated(BAD_LINK)
    spent = _spend_ticket(ticket)
    if spent is None:
        raise NotAuthenticated(EXPIRED_LINK)
    user_id, ticket_agent = spent
    if (ticket_agent or "") != (_clip(user_agent, limits.USER_AGENT) or ""):
        raise NotAuthenticated(BAD_LINK)
    with session_scope() as db:
        user = db.get(User, user_id)
        if user is None or not user.is_active:
            raise NotAuthenticated("La cuenta no está activa.")
        return create_session(db, user, ip, user_agent).token
