"""State of /admin: users | conversations | messages, reassignment, user management, audit.

The gate lets only admins and supervisors in (2FA done when required); each handler passes the
caller it resolved to the admin services, which apply the policy per target. The page being
open, or an id sent from the browser, grants nothing."""

from __future__ import annotations

import asyncio
import json

import reflex as rx
from reflex_base.event import EventSpec

from energyapp.domain.errors import ServiceError
from energyapp.domain.roles import role_label
from energyapp.services import admin, limits, policy
from energyapp.services.admin import AuditRow, ConversationRow, UserRow
from energyapp.services.limits import clip
from energyapp.services.policy import Access
from energyapp.services.validation import id_or_none as _id
from energyapp.services.views import UserView, browser_label, local_time
from energyapp.states.auth import client_ip
from energyapp.states.chat import STATUS_NOTES
from energyapp.states.gate import caller, gated

PAGE = 50
ACTION_LABELS = {
    "login": "Inicio de sesión",
    "logout": "Cierre de sesión",
    "conversation_viewed": "Conversación revisada",
    "conversation_reassigned": "Conversación reasignada",
    "role_changed": "Rol cambiado",
    "user_activated": "Usuario activado",
    "user_deactivated": "Usuario desactivado",
    "totp_enabled": "2FA activada",
    "totp_disabled": "2FA desactivada",
    "totp_reset": "2FA reiniciada",
    "password_changed": "Contraseña cambiada",
    "session_revoked": "Sesión cerrada",
    "sessions_revoked": "Sesiones cerradas",
    "user_registered": "Registro",
    "user_unlocked": "Cuenta desbloqueada",
    "recovery_code_used": "Código de recuperación usado",
    "demo_account_created": "Cuenta demo creada",
}


def _user_row(row: UserRow) -> dict[str, str]:
    return {
        "id": str(row.id),
        "name": row.name,
        "email": row.email,
        "role": row.role,
        "role_label": role_label(row.role),
        "active": "1" if row.is_active else "",
        "totp": "1" if row.totp_enabled else "",
        "count": str(row.conversation_count),
        "last_login": local_time(row.last_login_at) or "nunca",
    }


def _conversation_row(row: ConversationRow) -> dict[str, str]:
    return {
        "id": str(row.id),
        "title": row.title,
        "updated": local_time(row.updated_at),
        "count": str(row.message_count),
    }


def _audit_row(row: AuditRow) -> dict[str, str]:
    details = ""
    if row.details:
        try:
            details = ", ".join(f"{k}: {v}" for k, v in json.loads(row.details).items())
        except (ValueError, AttributeError):
            details = row.details
    target = f"{row.target_type} #{row.target_id}" if row.target_type else ""
    return {
        "id": str(row.id),
        "time": local_time(row.created_at, "%d-%m-%Y %H:%M:%S"),
        "actor": row.actor_email or "sistema",
        "action": ACTION_LABELS.get(row.action, row.action),
        "target": target,
        "details": details,
        "ip": row.ip or "",
    }


