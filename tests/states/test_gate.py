"""The one gate: every public event handler of every app state, found by introspection, called
as anonymous, 2FA-setup-pending, trabajador, supervisor and admin, against the documented
table below. A refusal runs nothing, changes no table and replies with no data; a tab filled
under another session is reset before anything is decided.

A new handler fails `test_every_handler_is_documented` until it is added to the table.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass

import pytest
from sqlmodel import select

from energyapp.db.engine import session_scope
from energyapp.db.models import AuditEvent, AuthSession, Conversation, Message, User
from energyapp.services import sessions

MARKER = "DATO-DE-OTRA-SESION"

# --- the documented table: what each handler demands -------------------------------------------
PUBLIC = "public"  # anyone: the login and registration pages
SETUP = "setup"  # signed in, even with 2FA setup pending: the setup page and logout
USER = "user"  # signed in, 2FA done when required
STAFF = "staff"  # admins and supervisors
NOBODY = "nobody"  # Reflex's generic `setvar`: it would call setters past the gate

DOCUMENTED = {
    "LoginState": {"*": PUBLIC},
    "RegisterState": {"*": PUBLIC},
    "AuthState": {"guard_user": USER, "guard_staff": STAFF, "guard_setup": SETUP, "logout": SETUP},
    "ChatState": {"*": USER},
    "AdminState": {"*": STAFF},
    "SettingsState": {
        "*": USER,
        "start_totp_setup": SETUP,
        "resume_totp_setup": SETUP,
        "confirm_totp_setup": SETUP,
        "cancel_totp_setup": SETUP,
        "forget_secrets": SETUP,
        "codes_saved": SETUP,
    },
}
PERSONAS = ("anonymous", "setup_pending", "trabajador", "supervisor", "admin")
ALLOWED = {
    PUBLIC: set(PERSONAS),
    SETUP: set(PERSONAS) - {"anonymous"},
    USER: {"trabajador", "supervisor", "admin"},
    STAFF: {"supervisor", "admin"},
    NOBODY: set(),
}


def documented(state_name: str, handler: str) -> str | None:
    if handler == "setvar":
        return NOBODY
    rules = DOCUMENTED.get(state_name)
    if rules is None:
        return None
    return rules.get(handler, rules.get("*"))


def app_handlers() -> list[tuple[str, str, str]]:
    """(full event name, state class name, handler name) for every app state's handler."""
    from reflex_base.registry import RegistrationContext

    import energyapp.energyapp  # noqa: F401 - registers every state and handler

    found = []
    for name, registered in RegistrationContext.get().event_handlers.items():
        state = registered.states[-1]
        if state.__module__.startswith("energyapp.") and state.__name__ != "TabBinding":
            found.append((name, state.__name__, name.rsplit(".", 1)[1]))
    return sorted(found)


# --- a tab, in process ---------------------------------------------------------------------------
@dataclass
class Persona:
    name: str
    cookie: str | None
    session_id: int | None
    login_key: str = ""


@pytest.fixture
def personas(app_env, make_user) -> dict[str, Persona]:
    made = {
        "setup_pending": make_user("nueva@inacapmail.cl"),  # 2FA demanded for this domain
        "trabajador": make_user("trabajador@empresa.cl"),
        "supervisor": make_user("supervisora@empresa.cl", role="supervisor"),
        "admin": make_user("jefa@empresa.cl", role="admin"),
        "other": make_user("otra@empresa.cl"),
    }
    found = {"anonymous": Persona("anonymous", None, None)}
    with session_scope() as db:
        for name, user in made.items():
            new = sessions.create_session(db, db.get(User, user.id), "10.0.0.1", "pytest")
            found[name] = Persona(name, new.token, new.session_id)
    for persona in found.values():
        if persona.cookie:
            persona.login_key = sessions.resolve(persona.cookie).binding_key
    return found


def tab(
    persona: Persona,
    path: str = "/dashboard",
    sid: str = "sid-1",
    token: str = "tab-token-1",
    cookie_header: str | None = None,
):
    import reflex as rx

    root = rx.State(_reflex_internal_init=True)
    headers = {"user-agent": "pytest", "asgi-scope-client": "10.0.0.1"}
    if persona.cookie:
        headers["cookie"] = cookie_header or f"energyapp_session={persona.cookie}"
    router_data = {
        "headers": headers,
        "sid": sid,
        "token": token,
        "ip": "10.0.0.1",
        "pathname": path,
        "asPath": path,
        "query": {},
    }
    root.router_data = root._update_router_vars(router_data, {})
    return root


