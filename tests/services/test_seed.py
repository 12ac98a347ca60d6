"""Demo accounts: seeded once, flagged demo, switchable off."""

from __future__ import annotations

import pytest
from sqlmodel import select

from energyapp.auth.passwords import verify_password
from energyapp.db.engine import session_scope
from energyapp.db.models import AuditEvent, User
from energyapp.services.seed import seed_demo_accounts
from energyapp.settings import get_settings
from tests.conftest import apply_env

DEMO = {
    "administrador@alvaradomazzei.cl": ("admin123", "admin"),
    "supervisor@alvaradomazzei.cl": ("supervisor123", "supervisor"),
    "trabajador@alvaradomazzei.cl": ("worker123", "trabajador"),
}


def test_seeds_the_three_demo_accounts_with_their_roles_and_passwords(app_env: dict) -> None:
    assert sorted(seed_demo_accounts(get_settings())) == sorted(DEMO)
    with session_scope() as session:
        users = session.exec(select(User)).all()
    assert {u.email: u.role.value for u in users} == {e: r for e, (_, r) in DEMO.items()}
    for user in users:
        assert user.is_demo and user.is_active
        assert verify_password(DEMO[user.email][0], user.password_hash)


def test_seeding_twice_changes_nothing(app_env: dict) -> None:
    seed_demo_accounts(get_settings())
    with session_scope() as session:
        admin = session.exec(select(User).where(User.role == "admin")).one()
        admin.name = "Renamed by the operator"
    assert seed_demo_accounts(get_settings()) == []
    with session_scope() as session:
        assert len(session.exec(select(User)).all()) == 3
        assert session.exec(select(User).where(User.role == "admin")).one().name == (
            "Renamed by the operator"
        )
        assert len(session.exec(select(AuditEvent)).all()) == 3


def test_seeding_can_be_switched_off(app_env: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    apply_env(monkeypatch, seed_demo_accounts="false")
    assert seed_demo_accounts(get_settings()) == []
    with session_scope() as session:
        assert session.exec(select(User)).all() == []
