"""The API's authorization failures in auth.log (`services/security_log.py`): who, from where,
and a request id the client also gets in `X-Request-ID`."""

from __future__ import annotations

import re

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from energyapp.api.deps import client_ip, user_agent
from energyapp.domain.errors import ServiceError
from energyapp.services import security_log
from energyapp.settings import get_settings

LOGGED_STATUSES = frozenset({401, 403, 404})
REQUEST_ID_HEADER = "X-Request-ID"


def _reason(error: ServiceError) -> str:
    """The error's code, else its class in snake case (NotFound: not_found)."""
    return error.code or re.sub(r"(?<!^)(?=[A-Z])", "_", type(error).__name__).lower()


def _bearer(request: Request) -> str | None:
    scheme, _, token = (request.headers.get("authorization") or "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip()[:4096] or None


async def log_refusal(request: Request, error: ServiceError) -> str:
    """Write the line (unless the rate limit holds it back); returns the request id."""
    request_id = security_log.new_request_id()
    ip = client_ip(request)
    if not security_log.admit(ip):
        return request_id
    try:
        cookie = request.cookies.get(get_settings().session_cookie)
        bearer = _bearer(request)
        user_id, auth = (
            await run_in_threadpool(security_log.identify, bearer, cookie)
            if bearer or cookie
            else (None, None)
        )
    except Exception:  # noqa: BLE001 - a malformed header must not turn a 4xx into a 500
        user_id, auth = None, "unreadable"
    security_log.write(
        channel="api",
        reason=_reason(error),
        ip=ip,
        user_agent=user_agent(request),
        request_id=request_id,
        user_id=user_id,
        status=error.status,
        method=request.method,
        path=request.url.path,
        auth=auth,
    )
    return request_id
