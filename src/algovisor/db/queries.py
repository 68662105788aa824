"""Queries more than one package asks."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from algovisor.db.models import StrategyVersion


def current_version(session: Session, strategy_id: int) -> StrategyVersion | None:
    """A strategy's newest version, the one a new run starts."""
    return session.scalars(
        select(StrategyVersion)
        .where(StrategyVersion.strategy_id == strategy_id)
        .order_by(StrategyVersion.number.desc())
        .limit(1)
    ).first()
