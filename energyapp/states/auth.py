"""Who is using this tab, as the page chrome shows it. The gate (states/gate.py) resolved the
caller from the HttpOnly session cookie before any handler here runs; these vars only decide
what to *show*.
"""

from __future__ import annotations

import asyncio
import json
from urllib.parse import urlencode

import reflex as rx
from reflex.event import EventSpec

from energyapp.auth.redirects import safe_next
from energyapp.domain.roles import role_label
from energyapp.services import limits, sessions
from energyapp.services.policy import Access, is_staff_role
from energyapp.services.sessions import ResolvedSession
from energyapp.states.gate import (
    SETUP_2FA_ROUTE,
    caller,
    client_ip,
    gated,
    login_redirect,
    unbind_tab,
)

__all__ = [
    "SETUP_2FA_ROUTE",
    "AuthState",
    "client_ip",
    "full_navigation",
    "login_redirect",
    "session_url",
    "user_agent",
]


def user_agent(state: rx.State) -> str:
    return (state.router.headers.user_agent or "")[: limits.USER_AGENT]


def full_navigation(url: str) -> EventSpec:
    """A real page load (not client-side routing): needed to reach /api routes, and so the next
    websocket handshake carries the new cookie."""
    return rx.call_script(f"window.location.assign({json.dumps(url)})")


def post_navigation(url: str) -> EventSpec:
    """A real page load by POST (a form submitted from the page: same-origin, no body)."""
    return rx.call_script(
        "(() => { const f = document.createElement('form'); f.method = 'POST'; "
        f"f.action = {json.dumps(url)}; document.body.appendChild(f); f.submit(); }})()"
    )


def session_url(ticket: str, next_path: str | None) -> str:
    """Where the browser trades a completed login's one-time ticket (`services.login`) for the
    HttpOnly cookie, then goes on to `next_path` (a local page)."""
    return "/api/auth/session?" + urlencode({"ticket": ticket, "next": safe_next(next_path)})


class AuthState(rx.State):
    """What the page chrome shows about the signed-in user."""

    checked: bool = False  # the guard ran for this page load
    user_id: int = 0
    user_name: str = ""
    user_email: str = ""
    user_role: rx.Field[str] = rx.field("")
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
        self.checked = user is not None

    @rx.var
    def is_staff(self) -> bool:
        return is_staff_role(self.user_role)

    @rx.var
    def role_label(self) -> str:
        return role_label(self.user_role)

    @gated(Access.user)
    def guard_user(self) -> None:
        """on_load of pages for any signed-in user (the gate redirects everyone else)."""
        self._show(caller())

    @gated(Access.staff)
    def guard_staff(self) -> None:
        """on_load of /admin: admins and supervisors only."""
        self._show(caller())

    @gated(Access.setup)
    def guard_setup(self) -> EventSpec | None:
        """on_load of the forced 2FA setup page."""
        resolved = caller()
        self._show(resolved)
        if not resolved.user.must_setup_totp:
            return rx.redirect("/dashboard", replace=True)
        return None

    @gated(Access.setup)
    async def logout(self) -> EventSpec:
        resolved = caller()
        await unbind_tab(self)  # this tab leaves by itself: no reset pushed to it
        await asyncio.to_thread(
            sessions.logout, resolved.session_id, resolved.user.id, client_ip(self)
        )
        return post_navigation("/api/auth/signout")
