"""Schedules, exchange calendars and `explain`: when strategies run, and why they are not running.

`explain` reads the same facts and calls the same `desired_state` as the
reconciler, so what it says is what the host does.
"""

from __future__ import annotations

from datetime import date, datetime

from algovisor.contracts.readiness import projected_board
from algovisor.db.models import Strategy
from algovisor.errors import InvalidInputError, NotFoundError
from algovisor.schedule.calendar import EXCHANGES, INDIA, ExchangeCalendar
from algovisor.schedule.windows import (
    DAY_NAMES,
    Schedule,
    ScheduleError,
    evaluate,
    format_local,
    make_schedule,
    parse_exchange,
)
from algovisor.services.context import ServiceContext
from algovisor.services.strategies import refuse_while_running, resolve, strategy_view
from algovisor.services.views import (
    ActionResult,
    CalendarDayView,
    CalendarView,
    Explanation,
    ScheduleView,
    StrategyView,
)
from algovisor.supervisor.facts import facts_of, schedule_of
from algovisor.supervisor.states import Intent, desired_state


def checked_schedule(
    start: str, stop: str | None, days: str, exchange: str, special_sessions: bool = True
) -> Schedule:
    """A schedule from a trader's words, or a 400 that says what to write instead."""
    try:
        return make_schedule(start, stop, days, exchange, special_sessions)
    except ScheduleError as error:
        raise InvalidInputError(str(error), field=error.field) from error


def optional_schedule(
    start: str | None, stop: str | None, days: str | None, exchange: str | None
) -> Schedule | None:
    """The schedule a new strategy's form asked for, or None (run on demand) when it gives no
    start. Days default to mon-fri and the exchange to NSE, as `set_schedule`'s do."""
    if exchange is not None:
        try:
            parse_exchange(exchange)
        except ScheduleError as error:
            raise InvalidInputError(str(error), field=error.field) from error
    opens = (start or "").strip()
    if not opens:
        if (stop or "").strip() or (days or "").strip():
            raise InvalidInputError(
                "the schedule has no start time",
                detail="Give the time its window opens (HH:MM, IST), or leave stop and days "
                "empty for a strategy that runs only when started.",
                field="start",
            )
        return None
    return checked_schedule(opens, stop, "mon-fri" if days is None else days, exchange or "NSE")


def store_schedule(strategy: Strategy, schedule: Schedule | None) -> None:
    """Write `schedule` into the strategy's columns (None: manual only); the one writer of them.

    A window skipped under the old schedule is forgotten with it. The caller holds
    the row in its transaction and sets `updated_at`.
    """
    if schedule is None:
        strategy.schedule_start = strategy.schedule_stop = None
        strategy.schedule_days = strategy.schedule_exchange = None
        strategy.schedule_special_sessions = True
    else:
        strategy.schedule_start = f"{schedule.start:%H:%M}"
        strategy.schedule_stop = f"{schedule.stop:%H:%M}" if schedule.stop else None
        strategy.schedule_days = ",".join(DAY_NAMES[day] for day in sorted(schedule.days))
        strategy.schedule_exchange = schedule.exchange
        strategy.schedule_special_sessions = schedule.special_sessions
    strategy.window_skipped_until = None


def set_schedule(ctx: ServiceContext, ref: str | int, schedule: Schedule) -> StrategyView:
    now = ctx.clock.now()
    with ctx.transaction() as session:
        strategy = resolve(session, ref, for_update=True)
        refuse_while_running(session, strategy, "change the schedule of")
        store_schedule(strategy, schedule)
        strategy.updated_at = now
        return strategy_view(session, strategy, now, ctx.calendars.current())


def clear_schedule(ctx: ServiceContext, ref: str | int) -> StrategyView:
    """Make the strategy manual-only: it runs when started and until stopped."""
    now = ctx.clock.now()
    with ctx.transaction() as session:
        strategy = resolve(session, ref, for_update=True)
        refuse_while_running(session, strategy, "change the schedule of")
        store_schedule(strategy, None)
        strategy.updated_at = now
        return strategy_view(session, strategy, now, ctx.calendars.current())


