"""The one gate every Reflex event passes before any handler runs or any var is sent.

A tab's UI state lives on the server under the client token of its websocket URL. That token
is not a credential (it is in proxy logs): the state is bound to the browser session that
filled it. On every event, hydrate included, `SessionGate`:

1. resolves the caller from the HttpOnly session cookie of this socket's handshake;
2. if the state was filled under another session, or by another anonymous socket, resets every
   app state to its defaults before anything is sent, and binds the tab to this caller;
3. asks `policy.authorize` whether this caller may run the handler, as declared with
   `@gated(Access....)`. A refusal runs nothing, changes nothing and answers a redirect.

Handlers read the caller the gate resolved with `caller()`; none re-implements the check.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote

import reflex as rx
from reflex.middleware import Middleware
from reflex.state import BaseState, State, StateUpdate
from reflex_base.event import Event, EventSpec
from reflex_base.registry import RegistrationContext
from starlette.requests import cookie_parser

from energyapp.auth.client_address import client_address
from energyapp.auth.redirects import safe_next
from energyapp.domain.errors import DATABASE_UNAVAILABLE, ServiceError
from energyapp.logging_setup import APP_LOGGER
from energyapp.services import policy, security_log, sessions, ui_tabs
from energyapp.services.outages import database_unavailable, log_unavailable
from energyapp.services.policy import Access
from energyapp.services.sessions import ResolvedSession
from energyapp.services.validation import NUL_REFUSED, contains_nul
from energyapp.settings import get_settings

if TYPE_CHECKING:
    from reflex.app import App

ACCESS_ATTRIBUTE = "__energyapp_access__"
SETUP_2FA_ROUTE = "/setup-2fa"
Handler = TypeVar("Handler", bound=Callable[..., Any])

_caller: ContextVar[ResolvedSession | None] = ContextVar("energyapp_caller", default=None)
logger = logging.getLogger(APP_LOGGER)


def gated(access: Access, *, background: bool = False) -> Callable[[Handler], Any]:
    """Declare what a handler demands of its caller and make it an event handler.

    `@gated(Access.user)` replaces `@rx.event`; the gate enforces it for every socket."""

    def decorate(fn: Handler) -> Any:
        setattr(fn, ACCESS_ATTRIBUTE, access)
        return rx.event(background=True)(fn) if background else rx.event(fn)

    return decorate


def access_of(fn: Callable[..., Any]) -> Access | None:
    """The access a handler function declared; None when it declared nothing."""
    return getattr(fn, ACCESS_ATTRIBUTE, None)


def caller() -> ResolvedSession:
    """The signed-in caller of the event being handled (for handlers gated above `public`)."""
    resolved = _caller.get()
    if resolved is None:
        raise RuntimeError("caller() in a handler the gate let through anonymously")
    return resolved


def optional_caller() -> ResolvedSession | None:
    """The caller of a `public` handler, when signed in."""
    return _caller.get()


# --- which session filled this tab -------------------------------------------------------------
class TabBinding(rx.State):
    """Backend-only: the login (or, when anonymous, the socket) this tab's state belongs to.
    `_login_key` is unique to a login forever (a row id can be reused); `_session_id` is kept
    for the reset announced when the login ends (`ui_tabs`)."""

    _login_key: str = ""
    _session_id: int = 0
    _anonymous_sid: str = ""


# Vars shown once on some pages (secrets): forgotten when another page loads or the tab goes.
_forgetters: list[tuple[type[BaseState], tuple[str, ...], Callable[[Any], None]]] = []
PAGE_LOAD_HANDLERS = ("hydrate", "on_load_internal")


def forget_when_leaving(
    state_cls: type[BaseState], pages: tuple[str, ...], forget: Callable[[Any], None]
) -> None:
    """Call `forget(state)` whenever a page other than `pages` loads in the tab, and when the
    tab's socket disconnects (states/tab_reset.py)."""
    _forgetters.append((state_cls, pages, forget))


