"""Oversight and user management for admins and supervisors; every rule comes from `policy`.

Reading a user's conversation is itself audited (who viewed whose conversation, when), and
every reassignment, role change, activation, 2FA reset and unlock is an audit event."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from zoneinfo import ZoneInfo

from sqlalchemy import func
from sqlalchemy.sql.selectable import ScalarSelect
from sqlmodel import Session, col, select

from energyapp.auth import throttle
from energyapp.db.engine import session_scope
from energyapp.db.models import (
    AuditEvent,
    AuthSession,
    Conversation,
    Message,
    RecoveryCode,
    User,
    utcnow,
)
from energyapp.domain.errors import Conflict, Forbidden, InvalidInput, NotFound
from energyapp.domain.roles import Role
from energyapp.services import audit, limits, policy, sessions, ui_tabs
from energyapp.services.conversations import MessageView, like_pattern, messages_of
from energyapp.services.users import normalize_email
from energyapp.services.validation import bounded_date, day_start, one_line, refuse_nul
from energyapp.services.views import SessionView, UserView, iso
from energyapp.settings import get_settings

MAX_PAGE = limits.PAGE_SIZE


@dataclass(frozen=True)
class UserRow:
    id: int
    email: str
    name: str
    role: str
    is_active: bool
    is_demo: bool
    totp_enabled: bool
    conversation_count: int
    last_login_at: str | None

    @classmethod
    def of(cls, user: User, conversation_count: int = 0) -> UserRow:
        return cls(
            id=saved_id(user),
            email=user.email,
            name=user.name,
            role=user.role.value,
            is_active=user.is_active,
            is_demo=user.is_demo,
            totp_enabled=user.totp_enabled,
            conversation_count=conversation_count,
            last_login_at=iso(user.last_login_at),
        )


@dataclass(frozen=True)
class ConversationRow:
    id: int
    owner_id: int
    title: str
    model: str
    updated_at: str
    message_count: int

    @classmethod
    def of(cls, conversation: Conversation, message_count: int) -> ConversationRow:
        return cls(
            id=saved_id(conversation),
            owner_id=conversation.owner_id,
            title=conversation.title,
            model=conversation.model,
            updated_at=iso(conversation.updated_at) or "",
            message_count=message_count,
        )


@dataclass(frozen=True)
class AuditRow:
    id: int
    created_at: str
    actor_id: int | None
    actor_email: str | None
    action: str
    target_type: str | None
    target_id: str | None
    details: str | None
    ip: str | None


def _page(limit: int, offset: int) -> tuple[int, int]:
    return max(1, min(limit, MAX_PAGE)), max(0, offset)


def saved_id(row: User | Conversation | AuditEvent) -> int:
    """The id of a row read from the database (or flushed): never None."""
    assert row.id is not None
    return row.id


def _user(db: Session, user_id: int) -> User | None:
    return db.get(User, user_id)


def _conversations_per_user() -> ScalarSelect[int]:
    """A correlated scalar subquery for `User` rows: how many conversations each owns."""
    return (
        select(func.count())
        .select_from(Conversation)
        .where(Conversation.owner_id == User.id)
        .scalar_subquery()
    )


def _conversation_count(db: Session, user_id: int) -> int:
    return db.exec(
        select(func.count()).select_from(Conversation).where(Conversation.owner_id == user_id)
    ).one()


def list_users(
    actor: UserView, *, search: str = "", limit: int = 50, offset: int = 0
) -> list[UserRow]:
    policy.require_staff(actor)
    limit, offset = _page(limit, offset)
    statement = select(User, _conversations_per_user()).where(policy.visible_users_clause(actor))
    term = one_line(search or "")[: limits.SEARCH]
    if term:
        pattern = like_pattern(term)
        statement = statement.where(
            col(User.email).ilike(pattern, escape="\\") | col(User.name).ilike(pattern, escape="\\")
        )
    statement = statement.order_by(col(User.name), col(User.id)).offset(offset).limit(limit)
    with session_scope() as db:
        return [UserRow.of(u, n) for u, n in db.exec(statement).all()]


def user_row(actor: UserView, user_id: int) -> UserRow:
    with session_scope() as db:
        user = policy.visible_user(actor, _user(db, user_id))
        return UserRow.of(user, _conversation_count(db, saved_id(user)))


def user_conversations(
    actor: UserView, user_id: int, *, limit: int = 50, offset: int = 0
) -> list[ConversationRow]:
    limit, offset = _page(limit, offset)
    count = (
        select(func.count())
        .select_from(Message)
        .where(Message.conversation_id == Conversation.id)
        .scalar_subquery()
    )
    with session_scope() as db:
        policy.visible_user(actor, _user(db, user_id))
        rows = db.exec(
            select(Conversation, count)
            .where(Conversation.owner_id == user_id)
            .order_by(col(Conversation.updated_at).desc(), col(Conversation.id).desc())
            .offset(offset)
            .limit(limit)
        ).all()
        return [ConversationRow.of(c, n) for c, n in rows]


def _visible_conversation(
    db: Session, actor: UserView, conversation_id: int
) -> tuple[Conversation, User]:
    policy.require_staff(actor)
    conversation = db.get(Conversation, conversation_id)
    owner = _user(db, conversation.owner_id) if conversation else None
    if conversation is None or owner is None or not policy.can_see_user(actor, owner):
        raise NotFound(policy.CONVERSATION_NOT_FOUND)
    return conversation, owner


def conversation_messages(
    actor: UserView, conversation_id: int, ip: str | None
) -> list[MessageView]:
    """The transcript, read-only; the reading is recorded in the audit trail."""
    with session_scope() as db:
        _conversation, owner = _visible_conversation(db, actor, conversation_id)
        if owner.id != actor.id:
            audit.record(
                db,
                "conversation_viewed",
                actor_id=actor.id,
                target_type="conversation",
                target_id=conversation_id,
                ip=ip,
                owner_id=owner.id,
            )
        return messages_of(db, conversation_id)


def reassign_targets(actor: UserView) -> list[UserRow]:
    """Active users the actor may hand a conversation to."""
    policy.require_staff(actor)
    with session_scope() as db:
        users = db.exec(
            select(User)
            .where(policy.visible_users_clause(actor), col(User.is_active).is_(True))
            .order_by(col(User.name))
            .limit(1000)
        ).all()
        return [UserRow.of(u) for u in users]


def _move(
    db: Session,
    actor: UserView,
    conversation: Conversation,
    owner: User,
    target: User,
    ip: str | None,
    bulk: bool = False,
) -> None:
    conversation.owner_id = target.id  # type: ignore[assignment]
    conversation.updated_at = utcnow()
    audit.record(
        db,
        "conversation_reassigned",
        actor_id=actor.id,
        target_type="conversation",
        target_id=conversation.id,
        ip=ip,
        from_user_id=owner.id,
        to_user_id=target.id,
        bulk=bulk or None,
    )


def reassign(
    actor: UserView, conversation_id: int, to_user_id: int, ip: str | None
) -> ConversationRow:
    with session_scope() as db:
        conversation, owner = _visible_conversation(db, actor, conversation_id)
        target = policy.check_reassign(actor, owner, _user(db, to_user_id))
        if target.id == owner.id:
            raise InvalidInput("La conversación ya pertenece a ese usuario.")
        _move(db, actor, conversation, owner, target, ip)
        count = db.exec(
            select(func.count())
            .select_from(Message)
            .where(Message.conversation_id == conversation_id)
        ).one()
        return ConversationRow.of(conversation, count)


def reassign_all(actor: UserView, from_user_id: int, to_user_id: int, ip: str | None) -> int:
    """Every conversation of one user to another (someone leaves), each move audited."""
    with session_scope() as db:
        owner = policy.visible_user(actor, _user(db, from_user_id))
        target = policy.check_reassign(actor, owner, _user(db, to_user_id))
        if target.id == owner.id:
            raise InvalidInput("Elige un usuario de destino distinto.")
        conversations = db.exec(
            select(Conversation).where(Conversation.owner_id == from_user_id)
        ).all()
        for conversation in conversations:
            _move(db, actor, conversation, owner, target, ip, bulk=True)
        return len(conversations)


def _active_admins(db: Session) -> int:
    return db.exec(
        select(func.count())
        .select_from(User)
        .where(col(User.role) == Role.admin, col(User.is_active).is_(True))
    ).one()


def sign_out_everywhere(db: Session, user_id: int) -> int:
    """Revoke every browser session and API token of a user; returns the sessions revoked."""
    count = sessions.revoke_all(db, user_id)
    return count


def change_user(
    db: Session,
    target: User,
    *,
    role: str | None = None,
    is_active: bool | None = None,
    actor_id: int | None = None,
    ip: str | None = None,
    source: str = "",
) -> None:
    """Role and active flag, with the rules both the admin panel and the operator CLI obey:
    the last active admin stays, deactivation signs the user out everywhere, all audited.
    `source` ("_by_cli") is appended to the audit action names."""
    if role is not None:
        try:
            new_role = Role(role)
        except ValueError:
            raise InvalidInput("Rol no válido: usa admin, supervisor o trabajador.") from None
    else:
        new_role = target.role
    new_active = target.is_active if is_active is None else bool(is_active)
    losing_admin = (
        target.role == Role.admin
        and target.is_active
        and (new_role != Role.admin or not new_active)
    )
    if losing_admin and _active_admins(db) <= 1:
        raise Conflict("No se puede quitar el último administrador activo.", code="last_admin")
    if new_role != target.role:
        audit.record(
            db,
            f"role_changed{source}",
            actor_id=actor_id,
            target_type="user",
            target_id=target.id,
            ip=ip,
            old=target.role.value,
            new=new_role.value,
        )
        target.role = new_role
        # Open tabs hold what the old role could see: reset them, and they ask again.
        ui_tabs.announce_after_commit(db, user_ids=[saved_id(target)])
    if new_active != target.is_active:
        target.is_active = new_active
        action = "user_activated" if new_active else "user_deactivated"
        audit.record(
            db,
            f"{action}{source}",
            actor_id=actor_id,
            target_type="user",
            target_id=target.id,
            ip=ip,
        )
        if not new_active:
            sign_out_everywhere(db, saved_id(target))


def clear_two_factor(
    db: Session,
    target: User,
    *,
    actor_id: int | None = None,
    ip: str | None = None,
    source: str = "",
) -> None:
    target.totp_enabled = False
    target.totp_secret = None
    target.totp_last_step = None
    for code in db.exec(select(RecoveryCode).where(RecoveryCode.user_id == target.id)):
        db.delete(code)
    audit.record(
        db, f"totp_reset{source}", actor_id=actor_id, target_type="user", target_id=target.id, ip=ip
    )
    # Open tabs show 2FA as on (and may now owe a forced setup): they ask the gate again.
    ui_tabs.announce_after_commit(db, user_ids=[saved_id(target)])


DEMO_ROLE = (
    "Las cuentas de demostración conservan su rol ({role}): las usan todos los "
    "visitantes para conocer ese perfil."
)


def _seeded_role(target: User) -> str:
    """A demo account's role as configured in `demo_accounts` (its current one if not listed)."""
    for account in get_settings().demo_accounts:
        if normalize_email(account.email) == target.email:
            return account.role.value
    return target.role.value


