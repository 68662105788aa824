"""A strategy's past, as its web page shows it: version diffs, runs and resource usage."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from algovisor.api.deps import Context
from algovisor.services import history as service
from algovisor.services.validation import MAX_DATABASE_INT
from algovisor.services.views import DiffView, ResourceSampleView, RunView

router = APIRouter(prefix="/api", tags=["strategies"])


@router.get("/strategies/{ref}/diff")
def diff(
    ctx: Context,
    ref: str,
    from_version: Annotated[
        int | None,
        Query(
            alias="from",
            ge=1,
            le=MAX_DATABASE_INT,
            description="the older version; default: the one before `to`",
        ),
    ] = None,
    to_version: Annotated[
        int | None,
        Query(alias="to", ge=1, le=MAX_DATABASE_INT, description="default: the current version"),
    ] = None,
) -> DiffView:
    """A unified diff between two versions of the script: `{"from", "to", "lines"}`."""
    return service.diff(ctx, ref, from_version, to_version)


@router.get("/strategies/{ref}/runs")
def runs(
    ctx: Context, ref: str, limit: Annotated[int, Query(ge=1, le=service.MAX_RUNS)] = 50
) -> list[RunView]:
    """The latest runs, newest first: start, end, how each ended, duration, version."""
    return service.runs(ctx, ref, limit)


@router.get("/strategies/{ref}/resources")
def resources(
    ctx: Context,
    ref: str,
    hours: Annotated[int, Query(ge=1, le=service.MAX_HISTORY_HOURS)] = 6,
) -> list[ResourceSampleView]:
    """CPU and memory of the strategy's runs over the last hours, oldest first."""
    return service.resources(ctx, ref, hours)
