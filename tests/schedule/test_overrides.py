"""The calendar override file: parsing (a bad line names itself) and applying it to calendars."""

from __future__ import annotations

from datetime import date, datetime, time
from pathlib import Path

import pytest

from algovisor.schedule.calendar import INDIA, Day, DayKind, ExchangeCalendar, SpecialSession
from algovisor.schedule.library import load_library_calendars
from algovisor.schedule.overrides import (
    TEMPLATE,
    Override,
    OverrideError,
    apply_overrides,
    parse_overrides,
)
from algovisor.schedule.windows import evaluate, make_schedule

GOOD = """\
# my corrections
exchange,date,change,opens,closes,name

NSE,2026-11-09,holiday,,,Extra Holiday
nse , 2026-01-26 , trading
BSE,2026-02-07,trading,,,Budget Saturday
NSE,2026-11-08,session,18:00,19:15,Muhurat trading
  # an indented comment
NSE,2026-11-15,session,10:00,11:00
MCX,2026-12-31,covered-through,,,
MCX,2026-12-25,holiday,,,Christmas
"""


def test_parse_a_good_file() -> None:
    assert parse_overrides(GOOD) == [
        Override(4, "NSE", date(2026, 11, 9), "holiday", name="Extra Holiday"),
        Override(5, "NSE", date(2026, 1, 26), "trading"),
        Override(6, "BSE", date(2026, 2, 7), "trading", name="Budget Saturday"),
        Override(
            7,
            "NSE",
            date(2026, 11, 8),
            "session",
            SpecialSession(time(18), time(19, 15), "Muhurat trading"),
        ),
        Override(
            9,
            "NSE",
            date(2026, 11, 15),
            "session",
            SpecialSession(time(10), time(11), "special session"),
        ),
        Override(10, "MCX", date(2026, 12, 31), "covered-through"),
        Override(11, "MCX", date(2026, 12, 25), "holiday", name="Christmas"),
    ]


def test_the_header_is_optional_and_empty_files_are_fine() -> None:
    body = "NSE,2026-11-09,holiday,,,Extra\n"
    with_header = "exchange,date,change,opens,closes,name\n" + body
    assert [item.day for item in parse_overrides(body)] == [date(2026, 11, 9)]
    assert [item.day for item in parse_overrides(with_header)] == [date(2026, 11, 9)]
    assert parse_overrides("") == []
    assert parse_overrides("\n\n# nothing\n") == []
    assert parse_overrides(TEMPLATE) == []


def test_a_covered_through_line_is_not_a_duplicate() -> None:
    text = "MCX,2026-12-31,covered-through\nMCX,2026-12-31,holiday,,,Year end\n"
    assert [item.change for item in parse_overrides(text)] == ["covered-through", "holiday"]
    text = "MCX,2026-12-31,holiday,,,Year end\nMCX,2026-12-31,covered-through\n"
    assert [item.change for item in parse_overrides(text)] == ["holiday", "covered-through"]
    text = "MCX,2026-12-31,covered-through\nMCX,2026-12-31,covered-through\n"
    assert len(parse_overrides(text)) == 2


PREFIX = "# line 1\nexchange,date,change,opens,closes,name\nNSE,2026-11-09,holiday\n"

BAD_LINES: list[tuple[str, str, str]] = [
    ("unknown exchange", "LSE,2026-11-10,holiday", "unknown exchange 'LSE'"),
    ("bad date", "NSE,2026-13-01,holiday", "date '2026-13-01'"),
    ("not a date", "NSE,tomorrow,holiday", "date 'tomorrow'"),
    ("unknown change", "NSE,2026-11-10,closed", "unknown change 'closed'"),
    ("session closes before opens", "NSE,2026-11-10,session,19:00,18:00", "closes (18:00)"),
    ("session closes when it opens", "NSE,2026-11-10,session,18:00,18:00", "before it opens"),
    ("session with a bad time", "NSE,2026-11-10,session,6pm,19:00", "opening time '6pm'"),
    ("session with a bad closing", "NSE,2026-11-10,session,18:00,25:00", "closing time '25:00'"),
    ("session without times", "NSE,2026-11-10,session", "opening time ''"),
    ("holiday with times", "NSE,2026-11-10,holiday,09:15,15:30", "holiday line takes no"),
    ("trading with a time", "NSE,2026-11-10,trading,,15:30", "trading line takes no"),
    ("too few fields", "NSE,2026-11-10", "found 2 fields"),
    ("one field", "NSE", "found 1 fields"),
    ("too many fields", "NSE,2026-11-10,holiday,,,name,extra", "found 7 fields"),
    ("duplicate", "nse,2026-11-09,trading", "already changed on line 3"),
]


