"""/login: email and password (with quick access to the demo accounts), then the 2FA code."""

from __future__ import annotations

import reflex as rx

from energyapp.components.layout import (
    brand,
    centered_card,
    form_error,
    labeled_input,
    not_ready,
)
from energyapp.domain.roles import role_label
from energyapp.services import limits
from energyapp.settings import get_settings
from energyapp.states.login import LoginState


def _demo_buttons() -> rx.Component:
    settings = get_settings()
    if not settings.seed_demo_accounts or not settings.demo_accounts:
        return rx.fragment()
    return rx.vstack(
        rx.divider(),
        rx.text("Acceso rápido (cuentas de demostración)", size="2", color_scheme="gray"),
        rx.grid(
            *[
                rx.button(
                    role_label(account.role),
                    # Demo passwords are public (seeded, shown here): filled in the page only.
                    on_click=[
                        LoginState.set_email(account.email),
                        rx.set_value("password", account.password),
                    ],
                    variant="soft",
                    type="button",
                    width="100%",
                    disabled=not_ready(),
                )
                for account in settings.demo_accounts
            ],
            columns=rx.breakpoints(initial="1", xs="3"),
            gap="2",
            width="100%",
        ),
        width="100%",
        spacing="2",
    )


def _password_step() -> rx.Component:
    return rx.vstack(
        rx.form(
            rx.vstack(
                labeled_input(
                    "Correo electrónico",
                    "email",
                    type="email",
                    value=LoginState.email,
                    on_change=LoginState.set_email,
                    placeholder="nombre@empresa.cl",
                    auto_complete="username",
                    required=True,
                    max_length=limits.EMAIL,
                ),
                labeled_input(
                    "Contraseña",
                    "password",
                    type="password",
                    auto_complete="current-password",
                    required=True,
                ),
                rx.button(
                    "Entrar",
                    type="submit",
                    width="100%",
                    size="3",
                    loading=LoginState.busy,
                    disabled=not_ready(),
                ),
                spacing="3",
                width="100%",
            ),
            on_submit=LoginState.submit,
            width="100%",
        ),
        _demo_buttons(),
        rx.text(
            "¿No tienes cuenta? ",
            rx.link("Regístrate", href="/register", underline="always"),
            size="2",
            align="center",
            width="100%",
        ),
        spacing="4",
        width="100%",
    )


def _code_step() -> rx.Component:
    return rx.form(
        rx.vstack(
            rx.callout(
                "Tu cuenta tiene verificación en dos pasos. Escribe el código de 6 dígitos "
                "de tu aplicación de autenticación (o un código de recuperación).",
                icon="shield_check",
                color_scheme="blue",
                width="100%",
            ),
            labeled_input(
                "Código de verificación",
                "code",
                auto_complete="one-time-code",
                input_mode="numeric",
                placeholder="123456",
                auto_focus=True,
                max_length=20,
            ),
            rx.button(
                "Verificar",
                type="submit",
                width="100%",
                size="3",
                loading=LoginState.busy,
                disabled=not_ready(),
            ),
            rx.button(
                "Volver",
                type="button",
                variant="ghost",
                width="100%",
                on_click=LoginState.back_to_password,
            ),
            spacing="3",
            width="100%",
        ),
        on_submit=LoginState.submit_code,
        width="100%",
    )


@rx.page(route="/login", title="Iniciar sesión · EnergyApp", on_load=LoginState.on_load)
def login_page() -> rx.Component:
    return centered_card(
        brand(),
        rx.heading("Iniciar sesión", size="5"),
        rx.text("Chat privado con el modelo de la empresa.", color_scheme="gray", size="2"),
        rx.cond(
            LoginState.notice != "",
            rx.callout(LoginState.notice, icon="info", color_scheme="amber", width="100%"),
        ),
        form_error(LoginState.error),
        rx.cond(LoginState.step == "totp", _code_step(), _password_step()),
    )
