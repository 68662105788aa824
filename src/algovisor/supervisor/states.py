"""What a strategy should be doing now, as a pure function of what we know.

`desired_state` is the only place that decides; the reconciler acts on it and
`explain` shows it, so the two can never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from algovisor.schedule.calendar import CalendarBook
from algovisor.schedule.windows import Schedule, evaluate, format_local


class StrategyState(StrEnum):
    """The states a trader reads; the first four are 'idle', the next four have a process."""

    STOPPED = "stopped"
    SCHEDULED = "scheduled"  # armed, outside its window
    PAUSED = "paused"  # holiday or weekend
    WAITING = "waiting"  # master contract not ready (yellow)
    STARTING = "starting"
    RUNNING = "running"
    STOPPING = "stopping"
    BACKOFF = "backoff"  # restarting after a crash, at `backoff_until`
    ERROR = "error"  # needs a person


class Intent(StrEnum):
    """What the user asked for."""

    RUN = "run"
    STOP = "stop"


class RunStatus(StrEnum):
    """Where a run is in its life; `SPAWNING` is written before the process exists."""

    SPAWNING = "spawning"
    RUNNING = "running"
    STOPPING = "stopping"
    ENDED = "ended"


ACTIVE_RUN_STATUSES = (RunStatus.SPAWNING, RunStatus.RUNNING, RunStatus.STOPPING)

PROCESS_STATES = {
    RunStatus.SPAWNING: StrategyState.STARTING,
    RunStatus.RUNNING: StrategyState.RUNNING,
    RunStatus.STOPPING: StrategyState.STOPPING,
}


@dataclass(frozen=True, slots=True)
class StrategyFacts:
    """Everything the decision depends on, read from the database by the caller."""

    intent: Intent
    error_message: str | None = None
    backoff_until: datetime | None = None
    stop_message: str | None = None
    schedule: Schedule | None = None  # None: manual only
    window_skipped_until: datetime | None = None
    # Whether the strategy's broker has today's master contract loaded.
    contract_ready: bool = True
    contract_message: str | None = None


@dataclass(frozen=True, slots=True)
class DesiredState:
    """Whether a process should exist, what to show when none does, and why."""

    should_run: bool
    idle_state: StrategyState
    reasons: tuple[str, ...]
    next_change_at: datetime | None = None
    warnings: tuple[str, ...] = ()  # e.g. a day past the calendar's holiday data

    @property
    def message(self) -> str:
        return "; ".join(self.reasons + tuple(f"warning: {text}" for text in self.warnings))


def desired_state(facts: StrategyFacts, now: datetime, calendars: CalendarBook) -> DesiredState:
    """Decide, from facts alone, whether the strategy should be running at `now`.

    The order is the order of precedence: a person's attention (error), the
    user's stop, the schedule and calendar, the user's stop for this window,
    the master contract, then the restart backoff.
    """
    if facts.error_message:
        return DesiredState(
            False,
            StrategyState.ERROR,
            (f"error: {facts.error_message}", "clear the error to run it again"),
        )
    if facts.intent is Intent.STOP:
        return DesiredState(False, StrategyState.STOPPED, (facts.stop_message or "stopped",))
    running_reason, window_closes = "started by the user", None
    warnings: tuple[str, ...] = ()
    if facts.schedule is not None:
        calendar = calendars[facts.schedule.exchange]
        window = evaluate(facts.schedule, calendar, now)
        warnings = window.warnings
        if not window.open:
            state = StrategyState.PAUSED if window.exchange_closed else StrategyState.SCHEDULED
            reasons = (window.reason, window.upcoming)
            return DesiredState(False, state, reasons, window.changes_at, warnings)
        skipped_until = facts.window_skipped_until
        if skipped_until is not None and now < skipped_until:
            return DesiredState(
                False,
                StrategyState.STOPPED,
                (
                    facts.stop_message or "stopped",
                    f"held for the rest of this window, which closes at "
                    f"{format_local(skipped_until, calendar)}; it starts again with the next",
                ),
                skipped_until,
                warnings,
            )
        running_reason, window_closes = window.reason, window.changes_at
    if not facts.contract_ready:
        return DesiredState(
            False,
            StrategyState.WAITING,
            (facts.contract_message or "waiting for the master contract",),
            warnings=warnings,
        )
    if facts.backoff_until is not None and now < facts.backoff_until:
        wait_secs = (facts.backoff_until - now).total_seconds()
        return DesiredState(
            False,
            StrategyState.BACKOFF,
            (f"restarting after a crash in {wait_secs:.0f} s",),
            facts.backoff_until,
            warnings,
        )
    return DesiredState(True, StrategyState.STARTING, (running_reason,), window_closes, warnings)
