"""Two-step verification through the API: setup, login with a code, replay, recovery codes,
disabling, and the setup that some domains and roles must do first."""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import unquote

import pyotp
import pytest
from sqlmodel import select

from energyapp.db.engine import session_scope
from energyapp.db.models import AuditEvent, RecoveryCode, User
from tests.conftest import ORIGIN, api_login, apply_env

EMAIL, PASSWORD = "marta@empresa.cl", "clave-segura-1"


def _secret(email: str = EMAIL) -> str:
    with session_scope() as db:
        return db.exec(select(User).where(User.email == email)).one().totp_secret


def _enable(api) -> tuple[str, list[str]]:
    setup = api.post("/api/auth/totp/setup", headers={"Origin": ORIGIN})
    assert setup.status_code == 200
    body = setup.json()
    assert body["otpauth_uri"].startswith("otpauth://totp/EnergyApp:")
    assert body["qr_svg_data_uri"].startswith("data:image/svg+xml")
    assert "xmlns" in unquote(body["qr_svg_data_uri"])  # an <img> needs the SVG namespace
    confirm = api.post(
        "/api/auth/totp/confirm",
        headers={"Origin": ORIGIN},
        json={"code": pyotp.TOTP(body["secret"]).now()},
    )
    assert confirm.status_code == 200
    return body["secret"], confirm.json()["recovery_codes"]


@pytest.fixture
def signed_in(api, make_user):
    make_user(EMAIL, PASSWORD)
    assert api_login(api, EMAIL, PASSWORD).status_code == 200
    return api


def test_setup_stores_recovery_codes_hashed_and_audits(signed_in) -> None:
    _secret_value, codes = _enable(signed_in)
    assert len(codes) == 10 and len(set(codes)) == 10
    with session_scope() as db:
        stored = db.exec(select(RecoveryCode.code_hash)).all()
        actions = db.exec(select(AuditEvent.action)).all()
    assert len(stored) == 10 and not set(codes) & set(stored)
    assert "totp_enabled" in actions
    assert signed_in.get("/api/auth/me").json()["totp_enabled"] is True


def test_a_wrong_confirmation_code_leaves_2fa_off(signed_in) -> None:
    signed_in.post("/api/auth/totp/setup", headers={"Origin": ORIGIN})
    response = signed_in.post(
        "/api/auth/totp/confirm", headers={"Origin": ORIGIN}, json={"code": "000000"}
    )
    assert response.status_code == 422
    assert signed_in.get("/api/auth/me").json()["totp_enabled"] is False


def test_login_asks_for_the_code_and_never_accepts_it_twice(signed_in) -> None:
    secret, _codes = _enable(signed_in)
    signed_in.cookies.clear()
    missing = api_login(signed_in, EMAIL, PASSWORD)
    assert missing.status_code == 401 and missing.json()["code"] == "totp_required"
    assert "set-cookie" not in missing.headers
    # the setup spent the current step; the next step's code is within the ±1 window
    code = pyotp.TOTP(secret).at(time.time() + 30)
    assert api_login(signed_in, EMAIL, PASSWORD, totp=code).status_code == 200
    signed_in.cookies.clear()
    replay = api_login(signed_in, EMAIL, PASSWORD, totp=code)
    assert replay.status_code == 401
    assert replay.json()["detail"] == "El código no es válido o ya fue usado."


@pytest.mark.parametrize("code", ["12345", "１２３４５６", "abcdef", "1234567", ""])
def test_malformed_codes_are_refused(signed_in, code) -> None:
    _enable(signed_in)
    signed_in.cookies.clear()
    assert api_login(signed_in, EMAIL, PASSWORD, totp=code).status_code == 401


def test_a_recovery_code_works_once(signed_in) -> None:
    _secret_value, codes = _enable(signed_in)
    signed_in.cookies.clear()
    assert api_login(signed_in, EMAIL, PASSWORD, totp=codes[0].upper()).status_code == 200
    signed_in.cookies.clear()
    assert api_login(signed_in, EMAIL, PASSWORD, totp=codes[0]).status_code == 401
    assert api_login(signed_in, EMAIL, PASSWORD, totp=codes[1].replace("-", "")).status_code == 200


