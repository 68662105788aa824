"""OpenAlgo's schedules read from its config, turned into algovisor's, and the fix command.

OpenAlgo stores IST times as "H:MM" or "HH:MM", weekday names and the
strategy's exchange; what cannot be read becomes a note, never a guess.
"""

from __future__ import annotations

import re
import shlex
from typing import Any

from pydantic import BaseModel

from algovisor.schedule.windows import (
    DAY_NAMES,
    Schedule,
    ScheduleError,
    make_schedule,
    parse_exchange,
    parse_time,
)

DEFAULT_EXCHANGE = "NSE"
# OpenAlgo accepts an hour without its leading zero; algovisor's own input does not.
TIME_PATTERN = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


class OpenAlgoSchedule(BaseModel):
    """A schedule as OpenAlgo stored it, in IST; `StrategyImport.applied` is what it became."""

    enabled: bool
    start: str | None  # "HH:MM"
    stop: str | None  # "HH:MM"; None runs until stopped
    days: list[str]  # "mon".."sun"
    exchange: str

    def describe(self) -> str:
        window = f"{self.start or '?'}-{self.stop or 'open end'}"
        days = ",".join(self.days) if self.days else "no days"
        state = "" if self.enabled else " (disabled)"
        return f"{window} {days} on {self.exchange}{state}"


def read_schedule(
    entry: dict[str, Any], enabled: bool, notes: list[str]
) -> OpenAlgoSchedule | None:
    """The schedule OpenAlgo stored, or None if it had none; unreadable parts become notes."""
    fields = ("is_scheduled", "schedule_start", "schedule_stop", "schedule_days")
    if not any(entry.get(field) for field in fields):
        return None
    exchange = entry.get("exchange") or DEFAULT_EXCHANGE
    if not isinstance(exchange, str):
        notes.append(f"exchange {exchange!r} is not text; assumed {DEFAULT_EXCHANGE}")
        exchange = DEFAULT_EXCHANGE
    days: list[str] = []
    raw_days = entry.get("schedule_days") or []
    if not isinstance(raw_days, list):
        notes.append(f"schedule_days {raw_days!r} is not a list; ignored")
        raw_days = []
    for day in raw_days:
        short = day.strip().lower()[:3] if isinstance(day, str) else None
        if short in DAY_NAMES:
            if short not in days:
                days.append(short)
        else:
            notes.append(f"schedule day {day!r} is not a weekday; ignored")
    days.sort(key=DAY_NAMES.index)
    return OpenAlgoSchedule(
        enabled=enabled,
        start=_time_of_day(entry, "schedule_start", notes),
        stop=_time_of_day(entry, "schedule_stop", notes),
        days=days,
        exchange=exchange.strip().upper(),
    )


def _time_of_day(entry: dict[str, Any], field: str, notes: list[str]) -> str | None:
    value = entry.get(field)
    if value in (None, ""):
        return None
    match = TIME_PATTERN.match(value) if isinstance(value, str) else None
    if match is None:
        notes.append(f"{field} {value!r} is not HH:MM; ignored")
        return None
    return f"{int(match.group(1)):02d}:{match.group(2)}"


def as_algovisor_schedule(
    schedule: OpenAlgoSchedule | None,
) -> tuple[Schedule | None, str | None]:
    """OpenAlgo's schedule as algovisor's, or None and why algovisor cannot take it."""
    if schedule is None:
        return None, None
    if schedule.start is None:
        return None, "it has no start time"
    try:
        converted = make_schedule(
            schedule.start, schedule.stop, ",".join(schedule.days), schedule.exchange
        )
    except ScheduleError as error:
        return None, str(error)
    return converted, None


def schedule_command(name: str, schedule: OpenAlgoSchedule) -> str:
    """The command that gives `name` this schedule, with a placeholder for each bad part."""
    start = schedule.start if _is_time(schedule.start) else None
    words = ["algovisor", "strategy", "schedule", shlex.quote(name), "--start", start or "HH:MM"]
    if schedule.stop is not None:
        good_stop = _is_time(schedule.stop) and schedule.stop != start
        words += ["--stop", schedule.stop if good_stop else "HH:MM"]
    words += ["--days", ",".join(schedule.days) or "DAYS"]
    try:
        exchange = parse_exchange(schedule.exchange)
    except ScheduleError:
        exchange = "EXCHANGE"
    return " ".join([*words, "--exchange", exchange])


def _is_time(text: str | None) -> bool:
    if text is None:
        return False
    try:
        parse_time(text, "")
    except ScheduleError:
        return False
    return True


def applied_note(
    schedule: Schedule, name: str, *, armed: bool, manually_stopped: bool, dry_run: bool
) -> str:
    """What the trader should know about a schedule that was (or would be) applied."""
    quoted = shlex.quote(name)
    verb = "would be applied" if dry_run else "applied"
    note = f"schedule {verb}: {schedule.describe()}; "
    if armed:
        return note + (
            "armed: it runs only inside its window and starts when the next one opens "
            f"(at once if one is open now); `algovisor explain {quoted}` says when"
        )
    if manually_stopped:
        return note + (
            "stopped by hand in OpenAlgo, so it stays stopped; arm it with "
            f"`algovisor strategy start {quoted}` and it runs inside its window"
        )
    return note + (
        "OpenAlgo was not running it, and its scheduler would have started it when "
        "the window opened; here it stays stopped until you arm it with "
        f"`algovisor strategy start {quoted}`"
    )


def not_applied_note(
    openalgo: OpenAlgoSchedule, name: str, problem: str | None, *, held_back: bool
) -> str:
    """Why OpenAlgo's schedule was not applied, and the command that applies it."""
    command = schedule_command(name, openalgo)
    if not openalgo.enabled:
        fix = f"fix what algovisor cannot take ({problem}) and run"
        return (
            f"schedule {openalgo.describe()} not applied: it was disabled in OpenAlgo, so the "
            f"strategy runs only when started, until stopped; to use the schedule, "
            f"{fix if problem else 'run'} `{command}`"
        )
    note = f"schedule {openalgo.describe()} not applied: {problem}; "
    if held_back:
        note += (
            "imported without a schedule and stopped, since OpenAlgo ran it only inside its "
            "window and without one it would run around the clock; "
        )
    else:
        note += "imported without a schedule; "
    arm = f"algovisor strategy start {shlex.quote(name)}"
    return f"{note}fix it with `{command}`, then arm it: `{arm}`"
