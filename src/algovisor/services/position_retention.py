"""Retention of positions: what ended before a date goes; open positions never do."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import and_, delete, exists, func, select
from sqlalchemy.orm import Session

from algovisor.db.models import (
    OrderIntentRow,
    PositionEventRow,
    StrategyPositionRow,
    StrategySessionRow,
)
from algovisor.errors import InvalidInputError
from algovisor.schedule.calendar import INDIA
from algovisor.services.context import ServiceContext
from algovisor.services.views import PurgeView


def purge(ctx: ServiceContext, before: date) -> PurgeView:
    """Retention: delete what ended before `before` (midnight IST starting that day).

    Deleted, in one transaction: CLOSED positions that exited before the cutoff,
    with their events and order intents; ENDED or CRASHED sessions that ended
    before it and hold nothing that stays (no position, no event or intent of
    a position kept), with their events and intents; and broker verdicts on no
    position (orphans) older than the cutoff. Open positions (ACTIVE, CRASHED,
    RECOVERED) and their trails are never deleted, whatever their age.

    `before` must be yesterday (IST) or earlier: purging today's trades is almost
    certainly a mistake, so today and future dates are refused.
    """
    cutoff = purge_cutoff(ctx, before)
    with ctx.transaction() as session:
        positions = select(StrategyPositionRow.id).where(
            StrategyPositionRow.status == "CLOSED",
            StrategyPositionRow.exit_time < cutoff,
        )
        doomed = list(session.scalars(positions))
        events = intents = 0
        for chunk in _chunks(doomed):
            events += _deleted(
                session, delete(PositionEventRow).where(PositionEventRow.position_id.in_(chunk))
            )
            intents += _deleted(
                session, delete(OrderIntentRow).where(OrderIntentRow.position_id.in_(chunk))
            )
            _deleted(session, delete(StrategyPositionRow).where(StrategyPositionRow.id.in_(chunk)))
        finished = func.coalesce(
            StrategySessionRow.ended_at,
            StrategySessionRow.crashed_at,
            StrategySessionRow.started_at,
        )
        spent = list(
            session.scalars(
                select(StrategySessionRow.id).where(
                    StrategySessionRow.status.in_(("ENDED", "CRASHED")),
                    finished < cutoff,
                    ~exists().where(StrategyPositionRow.session_id == StrategySessionRow.id),
                    ~exists().where(
                        PositionEventRow.session_id == StrategySessionRow.id,
                        PositionEventRow.position_id.is_not(None),
                    ),
                    ~exists().where(
                        OrderIntentRow.session_id == StrategySessionRow.id,
                        OrderIntentRow.position_id.is_not(None),
                    ),
                )
            )
        )
        for chunk in _chunks(spent):
            events += _deleted(
                session, delete(PositionEventRow).where(PositionEventRow.session_id.in_(chunk))
            )
            intents += _deleted(
                session, delete(OrderIntentRow).where(OrderIntentRow.session_id.in_(chunk))
            )
            _deleted(session, delete(StrategySessionRow).where(StrategySessionRow.id.in_(chunk)))
        events += _deleted(
            session,
            delete(PositionEventRow).where(
                and_(
                    PositionEventRow.position_id.is_(None),
                    PositionEventRow.session_id.is_(None),
                    PositionEventRow.at < cutoff,
                )
            ),
        )
    return PurgeView(
        before=before,
        cutoff=cutoff,
        positions=len(doomed),
        events=events,
        order_intents=intents,
        sessions=len(spent),
    )


def purge_cutoff(ctx: ServiceContext, before: date) -> datetime:
    """Midnight IST starting `before`; refused unless `before` is yesterday (IST) or earlier."""
    today = ctx.clock.now().astimezone(INDIA).date()
    if before >= today:
        raise InvalidInputError(
            f"refusing to purge before {before.isoformat()}: that would delete "
            f"{'today' if before == today else 'future'}'s closed positions",
            detail=f"Give a date up to yesterday ({(today - timedelta(days=1)).isoformat()}); "
            "only positions closed before that day are deleted.",
        )
    return datetime.combine(before, time(), INDIA)


def _chunks(ids: list[int], size: int = 500) -> list[list[int]]:
    """Id lists small enough for one IN (...) on SQLite's parameter limit."""
    return [ids[start : start + size] for start in range(0, len(ids), size)]


def _deleted(session: Session, statement: Any) -> int:
    return int(session.connection().execute(statement).rowcount or 0)
