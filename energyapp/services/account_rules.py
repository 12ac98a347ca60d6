"""Rules about what an account must or may do by its email domain, role and demo flag: the
two-factor setup it owes and whether it may change its password. Configured in settings
(`totp_autosetup_domains`, `totp_required_roles`, `password_change_domains`); applied by
`policy.authorize()` (through `UserView.must_setup_totp`) and `accounts.change_password()`.
"""

from __future__ import annotations

from energyapp.db.models import User
from energyapp.settings import Settings


def email_domain(email: str) -> str:
    return email.rsplit("@", 1)[-1].lower()


def must_setup_totp(user: User, settings: Settings) -> bool:
    """2FA is demanded before anything else for some domains and roles until it is on; never of
    a demo account, which may not set it up (it would lock every other visitor out)."""
    if user.totp_enabled or user.is_demo:
        return False
    return (
        email_domain(user.email) in settings.totp_autosetup_domains
        or user.role in settings.totp_required_roles
    )


def can_change_password(user: User, settings: Settings) -> bool:
    """Only accounts of `password_change_domains` change their password here; never a demo one."""
    return not user.is_demo and email_domain(user.email) in settings.password_change_domains
