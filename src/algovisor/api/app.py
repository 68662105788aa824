"""Builds the FastAPI application from a service context."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import Depends, FastAPI

from algovisor import __version__
from algovisor.api.deps import require_api_key
from algovisor.api.errors import install_error_handlers
from algovisor.api.openalgo import CollapseDoubleSlash
from algovisor.api.routers import (
    contracts,
    events,
    health,
    openalgo_orders,
    openalgo_v1,
    positions,
    python_compat,
    schedules,
    strategies,
    strategy_history,
    ui_auth,
)
from algovisor.errors import UnavailableError
from algovisor.services import paper_broker, users
from algovisor.services.context import ServiceContext
from algovisor.services.paper_account import PaperAccount
from algovisor.web import install_web_ui


def create_app(
    context: ServiceContext,
    wake: Callable[[], None] = lambda: None,
    refresh_contract: Callable[[str], None] | None = None,
    paper: PaperAccount | None = None,
) -> FastAPI:
    app = FastAPI(
        title="algovisor",
        version=__version__,
        docs_url="/api/docs",
        openapi_url="/api/openapi.json",
        redoc_url=None,
    )
    app.state.context = context
    app.state.wake = wake
    app.state.refresh_contract = refresh_contract or _no_host_refresh
    app.state.paper = paper or paper_broker.open_account(context)
    # Per app, not per process: two apps (two databases) may hold equal generations.
    app.state.listings = paper_broker.InstrumentListings()
    app.state.login_limiter = users.LoginLimiter(context.clock)  # per process, in memory
    install_error_handlers(app)
    app.add_middleware(CollapseDoubleSlash)
    app.include_router(health.router)
    app.include_router(openalgo_v1.router)  # its own key check: the paper broker's key
    app.include_router(openalgo_orders.router)
    app.include_router(ui_auth.router)  # the web UI's login: no API key, a session cookie
    app.include_router(strategies.router, dependencies=[Depends(require_api_key)])
    app.include_router(strategy_history.router, dependencies=[Depends(require_api_key)])
    app.include_router(schedules.router, dependencies=[Depends(require_api_key)])
    app.include_router(contracts.router, dependencies=[Depends(require_api_key)])
    app.include_router(positions.router, dependencies=[Depends(require_api_key)])
    app.include_router(python_compat.router, dependencies=[Depends(require_api_key)])
    app.include_router(events.router, dependencies=[Depends(require_api_key)])
    install_web_ui(app)

    @app.get("/api/openapi.json", include_in_schema=False, dependencies=[Depends(require_api_key)])
    def openapi_schema() -> dict[str, Any]:
        return app.openapi()

    return app


def _no_host_refresh(broker: str) -> None:
    raise UnavailableError(
        "no contract manager runs in this process; start the host with `algovisor serve`"
    )
