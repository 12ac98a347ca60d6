"""Error responses: always JSON `{"detail": "<mensaje en español>"}`, never a traceback."""

from __future__ import annotations

import logging
from http import HTTPStatus

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse

from energyapp.logging_setup import APP_LOGGER
from energyapp.services.errors import NotAuthenticated, ServiceError, Throttled

log = logging.getLogger(APP_LOGGER)

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
        return f"Falta el campo «{field}»."
    if kind.startswith("string_too_long"):
        return f"El campo «{field}» es demasiado largo."
    return f"El campo «{field}» no es válido." if field else _STATUS_MESSAGES[422]


async def _http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
    detail = exc.detail
    if not isinstance(detail, str) or detail == HTTPStatus(exc.status_code).phrase:
        # Starlette's default English phrase: answer in Spanish instead.
        detail = _STATUS_MESSAGES.get(exc.status_code, "Error en la solicitud.")
    return JSONResponse({"detail": detail}, status_code=exc.status_code,
                        headers=getattr(exc, "headers", None))


async def _service_error(_request: Request, exc: ServiceError) -> JSONResponse:
    body: dict[str, object] = {"detail": exc.message}
    if exc.code:
        body["code"] = exc.code
    headers = {}
    if isinstance(exc, Throttled):
        headers["Retry-After"] = str(exc.retry_after)
    elif isinstance(exc, NotAuthenticated):
        headers["WWW-Authenticate"] = "Bearer"
    return JSONResponse(body, status_code=exc.status, headers=headers)


async def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
    return JSONResponse({"detail": _describe_validation(exc)}, status_code=422)


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled_api_error path=%s", request.url.path)
    return JSONResponse(
        {"detail": "Error interno del servidor. Inténtalo de nuevo más tarde."}, status_code=500
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(ServiceError, _service_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unexpected_error)
