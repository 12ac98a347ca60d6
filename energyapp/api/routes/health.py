"""GET /api/health: database and Ollama status for load balancers and operators."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import JSONResponse

from energyapp.api.contract import health_responses
from energyapp.services.health import check_health
from energyapp.settings import get_settings

router = APIRouter(tags=["health"])


@router.get(
    "/health",
    summary="Estado de la base de datos y de Ollama",
    response_class=JSONResponse,
    responses=health_responses(),
)
async def health() -> JSONResponse:
    report = await check_health(get_settings())
    return JSONResponse(report.as_dict(), status_code=200 if report.ok else 503)
