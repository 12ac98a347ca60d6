"""The Reflex app: pages, theme, and the JSON API mounted on the same server and port."""

import reflex as rx

from energyapp.api.app import create_api
from energyapp.logging_setup import configure_logging
from energyapp.pages import admin, dashboard, login, register, settings  # noqa: F401
from energyapp.settings import get_settings

configure_logging(get_settings())


@rx.page(route="/", title="EnergyApp")
def index() -> rx.Component:
    return rx.center(rx.spinner(size="3"), height="100dvh",
                     on_mount=rx.redirect("/dashboard", replace=True))


# The theme is configured in rxconfig.py (RadixThemesPlugin).
app = rx.App(api_transformer=create_api(), html_lang="es")
