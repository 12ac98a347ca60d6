"""What the operator's commands (`python -m energyapp`) do to accounts and stored data, each in
its own transaction and audited as `…_by_cli`. The rules are the admin panel's (`services.admin`:
the last active admin stays, deactivation signs out everywhere); the CLI only parses arguments,
reads the password and prints."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from energyapp.auth.passwords import hash_password
from energyapp.db.encrypted import InvalidToken, rotate
from energyapp.db.engine import session_scope
from energyapp.db.models import User
from energyapp.domain.errors import Conflict, NotFound
from energyapp.domain.roles import Role
from energyapp.services import admin, audit
from energyapp.services.admin import UserRow
from energyapp.services.audit import ChainReport, verify_chain
from energyapp.services.users import create_user, find_by_email
from energyapp.settings import get_settings

CLI = "_by_cli"  # suffix of the audit actions these commands record


def _row(db: Session, user_id: int) -> User:
    user = db.get(User, user_id)
    if user is None:
        raise NotFound("La cuenta ya no existe.")
    return user


def find_user(email: str) -> UserRow | None:
    with session_scope() as db:
        user = find_by_email(db, email)
        return None if user is None else UserRow.of(user)


def create_admin(email: str, name: str, password: str) -> UserRow:
    """A new admin account; Conflict when the email is taken. The caller validated the email
    and the password (`accounts.EMAIL_PATTERN`, `accounts.password_problem`)."""
    try:
        with session_scope() as db:
            user = create_user(db, email=email, name=name, password=password, role=Role.admin)
            audit.record(db, f"admin_created{CLI}", target_type="user", target_id=user.id)
            return UserRow.of(user)
    except IntegrityError:
        raise Conflict("Ya existe una cuenta con ese correo.") from None


def reset_password(user_id: int, password: str) -> None:
    """Set a new password (validated by the caller) and end every login of the account."""
    new_hash = hash_password(password, get_settings().bcrypt_rounds)  # outside the transaction
    with session_scope() as db:
        _row(db, user_id).password_hash = new_hash
        admin.sign_out_everywhere(db, user_id)
        audit.record(db, f"password_reset{CLI}", target_type="user", target_id=user_id)


def reset_two_factor(user_id: int) -> None:
    with session_scope() as db:
        admin.clear_two_factor(db, _row(db, user_id), source=CLI)


def deactivate(user_id: int) -> None:
    """Conflict (`last_admin`) for the last active admin."""
    with session_scope() as db:
        admin.change_user(db, _row(db, user_id), is_active=False, source=CLI)


def revoke_sessions(user_id: int) -> int:
    """End every login (cookies and API tokens) of the account; returns how many were live."""
    with session_scope() as db:
        count = admin.sign_out_everywhere(db, user_id)
        audit.record(
            db, f"sessions_revoked{CLI}", target_type="user", target_id=user_id, count=count
        )
    return count


def list_users(role: str | None = None) -> list[UserRow]:
    """Every account by email, or those of one role."""
    statement = select(User).order_by(col(User.email))
    if role:
        statement = statement.where(User.role == role)
    with session_scope() as db:
        return [UserRow.of(user) for user in db.exec(statement).all()]


@dataclass(frozen=True)
class Reencrypted:
    rotated: int
    failed: int  # secrets no configured key opens: their key must go to previous_secret_keys


def reencrypt_totp_secrets() -> Reencrypted:
    """Rewrite every stored TOTP secret under the current secret_key (after a rotation).

    Raw SQL: through the model a value no key opens would load as empty and go unnoticed. Each
    UPDATE matches the old value, so a secret changed meanwhile is left alone."""
    rotated = failed = 0
    with session_scope() as db:
        connection = db.connection()  # the session's transaction
        rows = connection.execute(
            text("SELECT id, totp_secret FROM users WHERE totp_secret IS NOT NULL ORDER BY id")
        ).all()
        for user_id, token in rows:
            try:
                new = rotate(token)
            except InvalidToken:
                failed += 1
                continue
            rotated += connection.execute(
                text("UPDATE users SET totp_secret = :new WHERE id = :id AND totp_secret = :old"),
                {"new": new, "id": user_id, "old": token},
            ).rowcount
    return Reencrypted(rotated, failed)


def verify_audit() -> ChainReport:
    """The audit chain checked row by row (`audit.verify_chain`)."""
    with session_scope() as db:
        return verify_chain(db)
