"""What a strategy should be doing now, as a pure function of what we know.

`desired_state` is the only place that decides; the reconciler acts on it and
`explain` shows it, so the two can never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


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


@dataclass(frozen=True, slots=True)
class DesiredState:
    """Whether a process should exist, what to show when none does, and why."""

    should_run: bool
    idle_state: StrategyState
    reasons: tuple[str, ...]
    next_change_at: datetime | None = None

    @property
    def message(self) -> str:
        return "; ".join(self.reasons)


def desired_state(facts: StrategyFacts, now: datetime) -> DesiredState:
    """Decide, from facts alone, whether the strategy should be running at `now`."""
    if facts.error_message:
        return DesiredState(
            False,
            StrategyState.ERROR,
            (f"error: {facts.error_message}", "clear the error to run it again"),
        )
    if facts.intent is Intent.STOP:
        return DesiredState(False, StrategyState.STOPPED, (facts.stop_message or "stopped",))
    if facts.backoff_until is not None and now < facts.backoff_until:
        wait_secs = (facts.backoff_until - now).total_seconds()
        return DesiredState(
            False,
            StrategyState.BACKOFF,
            (f"restarting after a crash in {wait_secs:.0f} s",),
            next_change_at=facts.backoff_until,
        )
    return DesiredState(True, StrategyState.STARTING, ("started by the user",))