def test_wrong_codes_are_throttled(signed_in) -> None:
    _enable(signed_in)
    signed_in.cookies.clear()
    for _ in range(5):
        assert api_login(signed_in, EMAIL, PASSWORD, totp="000000").status_code == 401
    locked = api_login(signed_in, EMAIL, PASSWORD, totp="000000")
    assert locked.status_code == 429 and int(locked.headers["Retry-After"]) >= 1


def test_disabling_needs_the_password_and_a_code(signed_in) -> None:
    _secret_value, codes = _enable(signed_in)
    wrong_password = signed_in.post(
        "/api/auth/totp/disable",
        headers={"Origin": ORIGIN},
        json={"password": "nope", "code": codes[0]},
    )
    assert wrong_password.status_code == 422
    wrong_code = signed_in.post(
        "/api/auth/totp/disable",
        headers={"Origin": ORIGIN},
        json={"password": PASSWORD, "code": "000000"},
    )
    assert wrong_code.status_code == 422
    assert signed_in.get("/api/auth/me").json()["totp_enabled"] is True
    done = signed_in.post(
        "/api/auth/totp/disable",
        headers={"Origin": ORIGIN},
        json={"password": PASSWORD, "code": codes[0]},
    )
    assert done.status_code == 204
    assert signed_in.get("/api/auth/me").json()["totp_enabled"] is False
    with session_scope() as db:
        assert db.exec(select(RecoveryCode)).all() == []


def disable(api, password: str, code: str):
    return api.post(
        "/api/auth/totp/disable",
        headers={"Origin": ORIGIN},
        json={"password": password, "code": code},
    )


def test_wrong_disable_passwords_count_toward_the_login_lockout(signed_in) -> None:
    _secret_value, codes = _enable(signed_in)
    for _ in range(5):
        assert disable(signed_in, "equivocada", codes[0]).status_code == 422
    locked = disable(signed_in, PASSWORD, codes[0])  # even the right password waits
    assert locked.status_code == 429 and int(locked.headers["Retry-After"]) > 0
    assert locked.json()["detail"].startswith("Demasiados intentos fallidos")
    assert signed_in.get("/api/auth/me").json()["totp_enabled"] is True
    signed_in.cookies.clear()
    assert api_login(signed_in, EMAIL, PASSWORD, totp=codes[1]).status_code == 429


def test_wrong_disable_codes_count_toward_the_login_lockout(
    signed_in, monkeypatch: pytest.MonkeyPatch
) -> None:
    apply_env(monkeypatch, totp_max_failures="50")  # only the login counter can lock here
    _secret_value, codes = _enable(signed_in)
    for _ in range(5):
        assert disable(signed_in, PASSWORD, "000000").status_code == 422
    assert disable(signed_in, PASSWORD, codes[0]).status_code == 429
    signed_in.cookies.clear()
    assert api_login(signed_in, EMAIL, PASSWORD, totp=codes[1]).status_code == 429


def test_disabling_2fa_ends_every_other_session_and_refresh_token(signed_in) -> None:
    _secret_value, codes = _enable(signed_in)
    this_cookie = signed_in.cookies.get("energyapp_session")
    signed_in.cookies.clear()
    other = api_login(signed_in, EMAIL, PASSWORD, totp=codes[0]).json()  # another device
    other_cookie = signed_in.cookies.get("energyapp_session")
    signed_in.cookies.clear()
    signed_in.cookies.set("energyapp_session", this_cookie)
    assert disable(signed_in, PASSWORD, codes[1]).status_code == 204
    assert signed_in.get("/api/auth/me").status_code == 200  # this session stays
    assert (
        signed_in.post(
            "/api/auth/refresh", json={"refresh_token": other["refresh_token"]}
        ).status_code
        == 401
    )
    signed_in.cookies.clear()
    assert (
        signed_in.get(
            "/api/auth/me", headers={"Authorization": f"Bearer {other['access_token']}"}
        ).status_code
        == 401
    )
    signed_in.cookies.set("energyapp_session", other_cookie)
    assert signed_in.get("/api/auth/me").status_code == 401
    with session_scope() as db:
        assert "totp_disabled" in db.exec(select(AuditEvent.action)).all()


