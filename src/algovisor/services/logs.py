"""Reading a strategy's run logs: the last lines, a search from the end, or a live follow
across rotations; never a whole log at once."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

from sqlalchemy import select

from algovisor.db.models import Run
from algovisor.errors import InvalidInputError, NotFoundError
from algovisor.services.context import ServiceContext
from algovisor.services.strategies import resolve
from algovisor.supervisor.logfiles import (
    LogSearch,
    follow,
    run_log_segments,
    search_lines,
    tail_lines,
)

MAX_TAIL_LINES = 10_000
MAX_QUERY_CHARS = 200
# A search reads the log backwards up to this much (newest first), then says it stopped:
# a few hundred milliseconds of scanning, whatever the size of the logs.
SEARCH_SCAN_BYTES = 256 * 1024 * 1024
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


def search(
    ctx: ServiceContext,
    ref: str | int,
    text: str,
    lines: int = 100,
    run_id: str | None = None,
    max_scan_bytes: int = SEARCH_SCAN_BYTES,
) -> LogSearch:
    """The last `lines` lines of a run's log that contain `text` (ASCII case ignored)."""
    if not text or len(text) > MAX_QUERY_CHARS:
        raise InvalidInputError(f"search for 1 to {MAX_QUERY_CHARS} characters", field="q")
    if "\n" in text or "\r" in text or "\x00" in text:
        raise InvalidInputError("a search cannot contain line breaks or NUL", field="q")
    log_dir, found_run = _run_for(ctx, ref, run_id)
    count = max(0, min(lines, MAX_TAIL_LINES))
    return search_lines(run_log_segments(log_dir, found_run), text, count, max_scan_bytes)


def stream(
    ctx: ServiceContext,
    ref: str | int,
    run_id: str | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    recent_lines: int = 0,
) -> Iterator[str]:
    """New lines as they are written, after the last `recent_lines` already written (with
    no gap and no line twice); yields "" now and then so callers can check in."""
    log_dir, found_run = _run_for(ctx, ref, run_id)
    count = max(0, min(recent_lines, MAX_TAIL_LINES))
    return follow(log_dir, found_run, from_end=True, should_stop=should_stop, recent_lines=count)
