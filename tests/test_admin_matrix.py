"""The visibility policy, as a matrix: every actor role × every admin action × every target role,
through the API and through the Reflex state handlers. Allowed actions succeed; refusals are 404
(not visible) or 403 (visible but not allowed) and change nothing."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest
from sqlmodel import select

from energyapp.db.engine import session_scope
from energyapp.db.models import AuditEvent, Conversation, Message, MessageRole, User
from energyapp.services import api_tokens, sessions

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


@dataclass
class World:
    users: dict[str, User]  # "admin", "admin2", "supervisor", "supervisor2", "trabajador", ...
    conversations: dict[str, int]  # user key -> one conversation id


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
    return World(users=users, conversations=conversations)


def target_key(actor: str, target: str) -> str:
    """ "self" is the actor; another user of the same role is its "2" twin."""
    if target == "self":
        return actor
    return f"{target}2" if target == actor else target


def snapshot() -> tuple:
    with session_scope() as db:
        users = sorted(
            (u.id, u.role.value, u.is_active, u.totp_enabled) for u in db.exec(select(User))
        )
        owners = sorted((c.id, c.owner_id) for c in db.exec(select(Conversation)))
        changes = [
            e.action for e in db.exec(select(AuditEvent)) if e.action != "conversation_viewed"
        ]
    return users, owners, changes


def applied(action: str, world: World, key: str) -> bool:
    """Did the allowed action really take effect?"""
    with session_scope() as db:
        user = db.get(User, world.users[key].id)
        if action == "reassign_from":
            return db.get(Conversation, world.conversations[key]).owner_id == (
                world.users["destino"].id
            )
        if action == "reassign_to":
            return db.get(Conversation, world.conversations["destino"]).owner_id == user.id
        if action == "change_role":
            return user.role.value == (
                "trabajador" if world.users[key].role != "trabajador" else "supervisor"
            )
        if action == "deactivate":
            return not user.is_active
        if action == "reset_2fa":
            return not user.totp_enabled
    return True


def new_role(world: World, key: str) -> str:
    return "trabajador" if world.users[key].role != "trabajador" else "supervisor"


# --- through the API -------------------------------------------------------------------------
def call_api(api, world: World, key: str, action: str):
    user_id = world.users[key].id
    conversation = world.conversations[key]
    destino = world.users["destino"].id
    match action:
        case "list":
            response = api.get("/api/admin/users?limit=200")
            if response.status_code == 200:
                ids = {u["id"] for u in response.json()}
                return response.status_code if user_id in ids else 404
            return response.status_code
        case "conversations":
            return api.get(f"/api/admin/users/{user_id}/conversations").status_code
        case "read":
            return api.get(f"/api/admin/conversations/{conversation}/messages").status_code
        case "reassign_from":
            return api.post(
                f"/api/admin/conversations/{conversation}/reassign", json={"to_user_id": destino}
            ).status_code
        case "reassign_to":
            return api.post(
                f"/api/admin/conversations/{world.conversations['destino']}/reassign",
                json={"to_user_id": user_id},
            ).status_code
        case "change_role":
            return api.patch(
                f"/api/admin/users/{user_id}", json={"role": new_role(world, key)}
            ).status_code
        case "deactivate":
            return api.patch(f"/api/admin/users/{user_id}", json={"is_active": False}).status_code
        case "reset_2fa":
            return api.post(f"/api/admin/users/{user_id}/reset-2fa").status_code
        case "unlock":
            return api.post(f"/api/admin/users/{user_id}/unlock").status_code
        case "sessions":
            return api.get(f"/api/admin/users/{user_id}/sessions").status_code
    raise AssertionError(action)


@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("actor", ACTORS)
def test_api_matrix(api, world: World, actor: str, target: str, action: str) -> None:
    with session_scope() as db:
        pair = api_tokens.issue_pair(db, world.users[actor].id)
    api.headers["Authorization"] = f"Bearer {pair.access_token}"
    key = target_key(actor, target)
    expected = expected_status(actor, target, action)
    if expected == 200 and actor == "supervisor" and target == "self" and action == "reassign_to":
        expected = 200
    before = snapshot()
    status = call_api(api, world, key, action)
    if expected == 200:
        assert status in (200, 204), (actor, target, action, status)
        assert applied(action, world, key)
    else:
        assert status == expected, (actor, target, action, status)
        assert snapshot() == before, "a refusal must change nothing"


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


async def call_state(state, world: World, key: str, action: str) -> bool:
    """Run the handler through the gate; True when it succeeded (no error shown, data
    returned)."""
    user_id = world.users[key].id
    state.error = ""
    if not await passes_gate(state, action):
        state.error = "(rechazado por la puerta: redirección)"
        return False
    match action:
        case "list":
            await state.load()
            return str(user_id) in {u["id"] for u in state.users}
        case "conversations":
            await state.select_user(str(user_id))
            return not state.error and bool(state.conversations)
        case "read":
            await state.select_conversation(str(world.conversations[key]))
            return not state.error and bool(state.messages)
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
    before = snapshot()
    succeeded = asyncio.run(call_state(state, world, key, action))
    assert succeeded == allowed, (actor, target, action, state.error)
    if allowed:
        assert applied(action, world, key)
    else:
        assert snapshot() == before, "a refusal must change nothing"
        if action != "list":
            assert state.error, "a refusal is explained in Spanish"
