"""Page frames shared by every page: one theme, light and dark, phone-width friendly."""

from __future__ import annotations

from typing import cast

import reflex as rx
from reflex.vars import BooleanVar

APP_TITLE = "EnergyApp"


def not_ready() -> rx.Var[bool]:
    """True until React has hydrated the prerendered page and the state arrived: buttons stay
    disabled meanwhile, so an early click is never lost."""
    # Reflex declares `is_hydrated: bool`; read on the class, it is the state's BooleanVar.
    return ~cast(BooleanVar, rx.State.is_hydrated)


def brand(size: str = "6") -> rx.Component:
    return rx.hstack(
        rx.box(
            rx.icon("zap", size=20, color="white"),
            background=rx.color("accent", 9),
            border_radius="8px",
            padding="6px",
            display="flex",
        ),
        rx.heading(APP_TITLE, size=size, weight="bold"),
        align="center",
        spacing="2",
    )


def color_mode_toggle() -> rx.Component:
    return rx.tooltip(
        rx.icon_button(
            rx.color_mode_cond(light=rx.icon("moon", size=16), dark=rx.icon("sun", size=16)),
            on_click=rx.toggle_color_mode,
            variant="ghost",
            color_scheme="gray",
            aria_label="Cambiar tema claro u oscuro",
        ),
        content="Tema claro / oscuro",
    )


def centered_card(*children: rx.Component, max_width: str = "420px") -> rx.Component:
    """A centered card on a soft background: login, register and other one-form pages."""
    return rx.box(
        rx.box(color_mode_toggle(), position="absolute", top="1rem", right="1rem"),
        rx.center(
            rx.card(
                rx.vstack(*children, spacing="4", width="100%"),
                size="4",
                width="100%",
                max_width=max_width,
            ),
            min_height="100dvh",
            padding="1rem",
        ),
        background=rx.color("gray", 2),
        position="relative",
    )


def form_error(message: rx.Var[str]) -> rx.Component:
    return rx.cond(
        message != "",
        rx.callout(message, icon="triangle_alert", color_scheme="red", role="alert", width="100%"),
    )


def labeled_input(
    label: str, field_id: str, hint: str | rx.Var = "", **input_props: object
) -> rx.Component:
    """A label bound to its input (screen readers, clicks on the label) with an optional hint."""
    parts: list[rx.Component] = [
        rx.el.label(rx.text(label, size="2", weight="medium"), html_for=field_id),
        rx.input(id=field_id, name=field_id, width="100%", size="3", **input_props),
    ]
    if isinstance(hint, rx.Var) or hint:
        parts.append(rx.text(hint, size="1", color_scheme="gray"))
    return rx.vstack(*parts, spacing="1", width="100%")


def selectable_item(
    *children: rx.Component,
    selected: rx.Var[bool],
    on_click: object,
    class_name: str,
    padding: str = "8px",
) -> rx.Component:
    """A clickable row in a list (conversations, users), highlighted when selected: a native
    button, so Tab reaches it and Enter or Space selects it."""
    return rx.el.button(
        *children,
        type="button",
        on_click=on_click,
        padding=padding,
        border_radius="8px",
        border="none",
        cursor="pointer",
        display="block",
        text_align="left",
        font="inherit",
        color="inherit",
        width="100%",
        aria_current=rx.cond(selected, "true", "false"),
        background=rx.cond(selected, rx.color("accent", 4), "transparent"),
        _hover={"background": rx.color("gray", 4)},
        _focus_visible={"outline": f"2px solid {rx.color('accent', 8)}", "outline_offset": "1px"},
        class_name=class_name,
    )