async def forget_secrets(root: BaseState, path: str | None) -> None:
    """Run the forgetters whose pages do not include `path` (None: all of them)."""
    for state_cls, pages, forget in _forgetters:
        if path is None or not any(path == page or path.startswith(page + "/") for page in pages):
            forget(await root.get_state(state_cls))


def app_state_classes() -> list[type[BaseState]]:
    """Every state EnergyApp defines (Reflex's own internal states hold no user data)."""
    found: list[type[BaseState]] = []
    pending = list(State.get_substates())
    while pending:
        cls = pending.pop()
        pending.extend(cls.get_substates())
        if cls.__module__.startswith("energyapp.") and cls is not TabBinding:
            found.append(cls)
    return sorted(found, key=lambda cls: cls.get_full_name())


async def reset_tab(root: BaseState) -> None:
    """Every app state back to its defaults (data vars and backend vars alike)."""
    for cls in app_state_classes():
        (await root.get_state(cls)).reset()


def session_token(headers: dict[str, str]) -> str | None:
    """The session cookie, parsed as the API parses it (Starlette): one malformed cookie
    elsewhere in the header must not make the socket anonymous while the API sees the user."""
    return cookie_parser(headers.get("cookie") or "").get(get_settings().session_cookie) or None


def client_ip(state: BaseState) -> str:
    """The socket's peer; X-Forwarded-For only when that peer is a trusted proxy (Reflex itself
    is told never to apply it: rxconfig.py)."""
    return client_address(
        state.router.session.client_ip or "",
        state.router.headers.raw_headers.get("x-forwarded-for"),
    )[:64]


def _route_path(root: BaseState) -> str:
    path = root.router.url.path.rstrip("/") or "/"  # prod URLs end in "/"
    query = f"?{root.router.url.query}" if root.router.url.query else ""
    return path + query


def login_redirect(path: str, *, ended: bool = False) -> EventSpec:
    """To /login, back to `path` afterwards; `ended`: the cookie was a session that ended
    (revoked elsewhere, expired), and the login page says so."""
    target = safe_next(path, default="")
    query = [f"next={quote(target, safe='')}"] if target else []
    query += ["ended=1"] if ended else []
    return rx.redirect("/login" + ("?" + "&".join(query) if query else ""), replace=True)


def _refusal(error: ServiceError, root: BaseState, had_cookie: bool) -> EventSpec:
    if error.code == "not_authenticated":
        return login_redirect(_route_path(root), ended=had_cookie)
    if error.code == "totp_setup_required":
        return rx.redirect(SETUP_2FA_ROUTE, replace=True)
    return rx.redirect("/dashboard", replace=True)


