"""Library holiday data and its JSON cache: the cache gives what a fresh extraction gives,
and a stale or broken cache is rebuilt, never an error."""

from __future__ import annotations

import json
import shutil
from datetime import date, time
from pathlib import Path
from typing import Any

import pytest

from algovisor.schedule.calendar import DayKind, ExchangeCalendar, SpecialSession
from algovisor.schedule.library import library_versions, load_library_calendars

FAKE_DAY = date(2026, 2, 4)  # an ordinary Wednesday in the real data


def snapshot(calendars: dict[str, ExchangeCalendar]) -> dict[str, tuple[Any, ...]]:
    return {
        code: (
            calendar.exchange,
            dict(calendar.holidays),
            dict(calendar.sessions),
            calendar.covered_through,
            calendar.trading_days,
            calendar.source,
            calendar.closed_days,
            calendar.tz,
        )
        for code, calendar in calendars.items()
    }


@pytest.fixture(scope="module")
def expected(calendar_cache: Path) -> dict[str, tuple[Any, ...]]:
    return snapshot(load_library_calendars(calendar_cache))


def with_fake_holiday(calendar_cache: Path, versions: dict[str, str]) -> str:
    cached = json.loads(calendar_cache.read_text())
    cached["versions"] = versions
    cached["calendars"]["NSE"]["holidays"][FAKE_DAY.isoformat()] = "Fake Holiday"
    return json.dumps(cached)


def test_the_cache_is_read(tmp_path: Path, calendar_cache: Path) -> None:
    """A cache for these library versions is used as it is (nothing is re-extracted)."""
    path = tmp_path / "cache.json"
    path.write_text(with_fake_holiday(calendar_cache, library_versions()))
    calendars = load_library_calendars(path)
    assert calendars["NSE"].holidays[FAKE_DAY] == "Fake Holiday"
    assert calendars["NFO"].holidays[FAKE_DAY] == "Fake Holiday"
    assert FAKE_DAY not in calendars["BSE"].holidays


def test_a_stale_cache_is_rebuilt_and_round_trips(
    tmp_path: Path, calendar_cache: Path, expected: dict[str, tuple[Any, ...]]
) -> None:
    path = tmp_path / "cache.json"
    stale = {**library_versions(), "pandas_market_calendars": "0.0.1"}
    path.write_text(with_fake_holiday(calendar_cache, stale))

    fresh = load_library_calendars(path)  # extracted from the libraries
    assert FAKE_DAY not in fresh["NSE"].holidays
    rewritten = json.loads(path.read_text())
    assert rewritten["versions"] == library_versions()

    cached = load_library_calendars(path)  # read back from the cache just written
    assert snapshot(cached) == snapshot(fresh) == expected
    assert cached["NSE"] is not fresh["NSE"]


@pytest.mark.parametrize(
    "content",
    [
        "{not json",
        json.dumps({"versions": library_versions(), "calendars": {"NSE": {}}}),
    ],
    ids=["not json", "missing an exchange"],
)
def test_a_broken_cache_is_ignored(
    tmp_path: Path, content: str, expected: dict[str, tuple[Any, ...]]
) -> None:
    path = tmp_path / "cache.json"
    path.write_text(content)
    assert snapshot(load_library_calendars(path)) == expected
    assert json.loads(path.read_text())["versions"] == library_versions()


def test_a_good_cache_is_not_rewritten(
    tmp_path: Path, calendar_cache: Path, expected: dict[str, tuple[Any, ...]]
) -> None:
    copy = tmp_path / "cache.json"
    shutil.copyfile(calendar_cache, copy)
    assert snapshot(load_library_calendars(copy)) == expected
    assert copy.read_bytes() == calendar_cache.read_bytes()


def test_what_the_library_data_says(expected: dict[str, tuple[Any, ...]]) -> None:
    _, holidays, sessions, covered_through, *_ = expected["NSE"]
    assert holidays[date(2026, 1, 26)] == "Republic Day"
    assert sessions[date(2024, 11, 1)] == SpecialSession(
        time(18), time(19), "special session (Diwali Lakshmi Puja)"
    )
    assert covered_through >= date(2026, 12, 31)
    assert all(day.weekday() < 5 for day in holidays)
    assert all(day.year >= 2015 for day in holidays)
    assert not any("(estimated)" in name for name in holidays.values())
    assert expected["MCX"][3] is None
    assert expected["CRYPTO"][6] == frozenset()


def test_library_calendars_answer_days(calendar_cache: Path) -> None:
    calendars = load_library_calendars(calendar_cache)
    assert calendars["NSE"].day(date(2026, 1, 26)).kind is DayKind.HOLIDAY
    assert calendars["BSE"].day(date(2026, 1, 26)).kind is DayKind.HOLIDAY
    assert calendars["NSE"].day(date(2024, 11, 1)).kind is DayKind.SPECIAL
    assert calendars["MCX"].day(date(2026, 1, 26)).kind is DayKind.ASSUMED
    assert calendars["CRYPTO"].day(date(2026, 1, 25)).kind is DayKind.TRADING
