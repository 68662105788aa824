"""Strategies, their versions and environment: add, inspect, change, start, stop, delete.

Users' actions only record intent; the host's reconciler acts on it.
"""

from __future__ import annotations

import hashlib
import shutil
from datetime import datetime

from sqlalchemy import delete as sql_delete
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from algovisor.contracts.sources import check_broker
from algovisor.db.models import Run, Strategy, StrategyVersion
from algovisor.db.queries import current_version
from algovisor.errors import ConflictError, InvalidInputError, NotFoundError
from algovisor.schedule.calendar import INDIA, CalendarBook
from algovisor.schedule.windows import Schedule, evaluate
from algovisor.services.context import ServiceContext
from algovisor.services.validation import (
    MAX_DATABASE_INT,
    NAME_PATTERN,
    validate_name,
    validate_script,
)
from algovisor.services.views import (
    ActionResult,
    RunView,
    ScheduleView,
    StatusRow,
    StrategyView,
)
from algovisor.supervisor.facts import schedule_of
from algovisor.supervisor.states import ACTIVE_RUN_STATUSES, Intent, StrategyState


class StrategyRunningError(ConflictError):
    """The strategy has a live process, so the change is refused."""


# ----- lookups ------------------------------------------------------------------------


def resolve(session: Session, ref: str | int, *, for_update: bool = False) -> Strategy:
    """A strategy by id (digits) or by its unique name."""
    text = str(ref).strip()
    query = select(Strategy)
    is_id = text.isascii() and text.isdigit()
    # A ref no strategy could have (an id past the column's range, a name with
    # characters names cannot hold) is not found; sending it to the database
    # would fail with a driver error instead.
    possible = int(text) <= MAX_DATABASE_INT if is_id else bool(NAME_PATTERN.match(text))
    query = query.where(Strategy.id == int(text)) if is_id else query.where(Strategy.name == text)
    if for_update:
        query = query.with_for_update()
    strategy = session.scalars(query).first() if possible else None
    if strategy is None:
        raise NotFoundError(
            f"no strategy {text!r}",
            detail="`algovisor strategy list` shows the strategies there are.",
        )
    return strategy


def active_run(session: Session, strategy_id: int) -> Run | None:
    return session.scalars(
        select(Run).where(Run.strategy_id == strategy_id, Run.status.in_(ACTIVE_RUN_STATUSES))
    ).first()


def last_ended_run(session: Session, strategy_id: int) -> Run | None:
    return session.scalars(
        select(Run)
        .where(Run.strategy_id == strategy_id, Run.ended_at.is_not(None))
        .order_by(Run.ended_at.desc())
        .limit(1)
    ).first()


def refuse_while_running(session: Session, strategy: Strategy, action: str) -> None:
    run = active_run(session, strategy.id)
    if run is not None:
        pid = f" (pid {run.pid})" if run.pid else ""
        raise StrategyRunningError(
            f"cannot {action} {strategy.name!r} while it is running{pid}",
            detail=f"Stop it first: algovisor strategy stop {strategy.name} --wait",
        )


# ----- views --------------------------------------------------------------------------


def run_view(session: Session, run: Run, now: datetime) -> RunView:
    version = session.get(StrategyVersion, run.version_id)
    end = run.ended_at or now
    return RunView(
        id=run.id,
        version=version.number if version else None,
        status=run.status,
        pid=run.pid,
        host=run.host,
        started_at=run.started_at,
        ended_at=run.ended_at,
        uptime_secs=(end - run.started_at).total_seconds() if run.started_at else None,
        exit_code=run.exit_code,
        exit_signal=run.exit_signal,
        end_reason=run.end_reason,
        message=run.exception_message,
        cpu_percent=run.cpu_percent,
        rss_bytes=run.rss_bytes,
    )


def next_start(strategy: Strategy, now: datetime, book: CalendarBook) -> datetime | None:
    """When a strategy meant to run but outside its window (or held) starts next, in IST."""
    schedule = schedule_of(strategy)
    if strategy.intent != Intent.RUN or schedule is None:
        return None
    calendar = book.calendars.get(schedule.exchange)
    if calendar is None:
        return None
    held = strategy.window_skipped_until
    instant = max(now, held) if held else now
    decision = evaluate(schedule, calendar, instant)
    if decision.open:
        return instant if instant > now else None
    return decision.changes_at.astimezone(INDIA) if decision.changes_at else None


