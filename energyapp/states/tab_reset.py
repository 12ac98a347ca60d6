"""Resets, at once, the server-side UI state of tabs whose session ended (logout elsewhere,
revocation by the user or an admin, password change, 2FA disabled, deactivation) or whose user's
role changed, and loads their page again, so it asks the gate again.

Services announce through `services.ui_tabs` after their transaction commits, from whichever
thread ran them; this module carries the announcement onto the event loop. Sessions that end by
themselves (absolute or idle expiry) are found by a sweep every `SWEEP_SECONDS`. A tab with no
open socket here (single worker) is left alone: the gate resets it before it can speak again.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

import reflex as rx
from reflex.state import BaseState, StateUpdate
from reflex_base.event import Event

from energyapp.auth.redirects import safe_next
from energyapp.logging_setup import APP_LOGGER
from energyapp.services import ui_tabs
from energyapp.settings import get_settings
from energyapp.states.gate import TabBinding, forget_binding, forget_secrets, reset_tab

if TYPE_CHECKING:
    from reflex.app import App

SWEEP_SECONDS = 30
logger = logging.getLogger(APP_LOGGER)
_loop: asyncio.AbstractEventLoop | None = None
_app: App | None = None


def install(app: App) -> None:
    """Subscribe to announcements and sweep expired sessions, in each worker."""
    global _app
    _app = app
    app.register_lifespan_task(_run)


async def _run() -> None:
    global _loop
    _loop = asyncio.get_running_loop()
    ui_tabs.subscribe(_announced)
    try:
        while True:
            await asyncio.sleep(SWEEP_SECONDS)
            try:
                await reset_tabs(await asyncio.to_thread(ui_tabs.take_expired))
            except Exception:
                logger.exception("tab_sweep_failed")
    finally:
        ui_tabs.unsubscribe(_announced)


def _announced(reset: ui_tabs.Reset) -> None:
    """Called by a service after its commit, on any thread."""
    if _loop is not None and not _loop.is_closed():
        asyncio.run_coroutine_threadsafe(_reset_announced(reset), _loop)


async def _reset_announced(reset: ui_tabs.Reset) -> None:
    try:
        await reset_tabs(await asyncio.to_thread(ui_tabs.tokens_for, reset))
    except Exception:
        logger.exception("tab_reset_failed")


def _reachable(app: App, token: str) -> bool:
    """A socket of this tab is open here, or may be on another worker (Redis)."""
    namespace = app.event_namespace
    return bool(get_settings().redis_url) or (
        namespace is not None and token in namespace.token_to_sid
    )


def _page_of(root: BaseState) -> str:
    """The page the tab shows, as its last event reported it."""
    url = root.router.url
    return safe_next((url.path or "/") + (f"?{url.query}" if url.query else ""))


async def reset_tabs(tokens: list[str]) -> int:
    """Reset each open tab in `tokens` and load its page again; returns how many."""
    app = _app
    if app is None or app.event_namespace is None:
        return 0
    done = 0
    for token in tokens:
        if not _reachable(app, token):
            continue
        async with app.modify_state(rx.BaseStateToken(ident=token, cls=TabBinding)) as state:
            root = state._get_root_state()
            page = _page_of(root)
            await reset_tab(root)
            forget_binding(await root.get_state(TabBinding))
        # Routed inside the tab, so the page's guard runs again (the gate sends an ended login
        # to /login). Not `window.location.reload()`: a document load pushed at an arbitrary
        # moment aborts a navigation the user has just started in that tab, and lands on the
        # old page instead of the one asked for.
        again = Event.from_event_type(rx.redirect(page, replace=True))
        await app.event_namespace.emit_update(StateUpdate(events=again), token)
        done += 1
    return done


async def forget_secrets_of(token: str) -> None:
    """The tab's socket closed: drop the secrets it was shown (never emitted: nobody listens)."""
    app = _app
    if app is None:
        return
    try:
        async with app.state_manager.modify_state_with_links(
            rx.BaseStateToken(ident=token, cls=TabBinding)
        ) as state:
            await forget_secrets(state._get_root_state(), None)
    except Exception:
        logger.exception("forget_secrets_failed")
