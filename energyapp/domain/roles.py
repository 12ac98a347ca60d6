"""The roles a user may have, and their Spanish names for people to read.

A leaf module: settings (demo accounts, `totp_required_roles`), the tables, the services and the
UI all import it, and it imports nothing from energyapp. Who may do what with a role is a rule,
and rules live in `energyapp.services.policy`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final


class Role(StrEnum):
    admin = "admin"
    supervisor = "supervisor"
    trabajador = "trabajador"


# The one label map: how each role is named in the UI.
ROLE_LABELS: Final[dict[str, str]] = {
    Role.admin.value: "Administrador",
    Role.supervisor.value: "Supervisor",
    Role.trabajador.value: "Trabajador",
}


def role_label(role: str) -> str:
    """The Spanish name of a role (a `Role` or its value); an unknown value is shown as is."""
    return ROLE_LABELS.get(str(role), str(role))
