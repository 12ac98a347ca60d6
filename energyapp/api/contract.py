"""The API's OpenAPI contract (issue #18): one error body, the codes each status carries, the
responses and security every route declares, the NDJSON events of POST /api/chat, and the
bounds that depend on the settings. `tests/api/test_openapi_contract.py` runs Schemathesis
against the real server to keep this document true; docs/api.md explains it.

- Every error of every /api route is `ErrorBody`: `{"detail": "<mensaje>", "code"?: "..."}`.
  `code` is present only when a client may need to tell one refusal from another of the same
  status; the schema of each status (`Error401`, `Error403`, …) lists the codes it can carry,
  and each route's response description lists those that route can answer.
- A route declares its error statuses with `errors(...)`, and `signed_in` marks the routes that
  take the session cookie or a bearer token (the `security` of the operation).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import models_json_schema

from energyapp.services.conversations import ConversationView, MessageView
from energyapp.services.validation import MAX_ID, MAX_YEAR, MIN_YEAR
from energyapp.settings import Settings, get_settings

# --- the error body ----------------------------------------------------------------------------


class ErrorBody(BaseModel):
    """The body of every error answer of the API."""

    model_config = ConfigDict(extra="forbid")

    detail: str = Field(description="Qué pasó, en español, para mostrarlo a la persona.")
    code: str | None = Field(
        None,
        description="Presente solo cuando un cliente puede necesitar distinguir esta negativa "
        "de otras con el mismo estado; los valores posibles dependen del estado.",
    )


class Error400(ErrorBody):
    """400: the model server could not list its models (only when `allow_model_choice` is on and
    another model than the configured one is requested)."""

    code: Literal["unavailable", "model_missing", "model_error", "timeout", "dropped"] | None = None


class Error401(ErrorBody):
    """401: no valid session or token, or wrong credentials."""

    code: Literal["not_authenticated", "totp_required"] | None = None


class Error403(ErrorBody):
    """403: signed in, but not allowed (role, demo account, pending 2FA, another site)."""

    code: (
        Literal[
            "forbidden", "foreign_origin", "totp_setup_required", "demo_account", "inactive_target"
        ]
        | None
    ) = None


class Error404(ErrorBody):
    """404: the resource does not exist or is not visible to the caller."""

    code: None = None


class Error405(ErrorBody):
    """405: the path exists with other methods (listed in `Allow`)."""

    code: None = None


class Error409(ErrorBody):
    """409: the request conflicts with the resource's current state."""

    code: Literal["busy", "request_id_used", "last_admin"] | None = None


class Error422(ErrorBody):
    """422: the request is malformed or a value is not accepted."""

    code: Literal["current_password", "nul_character"] | None = None


class Error429(ErrorBody):
    """429: too many failed attempts; retry after `Retry-After` seconds."""

    code: Literal["throttled"] | None = None


class Error500(ErrorBody):
    """500: a bug; the traceback is in app.log."""

    code: None = None


class Error503(ErrorBody):
    """503: the database is unavailable, or too many passwords are being checked; retry after
    `Retry-After` seconds."""

    code: Literal["busy", "database_unavailable"] | None = None


ERROR_MODELS: dict[int, type[ErrorBody]] = {
    400: Error400,
    401: Error401,
    403: Error403,
    404: Error404,
    405: Error405,
    409: Error409,
    422: Error422,
    429: Error429,
    500: Error500,
    503: Error503,
}

# What each code means (docs/api.md has the same table).
CODES: dict[str, str] = {
    "unavailable": "el servidor del modelo no responde",
    "model_missing": "el modelo pedido no está instalado",
    "model_error": "el servidor del modelo respondió con un error",
    "timeout": "el servidor del modelo tardó demasiado",
    "dropped": "se cortó la conexión con el servidor del modelo",
    "not_authenticated": "falta la sesión o el token, o ya no es válido",
    "totp_required": "la cuenta tiene 2FA: repetir el login con `totp`",
    "forbidden": "el rol no permite la acción",
    "foreign_origin": "escritura con cookie desde otro sitio (Origin/Referer ajeno o ausente)",
    "totp_setup_required": "la cuenta debe configurar 2FA antes de seguir",
    "demo_account": "las cuentas de demostración no pueden hacerlo",
    "inactive_target": "el usuario de destino está desactivado",
    "busy": "la conversación ya tiene una respuesta en curso (409), o el servidor está "
    "ocupado verificando contraseñas (503)",
    "request_id_used": "ese `request_id` ya se usó en otra conversación",
    "last_admin": "no se puede quitar el último administrador activo",
    "current_password": "la contraseña actual no es correcta",
    "nul_character": "un texto contiene el carácter nulo",
    "throttled": "demasiados intentos fallidos",
    "database_unavailable": "la base de datos no está disponible",
}

