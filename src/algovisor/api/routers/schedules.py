"""Schedules, `explain` and exchange calendars."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from algovisor.api.deps import Context, Wake
from algovisor.services import schedules as service
from algovisor.services.views import CalendarView, Explanation, StrategyView

router = APIRouter(prefix="/api", tags=["schedules"])


class ScheduleRequest(BaseModel):
    start: str = Field(description="HH:MM, exchange time (IST)", examples=["09:15"])
    stop: str | None = Field(None, description="HH:MM; leave out to run around the clock")
    days: str = Field("mon-fri", examples=["mon-fri", "mon,wed,fri", "daily"])
    exchange: str = Field("NSE", description="NSE, BSE, NFO, BFO, CDS, MCX or CRYPTO")
    special_sessions: bool = Field(True, description="also trade special sessions (Muhurat)")


class CalendarSummary(BaseModel):
    exchange: str
    source: str
    coverage: str


class CalendarsView(BaseModel):
    calendars: list[CalendarSummary]
    overrides_file: str
    problem: str | None


@router.put("/strategies/{ref}/schedule")
def set_schedule(ctx: Context, wake: Wake, ref: str, body: ScheduleRequest) -> StrategyView:
    schedule = service.checked_schedule(
        body.start, body.stop, body.days, body.exchange, body.special_sessions
    )
    view = service.set_schedule(ctx, ref, schedule)
    wake()
    return view


@router.delete("/strategies/{ref}/schedule")
def clear_schedule(ctx: Context, wake: Wake, ref: str) -> StrategyView:
    view = service.clear_schedule(ctx, ref)
    wake()
    return view


@router.get("/strategies/{ref}/explain")
def explain(
    ctx: Context,
    ref: str,
    at: Annotated[str | None, Query(description="ISO instant; no offset means IST")] = None,
) -> Explanation:
    return service.explain(ctx, ref, service.parse_instant(at, ctx))


@router.get("/calendars")
def calendars(ctx: Context) -> CalendarsView:
    book = ctx.calendars.current()
    return CalendarsView(
        calendars=[
            CalendarSummary(exchange=code, source=calendar.source, coverage=calendar.coverage())
            for code, calendar in book.calendars.items()
        ],
        overrides_file=str(ctx.calendars.overrides_path),
        problem=book.problem,
    )


@router.get("/calendars/{exchange}")
def calendar(
    ctx: Context, exchange: str, year: Annotated[int | None, Query(ge=1901, le=2999)] = None
) -> CalendarView:
    return service.calendar_view(ctx, exchange, year)
