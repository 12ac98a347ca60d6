"""The FastAPI application that Reflex mounts in front of its own routes."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, HTTPException
from fastapi_offline import FastAPIOffline

from energyapp.api.errors import install_error_handlers
from energyapp.api.routes import admin, auth, chat, health

API_PREFIX = "/api"


def _not_found_router() -> APIRouter:
    """Last router: any other /api path is a JSON 404, never Reflex's HTML page shell."""
    router = APIRouter(include_in_schema=False)

    @router.api_route("/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
    async def not_found(path: str) -> None:
        raise HTTPException(status_code=404)

    return router


def create_api() -> FastAPI:
    # Docs assets are served from the package (fastapi-offline): no page loads a CDN.
    api = FastAPIOffline(
        title="EnergyApp API",
        version="1.0",
        docs_url=f"{API_PREFIX}/docs",
        redoc_url=f"{API_PREFIX}/redoc",
        openapi_url=f"{API_PREFIX}/openapi.json",
        static_url=f"{API_PREFIX}/docs-static",
        swagger_ui_oauth2_redirect_url=f"{API_PREFIX}/docs/oauth2-redirect",
    )
    install_error_handlers(api)
    api.include_router(health.router, prefix=API_PREFIX)
    api.include_router(auth.router, prefix=API_PREFIX)
    api.include_router(chat.router, prefix=API_PREFIX)
    api.include_router(admin.router, prefix=API_PREFIX)
    api.include_router(_not_found_router(), prefix=API_PREFIX)
    return api