_SUMMARIES = {
    400: "El servidor del modelo no pudo atender la elección de modelo.",
    401: "No autenticado: falta la sesión o el token, o no es válido.",
    403: "Sin permiso.",
    404: "No existe o no es visible para quien llama.",
    405: "Método no permitido en esta ruta.",
    409: "Conflicto con el estado actual.",
    422: "Datos inválidos.",
    429: "Demasiados intentos: esperar `Retry-After` segundos.",
    500: "Error interno (un fallo del servidor).",
    503: "No disponible por ahora: reintentar tras `Retry-After` segundos.",
}

_RETRY_AFTER = {
    "Retry-After": {
        "description": "Segundos que conviene esperar antes de reintentar.",
        "required": True,
        "schema": {"type": "integer", "minimum": 1},
    }
}
_REQUEST_ID = {
    "X-Request-ID": {
        "description": "Identificador de la negativa en auth.log (para soporte).",
        "schema": {"type": "string"},
    }
}
_HEADERS: dict[int, dict[str, Any]] = {
    401: {
        "WWW-Authenticate": {
            "description": "`Bearer`.",
            "required": True,
            "schema": {"type": "string"},
        },
        **_REQUEST_ID,
    },
    403: _REQUEST_ID,
    404: _REQUEST_ID,
    429: _RETRY_AFTER,
    503: _RETRY_AFTER,
}


def _codes_of(model: type[BaseModel]) -> set[str]:
    annotation = model.model_fields["code"].annotation
    found: set[str] = set()
    stack: list[Any] = [annotation]
    while stack:
        item = stack.pop()
        args = getattr(item, "__args__", ())
        if isinstance(item, str):
            found.add(item)
        stack.extend(args)
    return found


STATUS_CODES: dict[int, set[str]] = {status: _codes_of(m) for status, m in ERROR_MODELS.items()}


def errors(
    *statuses: int, codes: Mapping[int, Sequence[str]] | None = None
) -> dict[int | str, dict[str, Any]]:
    """FastAPI `responses` for the error statuses a route can answer. `codes`: the codes this
    route can put in each status's body (a subset of that status's schema); 500 is always
    added (a bug), and so is 503 `database_unavailable` (every route reads the database)."""
    codes = codes or {}
    found: dict[int | str, dict[str, Any]] = {}
    for status in sorted({*statuses, 500, 503}):
        route_codes = list(codes.get(status, ()))
        if status == 503 and "database_unavailable" not in route_codes:
            route_codes.append("database_unavailable")
        unknown = set(route_codes) - STATUS_CODES[status]
        if unknown:
            raise ValueError(f"codes {sorted(unknown)} are not declared for status {status}")
        description = _SUMMARIES[status]
        if route_codes:
            listed = "; ".join(f"`{code}`: {CODES[code]}" for code in route_codes)
            description += f" Códigos de esta operación: {listed}."
        entry: dict[str, Any] = {"model": ERROR_MODELS[status], "description": description}
        if status in _HEADERS:
            entry["headers"] = _HEADERS[status]
        found[status] = entry
    return found


def merged(*parts: Mapping[int | str, dict[str, Any]]) -> dict[int | str, dict[str, Any]]:
    result: dict[int | str, dict[str, Any]] = {}
    for part in parts:
        result.update(part)
    return result


# --- who may call: the security of an operation ------------------------------------------------
BEARER = "bearerAuth"
COOKIE = "sessionCookie"
SIGNED_IN_SECURITY: list[dict[str, list[str]]] = [{BEARER: []}, {COOKIE: []}]


def signed_in(**extra: Any) -> dict[str, Any]:
    """`openapi_extra` of a route that needs the caller: the bearer token or the session
    cookie (a write with the cookie also needs this site's Origin or Referer)."""
    return {"security": SIGNED_IN_SECURITY, **extra}


