"""A login storm must not stall everyone: bcrypt never runs while a database connection is
checked out, hashing refuses at once (Busy) when its queue is full, and registrations are
limited per IP. Run on SQLite and, with ENERGYAPP_TEST_PG_URL, on PostgreSQL."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import bcrypt
import pyotp
import pytest
from sqlmodel import select

from energyapp.auth import passwords
from energyapp.db.engine import get_engine, session_scope
from energyapp.db.models import AuditEvent, User
from energyapp.domain.errors import BUSY, Busy, Conflict, Throttled
from energyapp.services import accounts, login, two_factor
from tests.conftest import apply_env

PASSWORD = "clave-segura-1"


@pytest.fixture
def connections_during_hashes(monkeypatch: pytest.MonkeyPatch) -> Callable[[], list[int]]:
    """Call it to start recording: every bcrypt call from then on notes how many of the
    engine's pooled connections were checked out at that moment; returns the list."""
    seen: list[int] = []
    real_hashpw, real_checkpw = bcrypt.hashpw, bcrypt.checkpw

    def hashpw(password: bytes, salt: bytes) -> bytes:
        seen.append(get_engine().pool.checkedout())
        return real_hashpw(password, salt)

    def checkpw(password: bytes, hashed: bytes) -> bool:
        seen.append(get_engine().pool.checkedout())
        return real_checkpw(password, hashed)

    def start() -> list[int]:
        monkeypatch.setattr(passwords.bcrypt, "hashpw", hashpw)
        monkeypatch.setattr(passwords.bcrypt, "checkpw", checkpw)
        return seen

    return start


# --- no connection is held while a password is hashed or checked -----------------------------
@pytest.mark.parametrize("attempt", ["right", "wrong", "unknown email"])
def test_a_login_checks_the_password_with_no_connection_checked_out(
    make_user, connections_during_hashes, attempt: str
) -> None:
    make_user("ana@empresa.cl", PASSWORD)
    seen = connections_during_hashes()
    email = "nadie@empresa.cl" if attempt == "unknown email" else "ana@empresa.cl"
    try:
        login.check_password(email, PASSWORD if attempt == "right" else "otra-clave", "10.0.0.1")
    except login.NotAuthenticated:
        assert attempt != "right"
    assert seen and seen == [0] * len(seen)


def test_the_upgrade_of_an_old_hash_at_login_hashes_outside_any_transaction(
    make_user, connections_during_hashes
) -> None:
    user = make_user("ana@empresa.cl", PASSWORD)
    old = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode("ascii")
    with session_scope() as db:
        db.get(User, user.id).password_hash = old
    seen = connections_during_hashes()
    login.check_password("ana@empresa.cl", PASSWORD, None)
    assert len(seen) == 2 and seen == [0, 0]  # the old check, then the new hash
    with session_scope() as db:
        assert db.get(User, user.id).password_hash.startswith("$bcrypt-sha256$v=2,t=2b,r=4$")


def test_an_upgrade_does_not_overwrite_a_hash_changed_meanwhile(make_user, monkeypatch) -> None:
    """The new hash is written only where the old one still is: a password changed while the
    upgrade was hashing stays changed."""
    user = make_user("ana@empresa.cl", PASSWORD)
    old = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode("ascii")
    with session_scope() as db:
        db.get(User, user.id).password_hash = old
    changed = passwords.hash_password("cambiada-mientras-tanto", 4)
    real_hash = login.hash_password

    def hash_while_someone_changes_it(password: str, rounds: int) -> str:
        with session_scope() as db:
            db.get(User, user.id).password_hash = changed
        return real_hash(password, rounds)

    monkeypatch.setattr(login, "hash_password", hash_while_someone_changes_it)
    login.check_password("ana@empresa.cl", PASSWORD, None)
    with session_scope() as db:
        assert db.get(User, user.id).password_hash == changed


def test_a_login_checked_against_a_hash_replaced_meanwhile_is_checked_again(
    make_user, monkeypatch
) -> None:
    """A password change that commits while the old password is being checked wins: the old
    password does not log in afterwards."""
    user = make_user("ana@empresa.cl", PASSWORD)
    real_verify = login.verify_password
    calls: list[str] = []

    def verify_while_the_password_changes(password: str, stored: str) -> bool:
        if not calls:
            with session_scope() as db:
                db.get(User, user.id).password_hash = passwords.hash_password("nueva-clave-9", 4)
        calls.append(stored)
        return real_verify(password, stored)

    monkeypatch.setattr(login, "verify_password", verify_while_the_password_changes)
    with pytest.raises(login.NotAuthenticated):
        login.check_password("ana@empresa.cl", PASSWORD, None)
    assert len(calls) == 2 and calls[0] != calls[1]