async def fill_with_foreign_data(root, owner: Persona) -> None:
    """The tab's state as another session left it: bound to it, full of its data."""
    from energyapp.states.admin import AdminState
    from energyapp.states.auth import AuthState
    from energyapp.states.chat import ChatState
    from energyapp.states.gate import TabBinding
    from energyapp.states.login import LoginState
    from energyapp.states.settings import SettingsState

    binding = await root.get_state(TabBinding)
    binding._session_id, binding._login_key = owner.session_id or 0, owner.login_key
    (await root.get_state(AuthState)).user_email = MARKER
    (await root.get_state(ChatState)).messages = [{"id": "1", "content": MARKER}]
    (await root.get_state(AdminState)).users = [{"id": "1", "email": MARKER}]
    (await root.get_state(SettingsState)).recovery_codes = [MARKER]
    login = await root.get_state(LoginState)
    login.email, login._pending_user_id = MARKER, 4242
    root._clean()


def db_snapshot() -> tuple:
    with session_scope() as db:
        return (
            sorted(
                (u.id, u.role.value, u.is_active, u.totp_enabled, u.totp_secret)
                for u in db.exec(select(User))
            ),
            sorted((s.id, s.revoked_at, s.last_seen_at) for s in db.exec(select(AuthSession))),
            len(db.exec(select(Conversation)).all()),
            len(db.exec(select(Message)).all()),
            len(db.exec(select(AuditEvent)).all()),
        )


async def run_gate(root, event_name: str):
    from reflex_base.event import Event

    from energyapp.states.gate import SessionGate

    return await SessionGate().preprocess(app=None, state=root, event=Event(name=event_name))


def state_text(root) -> str:
    return json.dumps(root.dict(), default=str, ensure_ascii=False)


# --- specifications ---------------------------------------------------------------------------
def test_every_handler_is_documented() -> None:
    from reflex_base.registry import RegistrationContext

    from energyapp.states.gate import required_access

    handlers = app_handlers()
    assert len(handlers) > 50
    registry = RegistrationContext.get().event_handlers
    for name, state, handler in handlers:
        rule = documented(state, handler)
        assert rule is not None, f"{state}.{handler} is missing from the documented table"
        registered = registry[name]
        declared = required_access(registered.handler.fn, registered.states[-1])
        assert (declared.value if declared else NOBODY) == rule, f"{state}.{handler}"


def test_every_handler_as_every_persona(personas: dict[str, Persona]) -> None:
    """A foreign tab is reset first; then the documented rule decides. A refusal carries a
    redirect and no data, and changes no table."""
    for name, state, handler in app_handlers():
        rule = documented(state, handler)
        for persona in PERSONAS:
            root = tab(personas[persona])
            asyncio.run(fill_with_foreign_data(root, personas["other"]))
            before = db_snapshot()
            reply = asyncio.run(run_gate(root, name))
            where = f"{state}.{handler} as {persona}"
            assert MARKER not in state_text(root), f"{where}: foreign data survived"
            if persona in ALLOWED[rule]:
                assert reply is None, f"{where}: refused, documented as allowed"
                continue
            assert reply is not None, f"{where}: let through, documented as refused"
            assert MARKER not in json.dumps(reply.delta, default=str), where
            assert reply.events, f"{where}: a refusal says where to go"
            assert db_snapshot() == before, f"{where}: a refusal changed the database"


def test_a_refusal_redirects_by_reason(personas: dict[str, Persona]) -> None:
    chat_load = next(n for n, s, h in app_handlers() if s == "ChatState" and h == "load")
    admin_load = next(n for n, s, h in app_handlers() if s == "AdminState" and h == "load")
    for persona, event, target in (
        ("anonymous", chat_load, "/login?next=%2Fdashboard"),
        ("setup_pending", chat_load, "/setup-2fa"),
        ("trabajador", admin_load, "/dashboard"),
    ):
        reply = asyncio.run(run_gate(tab(personas[persona]), event))
        assert reply is not None
        paths = [e.payload.get("path") for e in reply.events]
        assert target in paths, (persona, paths)


