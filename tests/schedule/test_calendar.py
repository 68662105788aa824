"""Exchange calendars: how a day is classified, and window decisions over the real library data."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from pathlib import Path

import pytest

from algovisor.schedule.calendar import (
    ALWAYS_OPEN,
    EXCHANGES,
    INDIA,
    CalendarBook,
    Day,
    DayKind,
    ExchangeCalendar,
    SpecialSession,
)
from algovisor.schedule.library import load_library_calendars
from algovisor.schedule.windows import Schedule, evaluate, make_schedule

# ----- classification -----------------------------------------------------------------

DIWALI = SpecialSession(time(18, 15), time(19, 15), "Muhurat")
HANDMADE = ExchangeCalendar(
    "NSE",
    holidays={date(2030, 7, 4): "Test Holiday", date(2030, 7, 6): "Saturday Holiday"},
    sessions={date(2030, 7, 5): DIWALI, date(2030, 7, 13): DIWALI},
    trading_days=frozenset({date(2030, 7, 20), date(2030, 7, 4), date(2030, 8, 3)}),
    covered_through=date(2030, 7, 31),
)


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (date(2030, 7, 1), Day(DayKind.TRADING)),
        (date(2030, 7, 4), Day(DayKind.TRADING)),  # listed as a holiday, but made trading
        (date(2030, 7, 5), Day(DayKind.SPECIAL, "Muhurat", DIWALI)),
        (date(2030, 7, 6), Day(DayKind.HOLIDAY, "Saturday Holiday")),
        (date(2030, 7, 7), Day(DayKind.WEEKEND, "weekend")),
        (date(2030, 7, 13), Day(DayKind.SPECIAL, "Muhurat", DIWALI)),  # a weekend session
        (date(2030, 7, 20), Day(DayKind.TRADING)),  # a working Saturday
        (date(2030, 7, 31), Day(DayKind.TRADING)),  # the last covered day
        (date(2030, 8, 1), Day(DayKind.ASSUMED)),
        (date(2030, 8, 3), Day(DayKind.TRADING)),  # made trading past coverage: not assumed
        (date(2030, 8, 4), Day(DayKind.WEEKEND, "weekend")),
    ],
)
def test_day_classification(day: date, expected: Day) -> None:
    assert HANDMADE.day(day) == expected
    assert HANDMADE.day(day).trades == (expected.kind in (DayKind.TRADING, DayKind.ASSUMED))


def test_coverage_descriptions() -> None:
    assert HANDMADE.coverage() == "holiday data through 2030-07-31"
    assert HANDMADE.covers(date(2030, 7, 31))
    assert not HANDMADE.covers(date(2030, 8, 1))
    assert HANDMADE.last_closure == date(2030, 7, 13)
    no_data = ExchangeCalendar("MCX")
    assert "no holiday data" in no_data.coverage()
    assert not no_data.covers(date(2030, 7, 1))
    assert no_data.day(date(2030, 7, 1)).kind is DayKind.ASSUMED
    assert no_data.last_closure is None
    crypto = ExchangeCalendar("CRYPTO", closed_days=frozenset())
    assert crypto.covers(date(2099, 1, 1))
    assert crypto.day(date(2030, 7, 6)).kind is DayKind.TRADING


def test_uncovered_warning() -> None:
    warning = HANDMADE.uncovered_warning(date(2030, 8, 1))
    assert warning.startswith("NSE calendar has no holiday data after 2030-07-31: Thu 2030-08-01")
    assert "override file" in warning
    assert (
        ExchangeCalendar("MCX")
        .uncovered_warning(date(2030, 8, 1))
        .startswith("MCX calendar has no holiday data: Thu 2030-08-01")
    )


# ----- the real library data ----------------------------------------------------------


@pytest.fixture
def library(calendar_cache: Path) -> dict[str, ExchangeCalendar]:
    """A fresh copy per test, so one test's memo never answers for another."""
    return load_library_calendars(calendar_cache)


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0):
    return datetime(year, month, day, hour, minute, second, tzinfo=INDIA)


def nse(start: str, stop: str | None, days: str = "mon-fri", **kwargs: bool) -> Schedule:
    return make_schedule(start, stop, days, "NSE", **kwargs)


def test_library_has_every_exchange(library: dict[str, ExchangeCalendar]) -> None:
    assert set(library) == set(EXCHANGES)
    for exchange, base in EXCHANGES.items():
        calendar = library[exchange]
        assert calendar.exchange == exchange
        if base is not None:
            assert calendar.covered_through is not None
            assert calendar.covered_through >= date(2026, 12, 31)
            assert calendar.holidays == library[base].holidays
        elif exchange in ALWAYS_OPEN:
            assert not calendar.closed_days
        else:
            assert calendar.covered_through is None
    assert library["NFO"].source.endswith("(follows NSE)")
    book = CalendarBook(library)
    assert book["NSE"] is library["NSE"]
    assert book.problem is None