# --- demo accounts, shared by every visitor ----------------------------------------------------
DEMO_WORKER = ("trabajador@alvaradomazzei.cl", "worker123")


def test_demo_accounts_cannot_set_up_2fa(api, demo_users) -> None:
    assert api_login(api, *DEMO_WORKER).status_code == 200
    for path, body in (("setup", None), ("confirm", {"code": "123456"})):
        response = api.post(f"/api/auth/totp/{path}", headers={"Origin": ORIGIN}, json=body)
        assert response.status_code == 403
        assert response.json()["detail"] == (
            "Las cuentas de demostración no pueden activar la verificación en dos pasos: las "
            "comparten todos los visitantes."
        )
    with session_scope() as db:
        user = db.exec(select(User).where(User.email == DEMO_WORKER[0])).one()
        assert user.totp_secret is None and user.totp_enabled is False


def test_demo_accounts_cannot_disable_2fa(api, demo_users) -> None:
    assert api_login(api, *DEMO_WORKER).status_code == 200
    with session_scope() as db:  # say an operator turned it on
        user = db.exec(select(User).where(User.email == DEMO_WORKER[0])).one()
        user.totp_secret, user.totp_enabled = pyotp.random_base32(), True
    response = disable(api, DEMO_WORKER[1], pyotp.TOTP(_secret(DEMO_WORKER[0])).now())
    assert response.status_code == 403
    assert response.json()["detail"] == (
        "Las cuentas de demostración no pueden desactivar la verificación en dos pasos: las "
        "comparten todos los visitantes."
    )
    assert api.get("/api/auth/me").json()["totp_enabled"] is True


def test_autosetup_domain_must_enable_2fa_before_anything_else(api, make_user) -> None:
    make_user("pedro@inacapmail.cl", PASSWORD)
    login = api_login(api, "pedro@inacapmail.cl", PASSWORD)
    assert login.status_code == 200 and login.json()["user"]["must_setup_totp"] is True
    blocked = api.get("/api/auth/sessions")
    assert blocked.status_code == 403 and blocked.json()["code"] == "totp_setup_required"
    assert api.get("/api/auth/me").status_code == 200
    _enable(api)
    assert api.get("/api/auth/sessions").status_code == 200


def test_required_roles_must_enable_2fa(api, make_user, monkeypatch: pytest.MonkeyPatch) -> None:
    apply_env(monkeypatch, totp_required_roles='["supervisor"]')
    make_user("jefa@empresa.cl", PASSWORD, role="supervisor")
    api_login(api, "jefa@empresa.cl", PASSWORD)
    assert api.get("/api/auth/sessions").json()["code"] == "totp_setup_required"


def test_no_password_token_cookie_or_secret_reaches_the_logs(signed_in, app_env) -> None:
    secret, codes = _enable(signed_in)
    cookie = signed_in.cookies.get("energyapp_session")
    signed_in.cookies.clear()
    tokens = api_login(signed_in, EMAIL, PASSWORD, totp=codes[0]).json()
    signed_in.post("/api/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    api_login(signed_in, EMAIL, "contraseña-equivocada")
    import logging

    for name in ("energyapp", "energyapp.auth", "energyapp.audit"):
        for handler in logging.getLogger(name).handlers:
            handler.flush()
    logs = "".join(p.read_text() for p in Path(app_env["ENERGYAPP_LOG_DIR"]).glob("*.log"))
    assert "login_succeeded" in logs and "login_failed" in logs and "totp_enabled" in logs
    for secret_text in (
        PASSWORD,
        "contraseña-equivocada",
        secret,
        codes[0],
        cookie,
        tokens["access_token"],
        tokens["refresh_token"],
    ):
        assert secret_text not in logs
