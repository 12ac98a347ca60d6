"""Registration and password changes, with the rules from settings."""

from __future__ import annotations

import re

from sqlalchemy.exc import IntegrityError

from energyapp.auth.passwords import MAX_PASSWORD_BYTES, hash_password, verify_password
from energyapp.db.engine import session_scope
from energyapp.db.models import Role, User
from energyapp.logging_setup import AUTH_LOGGER, log_event
from energyapp.services import api_tokens, audit, sessions
from energyapp.services.errors import Conflict, Forbidden, InvalidInput, NotAuthenticated
from energyapp.services.users import create_user, find_by_email, normalize_email
from energyapp.services.views import UserView, can_change_password, email_domain
from energyapp.settings import get_settings

EMAIL_PATTERN = re.compile(r"[^@\s]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+")
MAX_NAME = 120


def password_rule() -> str:
    settings = get_settings()
    return (f"Mínimo {settings.password_min_length} caracteres y como máximo "
            f"{MAX_PASSWORD_BYTES} bytes (las letras con tilde o ñ cuentan como 2).")


def password_problem(password: str, confirmation: str) -> str | None:
    """The Spanish reason a new password is refused, or None."""
    settings = get_settings()
    if len(password) < settings.password_min_length:
        return f"La contraseña debe tener al menos {settings.password_min_length} caracteres."
    if len(password.encode("utf-8", "surrogatepass")) > MAX_PASSWORD_BYTES:
        return (f"La contraseña es demasiado larga: el máximo es {MAX_PASSWORD_BYTES} bytes "
                "(las letras con tilde o ñ cuentan como 2).")
    if not password.strip():
        return "La contraseña no puede ser solo espacios."
    if password != confirmation:
        return "Las contraseñas no coinciden."
    return None


def register(name: str, email: str, password: str, confirmation: str, ip: str | None
             ) -> UserView:
    name = " ".join((name or "").split())
    email = normalize_email(email or "")
    if not name:
        raise InvalidInput("Escribe tu nombre.")
    if len(name) > MAX_NAME:
        raise InvalidInput(f"El nombre admite hasta {MAX_NAME} caracteres.")
    if len(email) > 254 or not EMAIL_PATTERN.fullmatch(email):
        raise InvalidInput("El correo electrónico no es válido.")
    problem = password_problem(password or "", confirmation or "")
    if problem:
        raise InvalidInput(problem)
    try:
        with session_scope() as db:
            if find_by_email(db, email) is not None:
                raise Conflict("Ya existe una cuenta con ese correo.")
            user = create_user(db, email=email, name=name, password=password,
                               role=Role.trabajador)
            audit.record(db, "user_registered", actor_id=user.id, target_type="user",
                         target_id=user.id, ip=ip)
            view = UserView.of(user)
    except IntegrityError:  # a concurrent registration won the race
        raise Conflict("Ya existe una cuenta con ese correo.") from None
    log_event(AUTH_LOGGER, "registered", user_id=view.id, ip=ip)
    return view


def change_password(user_id: int, current: str, new: str, confirmation: str, ip: str | None,
                    keep_session_id: int | None = None) -> None:
    """Only for allowed domains, never demo accounts, always with the current password. Other
    sessions and every refresh token are revoked."""
    settings = get_settings()
    with session_scope() as db:
        user = db.get(User, user_id)
        if user is None or not user.is_active:
            raise NotAuthenticated("Debes iniciar sesión.")
        if user.is_demo:
            raise Forbidden("Las cuentas de demostración no pueden cambiar su contraseña.")
        if not can_change_password(user, settings):
            domains = ", ".join(settings.password_change_domains) or "ninguno"
            raise Forbidden(f"El cambio de contraseña solo está disponible para correos de: "
                            f"{domains}. Tu dominio es {email_domain(user.email)}.")
        if not verify_password((current or "")[:1024], user.password_hash):
            log_event(AUTH_LOGGER, "password_change_failed", user_id=user_id, ip=ip)
            raise InvalidInput("La contraseña actual no es correcta.", code="current_password")
        problem = password_problem(new or "", confirmation or "")
        if problem:
            raise InvalidInput(problem)
        if verify_password(new, user.password_hash):
            raise InvalidInput("La nueva contraseña debe ser distinta de la actual.")
        user.password_hash = hash_password(new, settings.bcrypt_rounds)
        revoked = sessions.revoke_all(db, user_id, keep_id=keep_session_id)
        api_tokens.revoke_all_for_user(db, user_id)
        audit.record(db, "password_changed", actor_id=user_id, target_type="user",
                     target_id=user_id, ip=ip, sessions_revoked=revoked)
    log_event(AUTH_LOGGER, "password_changed", user_id=user_id, ip=ip)
