"""Exchange calendars as immutable data: which days trade, which are holidays, which are special.

A calendar knows its own coverage: past `covered_through` it has no holiday data,
so a weekday there is *assumed* to trade and every answer says so.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, time
from enum import StrEnum
from functools import cached_property
from zoneinfo import ZoneInfo

INDIA = ZoneInfo("Asia/Kolkata")
SATURDAY, SUNDAY = 5, 6
WEEKEND = frozenset({SATURDAY, SUNDAY})

# Exchange code -> the exchange whose published holiday list it follows.
# Derivatives and currency segments close with their parent exchange; MCX
# publishes its own list (no maintained library has it); CRYPTO never closes.
EXCHANGES: dict[str, str | None] = {
    "NSE": "NSE",
    "NFO": "NSE",
    "CDS": "NSE",
    "BSE": "BSE",
    "BFO": "BSE",
    "MCX": None,
    "CRYPTO": None,
}
ALWAYS_OPEN = frozenset({"CRYPTO"})


class DayKind(StrEnum):
    TRADING = "trading"
    WEEKEND = "weekend"
    HOLIDAY = "holiday"
    SPECIAL = "special"  # a session at other hours: Muhurat trading, a weekend budget day
    ASSUMED = "assumed"  # a weekday past the calendar's coverage: assumed to trade


@dataclass(frozen=True, slots=True)
class SpecialSession:
    opens: time
    closes: time
    name: str

    def describe(self) -> str:
        return f"{self.name} {self.opens:%H:%M}-{self.closes:%H:%M}"


@dataclass(frozen=True, slots=True)
class Day:
    kind: DayKind
    name: str = ""  # the holiday's or session's name
    session: SpecialSession | None = None

    @property
    def trades(self) -> bool:
        return self.kind in (DayKind.TRADING, DayKind.ASSUMED)


TRADING_DAY = Day(DayKind.TRADING)
WEEKEND_DAY = Day(DayKind.WEEKEND, "weekend")
ASSUMED_DAY = Day(DayKind.ASSUMED)


@dataclass(frozen=True, eq=False)
class ExchangeCalendar:
    """One exchange's trading days; `day()` is the only question the scheduler asks."""

    exchange: str
    holidays: Mapping[date, str] = field(default_factory=dict)
    sessions: Mapping[date, SpecialSession] = field(default_factory=dict)
    covered_through: date | None = None  # None: no holiday data at all
    trading_days: frozenset[date] = frozenset()  # open whatever the weekday or holiday list says
    source: str = ""
    closed_days: frozenset[int] = WEEKEND
    tz: ZoneInfo = INDIA
    _days: dict[date, Day] = field(default_factory=dict, repr=False, compare=False)
    # Answers computed over this calendar, kept by their users (the scheduler's
    # window decisions); they die with the calendar when the book is replaced.
    memo: dict[object, object] = field(default_factory=dict, repr=False, compare=False)

    def day(self, day: date) -> Day:
        """What kind of day `day` is on this exchange (memoized: calendars never change)."""
        known = self._days.get(day)
        if known is None:
            known = self._days[day] = self._classify(day)
        return known

    def _classify(self, day: date) -> Day:
        session = self.sessions.get(day)
        if session is not None:
            return Day(DayKind.SPECIAL, session.name, session)
        if day in self.trading_days:
            return TRADING_DAY
        name = self.holidays.get(day)
        if name is not None:
            return Day(DayKind.HOLIDAY, name)
        if day.weekday() in self.closed_days:
            return WEEKEND_DAY
        if not self.covers(day):
            return ASSUMED_DAY
        return TRADING_DAY

    @cached_property
    def last_closure(self) -> date | None:
        """The last date this calendar closes or trades unusually; None if it never does."""
        return max((*self.holidays, *self.sessions), default=None)

    def covers(self, day: date) -> bool:
        return self.exchange in ALWAYS_OPEN or (
            self.covered_through is not None and day <= self.covered_through
        )

    def coverage(self) -> str:
        if self.exchange in ALWAYS_OPEN:
            return "trades every day; no holidays"
        if self.covered_through is None:
            return "no holiday data: every weekday is assumed to trade"
        return f"holiday data through {self.covered_through:%Y-%m-%d}"

    def uncovered_warning(self, day: date) -> str:
        """What to tell the trader when a decision rests on an assumed trading day."""
        gap = f"{self.exchange} calendar has no holiday data"
        if self.covered_through is not None:
            gap += f" after {self.covered_through:%Y-%m-%d}"
        return (
            f"{gap}: {day:%a %Y-%m-%d} is assumed to be a trading day; "
            "add its holidays to the calendar override file"
        )


@dataclass(frozen=True, eq=False)
class CalendarBook:
    """Every exchange's calendar at one moment; replaced whole, never edited in place."""

    calendars: Mapping[str, ExchangeCalendar]
    problem: str | None = None  # the override file could not be used: why, and what is in force

    def __getitem__(self, exchange: str) -> ExchangeCalendar:
        return self.calendars[exchange]
