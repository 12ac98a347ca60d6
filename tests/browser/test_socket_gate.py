"""The Reflex websocket as an attacker sees it: a raw socket (no browser) sending hand-made
events to the real server. A tab's token is not a credential; refused events reply with no
data; a login that ends resets its open tabs at once.

(These live with the browser tests because they share the real server that `make run` starts.)
"""

from __future__ import annotations

import json
import time

import httpx
import pytest
from reflex_base.utils.format import format_event_handler

from tests.browser.conftest import AppServer, api_register, unique_email
from tests.rawsocket import RawSocket, text_of

ADMIN = ("administrador@alvaradomazzei.cl", "admin123")


def event(state_cls, handler: str) -> str:
    return format_event_handler(state_cls.event_handlers[handler])


def login_cookie(app_server: AppServer, email: str, password: str) -> str:
    """The HttpOnly session cookie of a fresh login (as the browser would hold it)."""
    with httpx.Client(base_url=app_server.url, timeout=10) as client:
        response = client.post(
            "/api/auth/login",
            json={"email": email, "password": password},
            headers={"Origin": app_server.url},
        )
        assert response.status_code == 200, response.text
        cookie = next(c for c in client.cookies.jar if "session" in c.name)
        return f"{cookie.name}={cookie.value}"


@pytest.fixture
def worker_with_secret(app_server: AppServer) -> tuple[str, str, str]:
    """A trabajador with one conversation whose text is a secret only they and staff may read."""
    email = unique_email()
    api_register(app_server, email)
    secret = f"presupuesto-confidencial-{time.time_ns()}"
    with httpx.Client(base_url=app_server.url, timeout=30) as client:
        tokens = client.post(
            "/api/auth/login", json={"email": email, "password": "clave-segura-1"}
        ).json()
        auth = {"Authorization": f"Bearer {tokens['access_token']}"}
        with client.stream(
            "POST", "/api/chat", headers=auth, json={"message": f"Resume esto: {secret}"}
        ) as stream:
            lines = [json.loads(line) for line in stream.iter_lines() if line]
        conversation_id = str(lines[0]["conversation_id"])
    return email, secret, conversation_id


def admin_reads(app_server: AppServer, sock: RawSocket, email: str, conversation_id: str) -> str:
    from energyapp.states.admin import AdminState

    sock.hydrate("/admin")
    sock.call(event(AdminState, "load"), path="/admin")
    sock.call(event(AdminState, "search_users"), {"value": email}, path="/admin")
    return text_of(
        sock.call(
            event(AdminState, "select_conversation"),
            {"conversation_id": conversation_id},
            path="/admin",
        )
    )


def test_a_tab_token_without_the_cookie_gets_nothing(
    app_server: AppServer, worker_with_secret
) -> None:
    email, secret, conversation_id = worker_with_secret
    admin_cookie = login_cookie(app_server, *ADMIN)
    with RawSocket(app_server.url, cookie=admin_cookie) as admin_tab:
        assert secret in admin_reads(app_server, admin_tab, email, conversation_id)
        token = admin_tab.token
    # The admin closed the tab. Whoever read the token in a log connects with it.
    with RawSocket(app_server.url, token=token) as stranger:
        seen = text_of(stranger.hydrate("/admin"))
        assert secret not in seen and email not in seen
    # Another signed-in user's cookie does not inherit it either.
    worker_cookie = login_cookie(app_server, email, "clave-segura-1")
    with RawSocket(app_server.url, token=token, cookie=worker_cookie) as other:
        seen = text_of(other.hydrate("/admin"))
        assert secret not in seen and "administrador@" not in seen