def stop_for_this_window(ctx: ServiceContext, ref: str | int) -> ActionResult:
    """Stop now; the schedule starts it again when its next window opens."""
    now = ctx.clock.now()
    book = ctx.calendars.current()
    with ctx.transaction() as session:
        strategy = resolve(session, ref, for_update=True)
        schedule = schedule_of(strategy)
        if schedule is None:
            raise InvalidInputError(
                f"{strategy.name!r} has no schedule, so it has no next window",
                detail=f"Stop it until you start it: algovisor strategy stop {strategy.name}",
            )
        calendar = book[schedule.exchange]
        window = evaluate(schedule, calendar, now)
        closes = window.changes_at if window.open else None
        if window.open and closes is None:
            raise InvalidInputError(
                f"the window of {strategy.name!r} never closes ({schedule.describe()})",
                detail=f"Stop it until you start it: algovisor strategy stop {strategy.name}",
            )
        strategy.intent = Intent.RUN.value
        strategy.backoff_until = None
        strategy.updated_at = now
        if closes is not None:
            strategy.window_skipped_until = closes
            strategy.stop_message = f"stopped by the user at {format_local(now, calendar)}"
            message = (
                f"stopped until its next window (this one closes {format_local(closes, calendar)})"
            )
        else:
            message = "not inside its window; it starts when the next one opens"
        return ActionResult(
            strategy=strategy_view(session, strategy, now, ctx.calendars.current()), message=message
        )


def parse_instant(text: str | None, ctx: ServiceContext) -> datetime:
    """An ISO instant; without an offset it is read in IST, the exchanges' time zone."""
    if text is None:
        return ctx.clock.now()
    try:
        instant = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInputError(
            f"{text!r} is not a date and time",
            detail="Write it like 2026-01-26T10:00+05:30 (no offset means IST).",
        ) from None
    return instant if instant.tzinfo else instant.replace(tzinfo=INDIA)


def explain(ctx: ServiceContext, ref: str | int, at: datetime | None = None) -> Explanation:
    instant = at or ctx.clock.now()
    book = ctx.calendars.current()
    with ctx.reading() as session:
        strategy = resolve(session, ref)
        name, facts = (
            strategy.name,
            facts_of(strategy, projected_board(session, instant, ctx.clock.now(), book)),
        )
    decision = desired_state(facts, instant, book)
    tz = book[facts.schedule.exchange].tz if facts.schedule else INDIA
    state = "running" if decision.should_run else decision.idle_state.value
    return Explanation(
        strategy=name,
        at=instant.astimezone(tz),
        should_run=decision.should_run,
        state=state,
        reasons=list(decision.reasons),
        warnings=list(decision.warnings),
        next_change_at=decision.next_change_at.astimezone(tz) if decision.next_change_at else None,
        schedule=ScheduleView.of(facts.schedule),
        calendar_problem=book.problem,
        summary=f"{state}: {decision.message}",
    )


def calendar_view(ctx: ServiceContext, exchange: str, year: int | None = None) -> CalendarView:
    code = exchange.strip().upper()
    if code not in EXCHANGES:
        raise NotFoundError(
            f"no calendar for exchange {exchange!r}",
            detail=f"Exchanges with calendars: {', '.join(EXCHANGES)}.",
        )
    book = ctx.calendars.current()
    calendar = book[code]
    shown_year = year or ctx.clock.now().astimezone(calendar.tz).year
    if not 1900 < shown_year < 3000:
        raise InvalidInputError(f"year {shown_year} is out of range; give a year like 2026")
    return CalendarView(
        exchange=code,
        year=shown_year,
        source=calendar.source,
        coverage=calendar.coverage(),
        covered_through=calendar.covered_through,
        year_covered=calendar.covers(date(shown_year, 12, 31)),
        days=_special_days(calendar, shown_year),
        overrides_file=str(ctx.calendars.overrides_path),
        problem=book.problem,
    )


def _special_days(calendar: ExchangeCalendar, year: int) -> list[CalendarDayView]:
    days = [
        CalendarDayView(
            date=day, weekday=f"{day:%a}", kind="holiday", name=name or "(no name in the data)"
        )
        for day, name in calendar.holidays.items()
        if day.year == year and day not in calendar.trading_days
    ]
    days += [
        CalendarDayView(
            date=day,
            weekday=f"{day:%a}",
            kind="session",
            name=session.name,
            opens=f"{session.opens:%H:%M}",
            closes=f"{session.closes:%H:%M}",
        )
        for day, session in calendar.sessions.items()
        if day.year == year
    ]
    days += [
        CalendarDayView(date=day, weekday=f"{day:%a}", kind="trading", name="open by override")
        for day in calendar.trading_days
        if day.year == year
    ]
    return sorted(days, key=lambda item: item.date)


def calendar_problem(ctx: ServiceContext) -> str | None:
    return ctx.calendars.current().problem
