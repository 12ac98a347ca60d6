"""Who is using this tab: resolved from the HttpOnly session cookie on every guarded load and
every protected event, never cached as a grant in UI state.

The cookie reaches the backend in the websocket handshake (`router.headers.cookie`); Reflex never
serializes that header to the browser. Vars here only decide what to *show*; every handler that
reads or writes data calls `require_user()` again.
"""

from __future__ import annotations

import asyncio
import json
from http.cookies import CookieError, SimpleCookie
from urllib.parse import quote, urlencode

import reflex as rx

from energyapp.auth.redirects import safe_next
from energyapp.services import login, sessions
from energyapp.services.sessions import ResolvedSession
from energyapp.settings import get_settings

STAFF_ROLES = ("admin", "supervisor")
SETUP_2FA_ROUTE = "/setup-2fa"


def session_token(state: rx.State) -> str | None:
    raw = state.router.headers.cookie or ""
    try:
        morsel = SimpleCookie(raw).get(get_settings().session_cookie_name)
    except CookieError:
        return None
    return morsel.value if morsel else None


async def current_session(state: rx.State) -> ResolvedSession | None:
    """The live session behind this tab, read from the database now."""
    token = session_token(state)
    if not token:
        return None
    return await asyncio.to_thread(sessions.resolve, token)


def client_ip(state: rx.State) -> str:
    return (state.router.session.client_ip or "")[:64]


def user_agent(state: rx.State) -> str:
    return (state.router.headers.user_agent or "")[:400]


def full_navigation(url: str) -> rx.event.EventSpec:
    """A real page load (not client-side routing): needed to reach /api routes, and so the next
    websocket handshake carries the new cookie."""
    return rx.call_script(f"window.location.assign({json.dumps(url)})")


def complete_login(user_id: int, ip: str, agent: str, next_path: str | None) -> str:
    """Password (and 2FA) accepted: record the login and return the URL that trades a one-time
    ticket for the HttpOnly cookie. Blocking: call it through asyncio.to_thread."""
    login.record_login(user_id, ip, channel="web")
    ticket = sessions.issue_ticket(user_id, agent)
    return "/api/auth/session?" + urlencode({"ticket": ticket, "next": safe_next(next_path)})


def login_redirect(path: str) -> rx.event.EventSpec:
    target = safe_next(path, default="")
    return rx.redirect(f"/login?next={quote(target, safe='')}" if target else "/login",
                       replace=True)


class AuthState(rx.State):
    """What the page chrome shows about the signed-in user."""

    checked: bool = False  # the guard ran for this page load
    user_id: int = 0
    user_name: str = ""
    user_email: str = ""
    user_role: str = ""
    totp_enabled: bool = False
    can_change_password: bool = False
    is_demo: bool = False

    def _show(self, resolved: ResolvedSession | None) -> None:
        user = resolved.user if resolved else None
        self.user_id = user.id if user else 0
        self.user_name = user.name if user else ""
        self.user_email = user.email if user else ""
        self.user_role = user.role if user else ""
        self.totp_enabled = bool(user and user.totp_enabled)
        self.can_change_password = bool(user and user.can_change_password)
        self.is_demo = bool(user and user.is_demo)

    @rx.var
    def is_staff(self) -> bool:
        return self.user_role in STAFF_ROLES

    @rx.var
    def role_label(self) -> str:
        return {"admin": "Administrador", "supervisor": "Supervisor",
                "trabajador": "Trabajador"}.get(self.user_role, "")

    async def _guard(self, staff_only: bool = False, setup_page: bool = False
                     ) -> rx.event.EventSpec | None:
        self.checked = False
        resolved = await current_session(self)
        self._show(resolved)
        if resolved is None:
            path = self.router.url.path.rstrip("/") or "/"  # prod URLs end in "/"
            query = f"?{self.router.url.query}" if self.router.url.query else ""
            return login_redirect(path + query)
        user = resolved.user
        if user.must_setup_totp and not setup_page:
            return rx.redirect(SETUP_2FA_ROUTE, replace=True)
        if setup_page and not user.must_setup_totp:
            return rx.redirect("/dashboard", replace=True)
        if staff_only and user.role not in STAFF_ROLES:
            return rx.redirect("/dashboard", replace=True)
        self.checked = True
        return None

    @rx.event
    async def guard_user(self) -> rx.event.EventSpec | None:
        """on_load of pages for any signed-in user."""
        return await self._guard()

    @rx.event
    async def guard_staff(self) -> rx.event.EventSpec | None:
        """on_load of /admin: admins and supervisors only."""
        return await self._guard(staff_only=True)

    @rx.event
    async def guard_setup(self) -> rx.event.EventSpec | None:
        """on_load of the forced 2FA setup page."""
        return await self._guard(setup_page=True)

    @rx.event
    async def logout(self) -> rx.event.EventSpec:
        resolved = await current_session(self)
        if resolved is not None:
            await asyncio.to_thread(sessions.logout, resolved.session_id, resolved.user.id,
                                    client_ip(self))
        self._show(None)
        self.checked = False
        return full_navigation("/api/auth/signout")


async def require_user(state: rx.State) -> ResolvedSession | None:
    """For protected handlers: the live session, or None (the caller returns a redirect)."""
    return await current_session(state)
