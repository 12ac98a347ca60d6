"""/register: name, email, password and confirmation, with the password rule shown up front."""

from __future__ import annotations

import reflex as rx

from energyapp.components.layout import (
    brand,
    centered_card,
    form_error,
    labeled_input,
    not_ready,
)
from energyapp.services import limits
from energyapp.states.register import RegisterState


@rx.page(route="/register", title="Crear cuenta · EnergyApp", on_load=RegisterState.on_load)
def register_page() -> rx.Component:
    return centered_card(
        brand(),
        rx.heading("Crear cuenta", size="5"),
        form_error(RegisterState.error),
        rx.form(
            rx.vstack(
                labeled_input(
                    "Nombre completo",
                    "name",
                    value=RegisterState.name,
                    on_change=RegisterState.set_name,
                    auto_complete="name",
                    required=True,
                    max_length=limits.NAME,
                ),
                labeled_input(
                    "Correo electrónico",
                    "email",
                    type="email",
                    value=RegisterState.email,
                    on_change=RegisterState.set_email,
                    auto_complete="email",
                    placeholder="nombre@empresa.cl",
                    required=True,
                    max_length=limits.EMAIL,
                ),
                labeled_input(
                    "Contraseña",
                    "password",
                    type="password",
                    auto_complete="new-password",
                    required=True,
                    hint=RegisterState.password_rule,
                ),
                labeled_input(
                    "Repite la contraseña",
                    "confirmation",
                    type="password",
                    auto_complete="new-password",
                    required=True,
                ),
                rx.button(
                    "Crear cuenta",
                    type="submit",
                    width="100%",
                    size="3",
                    loading=RegisterState.busy,
                    disabled=not_ready(),
                ),
                spacing="3",
                width="100%",
            ),
            on_submit=RegisterState.submit,
            width="100%",
        ),
        rx.text("Las cuentas nuevas tienen el rol Trabajador.", size="1", color_scheme="gray"),
        rx.text(
            "¿Ya tienes cuenta? ",
            rx.link("Inicia sesión", href="/login", underline="always"),
            size="2",
            align="center",
            width="100%",
        ),
    )