class SessionGate(Middleware):
    """Runs under the tab's state lock, first of Reflex's middlewares (before hydration)."""

    async def preprocess(self, app: App, state: BaseState, event: Event) -> StateUpdate | None:
        _caller.set(None)
        root = state._get_root_state()
        registered = RegistrationContext.get().event_handlers.get(event.name)
        if registered is None:  # Reflex refuses it before any middleware; never reached
            return StateUpdate()
        if len(root.router.session.client_token or "") > ui_tabs.MAX_TOKEN:
            # Not a browser's (36 characters): a tab that cannot be recorded could not be
            # reset when its login ends, so it gets no state at all.
            await reset_tab(root)
            return await _refuse(root, rx.toast.error("Acción no disponible."))
        if contains_nul(event.payload):  # PostgreSQL stores no NUL: refused before anything
            logger.warning("event_refused reason=nul_character handler=%s", event.name)
            return await _refuse(root, rx.toast.error(NUL_REFUSED))
        required = required_access(registered.handler.fn, registered.states[-1])
        token = session_token(root.router_data.get("headers") or {})
        try:
            resolved = (
                await asyncio.to_thread(sessions.resolve, token, touch=False) if token else None
            )
        except Exception as error:  # the database is down: refuse, say why, reset nothing
            if not database_unavailable(error):
                raise
            log_unavailable(f"event {event.name}", error)  # one line per outage, not per event
            return await _refuse(root, rx.toast.error(DATABASE_UNAVAILABLE))
        await self._bind(root, resolved)
        if registered.handler.fn.__name__ in PAGE_LOAD_HANDLERS:
            await forget_secrets(root, root.router.url.path.rstrip("/") or "/")
        if required is None:
            logger.error("event_refused reason=undeclared_access handler=%s", event.name)
            return await _refuse(
                root,
                rx.toast.error("Acción no disponible."),
                event=event,
                resolved=resolved,
                reason="undeclared_access",
            )
        try:
            policy.authorize(resolved.user if resolved else None, required)
        except ServiceError as error:
            return await _refuse(
                root,
                _refusal(error, root, had_cookie=bool(token)),
                event=event,
                resolved=resolved,
                reason=error.code or type(error).__name__,
            )
        if resolved is not None and resolved.needs_touch:
            await asyncio.to_thread(sessions.touch, resolved.session_id)
        _caller.set(resolved)
        return None

    @staticmethod
    async def _bind(root: BaseState, resolved: ResolvedSession | None) -> None:
        binding = await root.get_state(TabBinding)
        sid = root.router.session.session_id
        if resolved is not None:
            if binding._login_key == resolved.binding_key:
                return
        elif not binding._login_key and binding._anonymous_sid == sid:
            return
        await reset_tab(root)
        binding._login_key = resolved.binding_key if resolved else ""
        binding._session_id = resolved.session_id if resolved else 0
        binding._anonymous_sid = "" if resolved else sid
        if resolved is not None:
            await asyncio.to_thread(
                ui_tabs.bind, root.router.session.client_token, resolved.session_id
            )


def required_access(fn: Callable[..., Any], state_cls: type[BaseState]) -> Access | None:
    """Reflex's own handlers of its own states (hydrate, page-load plumbing, client storage)
    are public: the binding check protects what they send. A handler of an app state must
    declare its access; what it inherits from Reflex (`setvar`, which calls setters without
    this gate) declared none and is refused."""
    if not state_cls.__module__.startswith("energyapp."):
        return Access.public
    return access_of(fn)


async def _refuse(
    root: BaseState,
    answer: EventSpec,
    *,
    event: Event | None = None,
    resolved: ResolvedSession | None = None,
    reason: str = "",
) -> StateUpdate:
    """Nothing ran: the reply carries only what the binding reset (defaults) and `answer`.
    An authorization failure (`reason`) leaves a rate-limited line in auth.log."""
    if reason:
        security_log.authorization_failed(
            channel="socket",
            reason=reason,
            handler=event.name if event else None,
            user_id=resolved.user.id if resolved else None,
            ip=client_ip(root),
            user_agent=root.router.headers.user_agent,
            request_id=security_log.short_hash(root.router.session.client_token),
        )
    delta = await root._get_resolved_delta()
    root._clean()
    return StateUpdate(delta=delta, events=Event.from_event_type(answer))


async def unbind_tab(state: BaseState) -> None:
    """Reset this tab and forget its binding (before its own logout, so no reset is pushed)."""
    root = state._get_root_state()
    await reset_tab(root)
    forget_binding(await root.get_state(TabBinding))
    await asyncio.to_thread(ui_tabs.unbind, root.router.session.client_token)


def forget_binding(binding: TabBinding) -> None:
    binding._login_key, binding._session_id, binding._anonymous_sid = "", 0, ""


async def still_bound(state: BaseState, login_key: str) -> bool:
    """For background work, at every `async with self`: the tab still belongs to the login
    (`caller().binding_key`) that started it."""
    return (await state.get_state(TabBinding))._login_key == login_key