def test_registration_hashes_outside_any_transaction(app_env, connections_during_hashes) -> None:
    seen = connections_during_hashes()
    view = accounts.register("Ana", "ana@empresa.cl", PASSWORD, PASSWORD, "10.0.0.1")
    assert seen == [0]
    login.check_password("ana@empresa.cl", PASSWORD, None)
    with session_scope() as db:
        assert db.exec(select(AuditEvent).where(AuditEvent.action == "user_registered")).one()
    assert view.email == "ana@empresa.cl"


def test_a_password_change_hashes_outside_any_transaction(
    make_user, connections_during_hashes, monkeypatch
) -> None:
    apply_env(monkeypatch, totp_autosetup_domains="")
    user = make_user("rosa@inacapmail.cl", PASSWORD)
    seen = connections_during_hashes()
    accounts.change_password(user.id, PASSWORD, "nueva-clave-9", "nueva-clave-9", None)
    assert len(seen) == 3 and seen == [0, 0, 0]  # current, "not the same", the new hash
    login.check_password("rosa@inacapmail.cl", "nueva-clave-9", None)


def test_a_password_change_refuses_if_the_hash_changed_while_it_hashed(
    make_user, monkeypatch
) -> None:
    apply_env(monkeypatch, totp_autosetup_domains="")
    user = make_user("rosa@inacapmail.cl", PASSWORD)
    other = passwords.hash_password("cambio-paralelo-7", 4)
    real_hash = accounts.hash_password

    def hash_while_another_change_commits(password: str, rounds: int) -> str:
        with session_scope() as db:
            db.get(User, user.id).password_hash = other
        return real_hash(password, rounds)

    monkeypatch.setattr(accounts, "hash_password", hash_while_another_change_commits)
    with pytest.raises(Conflict):
        accounts.change_password(user.id, PASSWORD, "nueva-clave-9", "nueva-clave-9", None)
    with session_scope() as db:
        assert db.get(User, user.id).password_hash == other


def test_disabling_2fa_checks_the_password_outside_any_transaction(
    make_user, connections_during_hashes
) -> None:
    user = make_user("marta@empresa.cl", PASSWORD, totp=True)
    seen = connections_during_hashes()
    two_factor.disable(user.id, PASSWORD, pyotp.TOTP(user.totp_secret).now(), None)
    assert seen == [0]
    with session_scope() as db:
        assert db.get(User, user.id).totp_enabled is False


# --- the bounded hashing queue ------------------------------------------------------------------
@pytest.fixture
def one_slow_core(monkeypatch: pytest.MonkeyPatch):
    """Call it for one hashing slot and a bcrypt that blocks until `release` is set; returns
    (slots, started, release)."""
    release = threading.Event()

    def install() -> tuple[passwords._HashingSlots, threading.Event, threading.Event]:
        slots = passwords._HashingSlots(1)
        monkeypatch.setattr(passwords, "_hashing_slots", slots)
        started = threading.Event()
        real_hashpw = bcrypt.hashpw

        def slow_hashpw(password: bytes, salt: bytes) -> bytes:
            started.set()
            assert release.wait(10)
            return real_hashpw(password, salt)

        monkeypatch.setattr(passwords.bcrypt, "hashpw", slow_hashpw)
        return slots, started, release

    yield install
    release.set()


