"""The FastAPI application that Reflex mounts in front of its own routes."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, HTTPException
from fastapi.routing import APIRoute
from fastapi_offline import FastAPIOffline
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from energyapp.api import contract
from energyapp.api.errors import install_error_handlers
from energyapp.api.routes import admin, auth, chat, health
from energyapp.settings import get_settings

API_PREFIX = "/api"
API_DESCRIPTION = (
    'La API JSON de EnergyApp. Cada error responde `{"detail": "<mensaje>", "code"?: '
    '"..."}` (`ErrorBody`); los códigos de cada estado están en su esquema y en la '
    "descripción de cada respuesta. Autenticación: `Authorization: Bearer <access_token>` "
    "(POST /api/auth/login) o la cookie de sesión del navegador. Guía: docs/api.md."
)


class NoStore:
    """`Cache-Control: no-store` and `Pragma: no-cache` on every /api response: nearly all of
    them are per-user data, tokens, TOTP secrets or recovery codes, and an /api path that is
    public today (health, 404s) gains nothing from a cache. Only the docs' static assets
    (Swagger UI's JS and CSS) may be cached. A route that sets its own Cache-Control keeps it.
    Pages and Reflex's routes, mounted inside this app, pass untouched."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not (path == API_PREFIX or path.startswith(API_PREFIX + "/")) or path.startswith(
            f"{API_PREFIX}/docs-static/"
        ):
            await self.app(scope, receive, send)
            return

        async def send_no_store(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers") or [])
                present = {name.lower() for name, _ in headers}
                if b"cache-control" not in present:
                    headers += [(b"cache-control", b"no-store"), (b"pragma", b"no-cache")]
                    message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_no_store)


def _fallback(routers: list[APIRouter]) -> ASGIApp:
    """Mounted last at /api, so it takes any other /api request, whatever its method (TRACE,
    QUERY, …): 405 with `Allow` when the path exists with other methods (what Starlette
    answers, which a catch-all route would hide), else 404; JSON either way, never Reflex's
    HTML page shell. A CORS preflight never gets here: the CORS middleware answers it."""
    known = [
        (compile_path(API_PREFIX + route.path)[0], frozenset(route.methods or ()))
        for router in routers
        for route in router.routes
        if isinstance(route, APIRoute)
    ]

    async def not_found(scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        allowed = set().union(*(methods for regex, methods in known if regex.match(path)))
        if allowed:
            raise HTTPException(status_code=405, headers={"Allow": ", ".join(sorted(allowed))})
        raise HTTPException(status_code=404)

    return not_found


def _operation_id(route: APIRoute) -> str:
    """The OpenAPI operationId: the route function's name (`login`, `list_users`, …)."""
    return route.name.removesuffix("_route")


def _new_app() -> FastAPI:
    """With `api_docs` on: Swagger UI, ReDoc and the schema, their assets served from the
    package (fastapi-offline), so no page loads a CDN. Off (production default): none of them
    exists, and those paths get the catch-all's JSON 404."""
    if not get_settings().api_docs_enabled:
        return FastAPI(
            title="EnergyApp API",
            version="1.0",
            docs_url=None,
            redoc_url=None,
            openapi_url=None,
            generate_unique_id_function=_operation_id,
        )
    api = FastAPIOffline(
        title="EnergyApp API",
        version="1.0",
        docs_url=f"{API_PREFIX}/docs",
        redoc_url=f"{API_PREFIX}/redoc",
        openapi_url=f"{API_PREFIX}/openapi.json",
        static_url=f"{API_PREFIX}/docs-static",
        swagger_ui_oauth2_redirect_url=f"{API_PREFIX}/docs/oauth2-redirect",
        generate_unique_id_function=_operation_id,
        description=API_DESCRIPTION,
    )
    contract.install(api)
    return api


def create_api() -> FastAPI:
    api = _new_app()
    api.add_middleware(NoStore)
    install_error_handlers(api)
    routers = [health.router, auth.router, chat.router, admin.router]
    for router in routers:
        api.include_router(router, prefix=API_PREFIX)
    api.mount(API_PREFIX, _fallback(routers))  # the handlers above answer its errors
    return api
