"""The Reflex app: pages, theme, and the JSON API mounted on the same server and port."""

import asyncio
import logging

import reflex as rx
from reflex_base.event import EventSpec

from energyapp import reflex_patches
from energyapp.api.app import create_api
from energyapp.api.headers import security_headers
from energyapp.api.proxy import trust_forwarded_proto
from energyapp.db.failures import database_unavailable, log_unavailable
from energyapp.domain.errors import DATABASE_UNAVAILABLE
from energyapp.logging_setup import APP_LOGGER, configure_logging
from energyapp.pages import admin, dashboard, login, register, settings  # noqa: F401
from energyapp.services import chat
from energyapp.settings import get_settings
from energyapp.states import tab_reset
from energyapp.states.gate import SessionGate

configure_logging(get_settings())
reflex_patches.apply(on_disconnect=tab_reset.forget_secrets_of)


@rx.page(route="/", title="EnergyApp")
def index() -> rx.Component:
    return rx.center(
        rx.spinner(size="3"), height="100dvh", on_mount=rx.redirect("/dashboard", replace=True)
    )


async def size_thread_pool() -> None:
    """asyncio.to_thread runs database and bcrypt work; give it enough threads (per worker)."""
    from concurrent.futures import ThreadPoolExecutor

    asyncio.get_running_loop().set_default_executor(
        ThreadPoolExecutor(
            max_workers=get_settings().blocking_threads, thread_name_prefix="energyapp-blocking"
        )
    )


async def sweep_interrupted_answers() -> None:
    """Answers a crash left "streaming" become "interrupted": all of them at start-up of a
    single-process server, then every minute those silent for `stream_stale_seconds`."""
    everything = not get_settings().redis_url
    while True:
        try:
            await asyncio.to_thread(chat.sweep_stale, everything=everything)
        except Exception:
            logging.getLogger(APP_LOGGER).exception("sweep_failed")
        everything = False
        await asyncio.sleep(60)


# The theme is configured in rxconfig.py (RadixThemesPlugin).
# Transformers wrap in order: the API mounts Reflex (and, in prod, the built frontend), then
# the scheme from a trusted proxy, then headers on every HTTP response (pages included).
def backend_error(exception: Exception) -> EventSpec:
    """An event handler raised: a Spanish toast (never Reflex's English one); the traceback
    goes to app.log, except for an unavailable database (one line per outage)."""
    if database_unavailable(exception):
        log_unavailable("event", exception)
        return rx.toast.error(DATABASE_UNAVAILABLE, position="top-center")
    logging.getLogger(APP_LOGGER).error("event_handler_failed", exc_info=exception)
    return rx.toast.error(
        "Ocurrió un error inesperado. Inténtalo de nuevo en unos momentos.", position="top-center"
    )


app = rx.App(
    api_transformer=[create_api(), trust_forwarded_proto, security_headers],
    html_lang="es",
    stylesheets=["/chat.css"],
    backend_exception_handler=backend_error,
    frontend_exception_handler=reflex_patches.log_frontend_exception,
)
# Every websocket event passes the gate first, before Reflex's hydration sends any var.
app.add_middleware(SessionGate(), index=0)
app.register_lifespan_task(size_thread_pool)
app.register_lifespan_task(sweep_interrupted_answers)
tab_reset.install(app)