@pytest.mark.parametrize(
    ("bad", "message"), [case[1:] for case in BAD_LINES], ids=[case[0] for case in BAD_LINES]
)
def test_a_bad_line_is_named(bad: str, message: str) -> None:
    text = f"{PREFIX}\n# comment\n{bad}\nNSE,2026-12-01,holiday\n"
    with pytest.raises(OverrideError) as caught:
        parse_overrides(text)
    assert caught.value.line == 6
    assert str(caught.value).startswith("line 6: ")
    assert message in str(caught.value)


def test_the_first_bad_line_is_reported() -> None:
    text = "NSE,2026-11-09,holiday\nNSE,x,holiday\nLSE,2026-11-09,holiday\n"
    with pytest.raises(OverrideError) as caught:
        parse_overrides(text)
    assert caught.value.line == 2


def test_a_quoted_name_with_a_comma() -> None:
    (item,) = parse_overrides('NSE,2026-11-09,holiday,,,"Diwali, day 2"\n')
    assert item.name == "Diwali, day 2"


# ----- applying ------------------------------------------------------------------------

NOVEMBER = date(2030, 11, 4)  # a Monday
BASE = ExchangeCalendar(
    "NSE",
    holidays={date(2030, 11, 5): "Library Holiday"},
    sessions={date(2030, 11, 6): SpecialSession(time(18), time(19), "Library session")},
    covered_through=date(2030, 12, 31),
    source="library",
)
MCX = ExchangeCalendar("MCX", source="no maintained calendar")
LIBRARY = {"NSE": BASE, "MCX": MCX}


def apply(text: str) -> dict[str, ExchangeCalendar]:
    return apply_overrides(LIBRARY, parse_overrides(text))


@pytest.mark.parametrize(
    ("text", "day", "kind", "name"),
    [
        ("NSE,2030-11-07,holiday,,,Added", date(2030, 11, 7), DayKind.HOLIDAY, "Added"),
        ("NSE,2030-11-05,trading", date(2030, 11, 5), DayKind.TRADING, ""),
        ("NSE,2030-11-09,trading", date(2030, 11, 9), DayKind.TRADING, ""),  # a Saturday
        ("NSE,2030-11-06,holiday,,,Closed", date(2030, 11, 6), DayKind.HOLIDAY, "Closed"),
        ("NSE,2030-11-06,trading", date(2030, 11, 6), DayKind.TRADING, ""),
        ("NSE,2030-11-05,session,10:00,11:00,Short", date(2030, 11, 5), DayKind.SPECIAL, "Short"),
        (
            "NSE,2030-11-10,session,10:00,11:00,Sunday",
            date(2030, 11, 10),
            DayKind.SPECIAL,
            "Sunday",
        ),
        ("MCX,2030-11-07,holiday,,,MCX only", date(2030, 11, 7), DayKind.HOLIDAY, "MCX only"),
    ],
)
def test_apply_one_change(text: str, day: date, kind: DayKind, name: str) -> None:
    before = {exchange: calendar.day(day) for exchange, calendar in LIBRARY.items()}
    exchange = text.split(",", maxsplit=1)[0]
    changed = apply(text)
    assert changed[exchange].day(day).kind is kind
    assert changed[exchange].day(day).name == name
    assert changed[exchange].source.endswith(" + overrides")
    for other, calendar in changed.items():
        if other != exchange:
            assert calendar is LIBRARY[other]
    # the library's calendars are untouched, even though they had answered for `day` already
    assert {exchange: calendar.day(day) for exchange, calendar in LIBRARY.items()} == before
    assert BASE.holidays == {date(2030, 11, 5): "Library Holiday"}
    assert set(BASE.sessions) == {date(2030, 11, 6)}
    assert BASE.trading_days == frozenset()


