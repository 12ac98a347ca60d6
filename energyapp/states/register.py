"""State of /register: new accounts are `trabajador`; on success the user is signed in.
The password and its confirmation arrive in the submitted form and never enter a var."""

from __future__ import annotations

import asyncio

import reflex as rx

from energyapp.services import accounts
from energyapp.services.errors import ServiceError
from energyapp.services.policy import Access
from energyapp.states.auth import client_ip, complete_login, full_navigation, user_agent
from energyapp.states.gate import gated, optional_caller
from energyapp.states.login import MAX_PASSWORD, form_field


class RegisterState(rx.State):
    name: str = ""
    email: str = ""
    error: str = ""
    busy: bool = False

    @gated(Access.public)
    def set_name(self, value: str) -> None:
        self.name = str(value)[:200]

    @gated(Access.public)
    def set_email(self, value: str) -> None:
        self.email = str(value)[:254]

    @rx.var
    def password_rule(self) -> str:
        return accounts.password_rule()

    @gated(Access.public)
    def on_load(self) -> rx.event.EventSpec | None:
        self.error, self.busy = "", False
        if optional_caller() is not None:
            return rx.redirect("/dashboard", replace=True)
        return None

    @gated(Access.public)
    async def submit(self, form: dict | None = None):  # noqa: ANN201 - event generator
        if self.busy:
            return
        if isinstance(form, dict):
            self.set_name(form.get("name", self.name))
            self.set_email(form.get("email", self.email))
        password = form_field(form, "password", MAX_PASSWORD)
        confirmation = form_field(form, "confirmation", MAX_PASSWORD)
        self.error, self.busy = "", True
        yield
        try:
            user = await asyncio.to_thread(
                accounts.register, self.name, self.email, password, confirmation, client_ip(self)
            )
            url = await asyncio.to_thread(
                complete_login, user.id, client_ip(self), user_agent(self), None
            )
            yield full_navigation(url)
        except ServiceError as exc:
            self.error = exc.message
        finally:
            self.busy = False
