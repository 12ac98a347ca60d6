"""Which browser tabs hold UI state filled under which session, and the announcement that
some must be reset now (a session ended, or its user's role or activity changed).

Services announce after their transaction commits; the UI layer subscribes (it resets the tabs'
server-side state and reloads them). Services never import the UI: this module is the seam.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import event as sa_event
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, delete, or_, select

from energyapp.db.engine import session_scope
from energyapp.db.models import AuthSession, UiTab, utcnow
from energyapp.logging_setup import APP_LOGGER
from energyapp.settings import get_settings

MAX_TOKEN = 64
logger = logging.getLogger(APP_LOGGER)


@dataclass(frozen=True)
class Reset:
    """Tabs to reset: those bound to `session_ids` (ended) or to any session of `user_ids`."""

    session_ids: frozenset[int] = field(default_factory=frozenset)
    user_ids: frozenset[int] = field(default_factory=frozenset)


Listener = Callable[[Reset], None]
_listeners: list[Listener] = []


def subscribe(listener: Listener) -> None:
    if listener not in _listeners:
        _listeners.append(listener)


def unsubscribe(listener: Listener) -> None:
    if listener in _listeners:
        _listeners.remove(listener)


def announce(reset: Reset) -> None:
    if not (reset.session_ids or reset.user_ids):
        return
    for listener in list(_listeners):
        try:
            listener(reset)
        except Exception:
            logger.exception("tab_reset_listener_failed")


def announce_after_commit(
    db: Session, *, session_ids: Iterable[int] = (), user_ids: Iterable[int] = ()
) -> None:
    """Announce once `db`'s transaction commits (never for a rolled-back change)."""
    pending: dict[str, set[int]] = db.info.setdefault(
        "energyapp_tab_reset", {"sessions": set(), "users": set()}
    )
    first = not pending["sessions"] and not pending["users"]
    pending["sessions"].update(session_ids)
    pending["users"].update(user_ids)
    if first:
        sa_event.listen(db, "after_commit", _flush_announcement, once=True)
        sa_event.listen(db, "after_rollback", _drop_announcement, once=True)


def _flush_announcement(db: Session) -> None:
    pending = db.info.pop("energyapp_tab_reset", None)
    if pending:
        announce(Reset(frozenset(pending["sessions"]), frozenset(pending["users"])))


def _drop_announcement(db: Session) -> None:
    db.info.pop("energyapp_tab_reset", None)


def bind(client_token: str, session_id: int) -> None:
    """Record that the tab `client_token` now holds state of `session_id`."""
    if not client_token or len(client_token) > MAX_TOKEN:
        return
    try:
        with session_scope() as db:
            db.exec(delete(UiTab).where(col(UiTab.client_token) == client_token))
            db.add(UiTab(client_token=client_token, session_id=session_id))
    except IntegrityError:  # the session was deleted meanwhile: nothing to bind
        return


def unbind(client_token: str) -> None:
    with session_scope() as db:
        db.exec(delete(UiTab).where(col(UiTab.client_token) == client_token))


def tokens_for(reset: Reset) -> list[str]:
    """Tabs to reset; bindings of ended sessions are forgotten (their tabs will rebind)."""
    with session_scope() as db:
        tokens: set[str] = set()
        if reset.session_ids:
            tokens.update(
                db.exec(
                    select(UiTab.client_token).where(col(UiTab.session_id).in_(reset.session_ids))
                ).all()
            )
            db.exec(delete(UiTab).where(col(UiTab.session_id).in_(reset.session_ids)))
        if reset.user_ids:
            tokens.update(
                db.exec(
                    select(UiTab.client_token)
                    .join(AuthSession, col(AuthSession.id) == UiTab.session_id)
                    .where(col(AuthSession.user_id).in_(reset.user_ids))
                ).all()
            )
        return sorted(tokens)


def take_expired() -> list[str]:
    """Tabs bound to sessions that ended without an announcement (absolute or idle expiry,
    or a revocation made by another process); their bindings are removed."""
    settings = get_settings()
    now = utcnow()
    with session_scope() as db:
        ended = select(AuthSession.id).where(
            or_(
                col(AuthSession.revoked_at).is_not(None),
                col(AuthSession.expires_at) <= now,
                col(AuthSession.last_seen_at)
                <= now - timedelta(minutes=settings.session_idle_minutes),
            )
        )
        rows = db.exec(select(UiTab.client_token).where(col(UiTab.session_id).in_(ended))).all()
        if rows:
            db.exec(delete(UiTab).where(col(UiTab.client_token).in_(rows)))
        return sorted(rows)