def wait_for(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 5
    while not condition():
        assert time.monotonic() < deadline
        time.sleep(0.01)


def test_a_full_hashing_queue_refuses_at_once_with_busy(
    make_user, one_slow_core, monkeypatch
) -> None:
    apply_env(monkeypatch, password_hash_queue="1")
    make_user("ana@empresa.cl", PASSWORD)
    slots, started, release = one_slow_core()
    outcomes: dict[str, object] = {}

    def attempt(name: str, password: str) -> None:
        try:
            outcomes[name] = login.check_password("ana@empresa.cl", password, "10.0.0.1")
        except Exception as exc:  # noqa: BLE001 - the outcome is what is checked
            outcomes[name] = exc

    running = threading.Thread(target=attempt, args=("running", PASSWORD))
    running.start()
    assert started.wait(5)
    waiting = threading.Thread(target=attempt, args=("waiting", "otra-clave"))
    waiting.start()
    wait_for(lambda: slots.waiting == 1)

    began = time.perf_counter()
    with pytest.raises(Busy) as refused:
        login.check_password("ana@empresa.cl", PASSWORD, "10.0.0.1")
    assert time.perf_counter() - began < 0.5  # refused at once, not after the queue
    assert refused.value.status == 503 and refused.value.code == "busy"
    assert refused.value.message == BUSY and refused.value.retry_after >= 1

    release.set()
    running.join(10)
    waiting.join(10)
    assert getattr(outcomes["running"], "email", None) == "ana@empresa.cl"
    assert isinstance(outcomes["waiting"], login.NotAuthenticated)
    assert slots.waiting == 0
    login.check_password("ana@empresa.cl", PASSWORD, "10.0.0.1")  # the queue drained


def test_busy_is_not_a_failed_attempt(make_user, monkeypatch) -> None:
    """A refusal for load says nothing about the password: it never locks the account."""
    apply_env(monkeypatch, password_hash_queue="0", login_max_failures_per_account="1")
    make_user("ana@empresa.cl", PASSWORD)
    monkeypatch.setattr(passwords, "_hashing_slots", passwords._HashingSlots(1))
    hold = passwords._hashing_slots.turn()
    hold.__enter__()  # the only slot is taken, and nobody may wait
    try:
        for _ in range(3):
            with pytest.raises(Busy):
                login.check_password("ana@empresa.cl", "otra-clave", "10.0.0.1")
    finally:
        hold.__exit__(None, None, None)
    assert login.check_password("ana@empresa.cl", PASSWORD, "10.0.0.1").email == "ana@empresa.cl"


def test_a_refusal_for_load_reads_nothing_from_the_database(make_user, monkeypatch) -> None:
    """In a storm the refused requests must cost no connection: Busy comes before any query."""
    apply_env(monkeypatch, password_hash_queue="0", register_max_per_ip="1")
    make_user("ana@empresa.cl", PASSWORD)
    monkeypatch.setattr(passwords, "_hashing_slots", passwords._HashingSlots(1))
    opened: list[str] = []
    real_scope = login.session_scope

    def counting_scope():
        opened.append("session")
        return real_scope()

    monkeypatch.setattr(login, "session_scope", counting_scope)
    monkeypatch.setattr(accounts, "session_scope", counting_scope)
    hold = passwords._hashing_slots.turn()
    hold.__enter__()
    try:
        with pytest.raises(Busy):
            login.check_password("ana@empresa.cl", PASSWORD, "10.0.0.1")
        with pytest.raises(Busy):
            register(1)
    finally:
        hold.__exit__(None, None, None)
    assert opened == []
    register(1)  # the refused registration used none of this address's quota


def test_outside_a_request_hashes_wait_their_turn(monkeypatch) -> None:
    """The CLI and seeding are not requests: without `bounded_queue` a hash waits, never raises."""
    monkeypatch.setattr(passwords, "_hashing_slots", passwords._HashingSlots(1))
    hold = passwords._hashing_slots.turn()
    hold.__enter__()
    done = threading.Event()
    worker = threading.Thread(target=lambda: (passwords.hash_password("x", 4), done.set()))
    worker.start()
    wait_for(lambda: passwords._hashing_slots.waiting == 1)
    assert not done.is_set()
    hold.__exit__(None, None, None)
    worker.join(5)
    assert done.is_set()


# --- registrations per IP -----------------------------------------------------------------------
def register(number: int, ip: str | None = "10.0.0.1", password: str = PASSWORD):
    email = f"persona{number}@empresa.cl"
    return accounts.register("Persona", email, password, password, ip)


def test_registrations_are_limited_per_ip(app_env, monkeypatch) -> None:
    apply_env(monkeypatch, register_max_per_ip="3")
    for number in range(3):
        register(number)
    with pytest.raises(Throttled) as refused:
        register(3)
    assert refused.value.status == 429 and refused.value.retry_after > 60
    assert refused.value.message.startswith("Se crearon demasiadas cuentas desde tu red.")
    assert "minutos" in refused.value.message
    register(4, ip="10.0.0.2")  # another address is not affected
    with session_scope() as db:
        emails = set(db.exec(select(User.email)).all())
    assert "persona3@empresa.cl" not in emails and "persona4@empresa.cl" in emails


def test_refused_registrations_do_not_use_up_the_limit(app_env, monkeypatch) -> None:
    """Typos (a weak password, an address already taken) are not counted: only attempts
    that would create an account and hash a password."""
    apply_env(monkeypatch, register_max_per_ip="2")
    register(0)
    for _ in range(3):
        with pytest.raises(accounts.InvalidInput):
            register(1, password="password123")
        with pytest.raises(Conflict):
            register(0)
    register(1)
    with pytest.raises(Throttled):
        register(2)
