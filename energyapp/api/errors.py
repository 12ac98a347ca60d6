"""Error responses: always JSON `{"detail": "<mensaje en español>", "code"?: "..."}` (the
OpenAPI document's `ErrorBody`, energyapp/api/contract.py), never a traceback.

A database that cannot be used now (unreachable, stalled, read-only, locked, full) is a 503
with `Retry-After` and `code: database_unavailable` on every route, never a 500: the driver's
errors are classified here, in one place, by `services.outages` (a service may also raise
`DatabaseUnavailable`). Bugs (an IntegrityError a service did not expect, bad SQL) stay 500.
Streams already started cannot change status: they end with an error line instead
(api/routes/chat.py)."""

from __future__ import annotations

import logging
import sqlite3
from http import HTTPStatus

import psycopg2
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse

from energyapp.api import refusals
from energyapp.domain.errors import (
    DATABASE_UNAVAILABLE,
    Busy,
    DatabaseUnavailable,
    NotAuthenticated,
    ServiceError,
    Throttled,
)
from energyapp.logging_setup import APP_LOGGER
from energyapp.services.outages import database_unavailable, log_unavailable
from energyapp.settings import get_settings

log = logging.getLogger(APP_LOGGER)
# Errors that may mean "the database is unavailable" (503) rather than a bug (500).
DATABASE_ERRORS: tuple[type[Exception], ...] = (SQLAlchemyError, sqlite3.Error, psycopg2.Error)

_STATUS_MESSAGES = {
    400: "Solicitud inválida.",
    401: "Debes iniciar sesión.",
    403: "No tienes permiso para esta acción.",
    404: "Recurso no encontrado.",
    405: "Método no permitido.",
    413: "La solicitud es demasiado grande.",
    422: "Datos inválidos.",
    429: "Demasiados intentos. Espera un momento e inténtalo de nuevo.",
}


_UNPARSABLE_BODY = "There was an error parsing the body"  # fastapi.routing, status 400
_BAD_BODY = "El cuerpo de la solicitud no es válido."


def _describe_validation(exc: RequestValidationError) -> str:
    errors = exc.errors()
    if not errors:
        return _STATUS_MESSAGES[422]
    first = errors[0]
    if first.get("type") == "json_invalid":
        return "El cuerpo de la solicitud no es JSON válido."
    field = ".".join(str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path"))
    kind = first.get("type", "")
    if kind == "missing":
        return f"Falta el campo «{field}»." if field else "Falta el cuerpo de la solicitud."
    if kind.startswith("string_too_long") or kind == "too_long":
        return f"El campo «{field}» es demasiado largo."
    if kind == "nul_character":  # energyapp.api.types.Text
        return f"El campo «{field}» contiene un carácter nulo (\\0), que no se admite."
    return f"El campo «{field}» no es válido." if field else _STATUS_MESSAGES[422]


# Handlers take `Exception`, as Starlette's registry types them; each is registered for one class.
async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail
    if exc.status_code == 400 and detail == _UNPARSABLE_BODY:
        # FastAPI's answer to a body it cannot decode (not UTF-8, a broken form): the same 422
        # as any other invalid body, in Spanish.
        return JSONResponse({"detail": _BAD_BODY}, status_code=422)
    if not isinstance(detail, str) or detail == HTTPStatus(exc.status_code).phrase:
        # Starlette's default English phrase: answer in Spanish instead.
        detail = _STATUS_MESSAGES.get(exc.status_code, "Error en la solicitud.")
    return JSONResponse(
        {"detail": detail}, status_code=exc.status_code, headers=getattr(exc, "headers", None)
    )


async def _service_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ServiceError)
    body: dict[str, object] = {"detail": exc.message}
    if exc.code:
        body["code"] = exc.code
    headers = {}
    if isinstance(exc, Throttled | Busy | DatabaseUnavailable):
        headers["Retry-After"] = str(exc.retry_after)
    elif isinstance(exc, NotAuthenticated):
        headers["WWW-Authenticate"] = "Bearer"
    if exc.status in refusals.LOGGED_STATUSES:  # authorization failures go to auth.log
        headers[refusals.REQUEST_ID_HEADER] = await refusals.log_refusal(request, exc)
    return JSONResponse(body, status_code=exc.status, headers=headers)


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return JSONResponse({"detail": _describe_validation(exc)}, status_code=422)


def database_unavailable_response(exc: BaseException, where: str) -> JSONResponse:
    """503 + Retry-After and the Spanish message, for any error that means the database cannot
    be used now (unreachable, stalled, read-only, locked, full: services.outages)."""
    log_unavailable(where, exc)
    retry_after = str(get_settings().db_retry_after_seconds)
    return JSONResponse(
        {"detail": DATABASE_UNAVAILABLE, "code": "database_unavailable"},
        status_code=503,
        headers={"Retry-After": retry_after},
    )


async def _database_error(request: Request, exc: Exception) -> JSONResponse:
    """A SQLAlchemy or DB-API error from a route or a service: 503 when the database is
    unavailable. A bug re-raises: the 500 handler below answers it and logs the traceback."""
    if not database_unavailable(exc):
        raise exc
    return database_unavailable_response(exc, request.url.path)


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    if database_unavailable(exc):  # wrapped where the handlers above did not see it
        return database_unavailable_response(exc, request.url.path)
    log.exception("unhandled_api_error path=%s", request.url.path)
    return JSONResponse(
        {"detail": "Error interno del servidor. Inténtalo de nuevo más tarde."}, status_code=500
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(ServiceError, _service_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    for database_error in DATABASE_ERRORS:
        app.add_exception_handler(database_error, _database_error)
    app.add_exception_handler(Exception, _unexpected_error)
