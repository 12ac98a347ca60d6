"""The client's address: X-Forwarded-For counts only when the direct peer is a trusted proxy
(`trusted_proxies`, default loopback) and `trusted_proxy_hops` > 0. Anyone who reaches the
app's port directly is known by their own address, whatever header they send; Reflex itself
never applies the header."""

from __future__ import annotations

import pytest
from sqlmodel import select

from tests.conftest import apply_env

CLIENT = "203.0.113.9"
DIRECT = "198.51.100.7"  # someone on the network who reached port 8000 without Caddy


@pytest.fixture
def behind_caddy(settings_env, monkeypatch: pytest.MonkeyPatch) -> None:
    apply_env(monkeypatch, trusted_proxy_hops="1")


def address(peer: str | None, forwarded: str | None) -> str:
    from energyapp.auth.client_address import client_address

    return client_address(peer, forwarded)


@pytest.mark.parametrize(
    ("peer", "forwarded", "expected"),
    [
        ("127.0.0.1", CLIENT, CLIENT),  # Caddy on this machine
        ("::1", CLIENT, CLIENT),
        ("::ffff:127.0.0.1", CLIENT, CLIENT),  # IPv4 loopback on a dual-stack socket
        (DIRECT, CLIENT, DIRECT),  # forged by a direct client: ignored
        (DIRECT, None, DIRECT),
        ("127.0.0.1", None, "127.0.0.1"),
        ("127.0.0.1", "", "127.0.0.1"),
        ("127.0.0.1", f"10.9.9.9, {CLIENT}", CLIENT),  # the client's own entry is left of Caddy's
        ("127.0.0.1", f"{CLIENT}:51234", CLIENT),
        ("127.0.0.1", "[2001:db8::5]:443", "2001:db8::5"),
        ("127.0.0.1", "not-an-address", "127.0.0.1"),
        ("127.0.0.1", "unknown, 10.0.0.1, garbage", "127.0.0.1"),
        ("testclient", CLIENT, "testclient"),  # Starlette's TestClient peer is no address
        ("", CLIENT, ""),
        (None, CLIENT, ""),
    ],
)
def test_forwarded_for_counts_only_from_a_trusted_peer(
    behind_caddy, peer: str | None, forwarded: str | None, expected: str
) -> None:
    assert address(peer, forwarded) == expected


def test_without_a_configured_proxy_the_header_never_counts(settings_env) -> None:
    assert address("127.0.0.1", CLIENT) == "127.0.0.1"


def test_trusted_proxies_accepts_cidrs_and_replaces_the_default(
    settings_env, monkeypatch: pytest.MonkeyPatch
) -> None:
    apply_env(monkeypatch, trusted_proxy_hops="1", trusted_proxies="10.0.0.0/24, fd00::/8")
    assert address("10.0.0.7", CLIENT) == CLIENT
    assert address("fd00::1", CLIENT) == CLIENT
    assert address("10.0.1.7", CLIENT) == "10.0.1.7"
    assert address("127.0.0.1", CLIENT) == "127.0.0.1"  # no longer listed


def test_two_hops_take_the_second_entry_from_the_right(
    settings_env, monkeypatch: pytest.MonkeyPatch
) -> None:
    apply_env(monkeypatch, trusted_proxy_hops="2")
    assert address("127.0.0.1", f"1.1.1.1, {CLIENT}, 10.0.0.2") == CLIENT
    assert address("127.0.0.1", CLIENT) == CLIENT  # came through the inner proxy only


def test_a_bad_trusted_proxies_entry_is_a_settings_error(settings_env) -> None:
    from energyapp.settings import SettingsError, load_settings

    with pytest.raises(SettingsError, match="trusted_proxies"):
        load_settings(trusted_proxies="caddy.local")


# --- the API ----------------------------------------------------------------------------------
@pytest.mark.parametrize(("peer", "recorded"), [("127.0.0.1", CLIENT), (DIRECT, DIRECT)])
def test_the_api_records_the_forwarded_address_only_from_a_trusted_peer(
    app_env, make_user, monkeypatch: pytest.MonkeyPatch, peer: str, recorded: str
) -> None:
    from fastapi.testclient import TestClient

    from energyapp.api.app import create_api
    from energyapp.db.engine import session_scope
    from energyapp.db.models import AuthSession

    apply_env(monkeypatch, trusted_proxy_hops="1")
    make_user("ana@empresa.cl")
    with TestClient(create_api(), base_url="http://localhost:8000", client=(peer, 40000)) as client:
        response = client.post(
            "/api/auth/login",
            headers={"X-Forwarded-For": CLIENT},
            json={"email": "ana@empresa.cl", "password": "clave-segura-1"},
        )
    assert response.status_code == 200
    with session_scope() as db:
        assert db.exec(select(AuthSession.ip)).all() == [recorded]


def test_a_direct_client_cannot_dodge_the_per_ip_lockout(
    app_env, make_user, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fastapi.testclient import TestClient

    from energyapp.api.app import create_api

    apply_env(
        monkeypatch,
        trusted_proxy_hops="1",
        login_max_failures_per_ip="3",
        login_max_failures_per_account="50",
    )
    make_user("ana@empresa.cl")
    with TestClient(
        create_api(), base_url="http://localhost:8000", client=(DIRECT, 40000)
    ) as client:
        for index in range(3):  # a fresh forged address every time
            client.post(
                "/api/auth/login",
                headers={"X-Forwarded-For": f"10.0.0.{index}"},
                json={"email": f"p{index}@e.cl", "password": "x"},
            )
        response = client.post(
            "/api/auth/login",
            headers={"X-Forwarded-For": "10.0.0.99"},
            json={"email": "ana@empresa.cl", "password": "clave-segura-1"},
        )
    assert response.status_code == 429


# --- Reflex (the websocket side) --------------------------------------------------------------
def test_reflex_is_told_never_to_apply_forwarded_for(
    settings_env, monkeypatch: pytest.MonkeyPatch
) -> None:
    import runpy

    from energyapp.settings import PROJECT_DIR

    apply_env(monkeypatch, trusted_proxy_hops="1")
    config = runpy.run_path(str(PROJECT_DIR / "rxconfig.py"))["config"]
    assert config.trusted_proxy_hops == 0


def test_a_state_gets_the_client_address_from_the_router_data(behind_caddy) -> None:
    """What a Reflex state sees (router.session.client_ip is the socket's peer when Reflex's
    own trusted_proxy_hops is 0; raw_headers keeps X-Forwarded-For) fed to client_address."""
    from reflex.app import EventNamespace
    from reflex.istate.data import RouterData

    def router(peer: str) -> RouterData:
        environ = {
            "asgi.scope": {
                "client": (peer, 40000),
                "headers": [(b"x-forwarded-for", CLIENT.encode())],
            }
        }
        data = EventNamespace._build_static_router_data(None, "sid", environ)  # type: ignore[arg-type]
        return RouterData.from_router_data(data)

    for peer, expected in [("127.0.0.1", CLIENT), (DIRECT, DIRECT)]:
        seen = router(peer)
        assert seen.session.client_ip == peer
        assert (
            address(seen.session.client_ip, seen.headers.raw_headers.get("x-forwarded-for"))
            == expected
        )
