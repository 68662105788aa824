"""Builds the FastAPI application from a service context."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import Depends, FastAPI

from algovisor import __version__
from algovisor.api.deps import require_api_key
from algovisor.api.errors import install_error_handlers
from algovisor.api.routers import health, schedules, strategies
from algovisor.services.context import ServiceContext


def create_app(context: ServiceContext, wake: Callable[[], None] = lambda: None) -> FastAPI:
    app = FastAPI(
        title="algovisor",
        version=__version__,
        docs_url="/api/docs",
        openapi_url="/api/openapi.json",
        redoc_url=None,
    )
    app.state.context = context
    app.state.wake = wake
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(strategies.router, dependencies=[Depends(require_api_key)])
    app.include_router(schedules.router, dependencies=[Depends(require_api_key)])

    @app.get("/api/openapi.json", include_in_schema=False, dependencies=[Depends(require_api_key)])
    def openapi_schema() -> dict[str, Any]:
        return app.openapi()

    return app
