"""Small read-only views of rows (what states and API responses may hold: no hashes, no
secrets) and display helpers (times, browser names). No rules here: those live in `policy` and
`account_rules`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from energyapp.db.models import AuthSession, User
from energyapp.services.account_rules import can_change_password, must_setup_totp
from energyapp.settings import Settings, get_settings


@dataclass(frozen=True)
class UserView:
    id: int
    email: str
    name: str
    role: str
    is_demo: bool
    totp_enabled: bool
    must_setup_totp: bool
    can_change_password: bool

    @classmethod
    def of(cls, user: User, settings: Settings | None = None) -> UserView:
        settings = settings or get_settings()
        assert user.id is not None
        return cls(
            id=user.id,
            email=user.email,
            name=user.name,
            role=user.role.value,
            is_demo=user.is_demo,
            totp_enabled=user.totp_enabled,
            must_setup_totp=must_setup_totp(user, settings),
            can_change_password=can_change_password(user, settings),
        )


def local_time(value: str | datetime | None, fmt: str = "%d-%m-%Y %H:%M") -> str:
    """An ISO or datetime value in the configured time zone, for people to read."""
    from zoneinfo import ZoneInfo

    if value is None or value == "":
        return ""
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
    else:
        moment = value
    return moment.astimezone(ZoneInfo(get_settings().timezone)).strftime(fmt)


def iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def browser_label(user_agent: str) -> str:
    """ "Chrome en Linux" from a User-Agent string, for the sessions list."""
    ua = user_agent or ""
    browser = next(
        (
            name
            for key, name in (
                ("Edg/", "Edge"),
                ("OPR/", "Opera"),
                ("Firefox/", "Firefox"),
                ("Chrome/", "Chrome"),
                ("Chromium/", "Chromium"),
                ("Safari/", "Safari"),
                ("curl/", "curl"),
                ("python-httpx", "Cliente API"),
                ("python-requests", "Cliente API"),
            )
            if key in ua
        ),
        "Navegador desconocido",
    )
    system = next(
        (
            name
            for key, name in (
                ("Android", "Android"),
                ("iPhone", "iPhone"),
                ("iPad", "iPad"),
                ("Windows", "Windows"),
                ("Mac OS X", "macOS"),
                ("Linux", "Linux"),
            )
            if key in ua
        ),
        "",
    )
    return f"{browser} en {system}" if system else browser


@dataclass(frozen=True)
class SessionView:
    id: int
    ip: str
    user_agent: str
    created_at: str
    last_seen_at: str
    current: bool
    channel: str = "web"  # "api": an API login (it also holds refresh tokens)

    @classmethod
    def of(cls, row: AuthSession, current_id: int | None) -> SessionView:
        assert row.id is not None
        return cls(
            id=row.id,
            ip=row.ip or "",
            user_agent=row.user_agent or "",
            created_at=iso(row.created_at) or "",
            last_seen_at=iso(row.last_seen_at) or "",
            current=row.id == current_id,
            channel=row.channel or "web",
        )
