"""State of /register: new accounts are `trabajador`; on success the user is signed in.
The password and its confirmation arrive in the submitted form and never enter a var."""

from __future__ import annotations

import asyncio

import reflex as rx
from reflex.event import EventSpec

from energyapp.domain.errors import ServiceError
from energyapp.services import accounts, limits, login
from energyapp.services.limits import clip
from energyapp.services.policy import Access
from energyapp.states.auth import client_ip, full_navigation, session_url, user_agent
from energyapp.states.gate import gated, optional_caller
from energyapp.states.login import form_field


class RegisterState(rx.State):
    name: str = ""
    email: str = ""
    error: rx.Field[str] = rx.field("")
    busy: bool = False

    @gated(Access.public)
    def set_name(self, value: str) -> None:
        self.name = clip(value, limits.NAME_INPUT)

    @gated(Access.public)
    def set_email(self, value: str) -> None:
        self.email = clip(value, limits.EMAIL)

    @rx.var
    def password_rule(self) -> str:
        return accounts.password_rule()

    @gated(Access.public)
    def on_load(self) -> EventSpec | None:
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
        password = form_field(form, "password", limits.PASSWORD)
        confirmation = form_field(form, "confirmation", limits.PASSWORD)
        self.error, self.busy = "", True
        yield
        try:
            user = await asyncio.to_thread(
                accounts.register, self.name, self.email, password, confirmation, client_ip(self)
            )
            ticket = await asyncio.to_thread(
                login.open_web_session, user.id, client_ip(self), user_agent(self)
            )
            yield full_navigation(session_url(ticket, None))
        except ServiceError as exc:
            self.error = exc.message
        finally:
            self.busy = False