def update_user(
    actor: UserView,
    user_id: int,
    *,
    role: str | None = None,
    is_active: bool | None = None,
    ip: str | None = None,
) -> UserRow:
    """A demo account keeps its seeded role (Forbidden otherwise)."""
    with session_scope() as db:
        target = policy.check_manage(actor, _user(db, user_id), "cambios de rol o estado")
        if target.is_demo and role is not None and role in {r.value for r in Role}:
            seeded = _seeded_role(target)
            if role != seeded:
                raise Forbidden(DEMO_ROLE.format(role=seeded), code="demo_account")
        change_user(db, target, role=role, is_active=is_active, actor_id=actor.id, ip=ip)
        db.flush()
        return UserRow.of(target, _conversation_count(db, saved_id(target)))


def reset_two_factor(actor: UserView, user_id: int, ip: str | None) -> None:
    with session_scope() as db:
        target = policy.check_manage(actor, _user(db, user_id), "el reinicio de 2FA")
        clear_two_factor(db, target, actor_id=actor.id, ip=ip)


def user_sessions(actor: UserView, user_id: int) -> list[SessionView]:
    with session_scope() as db:
        policy.check_manage(actor, _user(db, user_id), "la revisión de sesiones")
    return sessions.list_active(user_id, None)


def revoke_user_session(actor: UserView, user_id: int, session_id: int, ip: str | None) -> None:
    with session_scope() as db:
        policy.check_manage(actor, _user(db, user_id), "el cierre de sesiones")
        row = db.get(AuthSession, session_id)
        if row is None or row.user_id != user_id or row.revoked_at is not None:
            raise NotFound("La sesión no existe o ya fue cerrada.")
        sessions.end(db, [session_id])  # the login's refresh tokens and open tabs too
        audit.record(
            db,
            "session_revoked",
            actor_id=actor.id,
            target_type="session",
            target_id=session_id,
            ip=ip,
            user_id=user_id,
        )


