"""A login storm must not stall everyone, through the API: other users' requests go on while
logins hash, a full hashing queue answers 503 with Retry-After at once, an office behind one
NAT address is not locked out by its own typos, and registrations are limited per IP."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import bcrypt
import pytest
from sqlmodel import select

from energyapp.auth import passwords
from energyapp.db import engine as engine_module
from energyapp.db.engine import get_engine, session_scope
from energyapp.db.models import User
from tests.conftest import api_login, apply_env

PASSWORD = "clave-segura-1"
BUSY = "El servidor está ocupado; inténtalo de nuevo en unos segundos."


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def slow_hashes(monkeypatch: pytest.MonkeyPatch):
    """Call it to make every bcrypt hash block until `release` is set (with one hashing slot
    when `slots` is given); returns (slots, started, release)."""
    release = threading.Event()

    def install(slots: int | None = None):
        if slots is not None:
            monkeypatch.setattr(passwords, "_hashing_slots", passwords._HashingSlots(slots))
        started = threading.Event()
        real_hashpw = bcrypt.hashpw

        def slow_hashpw(password: bytes, salt: bytes) -> bytes:
            started.set()
            assert release.wait(10)
            return real_hashpw(password, salt)

        monkeypatch.setattr(passwords.bcrypt, "hashpw", slow_hashpw)
        return passwords._hashing_slots, started, release

    yield install
    release.set()


def wait_for(condition) -> None:
    deadline = time.monotonic() + 5
    while not condition():
        assert time.monotonic() < deadline
        time.sleep(0.01)


def test_others_are_served_while_a_login_hashes_even_with_a_one_connection_pool(
    api, make_user, slow_hashes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With one pooled connection (and a 1 s wait for it), a login stuck in bcrypt would make
    everyone else time out; it holds no connection, so another user's list answers at once."""
    real_create_engine = engine_module.create_engine
    monkeypatch.setattr(
        engine_module,
        "create_engine",
        lambda url, **kw: real_create_engine(
            url, **{**kw, "pool_size": 1, "max_overflow": 0, "pool_timeout": 1}
        ),
    )
    engine_module.reset_engine()
    make_user("ana@empresa.cl")
    make_user("bruno@empresa.cl")
    token = api_login(api, "bruno@empresa.cl", PASSWORD).json()["access_token"]
    api.cookies.clear()
    _slots, started, release = slow_hashes()

    with ThreadPoolExecutor(max_workers=1) as pool:
        login = pool.submit(api_login, api, "ana@empresa.cl", PASSWORD)
        assert started.wait(5)
        assert get_engine().pool.checkedout() == 0
        began = time.perf_counter()
        listed = api.get("/api/conversations", headers=bearer(token))
        assert listed.status_code == 200 and time.perf_counter() - began < 0.9
        assert not login.done()  # still hashing
        release.set()
        assert login.result(10).status_code == 200


def test_a_full_hashing_queue_answers_503_with_retry_after_at_once(
    api, make_user, slow_hashes, monkeypatch: pytest.MonkeyPatch
) -> None:
    apply_env(monkeypatch, password_hash_queue="1")
    make_user("ana@empresa.cl")
    slots, started, release = slow_hashes(slots=1)
    with ThreadPoolExecutor(max_workers=2) as pool:
        running = pool.submit(api_login, api, "ana@empresa.cl", PASSWORD)
        assert started.wait(5)
        waiting = pool.submit(api_login, api, "ana@empresa.cl", "otra-clave")
        wait_for(lambda: slots.waiting == 1)

        began = time.perf_counter()
        refused = api_login(api, "ana@empresa.cl", PASSWORD)
        assert time.perf_counter() - began < 0.5
        assert refused.status_code == 503
        assert int(refused.headers["Retry-After"]) >= 1
        assert refused.json() == {"detail": BUSY, "code": "busy"}

        release.set()
        assert running.result(10).status_code == 200
        assert waiting.result(10).status_code == 401
    assert api_login(api, "ana@empresa.cl", PASSWORD).status_code == 200


# --- one office, one address --------------------------------------------------------------------
def test_twenty_colleagues_behind_one_nat_failing_once_do_not_lock_out_the_next(
    api, make_user
) -> None:
    """Default limits. Every request here comes from the same address (the TestClient's), as
    from an office behind one NAT."""
    for number in range(20):
        make_user(f"colega{number}@empresa.cl")
    make_user("ana@empresa.cl")
    for number in range(20):
        assert api_login(api, f"colega{number}@empresa.cl", "mal-escrita").status_code == 401
    assert api_login(api, "ana@empresa.cl", PASSWORD).status_code == 200


def test_one_account_still_locks_after_five_failures_from_that_office(api, make_user) -> None:
    make_user("ana@empresa.cl")
    for _ in range(5):
        assert api_login(api, "ana@empresa.cl", "mal-escrita").status_code == 401
    assert api_login(api, "ana@empresa.cl", PASSWORD).status_code == 429


def test_a_spray_from_one_address_is_still_stopped(api, make_user) -> None:
    """100 failures across accounts within the window lock the address (the default)."""
    make_user("ana@empresa.cl")
    for number in range(100):
        assert api_login(api, f"intento{number}@empresa.cl", "adivinanza").status_code == 401
    locked = api_login(api, "ana@empresa.cl", PASSWORD)
    assert locked.status_code == 429 and int(locked.headers["Retry-After"]) > 0


# --- registrations -------------------------------------------------------------------------------
def register(api, number: int):
    return api.post(
        "/api/auth/register",
        json={
            "name": "Persona",
            "email": f"persona{number}@empresa.cl",
            "password": PASSWORD,
            "password_confirmation": PASSWORD,
        },
    )


def test_registrations_from_one_address_are_limited_with_429_and_retry_after(
    api, monkeypatch: pytest.MonkeyPatch
) -> None:
    apply_env(monkeypatch, register_max_per_ip="3")
    for number in range(3):
        assert register(api, number).status_code == 201
    refused = register(api, 3)
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) > 60  # the window is an hour
    assert refused.json()["detail"].startswith("Se crearon demasiadas cuentas desde tu red.")
    assert refused.json()["code"] == "throttled"
    with session_scope() as db:
        assert db.exec(select(User).where(User.email == "persona3@empresa.cl")).first() is None


def test_the_registration_limit_holds_for_a_burst(api, monkeypatch: pytest.MonkeyPatch) -> None:
    """Counted atomically before hashing: ten at once from one address create three accounts."""
    apply_env(monkeypatch, register_max_per_ip="3")
    with ThreadPoolExecutor(max_workers=10) as pool:
        statuses = sorted(pool.map(lambda n: register(api, n).status_code, range(10)))
    assert statuses == [201] * 3 + [429] * 7
