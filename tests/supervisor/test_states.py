"""desired_state: whether a strategy should run now, and what a trader sees when it does not."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from algovisor.schedule.calendar import INDIA, CalendarBook, ExchangeCalendar
from algovisor.schedule.windows import make_schedule
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
HOLI = date(2025, 3, 14)
BOOK = CalendarBook(
    {"NSE": ExchangeCalendar("NSE", holidays={HOLI: "Holi"}, covered_through=date(2025, 12, 31))}
)
EQUITY = make_schedule("09:15", "15:30", "mon-fri", "NSE")
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
    assert desired_state(facts, NOW, BOOK) == expected


def test_the_message_joins_the_reasons() -> None:
    decided = desired_state(
        StrategyFacts(Intent.RUN, error_message="SyntaxError at s.py:3"), NOW, BOOK
    )
    assert decided.message == "error: SyntaxError at s.py:3; clear the error to run it again"


def test_backoff_counts_down_as_time_passes() -> None:
    facts = StrategyFacts(Intent.RUN, backoff_until=NOW + timedelta(seconds=30))
    assert desired_state(facts, NOW, BOOK).message == "restarting after a crash in 30 s"
    assert desired_state(facts, NOW + timedelta(seconds=20), BOOK).message == (
        "restarting after a crash in 10 s"
    )
    assert desired_state(facts, NOW + timedelta(seconds=30), BOOK).should_run


def test_only_idle_states_are_decided_here() -> None:
    # Process states come from runs; desired_state never claims one exists.
    idle = {
        desired_state(facts, NOW, BOOK).idle_state
        for _, facts, _ in CASES
        if not desired_state(facts, NOW, BOOK).should_run
    }
    assert idle <= {StrategyState.STOPPED, StrategyState.BACKOFF, StrategyState.ERROR}
    assert set(PROCESS_STATES) == set(ACTIVE_RUN_STATUSES)
    assert RunStatus.ENDED not in PROCESS_STATES


def ist(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2025, 3, day, hour, minute, tzinfo=INDIA)


CLOSE = ist(3, 15, 30)  # Monday 3 March 2025

SCHEDULE_CASES: list[tuple[str, StrategyFacts, datetime, StrategyState, bool, datetime | None]] = [
    (
        "inside the window runs",
        StrategyFacts(Intent.RUN, schedule=EQUITY),
        ist(3, 10),
        StrategyState.STARTING,
        True,
        CLOSE,
    ),
    (
        "before the window waits for it",
        StrategyFacts(Intent.RUN, schedule=EQUITY),
        ist(3, 8),
        StrategyState.SCHEDULED,
        False,
        ist(3, 9, 15),
    ),
    (
        "the stop time is exclusive",
        StrategyFacts(Intent.RUN, schedule=EQUITY),
        CLOSE,
        StrategyState.SCHEDULED,
        False,
        ist(4, 9, 15),
    ),
    (
        "a holiday pauses",
        StrategyFacts(Intent.RUN, schedule=EQUITY),
        ist(14, 10),
        StrategyState.PAUSED,
        False,
        ist(17, 9, 15),
    ),
    (
        "a weekend pauses",
        StrategyFacts(Intent.RUN, schedule=EQUITY),
        ist(8, 10),
        StrategyState.PAUSED,
        False,
        ist(10, 9, 15),
    ),
    (
        "a user stop wins over the window",
        StrategyFacts(Intent.STOP, schedule=EQUITY),
        ist(3, 10),
        StrategyState.STOPPED,
        False,
        None,
    ),
    (
        "an error wins over the window",
        StrategyFacts(Intent.RUN, error_message="boom", schedule=EQUITY),
        ist(3, 10),
        StrategyState.ERROR,
        False,
        None,
    ),
    (
        "skipped for this window",
        StrategyFacts(Intent.RUN, schedule=EQUITY, window_skipped_until=CLOSE),
        ist(3, 10),
        StrategyState.STOPPED,
        False,
        CLOSE,
    ),
    (
        "the skip ends with the window",
        StrategyFacts(Intent.RUN, schedule=EQUITY, window_skipped_until=CLOSE),
        ist(4, 10),
        StrategyState.STARTING,
        True,
        ist(4, 15, 30),
    ),
    (
        "no contract inside the window waits",
        StrategyFacts(Intent.RUN, schedule=EQUITY, contract_ready=False),
        ist(3, 10),
        StrategyState.WAITING,
        False,
        None,
    ),
    (
        "no contract outside the window is only scheduled",
        StrategyFacts(Intent.RUN, schedule=EQUITY, contract_ready=False),
        ist(3, 8),
        StrategyState.SCHEDULED,
        False,
        ist(3, 9, 15),
    ),
    (
        "backoff inside the window",
        StrategyFacts(Intent.RUN, schedule=EQUITY, backoff_until=ist(3, 10, 1)),
        ist(3, 10),
        StrategyState.BACKOFF,
        False,
        ist(3, 10, 1),
    ),
    (
        "backoff outside the window is only scheduled",
        StrategyFacts(Intent.RUN, schedule=EQUITY, backoff_until=ist(3, 16)),
        ist(3, 15, 45),
        StrategyState.SCHEDULED,
        False,
        ist(4, 9, 15),
    ),
]


@pytest.mark.parametrize(
    ("facts", "now", "state", "should_run", "next_change"),
    [case[1:] for case in SCHEDULE_CASES],
    ids=[case[0] for case in SCHEDULE_CASES],
)
def test_desired_state_with_a_schedule(
    facts: StrategyFacts,
    now: datetime,
    state: StrategyState,
    should_run: bool,
    next_change: datetime | None,
) -> None:
    decided = desired_state(facts, now, BOOK)
    assert (decided.idle_state, decided.should_run, decided.next_change_at) == (
        state,
        should_run,
        next_change,
    )


def test_a_paused_strategy_names_the_holiday_and_the_next_session() -> None:
    decided = desired_state(StrategyFacts(Intent.RUN, schedule=EQUITY), ist(14, 10), BOOK)
    assert decided.message == "NSE holiday Holi; next session Mon 2025-03-17 09:15 IST"


def test_a_day_past_the_calendar_warns_but_still_decides() -> None:
    later = datetime(2026, 1, 5, 10, 0, tzinfo=INDIA)
    decided = desired_state(StrategyFacts(Intent.RUN, schedule=EQUITY), later, BOOK)
    assert decided.should_run
    assert decided.warnings
    assert "no holiday data after 2025-12-31" in decided.message
