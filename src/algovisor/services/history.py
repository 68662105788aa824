"""A strategy's past, for its page: diffs between versions, its runs, its resource usage."""

from __future__ import annotations

import difflib
from datetime import timedelta

from sqlalchemy import select

from algovisor.db.models import ResourceSample, Run, StrategyVersion
from algovisor.errors import InvalidInputError, NotFoundError
from algovisor.services.context import ServiceContext
from algovisor.services.strategies import resolve
from algovisor.services.versions import version_content, versions
from algovisor.services.views import DiffView, ResourceSampleView, RunView

MAX_DIFF_LINES = 20_000  # scripts are at most max_script_bytes; this bounds the answer too
DIFF_CONTEXT_LINES = 3
MAX_RUNS = 500
MAX_HISTORY_HOURS = 24
MAX_CHART_POINTS = 1_000  # more samples than this are thinned out, evenly


def diff(
    ctx: ServiceContext,
    ref: str | int,
    from_number: int | None = None,
    to_number: int | None = None,
) -> DiffView:
    """A unified diff from version `from_number` to `to_number`.

    `to_number` defaults to the current version and `from_number` to the one before
    `to_number` (none before the first: the diff is from an empty file).
    """
    numbers = [version.number for version in versions(ctx, ref)]
    if not numbers:
        raise NotFoundError(f"strategy {ref!r} has no versions")
    to_version = numbers[-1] if to_number is None else to_number
    if from_number is None:
        older = [number for number in numbers if number < to_version]
        from_version = older[-1] if older else None
    else:
        from_version = from_number
    new = _text(version_content(ctx, ref, to_version))
    old = _text(version_content(ctx, ref, from_version)) if from_version is not None else []
    lines: list[str] = []
    truncated = False
    for line in difflib.unified_diff(
        old,
        new,
        fromfile=f"version {from_version}" if from_version is not None else "(empty)",
        tofile=f"version {to_version}",
        n=DIFF_CONTEXT_LINES,
        lineterm="",
    ):
        if len(lines) == MAX_DIFF_LINES:
            truncated = True
            break
        lines.append(line)
    return DiffView(
        from_version=from_version, to_version=to_version, lines=lines, truncated=truncated
    )


def _text(content: bytes) -> list[str]:
    # Versions are checked UTF-8 on the way in; a stray byte still must not fail a diff.
    return content.decode("utf-8", errors="replace").splitlines()


def runs(ctx: ServiceContext, ref: str | int, limit: int = 50) -> list[RunView]:
    """The strategy's latest runs, newest first, with how each ended and how long it ran."""
    if not 1 <= limit <= MAX_RUNS:
        raise InvalidInputError(f"limit must be 1 to {MAX_RUNS}", field="limit")
    now = ctx.clock.now()
    with ctx.reading() as session:
        strategy = resolve(session, ref)
        rows = session.execute(
            select(Run, StrategyVersion.number)
            .join(StrategyVersion, StrategyVersion.id == Run.version_id, isouter=True)
            .where(Run.strategy_id == strategy.id)
            .order_by(Run.created_at.desc(), Run.id)
            .limit(limit)
        ).all()
        views = []
        for run, version in rows:
            end = run.ended_at or now
            views.append(
                RunView(
                    id=run.id,
                    version=version,
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
            )
        return views


def resources(ctx: ServiceContext, ref: str | int, hours: float = 6) -> list[ResourceSampleView]:
    """CPU and memory samples of the strategy's runs over the last `hours`, oldest first."""
    if not 0 < hours <= MAX_HISTORY_HOURS:
        raise InvalidInputError(f"hours must be 1 to {MAX_HISTORY_HOURS}", field="hours")
    since = ctx.clock.now() - timedelta(hours=hours)
    with ctx.reading() as session:
        strategy = resolve(session, ref)
        rows = session.execute(
            select(ResourceSample.at, ResourceSample.cpu_percent, ResourceSample.rss_bytes)
            .where(ResourceSample.strategy_id == strategy.id, ResourceSample.at >= since)
            .order_by(ResourceSample.at, ResourceSample.id)
        ).all()
    step = max(1, -(-len(rows) // MAX_CHART_POINTS))  # ceiling: at most MAX_CHART_POINTS
    kept = list(rows[::step])
    if kept and kept[-1] is not rows[-1]:
        kept.append(rows[-1])  # the chart ends at the latest sample
    return [ResourceSampleView(at=at, cpu_percent=cpu, rss_bytes=rss) for at, cpu, rss in kept]