def strategy_view(
    session: Session, strategy: Strategy, now: datetime, book: CalendarBook
) -> StrategyView:
    current = active_run(session, strategy.id)
    last = last_ended_run(session, strategy.id)
    version = current_version(session, strategy.id)
    return StrategyView(
        id=strategy.id,
        name=strategy.name,
        broker=strategy.broker,
        intent=strategy.intent,
        state=strategy.state,
        state_message=strategy.state_message,
        error_message=strategy.error_message,
        backoff_until=strategy.backoff_until,
        restart_count=strategy.restart_count,
        consecutive_failures=strategy.consecutive_failures,
        grace_secs=strategy.grace_secs,
        final_exit_codes=list(strategy.final_exit_codes),
        memory_limit_mb=strategy.memory_limit_mb,
        schedule=ScheduleView.of(schedule_of(strategy)),
        window_skipped_until=strategy.window_skipped_until,
        next_start_at=next_start(strategy, now, book),
        current_version=version.number if version else None,
        created_at=strategy.created_at,
        updated_at=strategy.updated_at,
        current_run=run_view(session, current, now) if current else None,
        last_run=run_view(session, last, now) if last else None,
    )


def list_strategies(ctx: ServiceContext) -> list[StrategyView]:
    now = ctx.clock.now()
    book = ctx.calendars.current()
    with ctx.reading() as session:
        strategies = session.scalars(select(Strategy).order_by(Strategy.id)).all()
        return [strategy_view(session, strategy, now, book) for strategy in strategies]


def show(ctx: ServiceContext, ref: str | int) -> StrategyView:
    with ctx.reading() as session:
        return strategy_view(
            session, resolve(session, ref), ctx.clock.now(), ctx.calendars.current()
        )


def status(ctx: ServiceContext) -> list[StatusRow]:
    rows = []
    for view in list_strategies(ctx):
        run = view.current_run
        last = view.last_run
        rows.append(
            StatusRow(
                id=view.id,
                name=view.name,
                state=view.state,
                pid=run.pid if run else None,
                uptime_secs=run.uptime_secs if run else None,
                restarts=view.restart_count,
                cpu_percent=run.cpu_percent if run else None,
                rss_bytes=run.rss_bytes if run else None,
                last_exit=last.message if last else None,
                message=view.error_message or view.state_message,
            )
        )
    return rows


# ----- creating and changing ----------------------------------------------------------


def add(
    ctx: ServiceContext,
    filename: str,
    content: bytes,
    *,
    name: str | None = None,
    broker: str = "paper",
    intent: Intent = Intent.STOP,
    schedule: Schedule | None = None,
) -> StrategyView:
    """A new strategy with its first version (and `schedule`, if any); stopped until started.

    Everything is checked before anything is stored, and stored in one transaction.
    """
    from algovisor.services.schedules import store_schedule  # schedules imports this module

    safe_filename = validate_script(filename, content, ctx.settings.max_script_bytes)
    chosen = validate_name(name if name is not None else safe_filename.removesuffix(".py"))
    check_broker(broker)
    now = ctx.clock.now()
    try:
        with ctx.transaction() as session:
            if session.scalars(select(Strategy.id).where(Strategy.name == chosen)).first():
                raise _duplicate(chosen)
            strategy = Strategy(
                name=chosen,
                broker=broker,
                intent=intent.value,
                state=StrategyState.STOPPED.value,
                restart_generation=0,
                grace_secs=10.0,
                final_exit_codes=[],
                consecutive_failures=0,
                restart_count=0,
                created_at=now,
                updated_at=now,
            )
            if schedule is not None:
                store_schedule(strategy, schedule)
            session.add(strategy)
            session.flush()
            add_version(session, strategy, safe_filename, content, "uploaded", now)
            session.flush()
            return strategy_view(session, strategy, now, ctx.calendars.current())
    except IntegrityError as error:  # two adds raced for the same name
        raise _duplicate(chosen) from error


def _duplicate(name: str) -> ConflictError:
    return ConflictError(
        f"a strategy named {name!r} already exists",
        detail="Choose another name with --name, or change the existing one with `strategy edit`.",
        field="name",
    )


def add_version(
    session: Session, strategy: Strategy, filename: str, content: bytes, note: str, now: datetime
) -> StrategyVersion:
    latest = session.scalar(
        select(func.max(StrategyVersion.number)).where(StrategyVersion.strategy_id == strategy.id)
    )
    version = StrategyVersion(
        strategy_id=strategy.id,
        number=(latest or 0) + 1,
        filename=filename,
        content=content,
        sha256=hashlib.sha256(content).hexdigest(),
        size_bytes=len(content),
        note=note,
        created_at=now,
    )
    session.add(version)
    strategy.updated_at = now
    return version


def delete(ctx: ServiceContext, ref: str | int) -> str:
    """Remove a stopped strategy, its history and its files."""
    with ctx.transaction() as session:
        strategy = resolve(session, ref, for_update=True)
        refuse_while_running(session, strategy, "delete")
        name, strategy_id = strategy.name, strategy.id
        # Runs point at versions; remove them first, or deleting the versions breaks the
        # foreign key of every strategy that ever ran.
        session.execute(sql_delete(Run).where(Run.strategy_id == strategy_id))
        session.delete(strategy)
    for directory in (ctx.layout.strategy_dir(strategy_id), ctx.layout.log_dir(strategy_id)):
        shutil.rmtree(directory, ignore_errors=True)
    return name


# ----- run settings -------------------------------------------------------------------