def test_a_session_override_drives_the_window() -> None:
    changed = apply("NSE,2030-11-05,session,18:00,19:15,Muhurat")
    day_hours = make_schedule("09:15", "15:30", "mon-fri", "NSE")
    morning = datetime(2030, 11, 5, 10, tzinfo=INDIA)
    assert evaluate(day_hours, BASE, morning).exchange_closed  # the library's holiday
    decision = evaluate(day_hours, changed["NSE"], morning)
    assert not decision.open
    assert not decision.exchange_closed
    assert decision.changes_at == datetime(2030, 11, 5, 18, tzinfo=INDIA)


def test_covered_through_extends_coverage() -> None:
    day = date(2031, 1, 6)
    assert BASE.day(day).kind is DayKind.ASSUMED
    assert MCX.day(day).kind is DayKind.ASSUMED
    changed = apply("NSE,2031-03-31,covered-through\nMCX,2031-01-31,covered-through\n")
    assert changed["NSE"].covered_through == date(2031, 3, 31)
    assert changed["NSE"].day(day).kind is DayKind.TRADING
    assert changed["MCX"].covered_through == date(2031, 1, 31)
    assert changed["MCX"].day(day).kind is DayKind.TRADING
    assert changed["MCX"].day(date(2031, 2, 3)).kind is DayKind.ASSUMED
    assert "holiday data through 2031-01-31" in changed["MCX"].coverage()
    # a date before the library's own coverage never shrinks it
    assert apply("NSE,2030-06-30,covered-through")["NSE"].covered_through == date(2030, 12, 31)
    # the latest of several wins
    text = "MCX,2031-05-31,covered-through\nMCX,2031-01-31,covered-through\n"
    assert apply(text)["MCX"].covered_through == date(2031, 5, 31)


def test_applied_calendars_start_with_an_empty_memo() -> None:
    day_hours = make_schedule("09:15", "15:30", "mon-fri", "NSE")
    instant = datetime(2030, 11, 7, 10, tzinfo=INDIA)
    assert evaluate(day_hours, BASE, instant).open
    closed = apply("NSE,2030-11-07,holiday,,,New")["NSE"]
    assert "New" in evaluate(day_hours, closed, instant).reason
    assert evaluate(day_hours, BASE, instant).open


def test_no_overrides_returns_the_library() -> None:
    result = apply_overrides(LIBRARY, [])
    assert result == LIBRARY
    assert result is not LIBRARY


def test_apply_to_the_real_library(calendar_cache: Path) -> None:
    library = load_library_calendars(calendar_cache)
    republic_day = date(2026, 1, 26)
    changed = apply_overrides(library, parse_overrides(GOOD))
    assert library["NSE"].day(republic_day).kind is DayKind.HOLIDAY
    assert changed["NSE"].day(republic_day).kind is DayKind.TRADING
    assert changed["BSE"].day(date(2026, 2, 7)).kind is DayKind.TRADING
    assert changed["NSE"].day(date(2026, 11, 8)).session == SpecialSession(
        time(18), time(19, 15), "Muhurat trading"
    )
    assert changed["MCX"].day(date(2026, 12, 25)).name == "Christmas"
    assert changed["MCX"].day(date(2026, 12, 24)).kind is DayKind.TRADING
    assert library["MCX"].day(date(2026, 12, 24)).kind is DayKind.ASSUMED
    # NFO and CDS follow NSE's holiday list, so NSE's changes reach them; BSE's reach BFO.
    assert changed["NFO"].day(republic_day).kind is DayKind.TRADING
    assert changed["CDS"].day(republic_day).kind is DayKind.TRADING
    assert changed["BFO"].day(date(2026, 2, 7)).kind is DayKind.TRADING
    assert library["NFO"].day(republic_day).kind is DayKind.HOLIDAY
    assert changed["CRYPTO"] is library["CRYPTO"]


def test_a_segment_line_wins_over_its_parent_exchange(calendar_cache: Path) -> None:
    library = load_library_calendars(calendar_cache)
    republic_day = date(2026, 1, 26)
    text = "NSE,2026-01-26,trading,,,\nNFO,2026-01-26,holiday,,,F&O stays shut\n"
    changed = apply_overrides(library, parse_overrides(text))
    assert changed["NSE"].day(republic_day).kind is DayKind.TRADING
    assert changed["CDS"].day(republic_day).kind is DayKind.TRADING
    assert changed["NFO"].day(republic_day) == Day(DayKind.HOLIDAY, "F&O stays shut")
