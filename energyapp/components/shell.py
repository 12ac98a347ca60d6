"""The frame of signed-in pages: a top bar with navigation and the user menu. Content renders
only after the page guard confirmed the session, so a protected page never flashes."""

from __future__ import annotations

import reflex as rx

from energyapp.components.layout import brand, color_mode_toggle
from energyapp.domain.roles import Role
from energyapp.states.auth import AuthState

ROLE_COLORS = {
    Role.admin.value: "crimson",
    Role.supervisor.value: "blue",
    Role.trabajador.value: "grass",
}


def role_badge(role: rx.Var[str], label: rx.Var[str]) -> rx.Component:
    return rx.match(
        role,
        *[
            (name, rx.badge(label, color_scheme=color, variant="soft"))
            for name, color in ROLE_COLORS.items()
        ],
        rx.badge(label, variant="soft"),
    )


def _nav_link(label: str, href: str, icon: str) -> rx.Component:
    return rx.link(
        rx.hstack(rx.icon(icon, size=16), rx.text(label, size="2"), align="center", spacing="1"),
        href=href,
        underline="none",
        color_scheme="gray",
        high_contrast=True,
    )


def user_menu() -> rx.Component:
    return rx.menu.root(
        rx.menu.trigger(
            rx.button(
                rx.icon("circle_user", size=18),
                rx.text(AuthState.user_name, display=["none", "none", "inline"]),
                rx.icon("chevron_down", size=14),
                variant="ghost",
                color_scheme="gray",
                # the visible name first, so the accessible name contains what is seen (WCAG 2.5.3)
                aria_label=AuthState.user_name + ", Menú de usuario",
            )
        ),
        rx.menu.content(
            rx.box(
                rx.text(AuthState.user_name, weight="bold", size="2"),
                rx.text(AuthState.user_email, size="1", color_scheme="gray"),
                role_badge(AuthState.user_role, AuthState.role_label),
                padding="8px",
            ),
            rx.menu.separator(),
            rx.menu.item(
                rx.icon("message_square", size=14),
                "Conversaciones",
                on_click=rx.redirect("/dashboard"),
            ),
            rx.cond(
                AuthState.is_staff,
                rx.menu.item(
                    rx.icon("shield", size=14), "Administración", on_click=rx.redirect("/admin")
                ),
            ),
            rx.menu.item(
                rx.icon("settings", size=14), "Ajustes", on_click=rx.redirect("/settings")
            ),
            rx.menu.separator(),
            rx.menu.item(
                rx.icon("log_out", size=14), "Cerrar sesión", color="red", on_click=AuthState.logout
            ),
        ),
    )


def top_bar(*left_extra: rx.Component) -> rx.Component:
    return rx.hstack(
        rx.hstack(
            *left_extra,
            rx.link(brand("4"), href="/dashboard", underline="none"),
            align="center",
            spacing="3",
        ),
        rx.spacer(),
        rx.hstack(
            rx.box(
                _nav_link("Conversaciones", "/dashboard", "message_square"),
                display=["none", "none", "block"],
            ),
            rx.cond(
                AuthState.is_staff,
                rx.box(
                    _nav_link("Administración", "/admin", "shield"),
                    display=["none", "none", "block"],
                ),
            ),
            color_mode_toggle(),
            user_menu(),
            align="center",
            spacing="4",
        ),
        padding_x="1rem",
        height="56px",
        align="center",
        border_bottom=f"1px solid {rx.color('gray', 5)}",
        background=rx.color("gray", 1),
        width="100%",
        flex_shrink="0",
    )


def loading_screen() -> rx.Component:
    return rx.center(
        rx.vstack(
            rx.spinner(size="3"),
            rx.text("Cargando…", color_scheme="gray", size="2"),
            align="center",
            role="status",
        ),
        height="100dvh",
        width="100%",
    )


def signed_in_page(content: rx.Component, *bar_extra: rx.Component) -> rx.Component:
    """Top bar plus content, shown once the guard has confirmed the session."""
    return rx.cond(
        AuthState.checked,
        rx.vstack(
            top_bar(*bar_extra),
            content,
            spacing="0",
            height="100dvh",
            width="100%",
            background=rx.color("gray", 2),
        ),
        loading_screen(),
    )