MAX_GRACE_SECS = 3600.0
MIN_MEMORY_LIMIT_MB = 16


def configure(
    ctx: ServiceContext,
    ref: str | int,
    *,
    grace_secs: float | None = None,
    final_exit_codes: list[int] | None = None,
    memory_limit_mb: int | None = None,
    broker: str | None = None,
) -> StrategyView:
    """Change how a strategy is run; `memory_limit_mb=0` removes the limit.

    These apply from the next stop or sample, so they may change while it runs;
    the broker may not (the process was started against the old one).
    """
    if grace_secs is not None and not 0.1 <= grace_secs <= MAX_GRACE_SECS:
        raise InvalidInputError(
            f"grace period must be 0.1-{MAX_GRACE_SECS:g} s, got {grace_secs:g}"
        )
    if final_exit_codes is not None and any(not 1 <= code <= 255 for code in final_exit_codes):
        raise InvalidInputError(
            f"final exit codes must be 1-255, got {final_exit_codes}",
            detail="Exit code 0 is always final: a clean exit is never restarted.",
        )
    if memory_limit_mb is not None and 0 < memory_limit_mb < MIN_MEMORY_LIMIT_MB:
        raise InvalidInputError(f"a memory limit below {MIN_MEMORY_LIMIT_MB} MB cannot run Python")
    if memory_limit_mb is not None and memory_limit_mb < 0:
        raise InvalidInputError("a memory limit cannot be negative (0 removes it)")
    if broker is not None:
        check_broker(broker)
    now = ctx.clock.now()
    with ctx.transaction() as session:
        strategy = resolve(session, ref, for_update=True)
        if broker is not None and broker != strategy.broker:
            refuse_while_running(session, strategy, "change the broker of")
            strategy.broker = broker
        if grace_secs is not None:
            strategy.grace_secs = grace_secs
        if final_exit_codes is not None:
            strategy.final_exit_codes = sorted(set(final_exit_codes))
        if memory_limit_mb is not None:
            strategy.memory_limit_mb = memory_limit_mb or None
        strategy.updated_at = now
        return strategy_view(session, strategy, now, ctx.calendars.current())


# ----- intent -------------------------------------------------------------------------


def start(ctx: ServiceContext, ref: str | int) -> ActionResult:
    now = ctx.clock.now()
    with ctx.transaction() as session:
        strategy = resolve(session, ref, for_update=True)
        if strategy.error_message:
            raise ConflictError(
                f"{strategy.name!r} is in error: {strategy.error_message}",
                detail=f"Fix the cause, then: algovisor strategy clear-error {strategy.name}",
            )
        strategy.intent = Intent.RUN.value
        strategy.stop_message = None
        strategy.backoff_until = None
        strategy.window_skipped_until = None
        strategy.updated_at = now
        return ActionResult(
            strategy=strategy_view(session, strategy, now, ctx.calendars.current()),
            message="start requested",
        )


def stop(ctx: ServiceContext, ref: str | int) -> ActionResult:
    now = ctx.clock.now()
    with ctx.transaction() as session:
        strategy = resolve(session, ref, for_update=True)
        strategy.intent = Intent.STOP.value
        strategy.stop_message = (
            f"stopped by the user at {now.astimezone(INDIA):%Y-%m-%d %H:%M:%S %Z}"
        )
        strategy.backoff_until = None
        strategy.window_skipped_until = None
        strategy.updated_at = now
        return ActionResult(
            strategy=strategy_view(session, strategy, now, ctx.calendars.current()),
            message="stop requested",
        )


def restart(ctx: ServiceContext, ref: str | int) -> ActionResult:
    """Replace the running process with a fresh one (or start it if stopped)."""
    now = ctx.clock.now()
    with ctx.transaction() as session:
        strategy = resolve(session, ref, for_update=True)
        if strategy.error_message:
            raise ConflictError(
                f"{strategy.name!r} is in error: {strategy.error_message}",
                detail=f"Fix the cause, then: algovisor strategy clear-error {strategy.name}",
            )
        strategy.intent = Intent.RUN.value
        strategy.stop_message = None
        strategy.backoff_until = None
        strategy.window_skipped_until = None
        strategy.restart_generation += 1
        strategy.updated_at = now
        return ActionResult(
            strategy=strategy_view(session, strategy, now, ctx.calendars.current()),
            message="restart requested",
        )


def clear_error(ctx: ServiceContext, ref: str | int) -> ActionResult:
    now = ctx.clock.now()
    with ctx.transaction() as session:
        strategy = resolve(session, ref, for_update=True)
        refuse_while_running(session, strategy, "clear the error of")
        strategy.error_message = None
        strategy.consecutive_failures = 0
        strategy.backoff_until = None
        strategy.intent = Intent.STOP.value
        strategy.stop_message = "error cleared"
        strategy.state = StrategyState.STOPPED.value
        strategy.updated_at = now
        return ActionResult(
            strategy=strategy_view(session, strategy, now, ctx.calendars.current()),
            message="Error state cleared",
        )
