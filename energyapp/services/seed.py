"""Idempotent seeding of the demo accounts listed in settings."""

from __future__ import annotations

from energyapp.db.engine import session_scope
from energyapp.logging_setup import APP_LOGGER, log_event
from energyapp.services import audit
from energyapp.services.users import create_user, find_by_email
from energyapp.settings import Settings


def seed_demo_accounts(settings: Settings) -> list[str]:
    """Create the missing demo accounts; existing ones are left as they are. Returns created."""
    if not settings.seed_demo_accounts:
        return []
    created: list[str] = []
    with session_scope() as session:
        for account in settings.demo_accounts:
            if find_by_email(session, account.email) is not None:
                continue
            user = create_user(
                session,
                email=account.email,
                name=account.name,
                password=account.password,
                role=account.role,
                is_demo=True,
            )
            audit.record(
                session,
                "demo_account_created",
                target_type="user",
                target_id=user.id,
                role=account.role.value,
            )
            created.append(user.email)
    if created:
        log_event(APP_LOGGER, "demo_accounts_seeded", count=len(created))
    return created
