"""State of /settings and /setup-2fa: password, two-step verification and sessions.

The gate resolved the caller before each handler. Passwords and codes arrive in the submitted
form and never enter a var; the TOTP secret, its QR and the recovery codes are shown once and
forgotten when the page is left (see `SECRET_VARS`)."""

from __future__ import annotations

import asyncio

import reflex as rx
from reflex_base.event import EventSpec

from energyapp.domain.errors import ServiceError
from energyapp.services import accounts, limits, sessions, two_factor
from energyapp.services.policy import Access
from energyapp.services.validation import id_or_none
from energyapp.services.views import SessionView, browser_label, local_time
from energyapp.states.auth import SETUP_2FA_ROUTE, AuthState, client_ip
from energyapp.states.gate import caller, forget_when_leaving, gated
from energyapp.states.login import form_field

# Shown once, on these pages only: cleared when another page loads and when the tab goes away.
SECRET_VARS = ("qr_data_uri", "manual_secret", "recovery_codes", "totp_stage")
SECRET_PAGES = ("/settings", SETUP_2FA_ROUTE)


def _when(iso_value: str) -> str:
    return local_time(iso_value)


def _session_row(view: SessionView) -> dict[str, str]:
    return {
        "id": str(view.id),
        "browser": browser_label(view.user_agent),
        "ip": view.ip or "—",
        "last_seen": _when(view.last_seen_at),
        "created": _when(view.created_at),
        "current": "1" if view.current else "",
        "api": "1" if view.channel == "api" else "",
    }