class AdminState(rx.State):
    tab: str = "oversight"
    error: rx.Field[str] = rx.field("")
    notice: str = ""
    is_admin: bool = False
    # users column
    user_search: str = ""
    users: rx.Field[list[dict[str, str]]] = rx.field(default_factory=list)
    users_more: rx.Field[bool] = rx.field(False)
    users_loaded: bool = False
    selected_user_id: rx.Field[int] = rx.field(0)
    selected_user: dict[str, str] = {}  # noqa: RUF012 - Reflex copies var defaults
    # conversations column
    conversations: rx.Field[list[dict[str, str]]] = rx.field(default_factory=list)
    conversations_more: rx.Field[bool] = rx.field(False)
    selected_conversation_id: rx.Field[int] = rx.field(0)
    # messages column
    messages: list[dict[str, str]] = []  # noqa: RUF012
    messages_loading: bool = False
    # reassignment
    targets: list[dict[str, str]] = []  # noqa: RUF012
    reassign_to: str = ""
    # user management (admins)
    user_sessions: rx.Field[list[dict[str, str]]] = rx.field(default_factory=list)
    # audit
    audit_rows: rx.Field[list[dict[str, str]]] = rx.field(default_factory=list)
    audit_actions: list[dict[str, str]] = []  # noqa: RUF012 - value (code) and label
    audit_action: str = "todas"
    audit_actor: str = ""
    audit_from: str = ""
    audit_to: str = ""
    audit_more: rx.Field[bool] = rx.field(False)

    @rx.var
    def selected_conversation(self) -> dict[str, str]:
        return next(
            (c for c in self.conversations if c["id"] == str(self.selected_conversation_id)), {}
        )

    async def _run(self, call, *args: object, **kwargs: object):  # noqa: ANN001, ANN202
        """Call a service in a thread; a refusal becomes the Spanish message on the page."""
        try:
            return await asyncio.to_thread(call, *args, **kwargs)
        except ServiceError as exc:
            self.error = exc.message
            return None

    # --- loading ------------------------------------------------------------------------------
    @gated(Access.staff)
    async def load(self) -> EventSpec | None:
        actor = caller().user
        self.is_admin, self.error, self.notice = policy.is_admin(actor), "", ""
        await self._load_users(actor, reset=True)
        targets = await self._run(admin.reassign_targets, actor)
        self.targets = [{"id": str(t.id), "label": f"{t.name} · {t.email}"} for t in targets or []]
        if self.selected_user_id:
            await self._load_conversations(actor)
        return None

    async def _load_users(self, actor: UserView, reset: bool) -> None:
        offset = 0 if reset else len(self.users)
        rows = await self._run(
            admin.list_users, actor, search=self.user_search, limit=PAGE + 1, offset=offset
        )
        if rows is None:
            return
        page = [_user_row(r) for r in rows[:PAGE]]
        self.users = page if reset else [*self.users, *page]
        self.users_more, self.users_loaded = len(rows) > PAGE, True

    @gated(Access.staff)
    async def search_users(self, value: str) -> EventSpec | None:
        self.user_search = clip(value, limits.SEARCH)
        actor = caller().user
        await self._load_users(actor, reset=True)
        return None

    @gated(Access.staff)
    async def more_users(self) -> EventSpec | None:
        actor = caller().user
        await self._load_users(actor, reset=False)
        return None

    async def _load_conversations(self, actor: UserView, reset: bool = True) -> None:
        if reset:  # the column header shows the user even when the list is filtered
            row = await self._run(admin.user_row, actor, self.selected_user_id)
            self.selected_user = _user_row(row) if row else {}
        offset = 0 if reset else len(self.conversations)
        rows = await self._run(
            admin.user_conversations, actor, self.selected_user_id, limit=PAGE + 1, offset=offset
        )
        if rows is None:
            self.conversations, self.selected_user_id, self.selected_user = [], 0, {}
            return
        page = [_conversation_row(r) for r in rows[:PAGE]]
        self.conversations = page if reset else [*self.conversations, *page]
        self.conversations_more = len(rows) > PAGE

    @gated(Access.staff)
    async def select_user(self, user_id: str) -> EventSpec | None:
        actor = caller().user
        target = _id(user_id)
        if target is None:
            return None
        self.error, self.notice = "", ""
        self.selected_user_id, self.selected_conversation_id = target, 0
        self.messages, self.user_sessions = [], []
        await self._load_conversations(actor)
        return None

    @gated(Access.staff)
    async def more_conversations(self) -> EventSpec | None:
        actor = caller().user
        await self._load_conversations(actor, reset=False)
        return None

    @gated(Access.staff)
    async def select_conversation(self, conversation_id: str) -> EventSpec | None:
        """Open a transcript (recorded in the audit trail by the service)."""
        actor = caller().user
        target = _id(conversation_id)
        if target is None:
            return None
        self.error, self.notice, self.messages_loading = "", "", True
        self.selected_conversation_id = target
        messages = await self._run(admin.conversation_messages, actor, target, client_ip(self))
        self.messages_loading = False
        if messages is None:
            self.selected_conversation_id, self.messages = 0, []
            return None
        self.messages = [
            {
                "id": str(m.id),
                "role": m.role,
                "content": m.content,
                "status": m.status,
                "note": STATUS_NOTES.get(m.status, ""),
                "time": local_time(m.created_at),
            }
            for m in messages
        ]
        self.reassign_to = ""
        return None

    # --- reassignment --------------------------------------------------------------------
    @gated(Access.staff)
    def set_reassign_to(self, value: str) -> None:
        self.reassign_to = clip(value, limits.ID_TEXT)

    @gated(Access.staff)
    async def reassign(self) -> EventSpec | None:
        actor = caller().user
        target = _id(self.reassign_to)
        if not self.selected_conversation_id or target is None:
            self.error = "Elige a quién reasignar la conversación."
            return None
        self.error = ""
        moved = await self._run(
            admin.reassign, actor, self.selected_conversation_id, target, client_ip(self)
        )
        if moved is None:
            return None
        # Follow the conversation to its new owner, still selected.
        self.selected_user_id = moved.owner_id
        await self._load_users(actor, reset=True)
        await self._load_conversations(actor)
        self.selected_conversation_id = moved.id
        self.notice = "Conversación reasignada."
        return rx.toast.success("Conversación reasignada.")

    @gated(Access.staff)
    async def reassign_all(self) -> EventSpec | None:
        actor = caller().user
        target = _id(self.reassign_to)
        if not self.selected_user_id or target is None:
            self.error = "Elige a quién pasar todas las conversaciones."
            return None
        moved = await self._run(
            admin.reassign_all, actor, self.selected_user_id, target, client_ip(self)
        )
        if moved is None:
            return None
        await self._load_users(actor, reset=True)
        await self._load_conversations(actor)
        self.messages, self.selected_conversation_id = [], 0
        self.notice = f"{moved} conversaciones reasignadas."
        return rx.toast.success(self.notice)

    # --- user management (admins) ---------------------------------------------------------
    async def _manage(
        self,
        call,  # noqa: ANN001
        *args: object,
        done: str,
        **kwargs: object,
    ) -> EventSpec | None:
        actor = caller().user
        self.error = ""
        result = await self._run(call, actor, self.selected_user_id, *args, **kwargs)
        if result is None and self.error:
            return None
        await self._load_users(actor, reset=True)
        row = await self._run(admin.user_row, actor, self.selected_user_id)
        self.selected_user = _user_row(row) if row else {}
        self.notice = done
        return rx.toast.success(done)

    @gated(Access.staff)
    async def set_role(self, role: str) -> EventSpec | None:
        return await self._manage(
            admin.update_user,
            role=clip(role, limits.ROLE),
            ip=client_ip(self),
            done="Rol actualizado.",
        )

    @gated(Access.staff)
    async def set_active(self, active: bool) -> EventSpec | None:
        return await self._manage(
            admin.update_user,
            is_active=bool(active),
            ip=client_ip(self),
            done="Usuario activado." if active else "Usuario desactivado y desconectado.",
        )

    @gated(Access.staff)
    async def reset_two_factor(self) -> EventSpec | None:
        return await self._manage(
            admin.reset_two_factor, client_ip(self), done="Verificación en dos pasos reiniciada."
        )

    @gated(Access.staff)
    async def unlock(self) -> EventSpec | None:
        return await self._manage(admin.unlock, client_ip(self), done="Cuenta desbloqueada.")

    @gated(Access.staff)
    async def load_user_sessions(self) -> EventSpec | None:
        actor = caller().user
        rows = await self._run(admin.user_sessions, actor, self.selected_user_id)
        self.user_sessions = [
            {
                "id": str(s.id),
                "browser": browser_label(s.user_agent),
                "ip": s.ip or "—",
                "last_seen": local_time(s.last_seen_at),
            }
            for s in rows or []
        ]
        return None

    @gated(Access.staff)
    async def revoke_user_session(self, session_id: str) -> EventSpec | None:
        actor = caller().user
        target = _id(session_id)
        if target is None:
            return None
        await self._run(
            admin.revoke_user_session, actor, self.selected_user_id, target, client_ip(self)
        )
        return AdminState.load_user_sessions

    # --- audit ------------------------------------------------------------------------------
    @gated(Access.staff)
    async def show_tab(self, tab: str | list[str]) -> EventSpec | None:
        self.tab = "audit" if tab == "audit" else "oversight"
        if self.tab == "audit":
            return AdminState.load_audit
        return None

    @gated(Access.staff)
    def set_audit_action(self, value: str) -> None:
        self.audit_action = clip(value, limits.AUDIT_ACTION)

    @gated(Access.staff)
    def set_audit_actor(self, value: str) -> None:
        self.audit_actor = clip(value, limits.ID_TEXT)

    @gated(Access.staff)
    def set_audit_from(self, value: str) -> None:
        self.audit_from = clip(value, limits.DAY_TEXT)

    @gated(Access.staff)
    def set_audit_to(self, value: str) -> None:
        self.audit_to = clip(value, limits.DAY_TEXT)

    @gated(Access.staff)
    async def load_audit(self, more: bool = False) -> EventSpec | None:
        actor = caller().user
        self.error = ""
        offset = len(self.audit_rows) if more is True else 0
        rows = await self._run(  # the service checks the dates (bounded, AAAA-MM-DD)
            admin.audit_events,
            actor,
            actor_id=_id(self.audit_actor),
            action="" if self.audit_action == "todas" else self.audit_action,
            date_from=self.audit_from,
            date_to=self.audit_to,
            limit=PAGE + 1,
            offset=offset,
        )
        if rows is None:
            return None
        page = [_audit_row(r) for r in rows[:PAGE]]
        self.audit_rows = [*self.audit_rows, *page] if more is True else page
        self.audit_more = len(rows) > PAGE
        actions = await self._run(admin.audit_actions)
        self.audit_actions = [
            {"value": "todas", "label": "Todas"},
            *({"value": a, "label": ACTION_LABELS.get(a, a)} for a in actions or []),
        ]
        return None

    @gated(Access.staff)
    async def more_audit(self) -> EventSpec | None:
        return await self.load_audit(more=True)
