"""A login is one record: its cookie session and its refresh-token family are revoked together,
by every path, and a family never outlives the lifetime counted from its login."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from energyapp.db.engine import session_scope
from energyapp.db.models import AuthSession, RefreshToken, utcnow
from tests.conftest import ORIGIN, api_login

ADMIN = ("administrador@alvaradomazzei.cl", "admin123")
WORKER = ("trabajador@alvaradomazzei.cl", "worker123")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def login(api, account=ADMIN) -> tuple[dict, str]:
    """Tokens and the cookie of one API login."""
    response = api_login(api, *account)
    assert response.status_code == 200, response.text
    cookie = response.cookies.get("energyapp_session")
    api.cookies.clear()
    return response.json(), cookie


def cookie_works(api, cookie: str) -> bool:
    api.cookies.clear()
    # A Cookie header, not per-request cookies= (deprecated in httpx).
    status = api.get("/api/auth/me", headers={"Cookie": f"energyapp_session={cookie}"}).status_code
    api.cookies.clear()
    return status == 200


def refresh_works(api, refresh_token: str) -> bool:
    api.cookies.clear()
    return api.post("/api/auth/refresh", json={"refresh_token": refresh_token}).status_code == 200


def test_bearer_logout_ends_the_cookie_of_the_same_login(api, demo_users) -> None:
    tokens, cookie = login(api)
    assert api.post("/api/auth/logout", headers=bearer(tokens["access_token"])).status_code == 204
    assert not cookie_works(api, cookie)
    assert not refresh_works(api, tokens["refresh_token"])


def test_cookie_logout_ends_the_token_family_of_the_same_login(api, demo_users) -> None:
    tokens, cookie = login(api)
    response = api.post(
        "/api/auth/logout", headers={"Origin": ORIGIN, "Cookie": f"energyapp_session={cookie}"}
    )
    assert response.status_code == 204
    assert api.get("/api/auth/me", headers=bearer(tokens["access_token"])).status_code == 401
    assert not refresh_works(api, tokens["refresh_token"])


def test_closing_other_sessions_ends_their_refresh_tokens_too(api, demo_users) -> None:
    mine, _ = login(api)
    other, other_cookie = login(api)
    response = api.delete("/api/auth/sessions", headers=bearer(mine["access_token"]))
    assert response.status_code == 204
    assert not refresh_works(api, other["refresh_token"])
    assert not cookie_works(api, other_cookie)
    assert api.get("/api/auth/me", headers=bearer(mine["access_token"])).status_code == 200


def test_an_admins_session_kill_ends_that_logins_refresh_tokens(api, demo_users) -> None:
    worker, worker_cookie = login(api, WORKER)
    admin, _ = login(api)
    me = api.get("/api/auth/me", headers=bearer(worker["access_token"])).json()
    with session_scope() as db:
        worker_login = db.exec(select(AuthSession.id).where(AuthSession.user_id == me["id"])).one()
    response = api.delete(
        f"/api/admin/users/{me['id']}/sessions/{worker_login}",
        headers=bearer(admin["access_token"]),
    )
    assert response.status_code == 204, response.text
    assert not refresh_works(api, worker["refresh_token"])
    assert not cookie_works(api, worker_cookie)


def test_deactivation_ends_every_login(api, demo_users) -> None:
    worker, worker_cookie = login(api, WORKER)
    admin, _ = login(api)
    me = api.get("/api/auth/me", headers=bearer(worker["access_token"])).json()
    response = api.patch(
        f"/api/admin/users/{me['id']}",
        json={"is_active": False},
        headers=bearer(admin["access_token"]),
    )
    assert response.status_code == 200, response.text
    assert not refresh_works(api, worker["refresh_token"])
    assert not cookie_works(api, worker_cookie)


def test_the_sessions_list_shows_api_logins(api, demo_users) -> None:
    tokens, _ = login(api)
    listed = api.get("/api/auth/sessions", headers=bearer(tokens["access_token"])).json()
    assert [s["channel"] for s in listed] == ["api"]
    assert listed[0]["current"] is True


def test_rotation_never_extends_a_login(api, demo_users) -> None:
    tokens, _ = login(api)
    with session_scope() as db:
        first = db.exec(select(RefreshToken)).one()
        first.expires_at = utcnow() + timedelta(seconds=30)  # the family is near its end
        family_expiry = first.expires_at
    api.cookies.clear()
    rotated = api.post("/api/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert rotated.status_code == 200
    with session_scope() as db:
        links = db.exec(select(RefreshToken).order_by(RefreshToken.id)).all()
        assert len(links) == 2 and links[1].expires_at == family_expiry


def test_a_reused_refresh_token_ends_the_whole_login(api, demo_users) -> None:
    tokens, cookie = login(api)
    assert refresh_works(api, tokens["refresh_token"])
    assert not refresh_works(api, tokens["refresh_token"])  # copied: theft
    assert not cookie_works(api, cookie)
    with session_scope() as db:
        assert db.exec(select(AuthSession)).one().revoked_at is not None
