"""State of /register: new accounts are `trabajador`; on success the user is signed in."""

from __future__ import annotations

import asyncio

import reflex as rx

from energyapp.services import accounts
from energyapp.services.errors import ServiceError
from energyapp.states.auth import (
    client_ip,
    complete_login,
    current_session,
    full_navigation,
    user_agent,
)


class RegisterState(rx.State):
    name: str = ""
    email: str = ""
    password: str = ""
    confirmation: str = ""
    error: str = ""
    busy: bool = False

    @rx.event
    def set_name(self, value: str) -> None:
        self.name = str(value)[:200]

    @rx.event
    def set_email(self, value: str) -> None:
        self.email = str(value)[:254]

    @rx.event
    def set_password(self, value: str) -> None:
        self.password = str(value)[:1024]

    @rx.event
    def set_confirmation(self, value: str) -> None:
        self.confirmation = str(value)[:1024]

    @rx.var
    def password_rule(self) -> str:
        return accounts.password_rule()

    @rx.var
    def live_problem(self) -> str:
        """Shown under the fields while typing, before submit."""
        if not self.password:
            return ""
        if self.confirmation and self.password != self.confirmation:
            return "Las contraseñas no coinciden."
        return accounts.password_problem(self.password, self.password) or ""

    @rx.event
    async def on_load(self) -> rx.event.EventSpec | None:
        self.error, self.busy = "", False
        if await current_session(self) is not None:
            return rx.redirect("/dashboard", replace=True)
        return None

    @rx.event
    async def submit(self, form: dict | None = None):  # noqa: ANN201 - event generator
        if self.busy:
            return
        form = form if isinstance(form, dict) else {}
        self.set_name(form.get("name", self.name))
        self.set_email(form.get("email", self.email))
        self.set_password(form.get("password", self.password))
        self.set_confirmation(form.get("confirmation", self.confirmation))
        self.error, self.busy = "", True
        yield
        try:
            user = await asyncio.to_thread(accounts.register, self.name, self.email,
                                           self.password, self.confirmation, client_ip(self))
            url = await asyncio.to_thread(complete_login, user.id, client_ip(self),
                                          user_agent(self), None)
            self.password = self.confirmation = ""
            yield full_navigation(url)
        except ServiceError as exc:
            self.error = exc.message
        finally:
            self.busy = False
