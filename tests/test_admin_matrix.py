"""The visibility policy, as a matrix: every actor role × every admin action × every target role,
through the API and through the Reflex state handlers. Allowed actions succeed and their effect
is checked where it lands (the database, the lockout counters, the data handed back); refusals
are 404 (not visible) or 403 (visible but not allowed), hand back none of the target's data and
change nothing.

Every effect is absent before the call (`effect` is asserted False first), so a check that could
not fail is caught rather than passed."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest
from sqlmodel import select

from energyapp.auth import throttle
from energyapp.db.engine import session_scope
from energyapp.db.models import (
    AuditEvent,
    AuthSession,
    Conversation,
    Message,
    MessageRole,
    User,
)
from energyapp.services import api_tokens, sessions
from energyapp.settings import get_settings

ACTORS = ["admin", "supervisor", "trabajador"]
TARGETS = ["admin", "supervisor", "trabajador", "self"]
ACTIONS = [
    "list",
    "conversations",
    "read",
    "reassign_from",
    "reassign_to",
    "change_role",
    "deactivate",
    "reset_2fa",
    "unlock",
    "sessions",
]
READS = {"list", "conversations", "read", "reassign_from", "reassign_to"}
SHOWS_DATA = {"list", "conversations", "read", "sessions"}  # their effect is what they hand back
# The audit row each change leaves, as (action, what its target_id names).
AUDITED = {
    "reassign_from": ("conversation_reassigned", "conversation"),
    "reassign_to": ("conversation_reassigned", "conversation"),
    "change_role": ("role_changed", "user"),
    "deactivate": ("user_deactivated", "user"),
    "reset_2fa": ("totp_reset", "user"),
    "unlock": ("user_unlocked", "user"),
}
LOCKS = ("login", "totp")


@dataclass
class World:
    users: dict[str, User]  # "admin", "admin2", "supervisor", "supervisor2", "trabajador", ...
    conversations: dict[str, int]  # user key -> one conversation id
    sessions: dict[str, int]  # user key -> one open browser session id


def sees(actor: str, target: str) -> bool:
    return actor == "admin" or (actor == "supervisor" and target in ("trabajador", "self"))


def expected_status(actor: str, target: str, action: str) -> int:
    if actor == "trabajador":
        return 403
    if not sees(actor, target):
        return 404
    if action in READS:
        return 200
    return 200 if actor == "admin" else 403


@pytest.fixture
def world(make_user) -> World:
    users = {}
    for key in (
        "admin",
        "admin2",
        "supervisor",
        "supervisor2",
        "trabajador",
        "trabajador2",
        "destino",
    ):
        role = key.rstrip("2") if key != "destino" else "trabajador"
        users[key] = make_user(
            f"{key}@empresa.cl", "clave-segura-1", role=role, name=key.capitalize(), totp=True
        )
    conversations = {}
    with session_scope() as db:
        for key, user in users.items():
            conversation = Conversation(owner_id=user.id, title=f"De {key}", model="m")
            db.add(conversation)
            db.flush()
            db.add(
                Message(
                    conversation_id=conversation.id, role=MessageRole.user, content=f"Hola de {key}"
                )
            )
            conversations[key] = conversation.id
    with session_scope() as db:
        opened = {
            key: sessions.create_session(db, db.get(User, user.id), "10.0.0.7", f"matrix-{key}")
            for key, user in users.items()
        }
    # Every account starts locked out (login and 2FA), so an unlock has something to undo.
    settings = get_settings()
    for user in users.values():
        for _ in range(settings.login_max_failures_per_account):
            throttle.record_failure("login", user.email, None)
        for _ in range(settings.totp_max_failures):
            throttle.record_failure("totp", user.email, None)
    return World(
        users=users,
        conversations=conversations,
        sessions={key: new.session_id for key, new in opened.items()},
    )


def target_key(actor: str, target: str) -> str:
    """ "self" is the actor; another user of the same role is its "2" twin."""
    if target == "self":
        return actor
    return f"{target}2" if target == actor else target


def locked(email: str) -> tuple[bool, ...]:
    return tuple(throttle.seconds_blocked(kind, email, None) > 0 for kind in LOCKS)


def snapshot() -> tuple:
    """Everything an admin action can change: roles, active and 2FA flags, lockouts, owners,
    open sessions and the whole audit trail (readings included)."""
    with session_scope() as db:
        users = sorted(
            (u.id, u.role.value, u.is_active, u.totp_enabled, bool(u.totp_secret), locked(u.email))
            for u in db.exec(select(User))
        )
        owners = sorted((c.id, c.owner_id) for c in db.exec(select(Conversation)))
        open_sessions = sorted(s.id for s in db.exec(select(AuthSession)) if s.revoked_at is None)
        trail = [
            (e.action, e.actor_id, e.target_type, e.target_id) for e in db.exec(select(AuditEvent))
        ]
    return users, owners, open_sessions, trail


def audited(action: str, actor_id: int, target_type: str, target_id: int) -> bool:
    with session_scope() as db:
        return any(
            e.action == action and e.actor_id == actor_id and e.target_type == target_type
            for e in db.exec(select(AuditEvent).where(AuditEvent.target_id == str(target_id)))
        )


def effect(action: str, world: World, actor: str, key: str, shown: bool) -> bool:
    """Did the action take effect? For the reads, `shown` says whether the target's data came
    back (and reading someone else's transcript must also be in the audit trail); for the
    changes, the database and the lockout counters are read again."""
    actor_id, target_id = world.users[actor].id, world.users[key].id
    if action in SHOWS_DATA:
        if action == "read" and key != actor:
            viewed = audited(
                "conversation_viewed", actor_id, "conversation", world.conversations[key]
            )
            return shown and viewed
        return shown
    moved = world.conversations[key if action == "reassign_from" else "destino"]
    audit_action, audit_target = AUDITED[action]
    logged = audited(
        audit_action, actor_id, audit_target, moved if audit_target == "conversation" else target_id
    )
    with session_scope() as db:
        user = db.get(User, target_id)
        match action:
            case "reassign_from":
                done = db.get(Conversation, moved).owner_id == world.users["destino"].id
            case "reassign_to":
                done = db.get(Conversation, moved).owner_id == target_id
            case "change_role":
                done = user.role.value == new_role(world, key)
            case "deactivate":
                still_open = db.exec(
                    select(AuthSession).where(AuthSession.user_id == target_id)
                ).all()
                done = not user.is_active and all(s.revoked_at for s in still_open)
            case "reset_2fa":
                done = not user.totp_enabled and not user.totp_secret
            case "unlock":
                done = locked(user.email) == (False, False)
            case _:
                raise AssertionError(action)
    return done and logged


def new_role(world: World, key: str) -> str:
    return "trabajador" if world.users[key].role != "trabajador" else "supervisor"


# --- through the API -------------------------------------------------------------------------
def _ids(body: object, field: str = "id") -> set:
    return {row.get(field) for row in body} if isinstance(body, list) else set()


def call_api(api, world: World, key: str, action: str) -> tuple[int, bool]:
    """(status, whether the target's data came back)."""
    user_id = world.users[key].id
    conversation = world.conversations[key]
    destino = world.users["destino"].id
    match action:
        case "list":
            response = api.get("/api/admin/users?limit=200")
            shown = user_id in _ids(response.json())
            # A user the actor may not see is simply not listed: that is the list's 404.
            status = 404 if response.status_code == 200 and not shown else response.status_code
            return status, shown
        case "conversations":
            response = api.get(f"/api/admin/users/{user_id}/conversations")
            return response.status_code, conversation in _ids(response.json())
        case "read":
            response = api.get(f"/api/admin/conversations/{conversation}/messages")
            return response.status_code, f"Hola de {key}" in _ids(response.json(), "content")
        case "reassign_from":
            response = api.post(
                f"/api/admin/conversations/{conversation}/reassign", json={"to_user_id": destino}
            )
        case "reassign_to":
            response = api.post(
                f"/api/admin/conversations/{world.conversations['destino']}/reassign",
                json={"to_user_id": user_id},
            )
        case "change_role":
            response = api.patch(f"/api/admin/users/{user_id}", json={"role": new_role(world, key)})
        case "deactivate":
            response = api.patch(f"/api/admin/users/{user_id}", json={"is_active": False})
        case "reset_2fa":
            response = api.post(f"/api/admin/users/{user_id}/reset-2fa")
        case "unlock":
            response = api.post(f"/api/admin/users/{user_id}/unlock")
        case "sessions":
            response = api.get(f"/api/admin/users/{user_id}/sessions")
            return response.status_code, world.sessions[key] in _ids(response.json())
        case _:
            raise AssertionError(action)
    return response.status_code, False


@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("actor", ACTORS)
def test_api_matrix(api, world: World, actor: str, target: str, action: str) -> None:
    with session_scope() as db:
        pair = api_tokens.issue_pair(db, world.users[actor].id)
    api.headers["Authorization"] = f"Bearer {pair.access_token}"
    key = target_key(actor, target)
    expected = expected_status(actor, target, action)
    assert not effect(action, world, actor, key, shown=False), "the effect is not there yet"
    before = snapshot()
    status, shown = call_api(api, world, key, action)
    if expected == 200:
        assert status in (200, 204), (actor, target, action, status)
        assert effect(action, world, actor, key, shown), (actor, target, action, "no effect")
    else:
        assert status == expected, (actor, target, action, status)
        assert not shown, "a refusal hands back none of the target's data"
        assert snapshot() == before, "a refusal must change nothing"
        assert not effect(action, world, actor, key, shown)


# --- through the Reflex state handlers -----------------------------------------------------------
def admin_state_for(world: World, actor: str):
    import reflex as rx

    import energyapp.energyapp  # noqa: F401 - registers every state
    from energyapp.states.admin import AdminState

    with session_scope() as db:
        user = db.get(User, world.users[actor].id)
        token = sessions.create_session(db, user, "10.0.0.9", "pytest").token
    root = rx.State(_reflex_internal_init=True)
    state = root.get_substate(AdminState.get_full_name().split("."))
    root.router_data = root._update_router_vars(
        {
            "headers": {"cookie": f"energyapp_session={token}", "user-agent": "pytest"},
            "ip": "10.0.0.9",
            "pathname": "/admin",
            "sid": "sid-1",
            "token": "tab-1",
        },
        {},
    )
    return state


HANDLER_OF = {
    "list": "load",
    "conversations": "select_user",
    "read": "select_conversation",
    "reassign_from": "reassign",
    "reassign_to": "reassign",
    "change_role": "set_role",
    "deactivate": "set_active",
    "reset_2fa": "reset_two_factor",
    "unlock": "unlock",
    "sessions": "load_user_sessions",
}


async def passes_gate(state, action: str) -> bool:
    """The one gate every UI event goes through first (states/gate.py)."""
    from reflex_base.event import Event
    from reflex_base.utils.format import format_event_handler

    from energyapp.states.gate import SessionGate

    handler = type(state).event_handlers[HANDLER_OF[action]]
    refusal = await SessionGate().preprocess(
        app=None, state=state._get_root_state(), event=Event(name=format_event_handler(handler))
    )
    return refusal is None


def shown_in_state(state, world: World, key: str, action: str) -> bool:
    """Whether the target's data is in the vars the page shows."""
    match action:
        case "list":
            return str(world.users[key].id) in {u["id"] for u in state.users}
        case "conversations":
            return str(world.conversations[key]) in {c["id"] for c in state.conversations}
        case "read":
            return f"Hola de {key}" in {m["content"] for m in state.messages}
        case "sessions":
            return str(world.sessions[key]) in {s["id"] for s in state.user_sessions}
    return False


async def call_state(state, world: World, key: str, action: str) -> bool:
    """Run the handler through the gate; True when it succeeded (no error shown; for the user
    list, the target is listed)."""
    user_id = world.users[key].id
    state.error = ""
    if not await passes_gate(state, action):
        state.error = "(rechazado por la puerta: redirección)"
        return False
    match action:
        case "list":
            await state.load()
            return shown_in_state(state, world, key, action)
        case "conversations":
            await state.select_user(str(user_id))
        case "read":
            await state.select_conversation(str(world.conversations[key]))
        case "reassign_from":
            state.selected_conversation_id = world.conversations[key]
            state.reassign_to = str(world.users["destino"].id)
            await state.reassign()
        case "reassign_to":
            state.selected_conversation_id = world.conversations["destino"]
            state.reassign_to = str(user_id)
            await state.reassign()
        case "change_role":
            state.selected_user_id = user_id
            await state.set_role(new_role(world, key))
        case "deactivate":
            state.selected_user_id = user_id
            await state.set_active(False)
        case "reset_2fa":
            state.selected_user_id = user_id
            await state.reset_two_factor()
        case "unlock":
            state.selected_user_id = user_id
            await state.unlock()
        case "sessions":
            state.selected_user_id = user_id
            await state.load_user_sessions()
    return not state.error


@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("actor", ACTORS)
def test_state_handler_matrix(world: World, actor: str, target: str, action: str) -> None:
    state = admin_state_for(world, actor)
    key = target_key(actor, target)
    allowed = expected_status(actor, target, action) == 200
    assert not effect(action, world, actor, key, shown=False), "the effect is not there yet"
    before = snapshot()
    succeeded = asyncio.run(call_state(state, world, key, action))
    shown = shown_in_state(state, world, key, action)
    assert succeeded == allowed, (actor, target, action, state.error)
    if allowed:
        assert effect(action, world, actor, key, shown), (actor, target, action, "no effect")
    else:
        assert not shown, "a refusal puts none of the target's data in the state"
        assert snapshot() == before, "a refusal must change nothing"
        assert not effect(action, world, actor, key, shown)
        if action != "list":
            assert state.error, "a refusal is explained in Spanish"
