"""/api/auth: login, cookie and tokens, refresh rotation, logout, registration, passwords,
sessions, cross-site protection and abuse limits."""

from __future__ import annotations

import statistics
import time
from datetime import UTC, datetime, timedelta

import bcrypt
import jwt
import pytest
from sqlmodel import select

from energyapp.db.engine import session_scope
from energyapp.db.models import AuditEvent, AuthSession, User
from tests.conftest import ORIGIN, TEST_SECRET, api_login, apply_env

ADMIN = ("administrador@alvaradomazzei.cl", "admin123")
SUPERVISOR = ("supervisor@alvaradomazzei.cl", "supervisor123")
WORKER = ("trabajador@alvaradomazzei.cl", "worker123")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# --- login -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("account", "role"), [(ADMIN, "admin"), (SUPERVISOR, "supervisor"), (WORKER, "trabajador")]
)
def test_each_demo_account_logs_in_with_cookie_and_tokens(api, demo_users, account, role) -> None:
    response = api_login(api, *account)
    assert response.status_code == 200
    body = response.json()
    assert body["user"]["role"] == role and body["user"]["email"] == account[0]
    assert body["token_type"] == "bearer" and body["expires_in"] == 15 * 60
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("energyapp_session=")
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie  # public_url is http in tests
    assert api.get("/api/auth/me").json()["role"] == role  # by cookie
    api.cookies.clear()
    assert api.get("/api/auth/me", headers=bearer(body["access_token"])).json()["role"] == role


def test_session_cookie_is_secure_when_served_over_https(
    api, demo_users, monkeypatch: pytest.MonkeyPatch
) -> None:
    apply_env(monkeypatch, public_url="https://chat.example.cl")
    response = api.post("/api/auth/login", json={"email": ADMIN[0], "password": ADMIN[1]})
    assert "Secure" in response.headers["set-cookie"]


def test_email_is_case_insensitive(api, demo_users) -> None:
    assert api_login(api, "  Supervisor@AlvaradoMazzei.CL ", SUPERVISOR[1]).status_code == 200


def test_wrong_password_and_unknown_email_look_the_same(api, demo_users) -> None:
    wrong = api_login(api, ADMIN[0], "not-the-password")
    unknown = api_login(api, "nadie@alvaradomazzei.cl", "not-the-password")
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json() == {"detail": "Correo o contraseña incorrectos."}
    assert "set-cookie" not in wrong.headers


def test_a_deactivated_account_cannot_log_in(api, make_user) -> None:
    make_user("baja@empresa.cl", "clave-segura-1", active=False)
    response = api_login(api, "baja@empresa.cl", "clave-segura-1")
    assert response.status_code == 401 and "desactivada" in response.json()["detail"]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"password": "x"}, "Falta el campo «email»."),
        ({"email": "a@b.cl"}, "Falta el campo «password»."),
        ({"email": 5, "password": "x"}, "El campo «email» no es válido."),
        ({"email": "a@b.cl", "password": ["x"]}, "El campo «password» no es válido."),
        ({"email": "a" * 300 + "@b.cl", "password": "x"}, "El campo «email» es demasiado largo."),
        ({"email": "a@b.cl", "password": "x" * 5000}, "El campo «password» es demasiado largo."),
    ],
)
def test_bad_login_bodies_get_a_spanish_422(api, body, expected) -> None:
    response = api.post("/api/auth/login", json=body)
    assert response.status_code == 422 and response.json() == {"detail": expected}


