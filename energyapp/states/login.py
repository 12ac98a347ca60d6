"""State of /login: password, then the 2FA code when the account has it, then a one-time ticket
that /api/auth/session turns into the HttpOnly cookie.

The password and the code never enter a var: they arrive in the submitted form, are used, and
are gone (a var would be kept in the tab's server-side state, on disk with one worker)."""

from __future__ import annotations

import asyncio
import time

import reflex as rx

from energyapp.auth.redirects import safe_next
from energyapp.services import login
from energyapp.services.errors import ServiceError
from energyapp.services.policy import Access
from energyapp.settings import get_settings
from energyapp.states.auth import client_ip, complete_login, full_navigation, user_agent
from energyapp.states.gate import gated, optional_caller

MAX_EMAIL = 254
MAX_PASSWORD = 1024


def form_field(form: object, name: str, limit: int) -> str:
    value = form.get(name, "") if isinstance(form, dict) else ""
    return str(value)[:limit]


class LoginState(rx.State):
    email: str = ""
    error: str = ""
    notice: str = ""
    busy: bool = False
    step: str = "password"  # "password" or "totp"

    # Backend-only: the half-logged-in step, bound to this tab's state and short-lived.
    _pending_user_id: int = 0
    _pending_until: float = 0.0

    @gated(Access.public)
    def set_email(self, value: str) -> None:
        self.email = str(value)[:MAX_EMAIL]

    @gated(Access.public)
    def on_load(self) -> rx.event.EventSpec | None:
        self.error, self.busy, self.step = "", False, "password"
        self._pending_user_id = 0
        params = self.router.url.query_parameters
        self.notice = (
            "Tu enlace de acceso expiró. Vuelve a ingresar."
            if params.get("expired")
            else "Tu sesión terminó: se cerró desde otro dispositivo o expiró. Vuelve a ingresar."
            if params.get("ended")
            else ""
        )
        if optional_caller() is not None:
            return rx.redirect(self._next_path(), replace=True)
        return None

    def _next_path(self) -> str:
        return safe_next(self.router.url.query_parameters.get("next"))

    async def _finish(self, user_id: int) -> rx.event.EventSpec:
        url = await asyncio.to_thread(
            complete_login,
            user_id,
            client_ip(self),
            user_agent(self),
            self.router.url.query_parameters.get("next"),
        )
        self._pending_user_id = 0
        return full_navigation(url)

    @gated(Access.public)
    async def submit(self, form: dict | None = None):  # noqa: ANN201 - event generator
        if self.busy:
            return
        if isinstance(form, dict) and "email" in form:
            self.set_email(form["email"])
        password = form_field(form, "password", MAX_PASSWORD)
        self.error = ""
        if not self.email.strip() or not password:
            self.error = "Escribe tu correo y tu contraseña."
            return
        self.busy = True
        yield
        try:
            user = await asyncio.to_thread(
                login.check_password, self.email, password, client_ip(self)
            )
            if user.totp_enabled:
                self._pending_user_id = user.id
                self._pending_until = time.monotonic() + get_settings().totp_pending_minutes * 60
                self.step = "totp"
                return
            yield await self._finish(user.id)
        except ServiceError as exc:
            self.error = exc.message
        finally:
            self.busy = False

    @gated(Access.public)
    async def submit_code(self, form: dict | None = None):  # noqa: ANN201 - event generator
        if self.busy:
            return
        code = form_field(form, "code", 32)
        self.error = ""
        if not self._pending_user_id or time.monotonic() > self._pending_until:
            self.step, self._pending_user_id = "password", 0
            self.error = "El paso de verificación expiró. Ingresa tu contraseña de nuevo."
            return
        if not code.strip():
            self.error = "Escribe el código de 6 dígitos de tu aplicación."
            return
        self.busy = True
        yield
        try:
            await asyncio.to_thread(
                login.check_second_factor, self._pending_user_id, code, client_ip(self)
            )
            yield await self._finish(self._pending_user_id)
        except ServiceError as exc:
            self.error = exc.message
        finally:
            self.busy = False

    @gated(Access.public)
    def back_to_password(self) -> None:
        self.step, self.error, self._pending_user_id = "password", "", 0
