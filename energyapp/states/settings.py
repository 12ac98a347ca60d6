"""State of /settings and /setup-2fa: password, two-step verification and sessions.

Every handler resolves the session again: the page being open proves nothing."""

from __future__ import annotations

import asyncio

import reflex as rx

from energyapp.services import accounts, sessions, two_factor
from energyapp.services.errors import ServiceError
from energyapp.services.views import SessionView, browser_label, local_time
from energyapp.states.auth import (
    SETUP_2FA_ROUTE,
    AuthState,
    client_ip,
    current_session,
    login_redirect,
)


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
    }


class SettingsState(rx.State):
    # password
    current_password: str = ""
    new_password: str = ""
    new_confirmation: str = ""
    password_error: str = ""
    change_notice: str = ""
    password_busy: bool = False
    # two-step verification: stage "" (idle), "scan" (QR shown), "codes" (recovery codes shown)
    totp_stage: str = ""
    qr_data_uri: str = ""
    manual_secret: str = ""
    setup_code: str = ""
    recovery_codes: list[str] = []  # noqa: RUF012 - Reflex copies var defaults
    totp_error: str = ""
    totp_done: str = ""
    disable_password: str = ""
    disable_code: str = ""
    totp_busy: bool = False
    # sessions
    session_rows: list[dict[str, str]] = []  # noqa: RUF012 - Reflex copies var defaults
    sessions_error: str = ""
    sessions_loaded: bool = False

    @rx.event
    def set_current_password(self, value: str) -> None:
        self.current_password = str(value)[:1024]

    @rx.event
    def set_new_password(self, value: str) -> None:
        self.new_password = str(value)[:1024]

    @rx.event
    def set_new_confirmation(self, value: str) -> None:
        self.new_confirmation = str(value)[:1024]

    @rx.event
    def set_setup_code(self, value: str) -> None:
        self.setup_code = str(value)[:20]

    @rx.event
    def set_disable_password(self, value: str) -> None:
        self.disable_password = str(value)[:1024]

    @rx.event
    def set_disable_code(self, value: str) -> None:
        self.disable_code = str(value)[:20]

    @rx.var
    def password_rule(self) -> str:
        return accounts.password_rule()

    async def _refresh_user(self) -> None:
        auth = await self.get_state(AuthState)
        auth._show(await current_session(self))

    @rx.event
    async def load(self) -> rx.event.EventSpec | None:
        """on_load: reset the forms and list the sessions."""
        self.password_error = self.change_notice = self.totp_error = self.totp_done = ""
        if self.totp_stage == "scan":
            self.totp_stage = ""
        return await self.load_sessions()

    @rx.event
    async def load_sessions(self) -> rx.event.EventSpec | None:
        resolved = await current_session(self)
        if resolved is None:
            return login_redirect("/settings")
        views = await asyncio.to_thread(sessions.list_active, resolved.user.id,
                                        resolved.session_id)
        self.session_rows = [_session_row(v) for v in views]
        self.sessions_loaded, self.sessions_error = True, ""
        return None

    @rx.event
    async def change_password(self, form: dict | None = None):  # noqa: ANN201
        resolved = await current_session(self)
        if resolved is None:
            yield login_redirect("/settings")
            return
        form = form if isinstance(form, dict) else {}
        self.set_current_password(form.get("current_password", self.current_password))
        self.set_new_password(form.get("new_password", self.new_password))
        self.set_new_confirmation(form.get("new_confirmation", self.new_confirmation))
        self.password_error = self.change_notice = ""
        self.password_busy = True
        yield
        try:
            await asyncio.to_thread(
                accounts.change_password, resolved.user.id, self.current_password,
                self.new_password, self.new_confirmation, client_ip(self),
                resolved.session_id,
            )
            self.current_password = self.new_password = self.new_confirmation = ""
            self.change_notice = (
                "Contraseña actualizada. Cerramos tus demás sesiones por seguridad.")
            yield SettingsState.load_sessions
        except ServiceError as exc:
            self.password_error = exc.message
        finally:
            self.password_busy = False

    @rx.event
    async def start_totp_setup(self) -> rx.event.EventSpec | None:
        """The button in /settings: a new secret."""
        return await self._begin_totp_setup(keep_pending=False)

    @rx.event
    async def resume_totp_setup(self) -> rx.event.EventSpec | None:
        """/setup-2fa's load: the pending secret, if any, so a reload or a redirect back to the
        page keeps the QR already shown (and maybe scanned)."""
        return await self._begin_totp_setup(keep_pending=True)

    async def _begin_totp_setup(self, *, keep_pending: bool) -> rx.event.EventSpec | None:
        resolved = await current_session(self)
        if resolved is None:
            return login_redirect("/settings")
        self.totp_error = self.totp_done = ""
        try:
            start = await asyncio.to_thread(two_factor.begin_setup, resolved.user.id,
                                            keep_pending=keep_pending)
        except ServiceError as exc:
            self.totp_error = exc.message
            return None
        self.qr_data_uri, self.manual_secret = start.qr_data_uri, start.secret
        self.setup_code, self.totp_stage = "", "scan"
        return None

    @rx.event
    async def confirm_totp_setup(self, form: dict | None = None):  # noqa: ANN201
        resolved = await current_session(self)
        if resolved is None:
            yield login_redirect("/settings")
            return
        form = form if isinstance(form, dict) else {}
        self.set_setup_code(form.get("setup_code", self.setup_code))
        self.totp_error, self.totp_busy = "", True
        yield
        try:
            codes = await asyncio.to_thread(two_factor.confirm_setup, resolved.user.id,
                                            self.setup_code, client_ip(self))
            self.recovery_codes, self.totp_stage = codes, "codes"
            self.qr_data_uri = self.manual_secret = self.setup_code = ""
            await self._refresh_user()
        except ServiceError as exc:
            self.totp_error = exc.message
        finally:
            self.totp_busy = False

    @rx.event
    def cancel_totp_setup(self) -> None:
        self.totp_stage, self.qr_data_uri, self.manual_secret, self.totp_error = "", "", "", ""

    @rx.event
    def codes_saved(self) -> rx.event.EventSpec | None:
        """The user confirmed they stored the recovery codes: forget them for good."""
        self.recovery_codes, self.totp_stage = [], ""
        self.totp_done = "Verificación en dos pasos activada."
        if self.router.url.path.startswith(SETUP_2FA_ROUTE):
            return rx.redirect("/dashboard", replace=True)
        return None

    @rx.event
    async def disable_totp(self, form: dict | None = None):  # noqa: ANN201
        resolved = await current_session(self)
        if resolved is None:
            yield login_redirect("/settings")
            return
        form = form if isinstance(form, dict) else {}
        self.set_disable_password(form.get("disable_password", self.disable_password))
        self.set_disable_code(form.get("disable_code", self.disable_code))
        self.totp_error = self.totp_done = ""
        self.totp_busy = True
        yield
        try:
            await asyncio.to_thread(two_factor.disable, resolved.user.id, self.disable_password,
                                    self.disable_code, client_ip(self))
            self.disable_password = self.disable_code = ""
            self.totp_done = "Verificación en dos pasos desactivada."
            await self._refresh_user()
        except ServiceError as exc:
            self.totp_error = exc.message
            self.disable_code = ""
        finally:
            self.totp_busy = False

    @rx.event
    async def revoke_session(self, session_id: str) -> rx.event.EventSpec | None:
        resolved = await current_session(self)
        if resolved is None:
            return login_redirect("/settings")
        try:
            target = int(session_id)
        except (TypeError, ValueError):
            self.sessions_error = "Sesión no válida."
            return None
        if target == resolved.session_id:
            return AuthState.logout
        try:
            await asyncio.to_thread(sessions.revoke, resolved.user.id, target, client_ip(self))
        except ServiceError as exc:
            self.sessions_error = exc.message
        return SettingsState.load_sessions

    @rx.event
    async def revoke_other_sessions(self) -> rx.event.EventSpec | None:
        resolved = await current_session(self)
        if resolved is None:
            return login_redirect("/settings")
        await asyncio.to_thread(sessions.revoke_others, resolved.user.id, resolved.session_id,
                                client_ip(self))
        return SettingsState.load_sessions
