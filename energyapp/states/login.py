"""State of /login: password, then the 2FA code when the account has it, then a one-time ticket
that /api/auth/session turns into the HttpOnly cookie."""

from __future__ import annotations

import asyncio
import time

import reflex as rx

from energyapp.auth.redirects import safe_next
from energyapp.services import login
from energyapp.services.errors import ServiceError
from energyapp.settings import get_settings
from energyapp.states.auth import (
    client_ip,
    complete_login,
    current_session,
    full_navigation,
    user_agent,
)

MAX_EMAIL = 254
MAX_PASSWORD = 1024


class LoginState(rx.State):
    email: str = ""
    password: str = ""
    code: str = ""
    error: str = ""
    notice: str = ""
    busy: bool = False
    step: str = "password"  # "password" or "totp"

    # Backend-only: the half-logged-in step, bound to this tab's state and short-lived.
    _pending_user_id: int = 0
    _pending_until: float = 0.0

    @rx.event
    def set_email(self, value: str) -> None:
        self.email = str(value)[:MAX_EMAIL]

    @rx.event
    def set_password(self, value: str) -> None:
        self.password = str(value)[:MAX_PASSWORD]

    @rx.event
    def set_code(self, value: str) -> None:
        self.code = str(value)[:32]

    @rx.event
    def fill_demo(self, email: str, password: str) -> None:
        """Quick-access buttons: fill the form with a demo account's credentials."""
        self.email, self.password, self.error = str(email), str(password), ""

    @rx.event
    async def on_load(self) -> rx.event.EventSpec | None:
        self.error, self.busy, self.step, self.code = "", False, "password", ""
        self._pending_user_id = 0
        params = self.router.url.query_parameters
        self.notice = ("Tu enlace de acceso expiró. Vuelve a ingresar."
                       if params.get("expired") else "")
        if await current_session(self) is not None:
            return rx.redirect(self._next_path(), replace=True)
        return None

    def _next_path(self) -> str:
        return safe_next(self.router.url.query_parameters.get("next"))

    async def _finish(self, user_id: int) -> rx.event.EventSpec:
        url = await asyncio.to_thread(complete_login, user_id, client_ip(self), user_agent(self),
                                      self.router.url.query_parameters.get("next"))
        self.password, self.code, self._pending_user_id = "", "", 0
        return full_navigation(url)

    @rx.event
    async def submit(self, form: dict | None = None):  # noqa: ANN201 - event generator
        if self.busy:
            return
        form = form if isinstance(form, dict) else {}
        self.set_email(form.get("email", self.email))
        self.set_password(form.get("password", self.password))
        self.error = ""
        if not self.email.strip() or not self.password:
            self.error = "Escribe tu correo y tu contraseña."
            return
        self.busy = True
        yield
        try:
            user = await asyncio.to_thread(login.check_password, self.email, self.password,
                                           client_ip(self))
            if user.totp_enabled:
                self._pending_user_id = user.id
                self._pending_until = time.monotonic() + get_settings().totp_pending_minutes * 60
                self.step, self.code = "totp", ""
                return
            yield await self._finish(user.id)
        except ServiceError as exc:
            self.error = exc.message
        finally:
            self.busy = False

    @rx.event
    async def submit_code(self, form: dict | None = None):  # noqa: ANN201 - event generator
        if self.busy:
            return
        form = form if isinstance(form, dict) else {}
        self.set_code(form.get("code", self.code))
        self.error = ""
        if not self._pending_user_id or time.monotonic() > self._pending_until:
            self.step, self._pending_user_id = "password", 0
            self.error = "El paso de verificación expiró. Ingresa tu contraseña de nuevo."
            return
        if not self.code.strip():
            self.error = "Escribe el código de 6 dígitos de tu aplicación."
            return
        self.busy = True
        yield
        try:
            await asyncio.to_thread(login.check_second_factor, self._pending_user_id, self.code,
                                    client_ip(self))
            yield await self._finish(self._pending_user_id)
        except ServiceError as exc:
            self.error = exc.message
            self.code = ""
        finally:
            self.busy = False

    @rx.event
    def back_to_password(self) -> None:
        self.step, self.code, self.error, self._pending_user_id = "password", "", "", 0
