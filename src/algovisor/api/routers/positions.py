"""Positions: lists, crashes, one with its trail, the broker check, closing by hand, retention."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field

from algovisor.api.deps import Context
from algovisor.services import broker_books
from algovisor.services import position_retention as retention
from algovisor.services import positions as service
from algovisor.services.validation import MAX_DATABASE_INT
from algovisor.services.views import (
    CrashedPositionView,
    PositionCloseView,
    PositionDetailView,
    PositionView,
    PurgeView,
    ReconcileFindingView,
)

router = APIRouter(prefix="/api/positions", tags=["positions"])

Strategy = Annotated[str | None, Query(max_length=128, description="one strategy's")]
Instant = Annotated[
    str | None,
    Query(description="ISO date or date and time; without an offset, IST"),
]
# Ids are INTEGER columns: a larger one is refused here (422), never sent to the database.
PositionId = Annotated[int, Path(ge=1, le=MAX_DATABASE_INT, description="position id")]


@router.get("")
def list_positions(
    ctx: Context,
    status: Annotated[str | None, Query(description="ACTIVE, CRASHED, CLOSED or RECOVERED")] = None,
    strategy: Strategy = None,
) -> list[PositionView]:
    return service.list_positions(ctx, status, strategy)


@router.get("/crashed")
def crashed(
    ctx: Context, strategy: Strategy = None, since: Instant = None, until: Instant = None
) -> list[CrashedPositionView]:
    """Positions a crash in [since, until) affected, as that crash left them; `now` is their
    status now."""
    return service.crashed(
        ctx, strategy, service.parse_time(since, "since"), service.parse_time(until, "until")
    )


@router.post("/reconcile")
def reconcile(ctx: Context) -> list[ReconcileFindingView]:
    """Check every open position against its broker; the verdicts are stored as events."""
    with broker_books.position_books(ctx) as books:
        return service.reconcile(ctx, books)


class PurgeRequest(BaseModel):
    before: date = Field(description="delete positions closed before this day (IST)")


@router.post("/purge")
def purge(ctx: Context, body: PurgeRequest) -> PurgeView:
    """Retention: closed positions before a date and sessions left empty; never open ones."""
    return retention.purge(ctx, body.before)


@router.get("/{position_id}")
def show(ctx: Context, position_id: PositionId) -> PositionDetailView:
    """One position with its session, crashes (with tracebacks), trail and order intents."""
    return service.show(ctx, position_id)


class CloseRequest(BaseModel):
    price: float = Field(description="the price it was closed at, at the broker")
    quantity: int | None = Field(default=None, description="units closed; null: all still open")
    reason: str = Field(
        default=service.DEFAULT_CLOSE_REASON,
        description=f"for the trail, 1-{service.MAX_REASON_CHARS} characters",
    )


@router.post("/{position_id}/close")
def close(ctx: Context, position_id: PositionId, body: CloseRequest) -> PositionCloseView:
    """Record a position closed by hand at the broker; no order is sent.

    409 while a live session holds it (stop the strategy first) or once it is closed.
    """
    return service.close_position(ctx, position_id, body.price, body.reason, body.quantity)
