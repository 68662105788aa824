"""A strategy's schedule and the one question asked of it: is its window open at this instant?

Times are the exchange's wall-clock times (IST for every exchange we know); the
answer never depends on the host's time zone. A window belongs to the day it
opens on, so 21:00-02:00 on a Friday runs into Saturday morning. Without a stop
time a window stays open through every following day the strategy trades on.
On a special-session day (Muhurat trading, a weekend budget session) the
strategy trades the part of its own window inside the session, or, if the two
do not meet, the whole session.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache

from algovisor.schedule.calendar import EXCHANGES, DayKind, ExchangeCalendar

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY_WORDS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
EVERY_DAY = frozenset(range(7))
WEEKDAYS = frozenset(range(5))
LOOKAHEAD_DAYS = 400  # how far to look for the next window before saying there is none
TIME_FORMAT = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
ONE_DAY = timedelta(days=1)
DAY_LOOKUP = {name: number for number, name in enumerate(DAY_NAMES)} | {
    word.lower(): number for number, word in enumerate(DAY_WORDS)
}


class ScheduleError(ValueError):
    """A schedule that cannot be: the message says what was wrong and what to write.

    `field` names the part to blame ("start", "stop", "days" or "exchange"), so a form
    can show the message beside it.
    """

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True, slots=True)
class Schedule:
    start: time
    stop: time | None  # None: open until the strategy's trading days run out
    days: frozenset[int]  # 0 = Monday
    exchange: str
    special_sessions: bool = True  # trade special sessions (Muhurat) too

    def describe(self) -> str:
        return _describe(self)


@lru_cache(maxsize=4096)
def _describe(schedule: Schedule) -> str:
    start, stop = schedule.start, schedule.stop
    window = f"{start:%H:%M}-{stop:%H:%M}" if stop else f"from {start:%H:%M}"
    special = "" if schedule.special_sessions else ", skips special sessions"
    return f"{window} IST {format_days(schedule.days)} on {schedule.exchange}{special}"


@dataclass(frozen=True, slots=True)
class WindowDecision:
    """Whether the window is open, why, and when that changes (None: never)."""

    open: bool
    exchange_closed: bool  # closed because the exchange is (weekend, holiday): 'paused'
    reason: str
    changes_at: datetime | None
    warnings: tuple[str, ...] = ()
    upcoming: str = ""  # when closed: "next start Tue 2026-01-27 09:15 IST", for people


# ----- parsing ------------------------------------------------------------------------


def parse_time(text: str, what: str) -> time:
    match = TIME_FORMAT.match(text.strip())
    if match is None:
        raise ScheduleError(
            f"{what} time {text!r} is not a 24-hour HH:MM time; write it like 09:15 or 21:00",
            field=what or None,
        )
    return time(int(match.group(1)), int(match.group(2)))


def parse_days(text: str) -> frozenset[int]:
    """'mon-fri', 'mon,wed,fri', 'sat-sun', 'fri-mon' (wraps), 'daily' or 'all'."""
    cleaned = text.strip().lower()
    if cleaned in ("daily", "all", "every day"):
        return EVERY_DAY
    days: set[int] = set()
    for part in filter(None, (piece.strip() for piece in cleaned.split(","))):
        first, dash, last = part.partition("-")
        start, end = _day_number(first), _day_number(last if dash else first)
        days.update((start + offset) % 7 for offset in range((end - start) % 7 + 1))
    if not days:
        raise ScheduleError(
            "the schedule has no days; give some, e.g. mon-fri, mon,wed,fri or daily", field="days"
        )
    return frozenset(days)


def _day_number(name: str) -> int:
    number = DAY_LOOKUP.get(name.strip())
    if number is None:
        raise ScheduleError(
            f"unknown day {name.strip()!r}; use mon, tue, wed, thu, fri, sat or sun", field="days"
        )
    return number


def format_days(days: frozenset[int]) -> str:
    if days == EVERY_DAY:
        return "daily"
    ordered = sorted(days)
    if ordered == list(range(ordered[0], ordered[-1] + 1)) and len(ordered) > 2:
        return f"{DAY_NAMES[ordered[0]]}-{DAY_NAMES[ordered[-1]]}"
    return ",".join(DAY_NAMES[day] for day in ordered)


def parse_exchange(text: str) -> str:
    code = text.strip().upper()
    if code not in EXCHANGES:
        raise ScheduleError(
            f"unknown exchange {text!r}; use one of {', '.join(EXCHANGES)}", field="exchange"
        )
    return code


def make_schedule(
    start: str, stop: str | None, days: str, exchange: str, special_sessions: bool = True
) -> Schedule:
    """A checked schedule from the words a trader types."""
    opens = parse_time(start, "start")
    closes = parse_time(stop, "stop") if stop else None
    if closes == opens:
        raise ScheduleError(
            f"start and stop are both {opens:%H:%M}, so the window would be empty; "
            "leave the stop time out for a strategy that runs around the clock",
            field="stop",
        )
    return Schedule(opens, closes, parse_days(days), parse_exchange(exchange), special_sessions)


# ----- the decision -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Remembered:
    decision: WindowDecision
    valid_from: datetime
    valid_until: datetime


def evaluate(schedule: Schedule, calendar: ExchangeCalendar, instant: datetime) -> WindowDecision:
    """Is `schedule`'s window open at `instant`, on `calendar`? Pure.

    A decision holds until its window opens or closes, or the day ends (the
    reasons name the day), so it is remembered on the calendar for that long:
    the reconciler asks every second, and the answer rarely changes.
    """
    remembered = calendar.memo.get(schedule)
    if (
        isinstance(remembered, _Remembered)
        and remembered.valid_from <= instant < remembered.valid_until
    ):
        return remembered.decision
    decision = _evaluate(schedule, calendar, instant)
    midnight = _at(calendar, instant.astimezone(calendar.tz).date() + ONE_DAY, time())
    valid_until = min(decision.changes_at or midnight, midnight)
    calendar.memo[schedule] = _Remembered(decision, instant, valid_until)
    return decision


def window_close(
    schedule: Schedule, calendar: ExchangeCalendar, instant: datetime
) -> datetime | None:
    """When the window open at `instant` closes; None if none is open or it never closes."""
    decision = evaluate(schedule, calendar, instant)
    return decision.changes_at if decision.open else None


def _evaluate(schedule: Schedule, calendar: ExchangeCalendar, instant: datetime) -> WindowDecision:
    local = instant.astimezone(calendar.tz)
    today = local.date()
    window = _window_containing(schedule, calendar, local)
    if window is not None:
        opens, closes = window
        return WindowDecision(
            True,
            False,
            f"inside its window ({schedule.describe()})",
            closes,
            _warnings(calendar, today, opens.date()),  # the day the window opened on
        )
    next_open = _next_open(schedule, calendar, local)
    exchange_closed, reason = _closed_reason(schedule, calendar, today)
    warnings = _warnings(calendar, today, next_open.date() if next_open else None)
    label = "next session" if exchange_closed else "next start"
    upcoming = (
        f"{label} {format_local(next_open, calendar)}"
        if next_open
        else f"no window opens in the next {LOOKAHEAD_DAYS} days"
    )
    return WindowDecision(False, exchange_closed, reason, next_open, warnings, upcoming)


def _window_containing(
    schedule: Schedule, calendar: ExchangeCalendar, local: datetime
) -> tuple[datetime, datetime | None] | None:
    today = local.date()
    if (
        schedule.stop is None
        and _trades_all_day(schedule, calendar, today)
        and (local.time() >= schedule.start or _trades_all_day(schedule, calendar, today - ONE_DAY))
    ):
        return (_at(calendar, today, schedule.start), _open_end(schedule, calendar, today))
    # Only a window that crosses midnight (or a special session's) can reach into today
    # from yesterday; a session ends on its own day, so only crossing windows are asked.
    crosses = schedule.stop is not None and schedule.stop < schedule.start
    for day in (today - ONE_DAY, today) if crosses else (today,):
        window = _window_opening_on(schedule, calendar, day)
        if window is not None and window[0] <= local and (window[1] is None or local < window[1]):
            return window
    return None


def _next_open(schedule: Schedule, calendar: ExchangeCalendar, local: datetime) -> datetime | None:
    today = local.date()
    for offset in range(LOOKAHEAD_DAYS):
        window = _window_opening_on(schedule, calendar, today + timedelta(days=offset))
        if window is not None and window[0] > local:
            return window[0]
    return None


def _window_opening_on(
    schedule: Schedule, calendar: ExchangeCalendar, day: date
) -> tuple[datetime, datetime | None] | None:
    """The window that opens on `day`, if any (its end is None when it never closes)."""
    info = calendar.day(day)
    if info.session is not None:
        if not schedule.special_sessions:
            return None
        session = (_at(calendar, day, info.session.opens), _at(calendar, day, info.session.closes))
        own_opens = _at(calendar, day, schedule.start)
        own_closes = _regular_close(schedule, calendar, day) or _at(calendar, day + ONE_DAY, time())
        opens, closes = max(own_opens, session[0]), min(own_closes, session[1])
        return (opens, closes) if opens < closes else session
    if not info.trades or day.weekday() not in schedule.days:
        return None
    opens = _at(calendar, day, schedule.start)
    if schedule.stop is None:
        return (opens, _open_end(schedule, calendar, day))
    return (opens, _regular_close(schedule, calendar, day))


def _regular_close(schedule: Schedule, calendar: ExchangeCalendar, day: date) -> datetime | None:
    if schedule.stop is None:
        return None
    close_day = day if schedule.stop > schedule.start else day + ONE_DAY
    return _at(calendar, close_day, schedule.stop)


def _trades_all_day(schedule: Schedule, calendar: ExchangeCalendar, day: date) -> bool:
    return calendar.day(day).trades and day.weekday() in schedule.days


def _open_end(schedule: Schedule, calendar: ExchangeCalendar, day: date) -> datetime | None:
    """Midnight before the first day after `day` the strategy does not trade (None: never)."""
    last_closure = calendar.last_closure
    if (
        schedule.days == EVERY_DAY
        and not calendar.closed_days
        and (last_closure is None or last_closure <= day)
    ):
        return None
    for offset in range(1, LOOKAHEAD_DAYS):
        following = day + timedelta(days=offset)
        if not _trades_all_day(schedule, calendar, following):
            return _at(calendar, following, time())
    return None


def _closed_reason(schedule: Schedule, calendar: ExchangeCalendar, today: date) -> tuple[bool, str]:
    info = calendar.day(today)
    exchange = calendar.exchange
    if info.kind is DayKind.WEEKEND:
        return True, f"{exchange} is closed for the weekend"
    if info.kind is DayKind.HOLIDAY:
        return True, f"{exchange} holiday {info.name}".rstrip()
    if info.session is not None:
        if not schedule.special_sessions:
            return (
                True,
                f"{exchange} {info.session.describe()}: this strategy skips special sessions",
            )
        return False, f"outside today's {exchange} {info.session.describe()}"
    if today.weekday() not in schedule.days:
        return False, f"not scheduled on {DAY_WORDS[today.weekday()]}s ({schedule.describe()})"
    return False, f"outside its window ({schedule.describe()})"


def _warnings(calendar: ExchangeCalendar, *days: date | None) -> tuple[str, ...]:
    return tuple(
        calendar.uncovered_warning(day)
        for day in dict.fromkeys(days)
        if day is not None and calendar.day(day).kind is DayKind.ASSUMED
    )


def format_local(instant: datetime, calendar: ExchangeCalendar) -> str:
    """An instant as the trader reads it: in the exchange's time zone, with the weekday."""
    return f"{instant.astimezone(calendar.tz):%a %Y-%m-%d %H:%M %Z}"


def _at(calendar: ExchangeCalendar, day: date, clock_time: time) -> datetime:
    return datetime.combine(day, clock_time, tzinfo=calendar.tz)
