"""desired_state: whether a strategy should run now, and what a trader sees when it does not."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from algovisor.supervisor.states import (
    ACTIVE_RUN_STATUSES,
    PROCESS_STATES,
    DesiredState,
    Intent,
    RunStatus,
    StrategyFacts,
    StrategyState,
    desired_state,
)

NOW = datetime(2025, 3, 3, 4, 0, tzinfo=UTC)  # 09:30 IST
LATER = NOW + timedelta(seconds=8)
EARLIER = NOW - timedelta(seconds=1)

CASES: list[tuple[str, StrategyFacts, DesiredState]] = [
    (
        "run",
        StrategyFacts(Intent.RUN),
        DesiredState(True, StrategyState.STARTING, ("started by the user",)),
    ),
    (
        "stop",
        StrategyFacts(Intent.STOP),
        DesiredState(False, StrategyState.STOPPED, ("stopped",)),
    ),
    (
        "stopped after a clean exit says why",
        StrategyFacts(Intent.STOP, stop_message="last run exited cleanly (code 0)"),
        DesiredState(False, StrategyState.STOPPED, ("last run exited cleanly (code 0)",)),
    ),
    (
        "backoff in the future waits",
        StrategyFacts(Intent.RUN, backoff_until=LATER),
        DesiredState(
            False,
            StrategyState.BACKOFF,
            ("restarting after a crash in 8 s",),
            next_change_at=LATER,
        ),
    ),
    (
        "backoff over runs",
        StrategyFacts(Intent.RUN, backoff_until=EARLIER),
        DesiredState(True, StrategyState.STARTING, ("started by the user",)),
    ),
    (
        "backoff ending exactly now runs",
        StrategyFacts(Intent.RUN, backoff_until=NOW),
        DesiredState(True, StrategyState.STARTING, ("started by the user",)),
    ),
    (
        "a stop during backoff is a stop",
        StrategyFacts(Intent.STOP, backoff_until=LATER),
        DesiredState(False, StrategyState.STOPPED, ("stopped",)),
    ),
    (
        "error wins over run",
        StrategyFacts(Intent.RUN, error_message="crash loop", backoff_until=LATER),
        DesiredState(
            False,
            StrategyState.ERROR,
            ("error: crash loop", "clear the error to run it again"),
        ),
    ),
    (
        "error wins over stop",
        StrategyFacts(Intent.STOP, error_message="script file is missing"),
        DesiredState(
            False,
            StrategyState.ERROR,
            ("error: script file is missing", "clear the error to run it again"),
        ),
    ),
]


@pytest.mark.parametrize(
    ("facts", "expected"), [case[1:] for case in CASES], ids=[case[0] for case in CASES]
)
def test_desired_state(facts: StrategyFacts, expected: DesiredState) -> None:
    assert desired_state(facts, NOW) == expected


def test_the_message_joins_the_reasons() -> None:
    decided = desired_state(StrategyFacts(Intent.RUN, error_message="SyntaxError at s.py:3"), NOW)
    assert decided.message == "error: SyntaxError at s.py:3; clear the error to run it again"


def test_backoff_counts_down_as_time_passes() -> None:
    facts = StrategyFacts(Intent.RUN, backoff_until=NOW + timedelta(seconds=30))
    assert desired_state(facts, NOW).message == "restarting after a crash in 30 s"
    assert desired_state(facts, NOW + timedelta(seconds=20)).message == (
        "restarting after a crash in 10 s"
    )
    assert desired_state(facts, NOW + timedelta(seconds=30)).should_run


def test_only_idle_states_are_decided_here() -> None:
    # Process states come from runs; desired_state never claims one exists.
    idle = {
        desired_state(facts, NOW).idle_state
        for _, facts, _ in CASES
        if not desired_state(facts, NOW).should_run
    }
    assert idle <= {StrategyState.STOPPED, StrategyState.BACKOFF, StrategyState.ERROR}
    assert set(PROCESS_STATES) == set(ACTIVE_RUN_STATUSES)
    assert RunStatus.ENDED not in PROCESS_STATES