def security_schemes(cookie_name: str) -> dict[str, Any]:
    return {
        BEARER: {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "`access_token` de POST /api/auth/login o /api/auth/refresh.",
        },
        COOKIE: {
            "type": "apiKey",
            "in": "cookie",
            "name": cookie_name,
            "description": "La cookie HttpOnly de sesión del navegador. Las escrituras con "
            "ella exigen un Origin o Referer de este sitio (403 `foreign_origin`).",
        },
    }


# --- POST /api/chat: the NDJSON events -----------------------------------------------------------
class StartEvent(BaseModel):
    """First line: the turn is saved (the user's message and an empty answer)."""

    type: Literal["start"]
    conversation_id: int
    title: str
    user_message_id: int
    message_id: int = Field(description="El id de la respuesta que se está generando.")
    model: str


class DeltaEvent(BaseModel):
    """A piece of the answer, in order; the answer is the concatenation of every `text`."""

    type: Literal["delta"]
    text: str


class DoneStats(BaseModel):
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_duration_ms: int | None = None
    first_token_ms: int | None = None


class DoneEvent(BaseModel):
    """Last line of an answer that ended without an error. `status` is how it ended;
    `replayed` is true when a retried `request_id` sent a saved answer again."""

    type: Literal["done"]
    status: Literal["complete", "stopped", "interrupted", "error"]
    stats: DoneStats
    replayed: bool = False


class ErrorEvent(BaseModel):
    """Last line of an answer that ended with an error (the HTTP status was already 200).
    `partial` is the text that arrived before it, and is saved."""

    type: Literal["error"]
    code: Literal[
        "unavailable",
        "model_missing",
        "model_error",
        "timeout",
        "dropped",
        "database_unavailable",
        "internal_error",
    ]
    message: str = Field(description="En español, para mostrarlo.")
    partial: str


CHAT_EVENTS: tuple[type[BaseModel], ...] = (StartEvent, DeltaEvent, DoneEvent, ErrorEvent)
NDJSON = "application/x-ndjson"


def _event_type(event: type[BaseModel]) -> str:
    """The `type` an event model's Literal allows (`start`, `delta`, …)."""
    values: tuple[object, ...] = getattr(event.model_fields["type"].annotation, "__args__", ())
    return str(values[0])


def chat_responses() -> dict[int | str, dict[str, Any]]:
    """200: an NDJSON stream, one event per line. OpenAPI 3.1 has no keyword for the items of
    a stream, so the schema reads the stream as an array of its lines (as OpenAPI 3.2 reads
    the `schema` of a sequential media type): each item is one of the events."""
    refs = {_event_type(event): f"#/components/schemas/{event.__name__}" for event in CHAT_EVENTS}
    return {
        200: {
            "description": "Un evento JSON por línea (el esquema describe la secuencia de "
            "líneas): `start`, luego `delta`…, y al final `done` o `error`. El estado HTTP ya "
            "se envió: un fallo durante la respuesta llega como evento `error`.",
            "content": {
                NDJSON: {
                    "schema": {
                        "type": "array",
                        "minItems": 2,
                        "items": {
                            "oneOf": [{"$ref": ref} for ref in refs.values()],
                            "discriminator": {"propertyName": "type", "mapping": refs},
                        },
                    }
                }
            },
        }
    }


# --- GET /api/conversations/{id}/export ----------------------------------------------------------
class ExportJson(BaseModel):
    """`format=json`: the conversation and its messages."""

    conversation: ConversationView
    messages: list[MessageView]


def export_responses() -> dict[int | str, dict[str, Any]]:
    attachment = {
        "Content-Disposition": {
            "description": 'attachment; filename="conversacion-<id>.<md|json>"',
            "required": True,
            "schema": {"type": "string"},
        }
    }
    return {
        200: {
            "description": "La conversación como archivo: Markdown (`format=md`) o JSON "
            "(`format=json`).",
            "headers": attachment,
            "content": {
                "text/markdown": {"schema": {"type": "string"}},
                "application/json": {"schema": {"$ref": "#/components/schemas/ExportJson"}},
            },
        }
    }