class SettingsState(rx.State):
    # password
    password_error: rx.Field[str] = rx.field("")
    change_notice: rx.Field[str] = rx.field("")
    password_busy: bool = False
    # two-step verification: stage "" (idle), "scan" (QR shown), "codes" (recovery codes shown)
    totp_stage: str = ""
    qr_data_uri: str = ""
    manual_secret: str = ""
    recovery_codes: list[str] = []  # noqa: RUF012 - Reflex copies var defaults
    totp_error: rx.Field[str] = rx.field("")
    totp_done: rx.Field[str] = rx.field("")
    totp_busy: bool = False
    # sessions
    session_rows: rx.Field[list[dict[str, str]]] = rx.field(default_factory=list)
    sessions_error: rx.Field[str] = rx.field("")
    sessions_loaded: bool = False

    @rx.var
    def password_rule(self) -> str:
        return accounts.password_rule()

    async def _refresh_user(self) -> None:
        resolved = await asyncio.to_thread(sessions.resolve_by_id, caller().session_id)
        (await self.get_state(AuthState))._show(resolved)

    @gated(Access.user)
    async def load(self) -> None:
        """on_load: reset the forms and list the sessions."""
        self.password_error = self.change_notice = self.totp_error = self.totp_done = ""
        if self.totp_stage == "scan":  # a QR shown on /setup-2fa is not carried over here
            self._reset_secrets()
        await self._list_sessions()

    @gated(Access.user)
    async def load_sessions(self) -> None:
        await self._list_sessions()

    async def _list_sessions(self) -> None:
        resolved = caller()
        views = await asyncio.to_thread(sessions.list_active, resolved.user.id, resolved.session_id)
        self.session_rows = [_session_row(v) for v in views]
        self.sessions_loaded, self.sessions_error = True, ""

    @gated(Access.user)
    async def change_password(self, form: dict | None = None):  # noqa: ANN201
        resolved = caller()
        current = form_field(form, "current_password", limits.PASSWORD)
        new = form_field(form, "new_password", limits.PASSWORD)
        confirmation = form_field(form, "new_confirmation", limits.PASSWORD)
        self.password_error = self.change_notice = ""
        self.password_busy = True
        yield
        try:
            await asyncio.to_thread(
                accounts.change_password,
                resolved.user.id,
                current,
                new,
                confirmation,
                client_ip(self),
                resolved.session_id,
            )
            yield [
                rx.set_value(field, "")
                for field in (  # typed passwords leave the page too
                    "current_password",
                    "new_password",
                    "new_confirmation",
                )
            ]
            self.change_notice = (
                "Contraseña actualizada. Cerramos tus demás sesiones por seguridad."
            )
            await self._list_sessions()
        except ServiceError as exc:
            self.password_error = exc.message
        finally:
            self.password_busy = False

    @gated(Access.setup)
    async def start_totp_setup(self) -> None:
        """The button in /settings: a new secret."""
        await self._begin_totp_setup(keep_pending=False)

    @gated(Access.setup)
    async def resume_totp_setup(self) -> None:
        """/setup-2fa's load: the pending secret, if any, so a reload or a redirect back to the
        page keeps the QR already shown (and maybe scanned)."""
        await self._begin_totp_setup(keep_pending=True)

    async def _begin_totp_setup(self, *, keep_pending: bool) -> None:
        resolved = caller()
        self.totp_error = self.totp_done = ""
        try:
            start = await asyncio.to_thread(
                two_factor.begin_setup, resolved.user.id, keep_pending=keep_pending
            )
        except ServiceError as exc:
            self.totp_error = exc.message
            return
        self.qr_data_uri, self.manual_secret = start.qr_data_uri, start.secret
        self.totp_stage = "scan"

    @gated(Access.setup)
    async def confirm_totp_setup(self, form: dict | None = None):  # noqa: ANN201
        resolved = caller()
        code = form_field(form, "setup_code", limits.TOTP_CODE)
        self.totp_error, self.totp_busy = "", True
        yield
        try:
            codes = await asyncio.to_thread(
                two_factor.confirm_setup, resolved.user.id, code, client_ip(self)
            )
            self.recovery_codes, self.totp_stage = codes, "codes"
            self.qr_data_uri = self.manual_secret = ""
            await self._refresh_user()
        except ServiceError as exc:
            self.totp_error = exc.message
        finally:
            self.totp_busy = False

    @gated(Access.setup)
    def cancel_totp_setup(self) -> None:
        self.totp_stage, self.qr_data_uri, self.manual_secret, self.totp_error = "", "", "", ""

    @gated(Access.setup)
    def forget_secrets(self) -> None:
        """The panel that shows the secret or the codes left the page."""
        if self.totp_stage == "codes" or self.qr_data_uri:
            self._reset_secrets()

    def _reset_secrets(self) -> None:
        self.qr_data_uri, self.manual_secret, self.recovery_codes = "", "", []
        if self.totp_stage in ("scan", "codes"):
            self.totp_stage = ""

    @gated(Access.setup)
    def codes_saved(self) -> EventSpec | None:
        """The user confirmed they stored the recovery codes: forget them for good."""
        self.recovery_codes, self.totp_stage = [], ""
        self.totp_done = "Verificación en dos pasos activada."
        if self.router.url.path.startswith(SETUP_2FA_ROUTE):
            return rx.redirect("/dashboard", replace=True)
        return None

    @gated(Access.user)
    async def disable_totp(self, form: dict | None = None):  # noqa: ANN201
        resolved = caller()
        password = form_field(form, "disable_password", limits.PASSWORD)
        code = form_field(form, "disable_code", limits.TOTP_CODE)
        self.totp_error = self.totp_done = ""
        self.totp_busy = True
        yield
        try:
            await asyncio.to_thread(
                two_factor.disable,
                resolved.user.id,
                password,
                code,
                client_ip(self),
                keep_session_id=resolved.session_id,
            )
            self.totp_done = "Verificación en dos pasos desactivada."
            await self._refresh_user()
            await self._list_sessions()
        except ServiceError as exc:
            self.totp_error = exc.message
        finally:
            self.totp_busy = False

    @gated(Access.user)
    async def revoke_session(self, session_id: str) -> EventSpec | None:
        resolved = caller()
        target = id_or_none(session_id)  # 1..2^63-1, or refused
        if target is None:
            self.sessions_error = "Sesión no válida."
            return None
        if target == resolved.session_id:
            return AuthState.logout
        try:
            await asyncio.to_thread(sessions.revoke, resolved.user.id, target, client_ip(self))
        except ServiceError as exc:
            self.sessions_error = exc.message
        await self._list_sessions()
        return None

    @gated(Access.user)
    async def revoke_other_sessions(self) -> None:
        resolved = caller()
        await asyncio.to_thread(
            sessions.revoke_others, resolved.user.id, resolved.session_id, client_ip(self)
        )
        await self._list_sessions()


forget_when_leaving(SettingsState, SECRET_PAGES, SettingsState._reset_secrets)
