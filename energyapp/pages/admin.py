"""/admin: admins and supervisors only (the guard sends everyone else away before rendering)."""

from __future__ import annotations

import reflex as rx

from energyapp.components.shell import signed_in_page
from energyapp.states.auth import AuthState


@rx.page(route="/admin", title="Administración · EnergyApp", on_load=AuthState.guard_staff)
def admin_page() -> rx.Component:
    return signed_in_page(
        rx.box(
            rx.heading("Administración", size="6"),
            rx.text("Supervisión de usuarios y conversaciones.", color_scheme="gray"),
            padding="1rem",
            width="100%",
        )
    )