# --- bounds of text fields that the document states (validation stays in the services) ----------
# A non-blank line with no control character but tab and newline (services.validation.clean_text).
_LINE_CHAR = "[^\\u0000-\\u0008\\u000b-\\u001f\\u007f-\\u009f\\u2028\\u2029]"
_VISIBLE = "[^\\s\\u0000-\\u001f\\u007f-\\u009f\\u2028\\u2029]"
ONE_LINE = f"^{_LINE_CHAR}*{_VISIBLE}{_LINE_CHAR}*$"
NOT_BLANK = "^[^\\u0000]*[^\\s\\u0000][^\\u0000]*$"
REQUEST_ID = "^[\\w.:-]{1,64}$"
MODEL = "^[\\w.:/-]{1,100}$"
DAY = f"^({MIN_YEAR // 100}[0-9]{{2}}|{MAX_YEAR})-[0-9]{{2}}-[0-9]{{2}}$"
assert MIN_YEAR == 2000 and MAX_YEAR == 2100  # DAY spells these years out


# --- GET /api/health -------------------------------------------------------------------------
class HealthPart(BaseModel):
    """One dependency; Ollama's part also names its `model`."""

    model_config = ConfigDict(extra="allow")

    ok: bool
    detail: str


class HealthReport(BaseModel):
    status: Literal["ok", "degraded"]
    failing: list[Literal["database", "ollama", "logs"]]
    database: HealthPart
    ollama: HealthPart
    logs: HealthPart


def health_responses() -> dict[int | str, dict[str, Any]]:
    return {
        200: {"model": HealthReport, "description": "Todo responde."},
        503: {
            "model": HealthReport,
            "description": "Algo falla: `failing` dice qué (para balanceadores y operación).",
        },
    }


# Models no route returns as JSON, added to the document's components.
DOCUMENTED_MODELS: tuple[type[BaseModel], ...] = (*CHAT_EVENTS, ExportJson)


# --- the document ------------------------------------------------------------------------------
def _string_branch(schema: dict[str, Any]) -> dict[str, Any]:
    """The string schema of an optional field (`anyOf: [string, null]`), or the schema itself."""
    for branch in schema.get("anyOf", []):
        if branch.get("type") == "string":
            return branch
    return schema


_BOUNDS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")


def _exact_bounds(node: object) -> None:
    """FastAPI's OpenAPI model stores number bounds as floats, so the schemas of body models
    said `maximum: 9.223372036854776e+18` (2^63, one past the largest id): integral bounds
    become integers again, and 2^63 the id bound it was rounded from."""
    if isinstance(node, dict):
        for key in _BOUNDS:
            value = node.get(key)
            if isinstance(value, float) and value.is_integer():
                node[key] = MAX_ID if value == float(MAX_ID) else int(value)
                if abs(node[key]) > 2**53 and node[key] != MAX_ID:
                    raise ValueError(f"{key} {value} lost its precision in the document")
        for child in node.values():
            _exact_bounds(child)
    elif isinstance(node, list):
        for child in node:
            _exact_bounds(child)


def complete(document: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """What FastAPI cannot derive from the routes: the security schemes, the models that only
    the NDJSON stream and the export use, and the bounds that come from the settings."""
    _exact_bounds(document)
    components = document.setdefault("components", {})
    components["securitySchemes"] = security_schemes(settings.session_cookie)
    schemas = components.setdefault("schemas", {})
    models: list[tuple[type[BaseModel], Literal["serialization"]]] = [
        (model, "serialization") for model in DOCUMENTED_MODELS
    ]
    _, extra = models_json_schema(models, ref_template="#/components/schemas/{model}")
    for name, schema in extra.get("$defs", {}).items():
        schemas.setdefault(name, schema)

    chat = schemas["ChatBody"]["properties"]
    chat["message"]["maxLength"] = settings.max_message_chars
    model = _string_branch(chat["model"])
    if settings.allow_model_choice:
        model["pattern"] = MODEL
    else:  # only the configured model (or none: the same)
        model.pop("pattern", None)
        model["enum"] = [settings.ollama_model]
        chat["model"]["description"] = "Solo el modelo configurado en este servidor."
    for body, fields in (
        ("RegisterBody", ("password", "password_confirmation")),
        ("PasswordBody", ("new_password", "new_password_confirmation")),
    ):
        for field in fields:
            schemas[body]["properties"][field]["minLength"] = settings.password_min_length
    return document


def install(api: FastAPI) -> None:
    """Serve the completed document at the app's `openapi_url` (built once, on first use)."""
    generate = api.openapi

    def openapi() -> dict[str, Any]:
        if api.openapi_schema is None:
            api.openapi_schema = complete(generate(), get_settings())
        return api.openapi_schema

    api.openapi = openapi  # type: ignore[method-assign]
