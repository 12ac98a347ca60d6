"""State of /login, a thin adapter over `services.login`: `web_password`, then `web_code` when
the account has 2FA, each completing with a one-time ticket that /api/auth/session turns into
the HttpOnly cookie.

The password and the code never enter a var: they arrive in the submitted form, are used, and
are gone (a var would be kept in the tab's server-side state, on disk with one worker)."""

from __future__ import annotations

import asyncio
import time

import reflex as rx
from reflex.event import EventSpec

from energyapp.auth.redirects import safe_next
from energyapp.domain.errors import ServiceError
from energyapp.services import limits, login
from energyapp.services.limits import clip
from energyapp.services.policy import Access
from energyapp.states.auth import client_ip, full_navigation, session_url, user_agent
from energyapp.states.gate import gated, optional_caller


def form_field(form: object, name: str, limit: int) -> str:
    """One field of a submitted form, as text of at most `limit` characters."""
    return clip(form.get(name, "") if isinstance(form, dict) else "", limit)


class LoginState(rx.State):
    email: str = ""
    error: rx.Field[str] = rx.field("")
    notice: str = ""
    busy: bool = False
    step: str = "password"  # "password" or "totp"

    # Backend-only: the half-logged-in step, bound to this tab's state and short-lived.
    _pending_user_id: int = 0
    _pending_until: float = 0.0

    @gated(Access.public)
    def set_email(self, value: str) -> None:
        self.email = clip(value, limits.EMAIL)

    @gated(Access.public)
    def on_load(self) -> EventSpec | None:
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

    def _finish(self, ticket: str) -> EventSpec:
        self._pending_user_id = 0
        return full_navigation(session_url(ticket, self.router.url.query_parameters.get("next")))

    @gated(Access.public)
    async def submit(self, form: dict | None = None):  # noqa: ANN201 - event generator
        if self.busy:
            return
        if isinstance(form, dict) and "email" in form:
            self.set_email(form["email"])
        password = form_field(form, "password", limits.PASSWORD)
        self.error = ""
        if not self.email.strip() or not password:
            self.error = "Escribe tu correo y tu contraseña."
            return
        self.busy = True
        yield
        try:
            step = await asyncio.to_thread(
                login.web_password, self.email, password, client_ip(self), user_agent(self)
            )
            if step.needs_code:
                self._pending_user_id, self._pending_until = step.user_id, step.code_until
                self.step = "totp"
                return
            yield self._finish(step.ticket)
        except ServiceError as exc:
            self.error = exc.message
        finally:
            self.busy = False

    @gated(Access.public)
    async def submit_code(self, form: dict | None = None):  # noqa: ANN201 - event generator
        if self.busy:
            return
        code = form_field(form, "code", limits.TOTP_CODE)
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
            ticket = await asyncio.to_thread(
                login.web_code, self._pending_user_id, code, client_ip(self), user_agent(self)
            )
            yield self._finish(ticket)
        except ServiceError as exc:
            self.error = exc.message
        finally:
            self.busy = False

    @gated(Access.public)
    def back_to_password(self) -> None:
        self.step, self.error, self._pending_user_id = "password", "", 0
