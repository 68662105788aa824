"""How a run ended, and what that means for the next one. Pure functions."""

from __future__ import annotations

import signal
from dataclasses import dataclass
from enum import StrEnum


class EndReason(StrEnum):
    STOPPED = "stopped"  # a stop we asked for
    EXITED = "exited"  # exit code 0, nothing raised
    FINAL_EXIT = "final_exit"  # an exit code the trader declared final
    FATAL = "fatal"  # syntax/import error or missing file: restarting cannot help
    CRASHED = "crashed"  # non-zero exit, signal, exception
    VANISHED = "vanished"  # gone without a record: SIGKILL, OOM, or lost at host restart
    HOST_REBOOTED = "host_rebooted"  # the machine restarted under it
    MEMORY_LIMIT = "memory_limit"  # restarted by us for using too much memory
    LOST = "lost"  # recorded as intent, never found running


FATAL_EXCEPTIONS = frozenset(
    {"SyntaxError", "IndentationError", "TabError", "ImportError", "ModuleNotFoundError"}
)
# Ends the host caused on purpose or that were not the script's fault: restart at once.
NOT_A_FAILURE = frozenset({EndReason.HOST_REBOOTED, EndReason.MEMORY_LIMIT, EndReason.LOST})


@dataclass(frozen=True, slots=True)
class RunEnd:
    """The facts of how one run ended."""

    exit_code: int | None = None
    exit_signal: int | None = None
    exception_type: str | None = None
    exception_message: str | None = None
    location: str | None = None
    stop_requested: bool = False
    stop_reason: str | None = None
    has_exit_record: bool = False
    boot_changed: bool = False
    script_missing: bool = False
    never_started: bool = False  # recorded as intent, no process found after a host crash


@dataclass(frozen=True, slots=True)
class Classified:
    reason: EndReason
    description: str


def classify_end(end: RunEnd, final_exit_codes: frozenset[int]) -> Classified:
    """Name how a run ended, in words a trader can act on."""
    if end.stop_requested:
        if end.stop_reason == EndReason.MEMORY_LIMIT:
            return Classified(EndReason.MEMORY_LIMIT, "restarted: memory limit exceeded")
        return Classified(EndReason.STOPPED, "stopped on request")
    if end.never_started:
        return Classified(EndReason.LOST, "recorded before a host crash, never started")
    if end.boot_changed:
        return Classified(EndReason.HOST_REBOOTED, "the machine restarted while it ran")
    if end.script_missing:
        return Classified(EndReason.FATAL, "script file is missing")
    if end.exception_type in FATAL_EXCEPTIONS:
        where = f" at {end.location}" if end.location else ""
        return Classified(EndReason.FATAL, f"{end.exception_type}: {end.exception_message}{where}")
    if end.exception_type:
        where = f" at {end.location}" if end.location else ""
        return Classified(
            EndReason.CRASHED, f"{end.exception_type}: {end.exception_message}{where}"
        )
    if end.exit_signal:
        return Classified(EndReason.CRASHED, f"killed by {_signal_name(end.exit_signal)}")
    if end.exit_code is None:
        return Classified(
            EndReason.VANISHED,
            "process vanished without an exit record (SIGKILL or out of memory?)",
        )
    if end.exit_code == 0:
        return Classified(EndReason.EXITED, "exited cleanly (code 0)")
    if end.exit_code in final_exit_codes:
        return Classified(EndReason.FINAL_EXIT, f"exited with final code {end.exit_code}")
    if end.exit_code == 128 + signal.SIGTERM:
        return Classified(EndReason.CRASHED, "terminated by SIGTERM from outside algovisor")
    return Classified(EndReason.CRASHED, f"exited with code {end.exit_code}")


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


@dataclass(frozen=True, slots=True)
class RestartPolicy:
    """Capped exponential backoff that forgives after a stable uptime."""

    initial_delay_secs: float = 1.0
    factor: float = 2.0
    max_delay_secs: float = 60.0
    stable_uptime_secs: float = 300.0
    max_unstable_exits: int = 5


@dataclass(frozen=True, slots=True)
class NextStep:
    """What to do after a run ended."""

    consecutive_failures: int
    restart_after_secs: float | None  # None: do not restart
    error_message: str | None = None  # set: the strategy needs a person
    stop_message: str | None = None  # set: the user's intent becomes 'stop'


def next_step(
    policy: RestartPolicy, ended: Classified, uptime_secs: float, consecutive_failures: int
) -> NextStep:
    """Apply the restart policy to one ended run."""
    reason = ended.reason
    if reason is EndReason.STOPPED:
        return NextStep(0, None)
    if reason in (EndReason.EXITED, EndReason.FINAL_EXIT):
        return NextStep(0, None, stop_message=f"last run {ended.description}")
    if reason is EndReason.FATAL:
        return NextStep(consecutive_failures + 1, None, error_message=ended.description)
    if reason in NOT_A_FAILURE:
        return NextStep(consecutive_failures, 0.0)
    failures = 1 if uptime_secs >= policy.stable_uptime_secs else consecutive_failures + 1
    if failures >= policy.max_unstable_exits:
        return NextStep(
            failures,
            None,
            error_message=(
                f"crash loop: {failures} unstable exits in a row, last: {ended.description}"
            ),
        )
    delay = min(policy.initial_delay_secs * policy.factor ** (failures - 1), policy.max_delay_secs)
    return NextStep(failures, delay)
