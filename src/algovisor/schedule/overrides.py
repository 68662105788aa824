"""The trader's own corrections to the exchange calendars, from a CSV file in the data directory.

One change per line: `exchange,date,change,opens,closes,name`, where change is
`holiday` (closed), `trading` (open, even if the library or the weekday says
closed), `session` (a special session from `opens` to `closes`) or
`covered-through` (the trader vouches for this exchange's list up to that date).
A line for NSE applies to NFO and CDS too, and one for BSE to BFO.
A line that cannot be read rejects the whole file, naming the line, so a typo
never half-applies.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date

from algovisor.schedule.calendar import EXCHANGES, ExchangeCalendar, SpecialSession
from algovisor.schedule.windows import ScheduleError, parse_time

CHANGES = ("holiday", "trading", "session", "covered-through")
COLUMNS = ("exchange", "date", "change", "opens", "closes", "name")

TEMPLATE = """\
# algovisor calendar overrides: your corrections to the exchange holiday lists.
# One change per line; lines starting with # are ignored. Times are IST, 24-hour HH:MM.
#   holiday          the exchange is closed that day
#   trading          the exchange is open that day (a cancelled holiday, a working Saturday)
#   session          a special session, e.g. Muhurat trading, from `opens` to `closes`
#   covered-through  every holiday up to this date is listed (silences the coverage warning)
# The host reloads this file when it changes; if a line is wrong it keeps the last good
# version and reports the line (algovisor calendar check).
exchange,date,change,opens,closes,name
# NSE,2026-11-08,session,18:00,19:15,Muhurat trading
# MCX,2026-12-31,covered-through,,,
"""


class OverrideError(ValueError):
    """The file cannot be used; `line` is the 1-based line that failed."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}")
        self.line = line


@dataclass(frozen=True, slots=True)
class Override:
    line: int
    exchange: str
    day: date
    change: str
    session: SpecialSession | None = None
    name: str = ""


def parse_overrides(text: str) -> list[Override]:
    """Every change in the file, or an `OverrideError` naming the first bad line."""
    overrides: list[Override] = []
    seen: dict[tuple[str, date], int] = {}
    reader = csv.reader(io.StringIO(text))
    for row in reader:
        line = reader.line_num
        cells = [cell.strip() for cell in row]
        if not any(cells) or cells[0].startswith("#"):
            continue
        if [cell.lower() for cell in cells[:3]] == list(COLUMNS[:3]):
            continue  # the header
        override = _parse_row(line, cells)
        key = (override.exchange, override.day)
        if override.change != "covered-through":  # a bound, not a change to the day
            if key in seen:
                raise OverrideError(
                    line,
                    f"{override.exchange} {override.day} is already changed on line {seen[key]}",
                )
            seen[key] = line
        overrides.append(override)
    return overrides


def _parse_row(line: int, cells: list[str]) -> Override:
    if len(cells) < 3 or len(cells) > len(COLUMNS):
        raise OverrideError(
            line, f"expected {','.join(COLUMNS)} (3 to 6 fields), found {len(cells)} fields"
        )
    exchange, day_text, change, *rest = cells
    opens_text, closes_text, name = [*rest, "", "", ""][:3]
    code = exchange.upper()
    if code not in EXCHANGES:
        raise OverrideError(
            line, f"unknown exchange {exchange!r}; use one of {', '.join(EXCHANGES)}"
        )
    try:
        day = date.fromisoformat(day_text)
    except ValueError:
        raise OverrideError(line, f"date {day_text!r} is not a date like 2026-11-08") from None
    if change.lower() not in CHANGES:
        raise OverrideError(line, f"unknown change {change!r}; use one of {', '.join(CHANGES)}")
    change = change.lower()
    if change != "session":
        if opens_text or closes_text:
            raise OverrideError(line, f"a {change} line takes no opening or closing time")
        return Override(line, code, day, change, name=name)
    try:
        opens, closes = parse_time(opens_text, "opening"), parse_time(closes_text, "closing")
    except ScheduleError as error:
        raise OverrideError(line, str(error)) from None
    if closes <= opens:
        raise OverrideError(
            line, f"the session closes ({closes:%H:%M}) before it opens ({opens:%H:%M})"
        )
    return Override(
        line, code, day, change, SpecialSession(opens, closes, name or "special session")
    )


def apply_overrides(
    calendars: Mapping[str, ExchangeCalendar], overrides: list[Override]
) -> dict[str, ExchangeCalendar]:
    """New calendars with the changes applied; the library's are left untouched.

    A change to an exchange also changes the segments that follow its holiday
    list (NSE: NFO and CDS; BSE: BFO), unless a line for the segment itself
    says otherwise for that date.
    """
    result = dict(calendars)
    for exchange, calendar in calendars.items():
        parent = EXCHANGES.get(exchange)
        inherited = [item for item in overrides if parent != exchange and item.exchange == parent]
        own = [item for item in overrides if item.exchange == exchange]
        if inherited or own:
            result[exchange] = _changed(calendar, inherited + own)
    return result


def _changed(base: ExchangeCalendar, overrides: list[Override]) -> ExchangeCalendar:
    holidays = dict(base.holidays)
    sessions = dict(base.sessions)
    trading_days = set(base.trading_days)
    covered_through = base.covered_through
    for override in overrides:
        day = override.day
        if override.change == "covered-through":
            covered_through = max(covered_through or day, day)
            continue
        holidays.pop(day, None)
        sessions.pop(day, None)
        trading_days.discard(day)
        if override.change == "holiday":
            holidays[day] = override.name
        elif override.change == "trading":
            trading_days.add(day)
        elif override.session is not None:
            sessions[day] = override.session
    return replace(
        base,
        holidays=holidays,
        sessions=sessions,
        trading_days=frozenset(trading_days),
        covered_through=covered_through,
        source=f"{base.source} + overrides",
        _days={},
        memo={},
    )