def test_refused_events_reply_with_no_data(app_server: AppServer, worker_with_secret) -> None:
    from energyapp.states.admin import AdminState
    from energyapp.states.chat import ChatState

    email, secret, conversation_id = worker_with_secret
    with RawSocket(app_server.url) as anonymous:
        anonymous.hydrate("/dashboard")
        for name, payload in (
            (event(ChatState, "open_conversation"), {"conversation_id": conversation_id}),
            (event(AdminState, "select_conversation"), {"conversation_id": conversation_id}),
            (event(ChatState, "setvar"), {"var_name": "search", "value": "x"}),
        ):
            replies = anonymous.call(name, payload)
            assert secret not in text_of(replies)
            refusal = [e for r in replies for e in r.events]
            assert refusal, f"{name}: refused without a word"
            if not name.endswith(".setvar"):  # never declared: refused for everybody
                assert any("/login" in t for r in replies for t in r.redirects()), name
    worker_cookie = login_cookie(app_server, email, "clave-segura-1")
    with RawSocket(app_server.url, cookie=worker_cookie) as worker:
        worker.hydrate("/dashboard")
        replies = worker.call(event(AdminState, "load"), path="/admin")
        assert any("/dashboard" in t for r in replies for t in r.redirects())
        assert "administrador@" not in text_of(replies)


def test_setup_pending_cannot_chat_over_the_socket(app_server: AppServer) -> None:
    from energyapp.states.chat import ChatState
    from energyapp.states.settings import SettingsState

    email = unique_email("inacapmail.cl")  # 2FA is demanded for this domain
    api_register(app_server, email)
    cookie = login_cookie(app_server, email, "clave-segura-1")
    with RawSocket(app_server.url, cookie=cookie) as tab:
        tab.hydrate("/dashboard")
        replies = tab.call(event(ChatState, "send_message"), {"form": {"draft": "hola"}})
        assert any("/setup-2fa" in t for r in replies for t in r.redirects())
        started = text_of(tab.call(event(SettingsState, "resume_totp_setup"), path="/setup-2fa"))
        assert "data:image/svg+xml" in started  # the setup page's own handler works
    with httpx.Client(base_url=app_server.url, timeout=10, headers={"Cookie": cookie}) as client:
        assert client.get("/api/conversations").status_code == 403  # the same rule on the API


def test_logout_elsewhere_resets_the_open_tab_at_once(
    app_server: AppServer, worker_with_secret
) -> None:
    email, secret, conversation_id = worker_with_secret
    admin_cookie = login_cookie(app_server, *ADMIN)
    with RawSocket(app_server.url, cookie=admin_cookie) as admin_tab:
        assert secret in admin_reads(app_server, admin_tab, email, conversation_id)
        logout = httpx.post(
            f"{app_server.url}/api/auth/logout",
            headers={"Cookie": admin_cookie, "Origin": app_server.url},
        )
        assert logout.status_code == 204
        pushed = admin_tab.updates(5, until=lambda u: "/admin" in u.redirects())
        assert pushed, "the tab was not told at once"
        # Its page is routed again inside the tab, so its guard asks the gate again; never a
        # document reload, which would cancel a page the user is opening at that moment.
        assert [t for u in pushed for t in u.redirects()] == ["/admin"]
        admin_delta = [u.delta for u in pushed if any("admin_state" in k for k in u.delta)]
        assert admin_delta, "the admin panel's data was not reset"
        reset = next(v for d in admin_delta for k, v in d.items() if "admin_state" in k)
        assert reset.get("messages_rx_state_", reset.get("messages")) in ([], None)
        # Reconnecting with the dead cookie hydrates nothing.
        assert secret not in text_of(admin_tab.hydrate("/admin"))


def test_unknown_handlers_never_log_the_payload(app_server: AppServer) -> None:
    canary = f"canario-{time.time_ns()}"
    with RawSocket(app_server.url, cookie=f"energyapp_session={canary}-cookie") as sock:
        sock.emit(
            "reflex___state____state.energyapp___states___login____login_state.nope",
            {"password": canary},
        )
        sock.emit(
            "reflex___state____state.energyapp___states___login____login_state.submit",
            {"form": 12345, "password": canary},
        )
        sock.updates(1.5)
    time.sleep(0.5)
    assert canary not in app_server.log_path.read_text(errors="replace")


def test_demo_accounts_refuse_2fa_over_the_socket_too(app_server: AppServer) -> None:
    from energyapp.states.settings import SettingsState

    cookie = login_cookie(app_server, "trabajador@alvaradomazzei.cl", "worker123")
    with RawSocket(app_server.url, cookie=cookie) as tab:
        tab.hydrate("/settings")
        replies = text_of(tab.call(event(SettingsState, "start_totp_setup"), path="/settings"))
        assert "demostración" in replies  # the service's Spanish refusal, shown on the page
        assert "data:image/svg+xml" not in replies
