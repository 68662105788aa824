"""Holiday data from maintained libraries, turned into plain calendars and cached on disk.

pandas_market_calendars is the source of record for NSE and BSE: its dates are
curated from the exchanges' circulars and its coverage is explicit. It carries
no holiday names, so names come from python-holidays where it agrees on the
date. Importing pandas costs about half a second, so what we extract is cached
as JSON keyed by both libraries' versions and rebuilt only when they change.
"""

from __future__ import annotations

import json
import logging
from datetime import date, time
from importlib.metadata import version
from pathlib import Path
from typing import Any

from algovisor.runner.files import write_atomically
from algovisor.schedule.calendar import (
    ALWAYS_OPEN,
    EXCHANGES,
    ExchangeCalendar,
    SpecialSession,
)

logger = logging.getLogger(__name__)

LIBRARY_CODES = {"NSE": "XNSE", "BSE": "XBOM"}
FIRST_YEAR = 2015  # older history is of no use to a scheduler
CACHE_FORMAT = 1


def library_versions() -> dict[str, str]:
    return {
        "format": str(CACHE_FORMAT),
        "pandas_market_calendars": version("pandas_market_calendars"),
        "holidays": version("holidays"),
    }


def load_library_calendars(cache_path: Path | None) -> dict[str, ExchangeCalendar]:
    """Every supported exchange's calendar from library data (cached at `cache_path`)."""
    data = _read_cache(cache_path) if cache_path is not None else None
    if data is None:
        data = {base: _extract(code) for base, code in LIBRARY_CODES.items()}
        if cache_path is not None:
            _write_cache(cache_path, data)
    calendars = {}
    for exchange, base in EXCHANGES.items():
        if base is None:
            source = "every day" if exchange in ALWAYS_OPEN else "no maintained calendar"
            calendars[exchange] = ExchangeCalendar(
                exchange,
                source=source,
                closed_days=frozenset() if exchange in ALWAYS_OPEN else frozenset({5, 6}),
            )
        else:
            calendars[exchange] = _from_json(exchange, base, data[base])
    return calendars


def _extract(code: str) -> dict[str, Any]:
    """Holidays, special sessions and coverage of one library calendar, as JSON."""
    import holidays
    import pandas_market_calendars

    calendar = pandas_market_calendars.get_calendar(code)
    covered_through = date(max(day.year for day in calendar.adhoc_holidays), 12, 31)
    first = date(FIRST_YEAR, 1, 1)
    years = range(FIRST_YEAR, covered_through.year + 1)
    names = holidays.financial_holidays(code, years=years)
    regular_open = calendar.regular_market_times["market_open"][-1][1]
    regular_close = calendar.regular_market_times["market_close"][-1][1]
    schedule = calendar.schedule(start_date=first, end_date=covered_through, tz=calendar.tz)
    sessions: dict[str, Any] = {}
    traded: set[date] = set()
    for label, row in schedule.iterrows():
        day = label.date()
        traded.add(day)
        opens, closes = row["market_open"].time(), row["market_close"].time()
        if (opens, closes) != (regular_open, regular_close):
            name = _clean(names.get(day))
            sessions[day.isoformat()] = {
                "opens": f"{opens:%H:%M}",
                "closes": f"{closes:%H:%M}",
                "name": f"special session ({name})" if name else "special session",
            }
    holiday_names = {}
    for day in _weekdays(first, covered_through):
        if day not in traded:
            holiday_names[day.isoformat()] = _clean(names.get(day))
    return {
        "covered_through": covered_through.isoformat(),
        "holidays": holiday_names,
        "sessions": sessions,
    }


def _weekdays(first: date, last: date) -> list[date]:
    return [
        date.fromordinal(ordinal)
        for ordinal in range(first.toordinal(), last.toordinal() + 1)
        if date.fromordinal(ordinal).weekday() < 5
    ]


def _clean(name: str | None) -> str:
    if not name:
        return ""
    # python-holidays marks lunar dates it computed rather than read as "(estimated)";
    # the date itself comes from the exchange's own list, so the mark would mislead.
    return "; ".join(part.replace(" (estimated)", "") for part in name.split("; "))


def _from_json(exchange: str, base: str, data: dict[str, Any]) -> ExchangeCalendar:
    source = f"pandas_market_calendars {LIBRARY_CODES[base]}"
    if base != exchange:
        source += f" (follows {base})"
    return ExchangeCalendar(
        exchange,
        holidays={date.fromisoformat(day): name for day, name in data["holidays"].items()},
        sessions={
            date.fromisoformat(day): SpecialSession(
                time.fromisoformat(item["opens"]), time.fromisoformat(item["closes"]), item["name"]
            )
            for day, item in data["sessions"].items()
        },
        covered_through=date.fromisoformat(data["covered_through"]),
        source=source,
    )


def _read_cache(path: Path) -> dict[str, Any] | None:
    try:
        cached = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as error:
        logger.warning("ignoring unreadable calendar cache %s: %s", path, error)
        return None
    if not isinstance(cached, dict) or cached.get("versions") != library_versions():
        return None
    data = cached.get("calendars")
    return data if isinstance(data, dict) and set(data) == set(LIBRARY_CODES) else None


def _write_cache(path: Path, data: dict[str, Any]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = json.dumps({"versions": library_versions(), "calendars": data}, indent=1)
        write_atomically(str(path), payload.encode())
    except OSError as error:
        logger.warning("could not cache calendars at %s: %s", path, error)
