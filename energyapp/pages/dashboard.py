"""/dashboard: the signed-in landing page (the chat itself arrives with the chat issue)."""

from __future__ import annotations

import reflex as rx

from energyapp.components.shell import signed_in_page
from energyapp.states.auth import AuthState


@rx.page(route="/dashboard", title="Conversaciones · EnergyApp", on_load=AuthState.guard_user)
def dashboard_page() -> rx.Component:
    return signed_in_page(
        rx.center(
            rx.vstack(
                rx.icon("message_square", size=40, color=rx.color("accent", 9)),
                rx.heading("Hola, ", AuthState.user_name, size="6", id="welcome"),
                rx.text("Tu sesión está activa.", color_scheme="gray"),
                align="center",
                spacing="3",
            ),
            flex="1",
            width="100%",
        )
    )
