"""State of the /login page."""

from __future__ import annotations

import reflex as rx


class LoginState(rx.State):
    email: str = ""
    password: str = ""
    error: str = ""
    busy: bool = False

    @rx.event
    def set_email(self, value: str) -> None:
        self.email = str(value)[:254]

    @rx.event
    def set_password(self, value: str) -> None:
        self.password = str(value)[:200]

    @rx.event
    def fill_demo(self, email: str, password: str) -> None:
        """Quick-access buttons: fill the form with a demo account's credentials."""
        self.email, self.password, self.error = str(email), str(password), ""
