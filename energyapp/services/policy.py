"""Who may do what now, and who may see, reassign and manage whom. The one place these
rules live.

- `authorize(user, access)`: the one gate both channels use (API dependencies and every Reflex
  event handler), from the caller's live session: signed in, active, 2FA setup pending, role.

- admin: every user and conversation; may reassign to any active user; manages users.
- supervisor: the `trabajador` users and self; may reassign within that scope; manages nobody.
- trabajador: only their own conversations; no admin area.

Lists are filtered in SQL (`visible_users_clause`), never after loading. Services answer
"not found" (404) for what the actor may not see and "forbidden" (403) for what they see but may
not do, consistently.
"""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import ColumnElement, false, or_, true
from sqlmodel import col

from energyapp.db.models import User
from energyapp.domain.errors import Forbidden, NotAuthenticated, NotFound
from energyapp.domain.roles import Role
from energyapp.services.views import UserView

# Roles that may use the admin area (oversight, audit); everyone else only their own chats.
STAFF_ROLES: frozenset[Role] = frozenset({Role.admin, Role.supervisor})
USER_NOT_FOUND = "El usuario no existe."
CONVERSATION_NOT_FOUND = "La conversación no existe."
SIGN_IN = "Debes iniciar sesión."
SETUP_PENDING = "Debes activar la verificación en dos pasos antes de continuar."
STAFF_ONLY = "Solo administradores y supervisores pueden usar esta sección."


class Access(StrEnum):
    """What an operation demands of its caller, from least to most."""

    public = "public"  # anyone, signed in or not (login, registration)
    setup = "setup"  # signed in, also while required 2FA is not set up yet (setup, logout, /me)
    user = "user"  # signed in, 2FA done when required
    staff = "staff"  # admin or supervisor
    admin = "admin"


def authorize(user: UserView | None, access: Access) -> None:
    """Raise NotAuthenticated (code `not_authenticated`) or Forbidden (`totp_setup_required`,
    `forbidden`) unless `user` (None: anonymous) may use an operation that demands `access`."""
    if access == Access.public:
        return
    if user is None:
        raise NotAuthenticated(SIGN_IN, code="not_authenticated")
    if access == Access.setup:
        return
    if user.must_setup_totp:
        raise Forbidden(SETUP_PENDING, code="totp_setup_required")
    if access == Access.staff and not is_staff(user):
        raise Forbidden(STAFF_ONLY, code="forbidden")
    if access == Access.admin and not is_admin(user):
        raise Forbidden("Solo un administrador puede realizar esta acción.", code="forbidden")


def is_staff_role(role: str) -> bool:
    """Whether a role (a `Role` or its value, "" for nobody) may use the admin area."""
    return role in STAFF_ROLES


def is_admin_role(role: str) -> bool:
    return role == Role.admin


def is_staff(actor: UserView) -> bool:
    return is_staff_role(actor.role)


def is_admin(actor: UserView) -> bool:
    return is_admin_role(actor.role)


def require_staff(actor: UserView) -> None:
    if not is_staff(actor):
        raise Forbidden(STAFF_ONLY)


def require_admin(actor: UserView, action: str = "esta acción") -> None:
    if not is_admin(actor):
        raise Forbidden(f"Solo un administrador puede realizar {action}.")


def visible_users_clause(actor: UserView) -> ColumnElement[bool]:
    """SQL condition on `User` for the users the actor may see."""
    if actor.role == Role.admin:
        return true()
    if actor.role == Role.supervisor:
        return or_(col(User.role) == Role.trabajador, col(User.id) == actor.id)
    return false()


def can_see_user(actor: UserView, target: User) -> bool:
    if actor.role == Role.admin:
        return True
    if actor.role == Role.supervisor:
        return target.role == Role.trabajador or target.id == actor.id
    return False


def visible_user(actor: UserView, target: User | None) -> User:
    """The target if the actor may see it; otherwise "not found" (its existence stays hidden)."""
    require_staff(actor)
    if target is None or not can_see_user(actor, target):
        raise NotFound(USER_NOT_FOUND)
    return target


def check_reassign(actor: UserView, owner: User, target: User | None) -> User:
    """The actor may move a conversation of `owner` to `target`: both in scope, target active."""
    visible_user(actor, owner)
    if target is None or not can_see_user(actor, target):
        raise NotFound("El usuario de destino no existe.")
    if not target.is_active:
        raise Forbidden("El usuario de destino está desactivado.", code="inactive_target")
    return target


def check_manage(actor: UserView, target: User | None, action: str) -> User:
    """Role changes, activation, 2FA reset, sessions, unlocking: admins only."""
    target = visible_user(actor, target)
    require_admin(actor, action)
    return target