DAY_HOURS = nse("09:15", "15:30")

# Feb 2026: Mon 2 .. Fri 6 is an ordinary week; Mon 2026-01-26 is Republic Day;
# Thu 2026-03-26 is Ram Navami.
LIBRARY_CASES: list[tuple[str, Schedule, datetime, bool, bool, str, datetime | None]] = [
    (
        "republic day",
        DAY_HOURS,
        at(2026, 1, 26, 10),
        False,
        True,
        "NSE holiday Republic Day",
        at(2026, 1, 27, 9, 15),
    ),
    (
        "started at 10:03",
        DAY_HOURS,
        at(2026, 2, 3, 10, 3),
        True,
        False,
        "inside",
        at(2026, 2, 3, 15, 30),
    ),
    (
        "exactly 15:30",
        DAY_HOURS,
        at(2026, 2, 3, 15, 30),
        False,
        False,
        "outside",
        at(2026, 2, 4, 9, 15),
    ),
    (
        "exactly 09:15",
        DAY_HOURS,
        at(2026, 2, 3, 9, 15),
        True,
        False,
        "inside",
        at(2026, 2, 3, 15, 30),
    ),
    (
        "weekend",
        DAY_HOURS,
        at(2026, 2, 7, 12),
        False,
        True,
        "NSE is closed for the weekend",
        at(2026, 2, 9, 9, 15),
    ),
    (
        "not the strategy's day",
        nse("09:15", "15:30", "mon,wed,fri"),
        at(2026, 2, 3, 10),
        False,
        False,
        "not scheduled on Tuesdays",
        at(2026, 2, 4, 9, 15),
    ),
    (
        "a holiday thursday's window does not run into friday",
        nse("21:00", "02:00"),
        at(2026, 3, 27, 1),
        False,
        False,
        "outside",
        at(2026, 3, 27, 21),
    ),
    (
        "wednesday's window runs into the holiday thursday",
        nse("21:00", "02:00"),
        at(2026, 3, 26, 1),
        True,
        False,
        "inside",
        at(2026, 3, 26, 2),
    ),
    (
        "no stop: monday 08:00",
        nse("09:00", None),
        at(2026, 2, 2, 8),
        False,
        False,
        "outside",
        at(2026, 2, 2, 9),
    ),
    (
        "no stop: monday 09:00",
        nse("09:00", None),
        at(2026, 2, 2, 9),
        True,
        False,
        "inside",
        at(2026, 2, 7),
    ),
    (
        "no stop: wednesday 03:00",
        nse("09:00", None),
        at(2026, 2, 4, 3),
        True,
        False,
        "inside",
        at(2026, 2, 7),
    ),
    (
        "no stop: friday 23:59:59",
        nse("09:00", None),
        at(2026, 2, 6, 23, 59, 59),
        True,
        False,
        "inside",
        at(2026, 2, 7),
    ),
    (
        "no stop: saturday 00:00",
        nse("09:00", None),
        at(2026, 2, 7),
        False,
        True,
        "weekend",
        at(2026, 2, 9, 9),
    ),
    # 2024-11-01 (a Friday): Muhurat trading 18:00-19:00 in the library data
    (
        "muhurat morning",
        DAY_HOURS,
        at(2024, 11, 1, 10),
        False,
        False,
        "outside today's NSE special session (Diwali Lakshmi Puja) 18:00-19:00",
        at(2024, 11, 1, 18),
    ),
    (
        "muhurat: the whole session",
        DAY_HOURS,
        at(2024, 11, 1, 18),
        True,
        False,
        "inside",
        at(2024, 11, 1, 19),
    ),
    (
        "muhurat ends",
        DAY_HOURS,
        at(2024, 11, 1, 19),
        False,
        False,
        "special session",
        at(2024, 11, 4, 9, 15),
    ),
    (
        "muhurat clipped, before",
        nse("17:00", "18:30"),
        at(2024, 11, 1, 17, 30),
        False,
        False,
        "special session",
        at(2024, 11, 1, 18),
    ),
    (
        "muhurat clipped",
        nse("17:00", "18:30"),
        at(2024, 11, 1, 18),
        True,
        False,
        "inside",
        at(2024, 11, 1, 18, 30),
    ),
    (
        "muhurat clipped, after",
        nse("17:00", "18:30"),
        at(2024, 11, 1, 18, 30),
        False,
        False,
        "special session",
        at(2024, 11, 4, 17),
    ),
    (
        "muhurat skipped",
        nse("09:15", "15:30", special_sessions=False),
        at(2024, 11, 1, 18, 30),
        False,
        True,
        "skips special sessions",
        at(2024, 11, 4, 9, 15),
    ),
]


