"""services.login owns the whole login for both channels: the password step, the second factor
when 2FA is on, the web session's one-time ticket and the API session. A ticket is spent by its
first redemption, even a refused one."""

from __future__ import annotations

import pyotp
import pytest
from sqlmodel import select

from energyapp.db.engine import session_scope
from energyapp.db.models import AuditEvent, AuthSession, RefreshToken, User
from energyapp.domain.errors import NotAuthenticated
from energyapp.services import login, sessions

PASSWORD = "clave-segura-1"
BROWSER = "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0"


def _secret(user_id: int) -> str:
    with session_scope() as db:
        user = db.get(User, user_id)
        assert user is not None and user.totp_secret
        return user.totp_secret


def _logins() -> list[str]:
    with session_scope() as db:
        rows = db.exec(select(AuditEvent).where(AuditEvent.action == "login")).all()
        return [row.details or "" for row in rows]


def test_a_web_login_without_2fa_ends_in_a_ticket_for_the_cookie(make_user) -> None:
    user = make_user("ana@empresa.cl", PASSWORD)
    step = login.web_password("Ana@Empresa.cl", PASSWORD, "10.0.0.1", BROWSER)
    assert not step.needs_code and step.user_id == user.id
    token = sessions.redeem_ticket(step.ticket, "10.0.0.1", BROWSER)
    resolved = sessions.resolve(token)
    assert resolved is not None and resolved.user.id == user.id
    assert _logins() == ['{"channel": "web"}']


def test_a_web_login_with_2fa_waits_for_the_code(make_user) -> None:
    user = make_user("ana@empresa.cl", PASSWORD, totp=True)
    step = login.web_password("ana@empresa.cl", PASSWORD, "10.0.0.1", BROWSER)
    assert step.needs_code and not step.ticket and step.code_until > 0
    assert _logins() == []  # half logged in: nothing recorded, no ticket
    with pytest.raises(NotAuthenticated):
        login.web_code(user.id, "000000", "10.0.0.1", BROWSER)
    ticket = login.web_code(user.id, pyotp.TOTP(_secret(user.id)).now(), "10.0.0.1", BROWSER)
    assert sessions.resolve(sessions.redeem_ticket(ticket, "10.0.0.1", BROWSER)) is not None
    assert len(_logins()) == 1


def test_an_api_login_with_2fa_requires_the_code(make_user) -> None:
    user = make_user("ana@empresa.cl", PASSWORD, totp=True)
    with pytest.raises(NotAuthenticated) as refusal:
        login.api_login("ana@empresa.cl", PASSWORD, None, "10.0.0.1", "pytest")
    assert refusal.value.code == "totp_required" and _logins() == []
    code = pyotp.TOTP(_secret(user.id)).now()
    done = login.api_login("ana@empresa.cl", PASSWORD, code, "10.0.0.1", "pytest")
    assert done.user.id == user.id and done.tokens.refresh_token
    resolved = sessions.resolve(done.cookie_token)
    assert resolved is not None
    with session_scope() as db:  # one login owns the cookie and the token family
        family = db.exec(select(RefreshToken).where(RefreshToken.user_id == user.id)).one()
        assert family.session_id == resolved.session_id
        assert db.get(AuthSession, resolved.session_id).channel == "api"
    assert _logins() == ['{"channel": "api"}']


def test_a_ticket_refused_for_another_browser_is_spent(make_user) -> None:
    """Issue #15: the refusal rolled back the ticket's consumption, so the same ticket could be
    redeemed again from the right browser."""
    user = make_user("ana@empresa.cl", PASSWORD)
    ticket = login.open_web_session(user.id, "10.0.0.1", BROWSER)
    with pytest.raises(NotAuthenticated):
        sessions.redeem_ticket(ticket, "10.0.0.1", "curl/8.5.0")
    with pytest.raises(NotAuthenticated):
        sessions.redeem_ticket(ticket, "10.0.0.1", BROWSER)
    with session_scope() as db:
        assert db.exec(select(AuthSession)).all() == []


def test_a_ticket_opens_one_session_only(make_user) -> None:
    user = make_user("ana@empresa.cl", PASSWORD)
    ticket = login.open_web_session(user.id, "10.0.0.1", BROWSER)
    assert sessions.redeem_ticket(ticket, "10.0.0.1", BROWSER)
    with pytest.raises(NotAuthenticated):
        sessions.redeem_ticket(ticket, "10.0.0.1", BROWSER)


def test_a_deactivated_account_does_not_complete_its_login(make_user) -> None:
    user = make_user("ana@empresa.cl", PASSWORD)
    with session_scope() as db:
        db.get(User, user.id).is_active = False
    with pytest.raises(NotAuthenticated):
        login.open_web_session(user.id, "10.0.0.1", BROWSER)
    assert _logins() == []
