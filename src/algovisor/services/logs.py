"""Reading a strategy's run logs: the last lines, or a live follow across rotations."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

from sqlalchemy import select

from algovisor.db.models import Run
from algovisor.errors import NotFoundError
from algovisor.services.context import ServiceContext
from algovisor.services.strategies import resolve
from algovisor.supervisor.logfiles import follow, run_log_segments, tail_lines

MAX_TAIL_LINES = 10_000
# Run ids are uuid4 hex; anything else cannot name a run (and some drivers refuse NUL bytes).
RUN_ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,32}")


def _run_for(ctx: ServiceContext, ref: str | int, run_id: str | None) -> tuple[Path, str]:
    with ctx.reading() as session:
        strategy = resolve(session, ref)
        query = select(Run).where(Run.strategy_id == strategy.id)
        if run_id:
            query = query.where(Run.id == run_id)
        possible = not run_id or RUN_ID_PATTERN.fullmatch(run_id)
        run = (
            session.scalars(query.order_by(Run.created_at.desc()).limit(1)).first()
            if possible
            else None
        )
        if run is None:
            which = f"has no run {run_id}" if run_id else "has not run yet"
            raise NotFoundError(f"{strategy.name!r} {which}")
        return ctx.layout.log_dir(strategy.id), run.id


def tail(
    ctx: ServiceContext, ref: str | int, lines: int = 100, run_id: str | None = None
) -> list[str]:
    """The last lines of a run's log (the latest run unless one is named)."""
    log_dir, found_run = _run_for(ctx, ref, run_id)
    count = max(0, min(lines, MAX_TAIL_LINES))
    return [line.rstrip("\n") for line in tail_lines(run_log_segments(log_dir, found_run), count)]


def stream(
    ctx: ServiceContext,
    ref: str | int,
    run_id: str | None = None,
    should_stop: Callable[[], bool] = lambda: False,
) -> Iterator[str]:
    """New lines as they are written; yields "" now and then so callers can check in."""
    log_dir, found_run = _run_for(ctx, ref, run_id)
    return follow(log_dir, found_run, from_end=True, should_stop=should_stop)
