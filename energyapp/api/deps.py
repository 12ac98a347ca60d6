"""Request dependencies: who is calling (session cookie or bearer token), from which IP, and the
cross-site check for cookie-authenticated writes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from energyapp.auth.client_address import client_address
from energyapp.domain.errors import Forbidden, NotAuthenticated
from energyapp.services import api_tokens, limits, policy, sessions
from energyapp.services.policy import Access
from energyapp.services.views import UserView
from energyapp.settings import get_settings

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


def client_ip(request: Request) -> str:
    """The peer address; X-Forwarded-For only when the peer is a trusted proxy
    (`energyapp.auth.client_address`)."""
    forwarded = ", ".join(request.headers.getlist("x-forwarded-for")) or None
    return client_address(request.client.host if request.client else "", forwarded)


def user_agent(request: Request) -> str:
    return request.headers.get("user-agent", "")[: limits.USER_AGENT]


def _origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""


def allowed_origins() -> set[str]:
    settings = get_settings()
    return {o.rstrip("/") for o in settings.allowed_origins} | {
        _origin_of(str(settings.public_url))
    }


def request_origin(request: Request) -> str:
    origin = request.headers.get("origin")
    if origin and origin != "null":
        return origin.rstrip("/")
    referer = request.headers.get("referer")
    return _origin_of(referer) if referer else ""


def reject_foreign_origin(request: Request, *, required: bool) -> None:
    """403 for a write from another site. `required`: a missing Origin/Referer is refused too
    (cookie-authenticated writes); otherwise only a present, foreign one is (login, register)."""
    origin = request_origin(request)
    if (origin and origin not in allowed_origins()) or (required and not origin):
        raise Forbidden("Solicitud rechazada: origen no permitido.", code="foreign_origin")


@dataclass(frozen=True)
class Caller:
    user: UserView
    session_id: int | None = None  # the login: cookie session, or the one owning the family
    family_id: str | None = None  # set when authenticated by a bearer token
    ip: str = ""


def _unauthenticated(message: str = "Debes iniciar sesión.") -> NotAuthenticated:
    return NotAuthenticated(message, code="not_authenticated")


async def resolve_caller(request: Request) -> Caller:
    ip = client_ip(request)
    authorization = request.headers.get("authorization")
    if authorization is not None:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip() or len(token) > 4096:
            raise _unauthenticated("Token de acceso inválido.")
        bearer = await run_in_threadpool(api_tokens.resolve_bearer, token.strip())
        if bearer is None:
            raise _unauthenticated("Token de acceso inválido o expirado.")
        return Caller(
            user=bearer.user, family_id=bearer.family_id, session_id=bearer.session_id, ip=ip
        )
    cookie = request.cookies.get(get_settings().session_cookie)
    if cookie:
        if request.method not in SAFE_METHODS:
            reject_foreign_origin(request, required=True)
        resolved = await run_in_threadpool(sessions.resolve, cookie)
        if resolved is not None:
            return Caller(user=resolved.user, session_id=resolved.session_id, ip=ip)
    raise _unauthenticated()


async def require_caller(caller: Annotated[Caller, Depends(resolve_caller)]) -> Caller:
    """Everything but 2FA setup, /me and logout waits until required 2FA is set up: the same
    rule (`policy.authorize`) the UI's event gate applies."""
    policy.authorize(caller.user, Access.user)
    return caller


AnyCaller = Annotated[Caller, Depends(resolve_caller)]
CurrentCaller = Annotated[Caller, Depends(require_caller)]
