"""LoginState adapts `services.login`: the password step, the code step when the account has 2FA,
and a full page load to /api/auth/session with the login's one-time ticket."""

from __future__ import annotations

import asyncio

import pyotp
from sqlmodel import select

from energyapp.db.engine import session_scope
from energyapp.db.models import LoginTicket, User
from tests.states.test_gate import Persona, app_handlers, tab

PASSWORD = "clave-segura-1"


def _run(handler, state, form: dict) -> list:
    async def drain() -> list:
        return [event async for event in handler.fn(state, form)]

    return asyncio.run(drain())


def _tickets() -> int:
    with session_scope() as db:
        return len(db.exec(select(LoginTicket)).all())


def _login_state():
    """In this thread's context, where the app registered its states (as in test_gate)."""
    from energyapp.states.login import LoginState

    app_handlers()
    root = tab(Persona("anonymous", None, None), path="/login")
    return asyncio.run(root.get_state(LoginState))


def test_a_password_login_navigates_with_its_ticket(app_env, make_user) -> None:
    from energyapp.states.login import LoginState

    make_user("ana@empresa.cl", PASSWORD)
    state = _login_state()
    _run(LoginState.submit, state, {"email": "ana@empresa.cl", "password": "otra-clave"})
    assert state.error == "Correo o contraseña incorrectos." and _tickets() == 0
    events = _run(LoginState.submit, state, {"email": "ana@empresa.cl", "password": PASSWORD})
    assert "/api/auth/session?ticket=" in str(events[-1]) and _tickets() == 1
    assert state.error == "" and not state.busy


def test_a_2fa_login_asks_for_the_code_first(app_env, make_user) -> None:
    from energyapp.states.login import LoginState

    user = make_user("ana@empresa.cl", PASSWORD, totp=True)
    state = _login_state()
    _run(LoginState.submit, state, {"email": "ana@empresa.cl", "password": PASSWORD})
    assert state.step == "totp" and state._pending_user_id == user.id and _tickets() == 0
    _run(LoginState.submit_code, state, {"code": "000000"})
    assert state.error and _tickets() == 0
    with session_scope() as db:
        secret = db.get(User, user.id).totp_secret
    events = _run(LoginState.submit_code, state, {"code": pyotp.TOTP(secret).now()})
    assert "/api/auth/session?ticket=" in str(events[-1]) and _tickets() == 1
    assert state._pending_user_id == 0
