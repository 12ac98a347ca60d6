"""/api/auth: login, tokens, logout, registration, password, sessions and 2FA.

Routes are thin: they validate the body, call the services and shape the response. Sync
handlers run in FastAPI's thread pool, so bcrypt and database work never block the event loop.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request, Response
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, ConfigDict, Field

from energyapp.api.contract import errors, merged, signed_in
from energyapp.api.deps import (
    AnyCaller,
    CurrentCaller,
    client_ip,
    reject_foreign_origin,
    user_agent,
)
from energyapp.api.types import Body, IdPath, Text
from energyapp.auth.redirects import safe_next
from energyapp.domain.errors import NotAuthenticated
from energyapp.services import accounts, api_tokens, limits, login, sessions, two_factor
from energyapp.services.views import SessionView, UserView
from energyapp.settings import get_settings

router = APIRouter(prefix="/auth", tags=["auth"])

Email = Annotated[Text, Field(min_length=3, max_length=limits.EMAIL)]
Password = Annotated[Text, Field(max_length=limits.PASSWORD)]
Code = Annotated[Text, Field(max_length=limits.TOTP_CODE)]
RefreshToken = Annotated[Text, Field(max_length=limits.REFRESH_TOKEN)]


class LoginBody(Body):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"email": "ana@inacapmail.cl", "password": "una frase larga y segura"}]
        }
    )
    email: Email
    password: Password
    totp: Code | None = None


class RefreshBody(Body):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"refresh_token": "1346hfkeJmCMBZ9Uy8zoI213cdDWcfc4C_Jw0hzhVNI"}]
        }
    )
    refresh_token: RefreshToken


class LogoutBody(Body):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"refresh_token": "1346hfkeJmCMBZ9Uy8zoI213cdDWcfc4C_Jw0hzhVNI"}]
        }
    )
    refresh_token: RefreshToken | None = None


class RegisterBody(Body):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "Ana Pérez",
                    "email": "ana.perez@inacapmail.cl",
                    "password": "molino rojo junto al río",
                    "password_confirmation": "molino rojo junto al río",
                }
            ]
        }
    )
    name: Annotated[Text, Field(max_length=limits.NAME_INPUT)]
    email: Email
    password: Password
    password_confirmation: Password


class PasswordBody(Body):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "current_password": "una frase larga y segura",
                    "new_password": "molino rojo junto al río",
                    "new_password_confirmation": "molino rojo junto al río",
                }
            ]
        }
    )
    current_password: Password
    new_password: Password
    new_password_confirmation: Password


class CodeBody(Body):
    model_config = ConfigDict(json_schema_extra={"examples": [{"code": "123456"}]})
    code: Code


class DisableTotpBody(Body):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"password": "una frase larga y segura", "code": "123456"}]}
    )
    password: Password
    code: Code


class TokensOut(BaseModel):
    access_token: str
    refresh_token: str
    token_type: str
    expires_in: int


class LoginOut(TokensOut):
    user: UserView


class TotpSetupOut(BaseModel):
    secret: str
    otpauth_uri: str
    qr_svg_data_uri: str


class RecoveryCodesOut(BaseModel):
    recovery_codes: list[str]


# The codes each kind of route can answer (besides its own): any signed-in caller (`AnyCaller`)
# or one past the 2FA gate (`CurrentCaller`); a write with the cookie also needs this site's Origin.
READ_ANY: dict[int, list[str]] = {401: ["not_authenticated"]}
WRITE_ANY: dict[int, list[str]] = {**READ_ANY, 403: ["foreign_origin"]}
READ: dict[int, list[str]] = {**READ_ANY, 403: ["totp_setup_required"]}
WRITE: dict[int, list[str]] = {**READ_ANY, 403: ["totp_setup_required", "foreign_origin"]}

# OpenAPI links, for clients and for Schemathesis's stateful phase: the tokens of a login are
# used (Authorization: Bearer), refreshed (each refresh token once) and logged out.
_BEARER_FROM_BODY = "Bearer {$response.body#/access_token}"
_USE_TOKENS = {
    "me": {
        "operationId": "me",
        "parameters": {"header.Authorization": _BEARER_FROM_BODY},
        "description": "Usar el `access_token` (Authorization: Bearer).",
    },
    "refresh": {
        "operationId": "refresh",
        "requestBody": {"refresh_token": "$response.body#/refresh_token"},
        "description": "Renovar con el `refresh_token` (cada uno sirve una vez).",
    },
    "logout": {
        "operationId": "logout",
        "parameters": {"header.Authorization": _BEARER_FROM_BODY},
        "requestBody": {"refresh_token": "$response.body#/refresh_token"},
        "description": "Cerrar la sesión de estos tokens.",
    },
}
LOGIN_LINKS = _USE_TOKENS
REFRESH_LINKS = _USE_TOKENS

# Sent with every logout: the browser drops this site's cache (pages seen while signed in),
# cookies and storage (the Reflex client token, so the next tab starts a fresh UI state).
CLEAR_SITE_DATA = '"cache", "cookies", "storage"'


def set_session_cookie(response: Response, token: str) -> None:
    """HttpOnly, SameSite=Lax; over https `__Host-`-prefixed (`Settings.session_cookie`),
    which needs exactly what is set here: Secure, Path=/ and no Domain."""
    settings = get_settings()
    response.set_cookie(
        settings.session_cookie,
        token,
        max_age=settings.session_absolute_hours * 3600,
        path="/",
        httponly=True,
        samesite="lax",
        secure=settings.uses_https,
    )


def clear_session_cookie(response: Response) -> None:
    settings = get_settings()
    response.delete_cookie(
        settings.session_cookie, path="/", httponly=True, samesite="lax", secure=settings.uses_https
    )


@router.post(
    "/login",
    response_model=LoginOut,
    summary="Iniciar sesión (cookie + tokens)",
    responses=merged(
        {200: {"links": LOGIN_LINKS}},
        errors(
            401,
            403,
            422,
            429,
            503,
            codes={
                401: ["totp_required"],
                403: ["foreign_origin"],
                429: ["throttled"],
                503: ["busy"],
            },
        ),
    ),
)
def login_route(body: LoginBody, request: Request, response: Response) -> LoginOut:
    reject_foreign_origin(request, required=False)
    done = login.api_login(
        body.email, body.password, body.totp, client_ip(request), user_agent(request)
    )
    set_session_cookie(response, done.cookie_token)
    return LoginOut(user=done.user, **asdict(done.tokens))


@router.post(
    "/refresh",
    response_model=TokensOut,
    summary="Renovar tokens (rotación)",
    responses=merged({200: {"links": REFRESH_LINKS}}, errors(401, 422)),
)
def refresh_route(body: RefreshBody, request: Request) -> TokensOut:
    pair = api_tokens.rotate(body.refresh_token, client_ip(request))
    return TokensOut(**asdict(pair))


@router.post(
    "/logout",
    status_code=204,
    summary="Cerrar sesión",
    responses=errors(401, 403, 422, codes=WRITE_ANY),
    openapi_extra=signed_in(),
)
def logout_route(caller: AnyCaller, response: Response, body: LogoutBody | None = None) -> None:
    if caller.session_id is not None:
        sessions.logout(caller.session_id, caller.user.id, caller.ip)
        clear_session_cookie(response)
        if caller.family_id is None:  # by the cookie: a browser, wipe what it kept
            response.headers["Clear-Site-Data"] = CLEAR_SITE_DATA
    elif caller.family_id is not None:  # a family issued before logins owned their families
        api_tokens.logout_family(caller.family_id)
        sessions.record_api_logout(caller.user.id, caller.ip)
    response.status_code = 204


@router.get(
    "/me",
    summary="Usuario actual",
    responses=errors(401, codes=READ_ANY),
    openapi_extra=signed_in(),
)
def me_route(caller: AnyCaller) -> UserView:
    return caller.user


@router.post(
    "/register",
    status_code=201,
    summary="Crear cuenta",
    responses=errors(
        403, 409, 422, 429, 503, codes={403: ["foreign_origin"], 429: ["throttled"], 503: ["busy"]}
    ),
)
def register_route(body: RegisterBody, request: Request) -> UserView:
    reject_foreign_origin(request, required=False)
    return accounts.register(
        body.name, body.email, body.password, body.password_confirmation, client_ip(request)
    )


@router.post(
    "/password",
    status_code=204,
    summary="Cambiar contraseña",
    responses=errors(
        401,
        403,
        409,
        422,
        429,
        503,
        codes={**WRITE, 422: ["current_password"], 429: ["throttled"], 503: ["busy"]},
    ),
    openapi_extra=signed_in(),
)
def password_route(body: PasswordBody, caller: CurrentCaller) -> Response:
    accounts.change_password(
        caller.user.id,
        body.current_password,
        body.new_password,
        body.new_password_confirmation,
        caller.ip,
        keep_session_id=caller.session_id,
    )
    return Response(status_code=204)


@router.get(
    "/sessions",
    summary="Sesiones activas",
    responses=errors(401, 403, codes=READ),
    openapi_extra=signed_in(),
)
def list_sessions_route(caller: CurrentCaller) -> list[SessionView]:
    return sessions.list_active(caller.user.id, caller.session_id)


@router.delete(
    "/sessions/{session_id}",
    status_code=204,
    summary="Cerrar una sesión",
    responses=errors(401, 403, 404, 422, codes=WRITE),
    openapi_extra=signed_in(),
)
def revoke_session_route(session_id: IdPath, caller: CurrentCaller) -> Response:
    sessions.revoke(caller.user.id, session_id, caller.ip)
    return Response(status_code=204)


@router.delete(
    "/sessions",
    status_code=204,
    summary="Cerrar todas las demás sesiones",
    responses=errors(401, 403, codes=WRITE),
    openapi_extra=signed_in(),
)
def revoke_other_sessions_route(caller: CurrentCaller) -> Response:
    sessions.revoke_others(caller.user.id, caller.session_id, caller.ip)
    return Response(status_code=204)


@router.post(
    "/totp/setup",
    response_model=TotpSetupOut,
    summary="Iniciar configuración 2FA",
    responses=errors(401, 403, 409, codes={403: ["foreign_origin", "demo_account"], **WRITE_ANY}),
    openapi_extra=signed_in(),
)
def totp_setup_route(caller: AnyCaller) -> TotpSetupOut:
    start = two_factor.begin_setup(caller.user.id)
    return TotpSetupOut(
        secret=start.secret, otpauth_uri=start.uri, qr_svg_data_uri=start.qr_data_uri
    )


@router.post(
    "/totp/confirm",
    response_model=RecoveryCodesOut,
    summary="Activar 2FA",
    responses=errors(
        401, 403, 409, 422, codes={**WRITE_ANY, 403: ["foreign_origin", "demo_account"]}
    ),
    openapi_extra=signed_in(),
)
def totp_confirm_route(body: CodeBody, caller: AnyCaller) -> RecoveryCodesOut:
    return RecoveryCodesOut(
        recovery_codes=two_factor.confirm_setup(caller.user.id, body.code, caller.ip)
    )


@router.post(
    "/totp/disable",
    status_code=204,
    summary="Desactivar 2FA",
    responses=errors(
        401,
        403,
        409,
        422,
        429,
        503,
        codes={
            **WRITE,
            403: ["totp_setup_required", "foreign_origin", "demo_account"],
            429: ["throttled"],
            503: ["busy"],
        },
    ),
    openapi_extra=signed_in(),
)
def totp_disable_route(body: DisableTotpBody, caller: CurrentCaller) -> Response:
    two_factor.disable(
        caller.user.id, body.password, body.code, caller.ip, keep_session_id=caller.session_id
    )
    return Response(status_code=204)


# --- browser-only steps -----------------------------------------------------------------------
@router.get("/session", include_in_schema=False)
def redeem_ticket_route(
    request: Request,
    ticket: Annotated[Text, Query(max_length=limits.TOKEN)] = "",
    next: Annotated[Text, Query(max_length=limits.NEXT_PATH)] = "",
) -> RedirectResponse:
    """The UI checked the credentials over the websocket; this turns its one-time ticket into
    the HttpOnly session cookie and sends the browser on."""
    try:
        token = sessions.redeem_ticket(ticket, client_ip(request), user_agent(request))
    except NotAuthenticated:
        return RedirectResponse("/login?expired=1", status_code=303)
    response = RedirectResponse(safe_next(next), status_code=303)
    set_session_cookie(response, token)
    return response


@router.post("/signout", include_in_schema=False)
def signout_route(
    request: Request, next: Annotated[Text, Form(max_length=limits.NEXT_PATH)] = ""
) -> RedirectResponse:
    """The browser's sign-out: a form POST from this site (a GET does nothing, so a link or an
    image on another site cannot sign anyone out; a foreign or missing Origin/Referer is 403).
    Ends the cookie's session if it is still live (the UI may already have), clears the
    HttpOnly cookie and the site's browser data, then 303 to `next` (a local page) or /login."""
    reject_foreign_origin(request, required=True)
    resolved = sessions.resolve(request.cookies.get(get_settings().session_cookie), touch=False)
    if resolved is not None:
        sessions.logout(resolved.session_id, resolved.user.id, client_ip(request))
    response = RedirectResponse(safe_next(next, default="/login"), status_code=303)
    clear_session_cookie(response)
    response.headers["Clear-Site-Data"] = CLEAR_SITE_DATA
    return response