def test_the_same_session_keeps_its_tab(personas: dict[str, Persona]) -> None:
    """Only a different session (or anonymous socket) resets: a reconnect of the same login
    keeps the conversation on screen."""
    chat_load = next(n for n, s, h in app_handlers() if s == "ChatState" and h == "load")
    worker = personas["trabajador"]
    root = tab(worker, sid="first-socket")
    asyncio.run(fill_with_foreign_data(root, worker))
    assert asyncio.run(run_gate(root, chat_load)) is None
    assert MARKER in state_text(root)
    root.router_data = root._update_router_vars(
        {**root.router_data, "sid": "reconnected"}, root.router_data
    )
    assert asyncio.run(run_gate(root, chat_load)) is None
    assert MARKER in state_text(root)


def test_an_anonymous_tab_belongs_to_its_socket(personas: dict[str, Persona]) -> None:
    """A half-done login (password accepted, code pending) is not handed to another socket that
    connects with the same tab token."""
    from energyapp.states.login import LoginState

    login_load = next(n for n, s, h in app_handlers() if s == "LoginState" and h == "on_load")
    back = next(n for n, s, h in app_handlers() if s == "LoginState" and h == "back_to_password")
    anonymous = personas["anonymous"]
    root = tab(anonymous, path="/login", sid="victim-socket")
    assert asyncio.run(run_gate(root, login_load)) is None
    login = asyncio.run(root.get_state(LoginState))
    login.email, login.step, login._pending_user_id = MARKER, "totp", 7
    assert asyncio.run(run_gate(root, back)) is None  # the same socket keeps its step
    assert login._pending_user_id == 7
    root.router_data = root._update_router_vars(
        {**root.router_data, "sid": "attacker"}, root.router_data
    )
    assert asyncio.run(run_gate(root, back)) is None
    login = asyncio.run(root.get_state(LoginState))
    assert (login.email, login.step, login._pending_user_id) == ("", "password", 0)


def test_a_revoked_or_expired_cookie_is_anonymous(personas: dict[str, Persona]) -> None:
    chat_load = next(n for n, s, h in app_handlers() if s == "ChatState" and h == "load")
    admin = personas["admin"]
    with session_scope() as db:
        sessions.end(db, [admin.session_id])
    root = tab(admin)
    asyncio.run(fill_with_foreign_data(root, admin))  # filled while it was live
    reply = asyncio.run(run_gate(root, chat_load))
    assert reply is not None and MARKER not in state_text(root)
    paths = [e.payload.get("path") for e in reply.events]
    assert "/login?next=%2Fdashboard&ended=1" in paths  # the login page says why


def test_a_reused_session_id_is_another_login(personas: dict[str, Persona]) -> None:
    """A tab is bound to its login, not to a row id a database may hand out again."""
    chat_load = next(n for n, s, h in app_handlers() if s == "ChatState" and h == "load")
    worker = personas["trabajador"]
    root = tab(worker)
    asyncio.run(fill_with_foreign_data(root, Persona("old", None, worker.session_id, "old-key")))
    assert asyncio.run(run_gate(root, chat_load)) is None
    assert MARKER not in state_text(root)


def test_a_malformed_cookie_beside_the_session_cookie_changes_nothing(
    personas: dict[str, Persona],
) -> None:
    """The socket reads the cookie header as the API does (Starlette's parser)."""
    chat_load = next(n for n, s, h in app_handlers() if s == "ChatState" and h == "load")
    worker = personas["trabajador"]
    header = f'foo=bar baz; a=b"c; energyapp_session={worker.cookie}'
    assert asyncio.run(run_gate(tab(worker, cookie_header=header), chat_load)) is None


def test_a_token_too_long_to_record_gets_no_state(personas: dict[str, Persona]) -> None:
    """A tab whose token cannot be recorded could not be reset when its login ends."""
    chat_load = next(n for n, s, h in app_handlers() if s == "ChatState" and h == "load")
    reply = asyncio.run(run_gate(tab(personas["admin"], token="x" * 80), chat_load))
    assert reply is not None