@pytest.mark.parametrize(
    ("schedule", "instant", "is_open", "paused", "reason", "changes_at"),
    [case[1:] for case in LIBRARY_CASES],
    ids=[case[0] for case in LIBRARY_CASES],
)
def test_library_decisions(
    library: dict[str, ExchangeCalendar],
    schedule: Schedule,
    instant: datetime,
    is_open: bool,
    paused: bool,
    reason: str,
    changes_at: datetime | None,
) -> None:
    decision = evaluate(schedule, library["NSE"], instant)
    assert (decision.open, decision.exchange_closed) == (is_open, paused), decision
    assert reason in decision.reason
    assert decision.changes_at == changes_at
    assert decision.warnings == ()
    # the derivatives segment follows the same calendar
    nfo = Schedule(schedule.start, schedule.stop, schedule.days, "NFO", schedule.special_sessions)
    on_nfo = evaluate(nfo, library["NFO"], instant)
    assert (on_nfo.open, on_nfo.exchange_closed, on_nfo.changes_at) == (
        is_open,
        paused,
        changes_at,
    )


def test_nse_past_coverage_is_assumed_with_a_warning(library: dict[str, ExchangeCalendar]) -> None:
    calendar = library["NSE"]
    assert calendar.covered_through is not None
    monday = calendar.covered_through + timedelta(days=1)
    while monday.weekday() != 0:
        monday += timedelta(days=1)
    decision = evaluate(DAY_HOURS, calendar, datetime.combine(monday, time(10), tzinfo=INDIA))
    assert decision.open
    (warning,) = decision.warnings
    assert f"after {calendar.covered_through:%Y-%m-%d}" in warning
    assert f"{monday:%a %Y-%m-%d}" in warning


def test_nse_2027_is_past_coverage_today(library: dict[str, ExchangeCalendar]) -> None:
    """The brief's example; holds while the library covers 2026 and not 2027."""
    calendar = library["NSE"]
    if calendar.covered_through != date(2026, 12, 31):
        pytest.skip(f"library coverage moved to {calendar.covered_through}")
    decision = evaluate(DAY_HOURS, calendar, at(2027, 1, 4, 10))
    assert decision.open
    assert any("2026-12-31" in warning for warning in decision.warnings)


MCX_NIGHT = make_schedule("21:00", "02:00", "mon-fri", "MCX")


@pytest.mark.parametrize(
    ("instant", "is_open", "paused", "changes_at"),
    [
        (at(2026, 2, 6, 23), True, False, at(2026, 2, 7, 2)),  # Friday night
        (at(2026, 2, 7, 1, 59), True, False, at(2026, 2, 7, 2)),  # Saturday 01:59
        (at(2026, 2, 7, 2), False, True, at(2026, 2, 9, 21)),  # Saturday 02:00: paused
        (at(2026, 2, 8, 12), False, True, at(2026, 2, 9, 21)),  # Sunday
        (at(2026, 2, 9, 10), False, False, at(2026, 2, 9, 21)),  # Monday morning
        (at(2026, 1, 26, 22), True, False, at(2026, 1, 27, 2)),  # no MCX data: assumed to trade
    ],
)
def test_mcx_overnight_always_warns(
    library: dict[str, ExchangeCalendar],
    instant: datetime,
    is_open: bool,
    paused: bool,
    changes_at: datetime,
) -> None:
    decision = evaluate(MCX_NIGHT, library["MCX"], instant)
    assert (decision.open, decision.exchange_closed, decision.changes_at) == (
        is_open,
        paused,
        changes_at,
    )
    assert decision.warnings, "MCX has no holiday data: every decision must say so"
    assert all("MCX calendar has no holiday data" in warning for warning in decision.warnings)


def test_crypto_is_always_open(library: dict[str, ExchangeCalendar]) -> None:
    always = make_schedule("00:00", None, "daily", "crypto")
    calendar = library["CRYPTO"]
    for instant in (
        at(2026, 1, 26, 10),
        at(2026, 2, 7, 0),
        at(2026, 12, 31, 23, 59),
        at(2031, 5, 5),
    ):
        decision = evaluate(always, calendar, instant)
        assert (decision.open, decision.changes_at, decision.warnings) == (True, None, ())
