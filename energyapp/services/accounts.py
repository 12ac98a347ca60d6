"""Registration and password changes, with the rules from settings and NIST SP 800-63B: any
characters up to a generous length, nothing common, breached or guessable from the company or
the account itself. A wrong current password counts toward the login lockout. Registrations
are limited per IP (`register_max_per_ip` an hour). Passwords are hashed and checked outside
any transaction (see services/login.py)."""

from __future__ import annotations

import math
import re

from sqlalchemy.exc import IntegrityError

from energyapp.auth import throttle
from energyapp.auth.passwords import (
    MAX_PASSWORD_CHARS,
    fold,
    hash_password,
    is_common,
    normalize,
    verify_password,
)
from energyapp.db.engine import session_scope
from energyapp.db.models import User
from energyapp.domain.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotAuthenticated,
    Throttled,
)
from energyapp.domain.roles import Role
from energyapp.logging_setup import AUTH_LOGGER, log_event
from energyapp.services import audit, limits, sessions
from energyapp.services.account_rules import can_change_password, email_domain
from energyapp.services.guards import hashing, refuse_if_busy, refuse_if_locked
from energyapp.services.users import find_by_email, normalize_email
from energyapp.services.validation import clean_text
from energyapp.services.views import UserView
from energyapp.settings import get_settings

EMAIL_PATTERN = re.compile(r"[^@\s]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+")
MAX_NAME = limits.NAME
# Shorter company names and email local parts ("ana") would match too many passwords.
MIN_COMPANY_CHARS, MIN_LOCAL_PART_CHARS = 3, 4
REFUSED_COMMON = (
    "Esa contraseña es demasiado común o aparece en filtraciones de datos; "
    "elige otra menos predecible."
)
HAS_EMAIL = "La contraseña no puede contener tu correo ni la parte anterior a la @."
TAKEN = "Ya existe una cuenta con ese correo."


def password_rule() -> str:
    settings = get_settings()
    return (
        f"Mínimo {settings.password_min_length} caracteres, con cualquier letra o símbolo; "
        "una frase larga es más segura. No se aceptan contraseñas comunes ni las que "
        "contienen tu correo o el nombre de la empresa."
    )


def _letters_and_digits(text: str) -> str:
    return "".join(ch for ch in fold(text) if ch.isalnum())


def _contains_word(password: str, word: str, min_chars: int) -> bool:
    """Whether the password holds the word, ignoring case, spaces and punctuation."""
    word = _letters_and_digits(word)
    return len(word) >= min_chars and word in _letters_and_digits(password)


def password_problem(password: str, confirmation: str, email: str = "") -> str | None:
    """The Spanish reason a new password is refused, or None. `email` is the account's, whose
    address and local part the password may not contain; the company name comes from settings.
    Lengths count characters after NFKC normalisation."""
    settings = get_settings()
    if len(password) > MAX_PASSWORD_CHARS:
        return f"La contraseña es demasiado larga: el máximo es {MAX_PASSWORD_CHARS} caracteres."
    normalized = normalize(password)
    if len(normalized) < settings.password_min_length:
        return f"La contraseña debe tener al menos {settings.password_min_length} caracteres."
    if not normalized.strip():
        return "La contraseña no puede ser solo espacios."
    if normalized != normalize(confirmation):
        return "Las contraseñas no coinciden."
    if is_common(normalized):
        return REFUSED_COMMON
    if _contains_word(normalized, settings.company_name, MIN_COMPANY_CHARS):
        return (
            f"La contraseña no puede contener el nombre de la empresa "
            f"({settings.company_name.strip()})."
        )
    email = (email or "").strip()
    if email and (
        fold(email) in fold(normalized)
        or _contains_word(normalized, email.split("@", 1)[0], MIN_LOCAL_PART_CHARS)
    ):
        return HAS_EMAIL
    return None


def _refuse_registration(ip: str | None, wait: int) -> None:
    if wait:
        minutes = math.ceil(wait / 60)
        log_event(AUTH_LOGGER, "register_throttled", ip=ip, retry_after=wait)
        raise Throttled(
            f"Se crearon demasiadas cuentas desde tu red. Inténtalo de nuevo en {minutes} "
            f"minuto{'s' if minutes != 1 else ''}.",
            retry_after=wait,
        )


