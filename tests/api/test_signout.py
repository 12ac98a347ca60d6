"""Browser sign-out and the session cookie: sign-out only by a same-site POST (a link, image or
form on another site signs nobody out), logouts wipe the site's browser data, and over https
the cookie carries the `__Host-` prefix (Secure, Path=/, no Domain: no subdomain can plant or
shadow it)."""

from __future__ import annotations

import pytest

from tests.conftest import ORIGIN, api_login, apply_env

EMAIL, PASSWORD = "ana@empresa.cl", "clave-segura-1"
EVIL = "https://evil.example"
CLEAR_SITE_DATA = '"cache", "cookies", "storage"'


@pytest.fixture
def signed_in(api, make_user) -> str:
    """A browser session (cookie in the client's jar); returns the cookie value."""
    make_user(EMAIL, PASSWORD)
    assert api_login(api, EMAIL, PASSWORD).status_code == 200
    token = api.cookies.get("energyapp_session")
    assert token
    return token


def _me(api, token: str) -> int:
    # A Cookie header, not per-request cookies= (deprecated in httpx).
    return api.get("/api/auth/me", headers={"Cookie": f"energyapp_session={token}"}).status_code


def test_a_cross_site_get_signs_nobody_out(api, signed_in: str) -> None:
    response = api.get(
        "/api/auth/signout",
        follow_redirects=False,
        headers={"Referer": f"{EVIL}/page", "Sec-Fetch-Site": "cross-site"},
    )
    assert response.status_code in (404, 405)
    assert "set-cookie" not in response.headers
    assert "clear-site-data" not in response.headers
    assert _me(api, signed_in) == 200


@pytest.mark.parametrize(
    "headers",
    [{"Origin": EVIL}, {"Referer": f"{EVIL}/x"}, {}],
    ids=["foreign-origin", "foreign-referer", "no-origin"],
)
def test_a_post_not_from_this_site_is_refused(api, signed_in: str, headers: dict) -> None:
    response = api.post("/api/auth/signout", headers=headers, follow_redirects=False)
    assert response.status_code == 403
    assert response.json()["code"] == "foreign_origin"
    assert "set-cookie" not in response.headers
    assert _me(api, signed_in) == 200


def test_a_same_site_post_ends_the_session_clears_the_cookie_and_site_data(
    api, signed_in: str
) -> None:
    response = api.post("/api/auth/signout", headers={"Origin": ORIGIN}, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login"
    cleared = response.headers["set-cookie"]
    assert cleared.startswith('energyapp_session=""') and "Max-Age=0" in cleared
    assert "Path=/" in cleared and "HttpOnly" in cleared
    assert response.headers["clear-site-data"] == CLEAR_SITE_DATA
    assert _me(api, signed_in) == 401  # revoked on the server, not only forgotten by the browser


@pytest.mark.parametrize(
    ("sent", "location"),
    [("/chat", "/chat"), ("//evil.example", "/login"), (f"{EVIL}/x", "/login")],
)
def test_signout_goes_to_a_local_next_page_only(
    api, signed_in: str, sent: str, location: str
) -> None:
    response = api.post(
        "/api/auth/signout", data={"next": sent}, headers={"Origin": ORIGIN}, follow_redirects=False
    )
    assert (response.status_code, response.headers["location"]) == (303, location)


def test_signout_without_a_session_still_clears_the_browser(api) -> None:
    response = api.post(
        "/api/auth/signout", headers={"Referer": f"{ORIGIN}/dashboard"}, follow_redirects=False
    )
    assert response.status_code == 303
    assert response.headers["clear-site-data"] == CLEAR_SITE_DATA
    assert "Max-Age=0" in response.headers["set-cookie"]


def test_cookie_logout_sends_clear_site_data_but_a_token_logout_does_not(
    api, signed_in: str
) -> None:
    api.cookies.clear()
    tokens = api_login(api, EMAIL, PASSWORD).json()
    api.cookies.clear()
    by_token = api.post(
        "/api/auth/logout", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert by_token.status_code == 204
    assert "clear-site-data" not in by_token.headers  # an API client, not a browser session
    by_cookie = api.post(
        "/api/auth/logout",
        headers={"Origin": ORIGIN, "Cookie": f"energyapp_session={signed_in}"},
    )
    assert by_cookie.status_code == 204
    assert by_cookie.headers["clear-site-data"] == CLEAR_SITE_DATA
    assert _me(api, signed_in) == 401


# --- the cookie's name ------------------------------------------------------------------------
def test_over_https_the_cookie_is_host_prefixed_and_read_only_by_that_name(
    api, make_user, monkeypatch: pytest.MonkeyPatch
) -> None:
    apply_env(monkeypatch, public_url="https://chat.example.cl")
    make_user(EMAIL, PASSWORD)
    response = api_login(api, EMAIL, PASSWORD)
    cookie = response.headers["set-cookie"]
    name, _, rest = cookie.partition("=")
    assert name == "__Host-energyapp_session"
    attributes = {a.strip().split("=")[0].lower() for a in rest.split(";")[1:]}
    assert {"secure", "path", "httponly"} <= attributes and "domain" not in attributes
    assert "Path=/;" in cookie or cookie.rstrip().endswith("Path=/")
    token = rest.split(";")[0]
    api.cookies.clear()  # the jar would not send a Secure cookie over the test's http anyway
    me = api.get("/api/auth/me", headers={"Cookie": f"__Host-energyapp_session={token}"})
    assert me.status_code == 200
    plain = api.get("/api/auth/me", headers={"Cookie": f"energyapp_session={token}"})
    assert plain.status_code == 401  # an unprefixed cookie (e.g. planted by a subdomain) is ignored
    out = api.post(
        "/api/auth/signout",
        follow_redirects=False,
        headers={
            "Origin": "https://chat.example.cl",
            "Cookie": f"__Host-energyapp_session={token}",
        },
    )
    assert out.status_code == 303
    assert out.headers["set-cookie"].startswith('__Host-energyapp_session=""')
    assert "Secure" in out.headers["set-cookie"]
    again = api.get("/api/auth/me", headers={"Cookie": f"__Host-energyapp_session={token}"})
    assert again.status_code == 401


def test_over_http_the_cookie_keeps_its_plain_name(settings_env) -> None:
    from energyapp.settings import load_settings

    assert load_settings(public_url="http://localhost:8000").session_cookie == "energyapp_session"
    assert (
        load_settings(public_url="https://a.example", session_cookie_name="sid").session_cookie
        == "__Host-sid"
    )
