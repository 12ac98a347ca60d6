"""Logging in: password, then the second factor when 2FA is on. Failures are throttled per
account and per IP, every attempt goes to auth.log, and an unknown email costs the same bcrypt
work as a wrong password (no user enumeration). A hash in an older scheme or cost is replaced
by a new one at the next successful login.

bcrypt takes a core for ~0.25 s: no database connection is held meanwhile. The account is read
in one short transaction, the password checked outside any, and what is written goes in
another short one. Hashing runs inside `hashing()`, which refuses with Busy (503) at once when
`password_hash_queue` hashes already wait, so a login storm cannot take every thread and every
pooled connection from the users who are browsing."""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlmodel import col, select, update

from energyapp.auth import throttle
from energyapp.auth.passwords import (
    MAX_PASSWORD_CHARS,
    HashingBusy,
    bounded_queue,
    dummy_hash,
    hash_password,
    needs_rehash,
    refuse_if_queue_full,
    verify_password,
)
from energyapp.auth.totp import hash_recovery_code, matching_step, normalize_recovery_code
from energyapp.db.engine import session_scope
from energyapp.db.models import RecoveryCode, User, utcnow
from energyapp.logging_setup import AUTH_LOGGER, log_event
from energyapp.services import audit
from energyapp.services.errors import Busy, NotAuthenticated, Throttled
from energyapp.services.users import find_by_email, normalize_email
from energyapp.services.views import UserView
from energyapp.settings import get_settings

BAD_CREDENTIALS = "Correo o contraseña incorrectos."
BAD_CODE = "El código no es válido o ya fue usado."
INACTIVE = "Tu cuenta está desactivada. Contacta a un administrador."
MAX_EMAIL = 254
MAX_PASSWORD_INPUT = MAX_PASSWORD_CHARS


def refuse_if_locked(kind: str, account: str, ip: str | None, *, per_ip: bool = True) -> None:
    """Raise Throttled while the account (or, with `per_ip`, the IP) has too many recent
    failures of this kind ("login" or "totp")."""
    wait = throttle.seconds_blocked(kind, account, ip if per_ip else None)
    if wait:
        minutes = math.ceil(wait / 60)
        log_event(AUTH_LOGGER, f"{kind}_throttled", email=account, ip=ip, retry_after=wait)
        raise Throttled(
            f"Demasiados intentos fallidos. Inténtalo de nuevo en {minutes} "
            f"minuto{'s' if minutes != 1 else ''}.",
            retry_after=wait,
        )


@contextmanager
def hashing(**log_fields: object) -> Iterator[None]:
    """Run password hashes for one request: at most `password_hash_queue` wait for a core, and
    one more raises Busy (503 + Retry-After) at once. Never enter it with a session open."""
    try:
        with bounded_queue(get_settings().password_hash_queue):
            yield
    except HashingBusy as exc:
        log_event(AUTH_LOGGER, "hashing_busy", retry_after=exc.retry_after, **log_fields)
        raise Busy(retry_after=exc.retry_after) from None


def refuse_if_busy(**log_fields: object) -> None:
    """Busy at once, before any database work, when a password hash started now would be
    refused: in a storm, the refused requests cost no connection at all."""
    with hashing(**log_fields):
        refuse_if_queue_full()


@dataclass(frozen=True)
class _Account:
    """What a login needs from the user row, read in a short transaction."""

    id: int
    password_hash: str
    is_active: bool
    view: UserView


def _account(*, email: str = "", user_id: int | None = None) -> _Account | None:
    settings = get_settings()
    with session_scope() as db:
        if user_id is not None:
            user = db.get(User, user_id)
        else:
            user = find_by_email(db, email) if email else None
        if user is None or user.id is None:
            return None
        return _Account(user.id, user.password_hash, user.is_active, UserView.of(user, settings))


def _verified_account(
    email: str, password: str, rounds: int, ip: str | None
) -> tuple[_Account | None, str]:
    """The account whose current hash this password matches, else None and why ("unknown_email"
    or "bad_password"). Each check runs outside any transaction; if the hash changed meanwhile
    (a password change, or another login's upgrade), the password is checked again against the
    new one."""
    account = _account(email=email)
    for _ in range(3):
        with hashing(email=email, ip=ip):
            valid = verify_password(
                password, account.password_hash if account else dummy_hash(rounds)
            )
        if account is None:
            return None, "unknown_email"
        if not valid:
            return None, "bad_password"
        current = _account(user_id=account.id)
        if current is not None and current.password_hash == account.password_hash:
            return current, ""
        account = current
    return None, "bad_password"