def register(name: str, email: str, password: str, confirmation: str, ip: str | None) -> UserView:
    """A new trabajador account. At most `register_max_per_ip` an hour from one IP (Throttled);
    the password is hashed between two short transactions (Busy when hashing is saturated)."""
    _refuse_registration(ip, throttle.registration_wait(ip))
    settings = get_settings()
    name = clean_text(name or "", field="nombre", single_line=True)  # no control characters
    email = normalize_email(email or "")
    if not name:
        raise InvalidInput("Escribe tu nombre.")
    if len(name) > MAX_NAME:
        raise InvalidInput(f"El nombre admite hasta {MAX_NAME} caracteres.")
    if len(email) > 254 or not EMAIL_PATTERN.fullmatch(email):
        raise InvalidInput("El correo electrónico no es válido.")
    problem = password_problem(password or "", confirmation or "", email)
    if problem:
        raise InvalidInput(problem)
    refuse_if_busy(email=email, ip=ip)  # before any database work, and before counting
    with session_scope() as db:
        if find_by_email(db, email) is not None:
            raise Conflict(TAKEN)
    _refuse_registration(ip, throttle.take_registration(ip))  # counts each valid attempt
    with hashing(email=email, ip=ip):
        password_hash = hash_password(password, settings.bcrypt_rounds)
    try:
        with session_scope() as db:
            if find_by_email(db, email) is not None:
                raise Conflict(TAKEN)
            user = User(email=email, name=name, password_hash=password_hash, role=Role.trabajador)
            db.add(user)
            db.flush()
            audit.record(
                db,
                "user_registered",
                actor_id=user.id,
                target_type="user",
                target_id=user.id,
                ip=ip,
            )
            view = UserView.of(user, settings)
    except IntegrityError:  # a concurrent registration won the race
        raise Conflict(TAKEN) from None
    log_event(AUTH_LOGGER, "registered", user_id=view.id, ip=ip)
    return view


def change_password(
    user_id: int,
    current: str,
    new: str,
    confirmation: str,
    ip: str | None,
    keep_session_id: int | None = None,
) -> None:
    """Only for allowed domains, never demo accounts, always with the current password. A wrong
    current password counts toward the account's login lockout, and a locked account is refused
    with Throttled. Other sessions and every refresh token are revoked. The passwords are
    checked and hashed outside any transaction; the new hash is stored only if the old one is
    still the account's."""
    settings = get_settings()
    with session_scope() as db:
        user = db.get(User, user_id)
        if user is None or not user.is_active:
            raise NotAuthenticated("Debes iniciar sesión.")
        if user.is_demo:
            raise Forbidden("Las cuentas de demostración no pueden cambiar su contraseña.")
        if not can_change_password(user, settings):
            domains = ", ".join(settings.password_change_domains) or "ninguno"
            raise Forbidden(
                f"El cambio de contraseña solo está disponible para correos de: "
                f"{domains}. Tu dominio es {email_domain(user.email)}."
            )
        email, stored = user.email, user.password_hash
    refuse_if_locked("login", email, ip, per_ip=False)  # the caller is signed in
    with hashing(user_id=user_id, ip=ip):
        if not verify_password(current or "", stored):
            throttle.record_failure("login", email, None)
            log_event(AUTH_LOGGER, "password_change_failed", user_id=user_id, ip=ip)
            raise InvalidInput("La contraseña actual no es correcta.", code="current_password")
        throttle.clear("login", email)
        problem = password_problem(new or "", confirmation or "", email)
        if problem:
            raise InvalidInput(problem)
        if verify_password(new, stored):
            raise InvalidInput("La nueva contraseña debe ser distinta de la actual.")
        new_hash = hash_password(new, settings.bcrypt_rounds)
    with session_scope() as db:
        user = db.get(User, user_id, with_for_update=True)  # two changes at once: one wins
        if user is None or not user.is_active:
            raise NotAuthenticated("Debes iniciar sesión.")
        if user.password_hash != stored:
            raise Conflict("Tu contraseña cambió mientras tanto. Vuelve a intentarlo.")
        user.password_hash = new_hash
        revoked = sessions.revoke_all(db, user_id, keep_id=keep_session_id)
        audit.record(
            db,
            "password_changed",
            actor_id=user_id,
            target_type="user",
            target_id=user_id,
            ip=ip,
            sessions_revoked=revoked,
        )
    log_event(AUTH_LOGGER, "password_changed", user_id=user_id, ip=ip)