def test_malformed_json_is_a_clear_422(api) -> None:
    response = api.post(
        "/api/auth/login", content=b'{"email": ', headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json() == {"detail": "El cuerpo de la solicitud no es JSON válido."}


# --- abuse limits ----------------------------------------------------------------------------
def test_failed_logins_lock_the_account_with_retry_after(api, demo_users) -> None:
    for _ in range(5):
        assert api_login(api, WORKER[0], "wrong-password").status_code == 401
    locked = api_login(api, WORKER[0], WORKER[1])  # even the right password waits
    assert locked.status_code == 429
    assert int(locked.headers["Retry-After"]) > 0
    assert locked.json()["detail"].startswith("Demasiados intentos fallidos")
    assert api_login(api, ADMIN[0], ADMIN[1]).status_code == 200  # other accounts unaffected


def test_failed_logins_from_one_ip_are_limited_across_accounts(
    api, demo_users, monkeypatch: pytest.MonkeyPatch
) -> None:
    apply_env(monkeypatch, login_max_failures_per_ip="3", login_max_failures_per_account="50")
    for index in range(3):
        api_login(api, f"persona{index}@empresa.cl", "x")
    assert api_login(api, ADMIN[0], ADMIN[1]).status_code == 429


# --- tokens -------------------------------------------------------------------------------------
def test_refresh_rotates_and_a_reused_token_revokes_the_family(api, demo_users) -> None:
    first = api_login(api, ADMIN[0], ADMIN[1]).json()
    api.cookies.clear()
    second = api.post("/api/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert second.status_code == 200
    second = second.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert api.get("/api/auth/me", headers=bearer(second["access_token"])).status_code == 200
    reused = api.post("/api/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert reused.status_code == 401
    # theft detected: the whole family is dead, the legitimate holder must log in again
    assert (
        api.post("/api/auth/refresh", json={"refresh_token": second["refresh_token"]}).status_code
        == 401
    )
    assert api.get("/api/auth/me", headers=bearer(second["access_token"])).status_code == 401


@pytest.mark.parametrize("token", ["", "garbage", "x" * 300])
def test_unknown_refresh_tokens_are_401(api, token) -> None:
    response = api.post("/api/auth/refresh", json={"refresh_token": token})
    assert response.status_code in (401, 422)


def _claims(**changes) -> dict:
    now = datetime.now(UTC)
    claims = {
        "sub": "1",
        "fam": "f",
        "typ": "access",
        "jti": "j",
        "iat": now,
        "exp": now + timedelta(minutes=5),
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


@pytest.mark.parametrize(
    "forge",
    [
        lambda: jwt.encode(
            _claims(exp=datetime.now(UTC) - timedelta(seconds=1)), TEST_SECRET, algorithm="HS256"
        ),
        lambda: jwt.encode(_claims(), "another-secret-" + "y" * 40, algorithm="HS256"),
        lambda: jwt.encode(_claims(), None, algorithm="none"),
        lambda: jwt.encode(_claims(exp=None), TEST_SECRET, algorithm="HS256"),
        lambda: jwt.encode(_claims(jti=None), TEST_SECRET, algorithm="HS256"),
        lambda: jwt.encode(_claims(typ="refresh"), TEST_SECRET, algorithm="HS256"),
        lambda: jwt.encode(_claims(sub="not-a-number"), TEST_SECRET, algorithm="HS256"),
        lambda: jwt.encode(_claims(), TEST_SECRET, algorithm="HS512"),
        lambda: "not.a.jwt",
        lambda: "a" * 5000,
    ],
    ids=[
        "expired",
        "wrong-secret",
        "alg-none",
        "no-exp",
        "no-jti",
        "wrong-type",
        "bad-sub",
        "other-alg",
        "garbage",
        "huge",
    ],
)
def test_forged_or_expired_access_tokens_are_401(api, demo_users, forge) -> None:
    response = api.get("/api/auth/me", headers=bearer(forge()))
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


def test_a_valid_signature_for_an_unknown_family_is_401(api, demo_users) -> None:
    token = jwt.encode(_claims(), TEST_SECRET, algorithm="HS256")
    assert api.get("/api/auth/me", headers=bearer(token)).status_code == 401


@pytest.mark.parametrize("header", ["Basic abc", "Bearer", "Bearer ", "Token x"])
def test_malformed_authorization_headers_are_401(api, header) -> None:
    assert api.get("/api/auth/me", headers={"Authorization": header}).status_code == 401


def test_no_credentials_is_401(api) -> None:
    response = api.get("/api/auth/me")
    assert response.status_code == 401 and response.json()["detail"] == "Debes iniciar sesión."


# --- logout and revocation take effect at once ------------------------------------------------
def test_cookie_logout_revokes_the_session_and_clears_the_cookie(api, demo_users) -> None:
    api_login(api, WORKER[0], WORKER[1])
    cookie = api.cookies.get("energyapp_session")
    response = api.post("/api/auth/logout", headers={"Origin": ORIGIN})
    assert response.status_code == 204
    assert (
        'energyapp_session=""' in response.headers["set-cookie"]
        or "Max-Age=0" in response.headers["set-cookie"]
    )
    api.cookies.set("energyapp_session", cookie)  # a copy of the old cookie is dead too
    assert api.get("/api/auth/me").status_code == 401
    with session_scope() as db:
        assert [e.action for e in db.exec(select(AuditEvent)).all()][-2:] == ["login", "logout"]


def test_bearer_logout_revokes_the_token_family(api, demo_users) -> None:
    tokens = api_login(api, WORKER[0], WORKER[1]).json()
    api.cookies.clear()
    assert api.post("/api/auth/logout", headers=bearer(tokens["access_token"])).status_code == 204
    assert api.get("/api/auth/me", headers=bearer(tokens["access_token"])).status_code == 401
    assert (
        api.post("/api/auth/refresh", json={"refresh_token": tokens["refresh_token"]}).status_code
        == 401
    )


def test_deactivation_and_role_change_apply_on_the_next_request(api, demo_users) -> None:
    tokens = api_login(api, WORKER[0], WORKER[1]).json()
    with session_scope() as db:
        user = db.exec(select(User).where(User.email == WORKER[0])).one()
        user.role = "supervisor"
    assert api.get("/api/auth/me").json()["role"] == "supervisor"
    with session_scope() as db:
        db.exec(select(User).where(User.email == WORKER[0])).one().is_active = False
    assert api.get("/api/auth/me").status_code == 401
    api.cookies.clear()
    assert api.get("/api/auth/me", headers=bearer(tokens["access_token"])).status_code == 401


# --- cross-site requests --------------------------------------------------------------------
def test_cookie_writes_need_the_apps_own_origin(api, demo_users) -> None:
    api_login(api, WORKER[0], WORKER[1])
    missing = api.delete("/api/auth/sessions")
    foreign = api.delete("/api/auth/sessions", headers={"Origin": "https://evil.example"})
    via_referer = api.delete("/api/auth/sessions", headers={"Referer": f"{ORIGIN}/settings"})
    own = api.delete("/api/auth/sessions", headers={"Origin": ORIGIN})
    assert missing.status_code == foreign.status_code == 403
    assert foreign.json()["detail"] == "Solicitud rechazada: origen no permitido."
    assert via_referer.status_code == own.status_code == 204
    assert api.get("/api/auth/me").status_code == 200  # reads need no Origin


def test_bearer_writes_need_no_origin(api, demo_users) -> None:
    tokens = api_login(api, WORKER[0], WORKER[1]).json()
    api.cookies.clear()
    response = api.delete("/api/auth/sessions", headers=bearer(tokens["access_token"]))
    assert response.status_code == 204


def test_login_from_a_foreign_page_is_refused(api, demo_users) -> None:
    response = api.post(
        "/api/auth/login",
        json={"email": ADMIN[0], "password": ADMIN[1]},
        headers={"Origin": "https://evil.example"},
    )
    assert response.status_code == 403


# --- registration ------------------------------------------------------------------------------
def test_register_creates_a_trabajador(api) -> None:
    response = api.post(
        "/api/auth/register",
        json={
            "name": "  Ana   Pérez ",
            "email": "Ana@Empresa.cl",
            "password": "contraseña-1",
            "password_confirmation": "contraseña-1",
        },
    )
    assert response.status_code == 201
    assert response.json()["role"] == "trabajador" and response.json()["name"] == "Ana Pérez"
    assert response.json()["email"] == "ana@empresa.cl"
    assert api_login(api, "ana@empresa.cl", "contraseña-1").status_code == 200


@pytest.mark.parametrize(
    ("changes", "status", "detail"),
    [
        ({"email": "TRABAJADOR@alvaradomazzei.cl"}, 409, "Ya existe una cuenta con ese correo."),
        (
            {"password": "corta", "password_confirmation": "corta"},
            422,
            "La contraseña debe tener al menos 8 caracteres.",
        ),
        ({"password_confirmation": "otra-cosa-1"}, 422, "Las contraseñas no coinciden."),
        (
            {"password": "x" * 1025, "password_confirmation": "x" * 1025},
            422,
            "El campo «password» es demasiado largo.",
        ),
        (
            {"password": "password123", "password_confirmation": "password123"},
            422,
            "Esa contraseña es demasiado común o aparece en filtraciones de datos; elige otra "
            "menos predecible.",
        ),
        (
            {"password": "MiEnergyApp-2024", "password_confirmation": "MiEnergyApp-2024"},
            422,
            "La contraseña no puede contener el nombre de la empresa (EnergyApp).",
        ),
        (
            {
                "email": "rosario@empresa.cl",
                "password": "Rosario-2024",
                "password_confirmation": "Rosario-2024",
            },
            422,
            "La contraseña no puede contener tu correo ni la parte anterior a la @.",
        ),
        ({"email": "no-es-correo"}, 422, "El correo electrónico no es válido."),
        ({"name": "   "}, 422, "Escribe tu nombre."),
    ],
)
def test_register_refusals_are_precise(api, demo_users, changes, status, detail) -> None:
    body = {
        "name": "Ana",
        "email": "ana@empresa.cl",
        "password": "contraseña-1",
        "password_confirmation": "contraseña-1",
        **changes,
    }
    response = api.post("/api/auth/register", json=body)
    assert response.status_code == status and response.json()["detail"] == detail


def register(api, email: str, password: str):
    return api.post(
        "/api/auth/register",
        json={
            "name": "Ana",
            "email": email,
            "password": password,
            "password_confirmation": password,
        },
    )


@pytest.mark.parametrize(
    "password",
    ["una frase larga de doscientos " * 6 + "x" * 20, "ж" * 100],
    ids=["200-chars", "100-cyrillic"],
)
def test_long_and_non_ascii_passwords_register_and_log_in(api, password) -> None:
    """Beyond bcrypt's 72 bytes (200 characters; 100 letters of 2 bytes), nothing is cut off."""
    assert len(password) in (100, 200)
    assert register(api, "ana@empresa.cl", password).status_code == 201
    assert api_login(api, "ana@empresa.cl", password).status_code == 200
    api.cookies.clear()
    assert api_login(api, "ana@empresa.cl", password[:-1] + "y").status_code == 401


def test_the_same_password_typed_on_another_keyboard_logs_in(api) -> None:
    """NFKC: the "ﬁ" ligature is "fi", and a composed "ñ" is an "n" plus a combining tilde."""
    assert register(api, "ana@empresa.cl", "\ufb01esta de a\u00f1o nuevo").status_code == 201
    assert api_login(api, "ana@empresa.cl", "fiesta de an\u0303o nuevo").status_code == 200


def test_an_old_bcrypt_hash_logs_in_and_is_upgraded(api, make_user) -> None:
    user = make_user("ana@empresa.cl")
    old = bcrypt.hashpw(b"clave-segura-1", bcrypt.gensalt(4)).decode("ascii")
    with session_scope() as db:
        db.get(User, user.id).password_hash = old
    assert api_login(api, "ana@empresa.cl", "clave-equivocada").status_code == 401
    with session_scope() as db:
        assert db.get(User, user.id).password_hash == old  # a failure changes nothing
    assert api_login(api, "ana@empresa.cl", "clave-segura-1").status_code == 200
    with session_scope() as db:
        upgraded = db.get(User, user.id).password_hash
    assert upgraded.startswith("$bcrypt-sha256$v=2,t=2b,r=4$")
    api.cookies.clear()
    assert api_login(api, "ana@empresa.cl", "clave-segura-1").status_code == 200
    with session_scope() as db:
        assert db.get(User, user.id).password_hash == upgraded  # once is enough


# --- password change -----------------------------------------------------------------------
def test_demo_accounts_cannot_change_their_password(api, demo_users) -> None:
    api_login(api, ADMIN[0], ADMIN[1])
    response = api.post(
        "/api/auth/password",
        headers={"Origin": ORIGIN},
        json={
            "current_password": ADMIN[1],
            "new_password": "nueva-clave-1",
            "new_password_confirmation": "nueva-clave-1",
        },
    )
    assert response.status_code == 403 and "demostración" in response.json()["detail"]


def test_only_configured_domains_may_change_passwords(api, make_user) -> None:
    make_user("luis@otraempresa.cl", "clave-segura-1")
    api_login(api, "luis@otraempresa.cl", "clave-segura-1")
    response = api.post(
        "/api/auth/password",
        headers={"Origin": ORIGIN},
        json={
            "current_password": "clave-segura-1",
            "new_password": "nueva-clave-1",
            "new_password_confirmation": "nueva-clave-1",
        },
    )
    assert response.status_code == 403 and "inacapmail.cl" in response.json()["detail"]


def test_password_change_needs_the_current_one_and_revokes_other_sessions(
    api, make_user, monkeypatch: pytest.MonkeyPatch
) -> None:
    apply_env(monkeypatch, totp_autosetup_domains="")
    make_user("rosa@inacapmail.cl", "clave-segura-1")
    other = api_login(api, "rosa@inacapmail.cl", "clave-segura-1").json()  # another device
    other_cookie = api.cookies.get("energyapp_session")
    api.cookies.clear()
    api_login(api, "rosa@inacapmail.cl", "clave-segura-1")
    body = {
        "current_password": "equivocada",
        "new_password": "nueva-clave-1",
        "new_password_confirmation": "nueva-clave-1",
    }
    wrong = api.post("/api/auth/password", headers={"Origin": ORIGIN}, json=body)
    assert wrong.status_code == 422 and wrong.json()["detail"] == (
        "La contraseña actual no es correcta."
    )
    body["current_password"] = "clave-segura-1"
    assert api.post("/api/auth/password", headers={"Origin": ORIGIN}, json=body).status_code == 204
    assert api.get("/api/auth/me").status_code == 200  # this session stays
    assert (
        api.post("/api/auth/refresh", json={"refresh_token": other["refresh_token"]}).status_code
        == 401
    )
    api.cookies.set("energyapp_session", other_cookie)
    assert api.get("/api/auth/me").status_code == 401
    api.cookies.clear()
    assert api_login(api, "rosa@inacapmail.cl", "clave-segura-1").status_code == 401
    assert api_login(api, "rosa@inacapmail.cl", "nueva-clave-1").status_code == 200


def change_password(api, current: str, new: str = "nueva-clave-1"):
    return api.post(
        "/api/auth/password",
        headers={"Origin": ORIGIN},
        json={"current_password": current, "new_password": new, "new_password_confirmation": new},
    )


@pytest.fixture
def rosa(api, make_user, monkeypatch: pytest.MonkeyPatch):
    """Signed in by cookie, in a domain allowed to change its password."""
    apply_env(monkeypatch, totp_autosetup_domains="")
    make_user("rosa@inacapmail.cl", "clave-segura-1")
    assert api_login(api, "rosa@inacapmail.cl", "clave-segura-1").status_code == 200
    return api


def test_a_wrong_current_password_counts_toward_the_login_lockout(rosa) -> None:
    for _ in range(5):
        assert change_password(rosa, "equivocada").status_code == 422
    locked = change_password(rosa, "clave-segura-1")  # even the right one waits
    assert locked.status_code == 429 and int(locked.headers["Retry-After"]) > 0
    assert locked.json()["detail"].startswith("Demasiados intentos fallidos")
    rosa.cookies.clear()
    assert api_login(rosa, "rosa@inacapmail.cl", "clave-segura-1").status_code == 429


def test_failed_logins_also_lock_the_password_change(rosa) -> None:
    cookie = rosa.cookies.get("energyapp_session")
    rosa.cookies.clear()
    for _ in range(5):
        assert api_login(rosa, "rosa@inacapmail.cl", "equivocada").status_code == 401
    rosa.cookies.set("energyapp_session", cookie)
    assert change_password(rosa, "clave-segura-1").status_code == 429


@pytest.mark.parametrize(
    ("new", "detail"),
    [
        (
            "password123",
            "Esa contraseña es demasiado común o aparece en filtraciones de datos; "
            "elige otra menos predecible.",
        ),
        ("energyapp-nueva", "La contraseña no puede contener el nombre de la empresa (EnergyApp)."),
        (
            "ROSA@inacapmail.cl",
            "La contraseña no puede contener tu correo ni la parte anterior a la @.",
        ),
    ],
    ids=["breached", "company", "email"],
)
def test_a_new_password_obeys_the_same_rules_as_at_registration(rosa, new, detail) -> None:
    response = change_password(rosa, "clave-segura-1", new)
    assert response.status_code == 422 and response.json()["detail"] == detail


# --- sessions view -------------------------------------------------------------------------------
def test_sessions_list_marks_this_one_and_revokes_others(api, demo_users) -> None:
    api.headers["User-Agent"] = "Mozilla/5.0 (X11; Linux x86_64) Chrome/130.0"
    api_login(api, WORKER[0], WORKER[1])
    first_cookie = api.cookies.get("energyapp_session")
    api.cookies.clear()
    api_login(api, WORKER[0], WORKER[1])
    listed = api.get("/api/auth/sessions").json()
    assert len(listed) == 2 and sum(s["current"] for s in listed) == 1
    assert listed[0]["user_agent"].startswith("Mozilla/5.0") and listed[0]["ip"]
    other = next(s for s in listed if not s["current"])
    assert (
        api.delete(f"/api/auth/sessions/{other['id']}", headers={"Origin": ORIGIN}).status_code
        == 204
    )
    assert len(api.get("/api/auth/sessions").json()) == 1
    api.cookies.set("energyapp_session", first_cookie)
    assert api.get("/api/auth/me").status_code == 401


def test_another_users_session_is_not_found(api, demo_users) -> None:
    api_login(api, ADMIN[0], ADMIN[1])
    admin_session = api.get("/api/auth/sessions").json()[0]["id"]
    api.cookies.clear()
    api_login(api, WORKER[0], WORKER[1])
    response = api.delete(f"/api/auth/sessions/{admin_session}", headers={"Origin": ORIGIN})
    assert response.status_code == 404
    assert api.delete("/api/auth/sessions/abc", headers={"Origin": ORIGIN}).status_code == 422


# --- idle and absolute expiry -------------------------------------------------------------
def test_idle_and_absolute_expiry_end_a_session(api, demo_users) -> None:
    api_login(api, WORKER[0], WORKER[1])
    with session_scope() as db:
        row = db.exec(select(AuthSession)).one()
        row.last_seen_at = row.last_seen_at - timedelta(hours=9)
    assert api.get("/api/auth/me").status_code == 401
    api_login(api, WORKER[0], WORKER[1])
    with session_scope() as db:
        row = db.exec(select(AuthSession).order_by(AuthSession.id.desc())).first()
        row.expires_at = datetime.now(UTC) - timedelta(seconds=1)
    assert api.get("/api/auth/me").status_code == 401


def test_login_is_timed_like_a_failure_for_unknown_emails(api, make_user, monkeypatch) -> None:
    """An unknown email costs what a wrong password costs: one bcrypt check, against a dummy
    hash of the configured cost. Compared as medians of interleaved attempts, at a cost where
    the hash dominates the request (the suite's cost 4 would drown it in noise): without the
    dummy check an unknown email answers several times faster, far outside the bounds."""
    from energyapp.auth.passwords import dummy_hash
    from energyapp.services import login as login_service

    apply_env(
        monkeypatch,
        bcrypt_rounds="10",
        login_max_failures_per_account="1000",  # no lockout cutting attempts short
        login_max_failures_per_ip="1000",
    )
    make_user("conocida@empresa.cl")  # hashed at cost 10 too
    checked: list[str] = []
    real = login_service.verify_password
    monkeypatch.setattr(
        login_service, "verify_password", lambda p, h: checked.append(h) or real(p, h)
    )

    def attempt(email: str) -> float:
        started = time.perf_counter()
        response = api_login(api, email, "no-es-la-clave")
        elapsed = time.perf_counter() - started
        assert response.status_code == 401, response.text
        return elapsed

    attempt("calentando@empresa.cl")  # warm-up: the dummy hash is made once, then cached
    attempt("conocida@empresa.cl")
    checked.clear()
    unknown, wrong = [], []
    for i in range(9):  # interleaved, so load on the machine weighs on both alike
        unknown.append(attempt(f"nadie{i}@empresa.cl"))
        wrong.append(attempt("conocida@empresa.cl"))

    assert checked[0::2] == [dummy_hash(10)] * 9  # one check each, against the dummy hash
    assert all(",r=10$" in h for h in checked[1::2])
    ratio = statistics.median(unknown) / statistics.median(wrong)
    assert 0.6 < ratio < 1.6, (
        f"unknown email {statistics.median(unknown) * 1000:.1f} ms, "
        f"wrong password {statistics.median(wrong) * 1000:.1f} ms"
    )
