"""Reading a strategy row into the facts `desired_state` decides on: one way, for every caller."""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

from algovisor.contracts.readiness import Readiness
from algovisor.db.models import Strategy
from algovisor.schedule.windows import Schedule, make_schedule
from algovisor.supervisor.states import Intent, StrategyFacts


def facts_of(strategy: Strategy, contracts: Callable[[str], Readiness]) -> StrategyFacts:
    """The facts about `strategy`, with its broker's contract readiness from `contracts`."""
    contract = contracts(strategy.broker)
    return StrategyFacts(
        intent=Intent(strategy.intent),
        error_message=strategy.error_message,
        backoff_until=strategy.backoff_until,
        stop_message=strategy.stop_message,
        schedule=schedule_of(strategy),
        window_skipped_until=strategy.window_skipped_until,
        contract_ready=contract.ready,
        contract_message=contract.reason or None,
    )


def schedule_of(strategy: Strategy) -> Schedule | None:
    if strategy.schedule_start is None:
        return None
    return _stored_schedule(
        strategy.schedule_start,
        strategy.schedule_stop,
        strategy.schedule_days or "",
        strategy.schedule_exchange or "",
        strategy.schedule_special_sessions,
    )


@lru_cache(maxsize=4096)
def _stored_schedule(
    start: str, stop: str | None, days: str, exchange: str, special_sessions: bool
) -> Schedule:
    # Stored schedules were checked when they were set; parsing them again every
    # second for every strategy would be the tick's largest cost, so it is cached.
    return make_schedule(start, stop, days, exchange, special_sessions)
