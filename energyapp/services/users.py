"""Users: creation and lookup. Emails are stored trimmed and lower-cased."""

from __future__ import annotations

from sqlmodel import Session, select

from energyapp.auth.passwords import hash_password
from energyapp.db.models import User
from energyapp.domain.roles import Role
from energyapp.settings import get_settings


def normalize_email(email: str) -> str:
    return email.strip().lower()


def find_by_email(session: Session, email: str) -> User | None:
    return session.exec(select(User).where(User.email == normalize_email(email))).first()


def create_user(
    session: Session,
    *,
    email: str,
    name: str,
    password: str,
    role: Role = Role.trabajador,
    is_demo: bool = False,
) -> User:
    """Add a user to the session (flushed, so it has an id). Callers validate the input."""
    user = User(
        email=normalize_email(email),
        name=name.strip(),
        password_hash=hash_password(password, get_settings().bcrypt_rounds),
        role=role,
        is_demo=is_demo,
    )
    session.add(user)
    session.flush()
    return user