def unlock(actor: UserView, user_id: int, ip: str | None) -> None:
    with session_scope() as db:
        target = policy.check_manage(actor, _user(db, user_id), "el desbloqueo de cuentas")
        throttle.clear("login", target.email)
        throttle.clear("totp", target.email)
        audit.record(
            db, "user_unlocked", actor_id=actor.id, target_type="user", target_id=target.id, ip=ip
        )


def audit_events(
    actor: UserView,
    *,
    actor_id: int | None = None,
    action: str = "",
    date_from: date | str | None = None,
    date_to: date | str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[AuditRow]:
    """Newest first, from the start of `date_from` to the end of `date_to`: days of the
    configured time zone (`timezone`, as the list shows its times), in the years 2000..2100,
    else InvalidInput. Admins see everything; supervisors the events of users in their scope."""
    policy.require_staff(actor)
    limit, offset = _page(limit, offset)
    zone = ZoneInfo(get_settings().timezone)
    since = day_start(bounded_date(date_from, field="fecha «desde»"), zone)
    until = day_start(bounded_date(date_to, field="fecha «hasta»"), zone, plus_days=1)
    statement = select(AuditEvent, User.email).join(
        User, col(User.id) == AuditEvent.actor_id, isouter=True
    )
    if not policy.is_admin(actor):
        statement = statement.where(policy.visible_users_clause(actor))
    if actor_id is not None:
        statement = statement.where(AuditEvent.actor_id == actor_id)
    if action:
        statement = statement.where(AuditEvent.action == refuse_nul(action)[: limits.AUDIT_ACTION])
    if since is not None:
        statement = statement.where(col(AuditEvent.created_at) >= since)
    if until is not None:
        statement = statement.where(col(AuditEvent.created_at) < until)
    statement = statement.order_by(col(AuditEvent.created_at).desc(), col(AuditEvent.id).desc())
    with session_scope() as db:
        return [
            AuditRow(
                id=saved_id(e),
                created_at=iso(e.created_at) or "",
                actor_id=e.actor_id,
                actor_email=email,
                action=e.action,
                target_type=e.target_type,
                target_id=e.target_id,
                details=e.details,
                ip=e.ip,
            )
            for e, email in db.exec(statement.offset(offset).limit(limit)).all()
        ]


def audit_actions() -> list[str]:
    with session_scope() as db:
        return sorted(db.exec(select(AuditEvent.action).distinct()).all())
