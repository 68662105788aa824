"""Positions: lists, crashes, one with its trail, the broker check, recovery, retention."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from algovisor.api.deps import Context
from algovisor.services import positions as service
from algovisor.services.views import (
    CrashedPositionView,
    PositionActionView,
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
    """Positions a crash in [since, until) affected, as stored now, with that crash."""
    return service.crashed(
        ctx, strategy, service.parse_time(since, "since"), service.parse_time(until, "until")
    )


@router.post("/reconcile")
def reconcile(ctx: Context) -> list[ReconcileFindingView]:
    """Check every open position against its broker; the verdicts are stored as events."""
    return service.reconcile(ctx, service.no_adapters)


class PurgeRequest(BaseModel):
    before: date = Field(description="delete positions closed before this day (IST)")


@router.post("/purge")
def purge(ctx: Context, body: PurgeRequest) -> PurgeView:
    """Retention: closed positions before a date and sessions left empty; never open ones."""
    return service.purge(ctx, body.before)


@router.get("/{position_id}")
def show(ctx: Context, position_id: int) -> PositionDetailView:
    return service.show(ctx, position_id)


class RecoveredRequest(BaseModel):
    notes: str | None = Field(default=None, max_length=2000)


@router.post("/{position_id}/recovered")
def recovered(
    ctx: Context, position_id: int, body: RecoveredRequest | None = None
) -> PositionActionView:
    """Mark a crashed position recovered by hand."""
    return service.mark_recovered(ctx, position_id, body.notes if body else None)