def _upgrade_hash(account: _Account, password: str, rounds: int) -> None:
    """Replace an old-scheme or old-cost hash, hashed outside any transaction, unless it changed
    meanwhile. Best effort: when hashing is busy, the next login upgrades it."""
    try:
        with hashing(user_id=account.id):
            new_hash = hash_password(password, rounds)
    except Busy:
        return
    with session_scope() as db:
        changed = db.exec(
            update(User)
            .where(
                col(User.id) == account.id,
                col(User.password_hash) == account.password_hash,
            )
            .values(password_hash=new_hash)
        ).rowcount
    if changed:
        log_event(AUTH_LOGGER, "password_rehashed", user_id=account.id)


def check_password(email: str, password: str, ip: str | None) -> UserView:
    """The user whose credentials these are; raises NotAuthenticated, Throttled or Busy."""
    email = normalize_email(email or "")[:MAX_EMAIL]
    password = (password or "")[:MAX_PASSWORD_INPUT]
    refuse_if_locked("login", email, ip)
    refuse_if_busy(email=email, ip=ip)
    settings = get_settings()
    account, reason = _verified_account(email, password, settings.bcrypt_rounds, ip)
    if account is None:
        throttle.record_failure("login", email, ip)
        log_event(AUTH_LOGGER, "login_failed", email=email, ip=ip, reason=reason)
        raise NotAuthenticated(BAD_CREDENTIALS)
    if not account.is_active:
        log_event(AUTH_LOGGER, "login_refused", email=email, ip=ip, reason="inactive")
        raise NotAuthenticated(INACTIVE)
    throttle.clear("login", email)
    if needs_rehash(account.password_hash, settings.bcrypt_rounds):
        _upgrade_hash(account, password, settings.bcrypt_rounds)
    log_event(
        AUTH_LOGGER,
        "password_ok",
        user_id=account.id,
        ip=ip,
        second_factor=account.view.totp_enabled,
    )
    return account.view


def check_second_factor(user_id: int, code: str, ip: str | None) -> None:
    """Accept a current TOTP code (never the same step twice) or an unused recovery code."""
    code = (code or "")[:64]
    with session_scope() as db:
        user = db.get(User, user_id)
        if user is None or not user.is_active or not user.totp_enabled or not user.totp_secret:
            raise NotAuthenticated(BAD_CODE)
        refuse_if_locked("totp", user.email, ip)
        step = matching_step(user.totp_secret, code, user.totp_last_step)
        if step is not None:
            user.totp_last_step = step
        elif not _spend_recovery_code(db, user, code):
            throttle.record_failure("totp", user.email, ip)
            log_event(AUTH_LOGGER, "totp_failed", user_id=user.id, ip=ip)
            db.commit()
            raise NotAuthenticated(BAD_CODE)
        else:
            audit.record(
                db,
                "recovery_code_used",
                actor_id=user.id,
                target_type="user",
                target_id=user.id,
                ip=ip,
            )
        throttle.clear("totp", user.email)
        log_event(AUTH_LOGGER, "totp_ok", user_id=user.id, ip=ip, recovery=step is None)


def _spend_recovery_code(db, user: User, code: str) -> bool:  # noqa: ANN001 - Session
    normalized = normalize_recovery_code(code)
    if normalized is None:
        return False
    row = db.exec(
        select(RecoveryCode).where(
            RecoveryCode.user_id == user.id,
            RecoveryCode.code_hash == hash_recovery_code(normalized),
            RecoveryCode.used_at.is_(None),  # type: ignore[union-attr]
        )
    ).first()
    if row is None:
        return False
    row.used_at = utcnow()
    return True


def record_login(user_id: int, ip: str | None, channel: str) -> None:
    """A completed login (password and, when on, 2FA): last login time, audit, auth.log."""
    with session_scope() as db:
        user = db.get(User, user_id)
        if user is not None:
            user.last_login_at = utcnow()
        audit.record(
            db,
            "login",
            actor_id=user_id,
            target_type="user",
            target_id=user_id,
            ip=ip,
            channel=channel,
        )
    log_event(AUTH_LOGGER, "login_succeeded", user_id=user_id, ip=ip, channel=channel)
