"""The FastAPI application that Reflex mounts in front of its own routes."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, HTTPException
from fastapi_offline import FastAPIOffline
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from energyapp.api.errors import install_error_handlers
from energyapp.api.routes import admin, auth, chat, health
from energyapp.settings import get_settings

API_PREFIX = "/api"


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


def _not_found_router() -> APIRouter:
    """Last router: any other /api path is a JSON 404, never Reflex's HTML page shell."""
    router = APIRouter(include_in_schema=False)

    @router.api_route("/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
    async def not_found(path: str) -> None:
        raise HTTPException(status_code=404)

    return router


def _new_app() -> FastAPI:
    """With `api_docs` on: Swagger UI, ReDoc and the schema, their assets served from the
    package (fastapi-offline), so no page loads a CDN. Off (production default): none of them
    exists, and those paths get the catch-all's JSON 404."""
    if not get_settings().api_docs_enabled:
        return FastAPI(
            title="EnergyApp API", version="1.0", docs_url=None, redoc_url=None, openapi_url=None
        )
    return FastAPIOffline(
        title="EnergyApp API",
        version="1.0",
        docs_url=f"{API_PREFIX}/docs",
        redoc_url=f"{API_PREFIX}/redoc",
        openapi_url=f"{API_PREFIX}/openapi.json",
        static_url=f"{API_PREFIX}/docs-static",
        swagger_ui_oauth2_redirect_url=f"{API_PREFIX}/docs/oauth2-redirect",
    )


def create_api() -> FastAPI:
    api = _new_app()
    api.add_middleware(NoStore)
    install_error_handlers(api)
    api.include_router(health.router, prefix=API_PREFIX)
    api.include_router(auth.router, prefix=API_PREFIX)
    api.include_router(chat.router, prefix=API_PREFIX)
    api.include_router(admin.router, prefix=API_PREFIX)
    api.include_router(_not_found_router(), prefix=API_PREFIX)
    return api
