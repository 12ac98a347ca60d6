"""Logging in, the whole workflow for both channels: the password step, the second factor when
2FA is on, then a web session (a one-time ticket the browser trades for its HttpOnly cookie at
/api/auth/session, `sessions.redeem_ticket`) or an API session (the cookie plus a token pair).
The UI state and the API route only adapt these calls; the rule that an account with 2FA on
needs a code is `code_required`, here alone.

Failures are throttled per account and per IP, every attempt goes to auth.log, and an unknown
email costs the same bcrypt work as a wrong password (no user enumeration). A hash in an older
scheme or cost is replaced by a new one at the next successful login.

bcrypt takes a core for a good part of a second (docs/benchmarks.md §3): no database connection
is held meanwhile. The account is read in one short transaction, the password checked outside
any (inside `guards.hashing()`), and what is written goes in another short one."""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlmodel import Session, col, select, update

from energyapp.auth import throttle
from energyapp.auth.passwords import dummy_hash, hash_password, needs_rehash, verify_password
from energyapp.auth.totp import hash_recovery_code, matching_step, normalize_recovery_code
from energyapp.db.engine import session_scope
from energyapp.db.models import RecoveryCode, User, utcnow
from energyapp.domain.errors import Busy, NotAuthenticated
from energyapp.logging_setup import AUTH_LOGGER, log_event
from energyapp.services import api_tokens, audit, limits, sessions
from energyapp.services.api_tokens import TokenPair
from energyapp.services.guards import hashing, refuse_if_busy, refuse_if_locked
from energyapp.services.users import find_by_email, normalize_email
from energyapp.services.views import UserView
from energyapp.settings import get_settings

BAD_CREDENTIALS = "Correo o contraseña incorrectos."
BAD_CODE = "El código no es válido o ya fue usado."
INACTIVE = "Tu cuenta está desactivada. Contacta a un administrador."
TOTP_REQUIRED = "Se requiere el código de verificación en dos pasos."


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
    email = normalize_email(email or "")[: limits.EMAIL]
    password = (password or "")[: limits.PASSWORD]
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
    code = (code or "")[: limits.TOTP_CODE]
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


def _spend_recovery_code(db: Session, user: User, code: str) -> bool:
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


# --- the workflows ---------------------------------------------------------------------------
def code_required(user: UserView) -> bool:
    """The one rule between the two steps: an account with 2FA on needs its code as well."""
    return user.totp_enabled


@dataclass(frozen=True)
class WebStep:
    """Where a browser login stands after its password step: complete with a `ticket`, or
    waiting for the 2FA code of `user_id` until `code_until` (a `time.monotonic()` instant)."""

    user_id: int
    ticket: str = ""
    code_until: float = 0.0

    @property
    def needs_code(self) -> bool:
        return not self.ticket


def web_password(email: str, password: str, ip: str | None, user_agent: str | None) -> WebStep:
    """The browser's password step: the login completes now, or waits for `web_code`."""
    user = check_password(email, password, ip)
    if code_required(user):
        minutes = get_settings().totp_pending_minutes
        return WebStep(user.id, code_until=time.monotonic() + minutes * 60)
    return WebStep(user.id, ticket=open_web_session(user.id, ip, user_agent))


def web_code(user_id: int, code: str, ip: str | None, user_agent: str | None) -> str:
    """The browser's second step, for the account `web_password` left waiting: the ticket."""
    check_second_factor(user_id, code, ip)
    return open_web_session(user_id, ip, user_agent)


def open_web_session(user_id: int, ip: str | None, user_agent: str | None) -> str:
    """A completed browser login (both factors checked, or an account just registered): record
    it and return the one-time ticket that /api/auth/session turns into the session cookie."""
    with session_scope() as db:
        _record_login(db, user_id, ip, "web")
        ticket = sessions.add_ticket(db, user_id, user_agent)
    log_event(AUTH_LOGGER, "login_succeeded", user_id=user_id, ip=ip, channel="web")
    return ticket


@dataclass(frozen=True)
class ApiLogin:
    user: UserView
    cookie_token: str  # for the HttpOnly cookie; never stored
    tokens: TokenPair  # owned by the same login: ending one ends both


def api_login(
    email: str, password: str, code: str | None, ip: str | None, user_agent: str | None
) -> ApiLogin:
    """POST /api/auth/login: both factors in one request (NotAuthenticated `totp_required`
    when the account has 2FA and no code came), then the session."""
    user = check_password(email, password, ip)
    if code_required(user):
        if not code:
            raise NotAuthenticated(TOTP_REQUIRED, code="totp_required")
        check_second_factor(user.id, code, ip)
    return open_api_session(user, ip, user_agent)


def open_api_session(user: UserView, ip: str | None, user_agent: str | None) -> ApiLogin:
    """A completed API login: its record, its session row (the cookie) and its refresh-token
    family, in one transaction."""
    with session_scope() as db:
        row = _record_login(db, user.id, ip, "api")
        new = sessions.create_session(db, row, ip, user_agent, channel="api")
        pair = api_tokens.issue_pair(db, user.id, new.session_id)
    log_event(AUTH_LOGGER, "login_succeeded", user_id=user.id, ip=ip, channel="api")
    return ApiLogin(user, new.token, pair)


def _record_login(db: Session, user_id: int, ip: str | None, channel: str) -> User:
    """Last login time and the audit event; an account removed or deactivated since its
    password was checked does not log in."""
    user = db.get(User, user_id)
    if user is None or not user.is_active:
        raise NotAuthenticated(INACTIVE)
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
    return user
