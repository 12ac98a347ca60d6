"""Logging in: password, then the second factor when 2FA is on. Failures are throttled per
account and per IP, every attempt goes to auth.log, and an unknown email costs the same bcrypt
work as a wrong password (no user enumeration). A hash in an older scheme or cost is replaced
by a new one at the next successful login."""

from __future__ import annotations

import math

from sqlmodel import select

from energyapp.auth import throttle
from energyapp.auth.passwords import (
    MAX_PASSWORD_CHARS,
    dummy_hash,
    hash_password,
    needs_rehash,
    verify_password,
)
from energyapp.auth.totp import hash_recovery_code, matching_step, normalize_recovery_code
from energyapp.db.engine import session_scope
from energyapp.db.models import RecoveryCode, User, utcnow
from energyapp.logging_setup import AUTH_LOGGER, log_event
from energyapp.services import audit
from energyapp.services.errors import NotAuthenticated, Throttled
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


def check_password(email: str, password: str, ip: str | None) -> UserView:
    """The user whose credentials these are; raises NotAuthenticated or Throttled."""
    email = normalize_email(email or "")[:MAX_EMAIL]
    password = (password or "")[:MAX_PASSWORD_INPUT]
    refuse_if_locked("login", email, ip)
    settings = get_settings()
    with session_scope() as db:
        user = find_by_email(db, email) if email else None
        valid = verify_password(password, user.password_hash if user else
                                dummy_hash(settings.bcrypt_rounds))
        if user is None or not valid:
            throttle.record_failure("login", email, ip)
            log_event(AUTH_LOGGER, "login_failed", email=email, ip=ip,
                      reason="unknown_email" if user is None else "bad_password")
            raise NotAuthenticated(BAD_CREDENTIALS)
        if not user.is_active:
            log_event(AUTH_LOGGER, "login_refused", email=email, ip=ip, reason="inactive")
            raise NotAuthenticated(INACTIVE)
        throttle.clear("login", email)
        if needs_rehash(user.password_hash, settings.bcrypt_rounds):
            user.password_hash = hash_password(password, settings.bcrypt_rounds)
            log_event(AUTH_LOGGER, "password_rehashed", user_id=user.id)
        log_event(AUTH_LOGGER, "password_ok", user_id=user.id, ip=ip,
                  second_factor=user.totp_enabled)
        return UserView.of(user, settings)


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
            audit.record(db, "recovery_code_used", actor_id=user.id, target_type="user",
                         target_id=user.id, ip=ip)
        throttle.clear("totp", user.email)
        log_event(AUTH_LOGGER, "totp_ok", user_id=user.id, ip=ip, recovery=step is None)


def _spend_recovery_code(db, user: User, code: str) -> bool:  # noqa: ANN001 - Session
    normalized = normalize_recovery_code(code)
    if normalized is None:
        return False
    row = db.exec(select(RecoveryCode).where(
        RecoveryCode.user_id == user.id, RecoveryCode.code_hash == hash_recovery_code(normalized),
        RecoveryCode.used_at.is_(None),  # type: ignore[union-attr]
    )).first()
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
        audit.record(db, "login", actor_id=user_id, target_type="user", target_id=user_id, ip=ip,
                     channel=channel)
    log_event(AUTH_LOGGER, "login_succeeded", user_id=user_id, ip=ip, channel=channel)
