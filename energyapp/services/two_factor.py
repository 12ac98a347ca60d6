"""Turning 2FA on and off. Setup keeps a pending secret until the user confirms a code; then
one-time recovery codes are generated, shown once and stored hashed. Demo accounts, shared by
everyone, can do neither: one visitor turning 2FA on would lock the others out."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, col, delete

from energyapp.auth import throttle, totp
from energyapp.auth.passwords import verify_password
from energyapp.db.engine import session_scope
from energyapp.db.models import RecoveryCode, User
from energyapp.domain.errors import Conflict, Forbidden, InvalidInput, NotAuthenticated
from energyapp.logging_setup import AUTH_LOGGER, log_event
from energyapp.services import audit, sessions
from energyapp.services.guards import hashing, refuse_if_locked
from energyapp.services.login import check_second_factor
from energyapp.settings import get_settings

BAD_CODE = "El código no es válido. Revisa la hora de tu teléfono e inténtalo de nuevo."
DEMO_SETUP = (
    "Las cuentas de demostración no pueden activar la verificación en dos pasos: "
    "las comparten todos los visitantes."
)
DEMO_DISABLE = (
    "Las cuentas de demostración no pueden desactivar la verificación en dos "
    "pasos: las comparten todos los visitantes."
)


@dataclass(frozen=True)
class SetupStart:
    secret: str  # shown for manual entry in the authenticator app
    uri: str
    qr_data_uri: str


def _active_user(db: Session, user_id: int, *, demo_refusal: str = "") -> User:
    """The signed-in user; with `demo_refusal`, a demo account is refused with that message."""
    user = db.get(User, user_id)
    if user is None or not user.is_active:
        raise NotAuthenticated("Debes iniciar sesión.")
    if demo_refusal and user.is_demo:
        raise Forbidden(demo_refusal, code="demo_account")
    return user


def begin_setup(user_id: int, *, keep_pending: bool = False) -> SetupStart:
    """A pending secret to scan. `keep_pending` shows again the one not yet confirmed (a reload
    of the forced setup page must not invalidate a QR the user may already have scanned);
    otherwise a new secret replaces it."""
    settings = get_settings()
    with session_scope() as db:
        user = _active_user(db, user_id, demo_refusal=DEMO_SETUP)
        if user.totp_enabled:
            raise Conflict("La verificación en dos pasos ya está activada.")
        if not (keep_pending and user.totp_secret):
            user.totp_secret = totp.new_secret()
            user.totp_last_step = None
        uri = totp.provisioning_uri(user.totp_secret, user.email, settings.totp_issuer)
        return SetupStart(secret=user.totp_secret, uri=uri, qr_data_uri=totp.qr_svg_data_uri(uri))


def confirm_setup(user_id: int, code: str, ip: str | None) -> list[str]:
    """Turn 2FA on when the code matches the pending secret; returns the recovery codes."""
    settings = get_settings()
    with session_scope() as db:
        user = _active_user(db, user_id, demo_refusal=DEMO_SETUP)
        if user.totp_enabled:
            raise Conflict("La verificación en dos pasos ya está activada.")
        if not user.totp_secret:
            raise InvalidInput("Primero inicia la configuración para obtener el código QR.")
        step = totp.matching_step(user.totp_secret, code or "", None)
        if step is None:
            raise InvalidInput(BAD_CODE)
        user.totp_enabled = True
        user.totp_last_step = step
        codes = totp.new_recovery_codes(settings.recovery_code_count)
        db.exec(delete(RecoveryCode).where(col(RecoveryCode.user_id) == user_id))
        db.add_all(
            RecoveryCode(user_id=user_id, code_hash=totp.hash_recovery_code(c)) for c in codes
        )
        audit.record(
            db, "totp_enabled", actor_id=user_id, target_type="user", target_id=user_id, ip=ip
        )
    log_event(AUTH_LOGGER, "totp_enabled", user_id=user_id, ip=ip)
    return codes


def disable(
    user_id: int, password: str, code: str, ip: str | None, keep_session_id: int | None = None
) -> None:
    """Needs the password and a current code (or a recovery code). A wrong one counts toward
    the account's login lockout, and a locked account is refused with Throttled. Every other
    session and every refresh-token family of the user end; `keep_session_id` (the caller's
    cookie session) stays."""
    with session_scope() as db:
        user = _active_user(db, user_id, demo_refusal=DEMO_DISABLE)
        if not user.totp_enabled:
            raise Conflict("La verificación en dos pasos no está activada.")
        email, stored = user.email, user.password_hash
    refuse_if_locked("login", email, ip, per_ip=False)  # the caller is signed in
    with hashing(user_id=user_id, ip=ip):  # outside the transaction: bcrypt takes a core
        valid = verify_password(password or "", stored)
    if not valid:
        throttle.record_failure("login", email, None)
        log_event(AUTH_LOGGER, "totp_disable_failed", user_id=user_id, ip=ip, reason="bad_password")
        raise InvalidInput("La contraseña no es correcta.")
    try:
        check_second_factor(user_id, code, ip)
    except NotAuthenticated as exc:
        throttle.record_failure("login", email, None)
        log_event(AUTH_LOGGER, "totp_disable_failed", user_id=user_id, ip=ip, reason="bad_code")
        raise InvalidInput(exc.message) from None
    throttle.clear("login", email)
    with session_scope() as db:
        user = _active_user(db, user_id)
        user.totp_enabled = False
        user.totp_secret = None
        user.totp_last_step = None
        db.exec(delete(RecoveryCode).where(col(RecoveryCode.user_id) == user_id))
        revoked = sessions.revoke_all(db, user_id, keep_id=keep_session_id)
        audit.record(
            db,
            "totp_disabled",
            actor_id=user_id,
            target_type="user",
            target_id=user_id,
            ip=ip,
            sessions_revoked=revoked,
        )
    log_event(AUTH_LOGGER, "totp_disabled", user_id=user_id, ip=ip)
