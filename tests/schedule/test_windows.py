"""Schedules: parsing what a trader types, and evaluate() over a calendar built here.

The calendar below is synthetic (July 2030) so every holiday, special session
and the coverage end are known; test_calendar.py repeats the important cases
over the real library data.
"""

from __future__ import annotations

import os
import random
import time as time_module
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from algovisor.schedule.calendar import (
    EXCHANGES,
    INDIA,
    DayKind,
    ExchangeCalendar,
    SpecialSession,
)
from algovisor.schedule.windows import (
    Schedule,
    ScheduleError,
    WindowDecision,
    evaluate,
    format_days,
    format_local,
    make_schedule,
    parse_days,
    parse_exchange,
    parse_time,
    window_close,
)

#      July 2030
# Mo Tu We Th Fr Sa Su
#  1  2  3  4  5  6  7      4 Thu: holiday
#  8  9 10 11 12 13 14     10 Wed: holiday; 13 Sat: special session 10:00-12:00
# 15 16 17 18 19 20 21     20 Sat: a working Saturday
# 22 23 24 25 26 27 28
# 29 30 31                 coverage ends on the 31st
HOLIDAYS = {date(2030, 7, 4): "Test Holiday", date(2030, 7, 10): "Midweek Holiday"}
SESSIONS = {date(2030, 7, 13): SpecialSession(time(10, 0), time(12, 0), "Budget session")}
WORKING_SATURDAY = date(2030, 7, 20)
COVERED_THROUGH = date(2030, 7, 31)


def synthetic_calendar() -> ExchangeCalendar:
    return ExchangeCalendar(
        "NSE",
        holidays=HOLIDAYS,
        sessions=SESSIONS,
        covered_through=COVERED_THROUGH,
        trading_days=frozenset({WORKING_SATURDAY}),
        source="test",
    )


def ist(day: int, hour: int = 0, minute: int = 0, second: int = 0, month: int = 7) -> datetime:
    return datetime(2030, month, day, hour, minute, second, tzinfo=INDIA)


def schedule(
    start: str, stop: str | None, days: str = "mon-fri", special_sessions: bool = True
) -> Schedule:
    return make_schedule(start, stop, days, "NSE", special_sessions)


DAY_HOURS = schedule("09:15", "15:30")
OVERNIGHT = schedule("21:00", "02:00")
NO_STOP = schedule("09:00", None)

# ----- parsing ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("09:15", time(9, 15)),
        ("00:00", time(0, 0)),
        ("23:59", time(23, 59)),
        (" 21:00 ", time(21, 0)),
    ],
)
def test_parse_time_accepts_24_hour_times(text: str, expected: time) -> None:
    assert parse_time(text, "start") == expected


@pytest.mark.parametrize("text", ["25:00", "24:00", "9:5", "9:15", "", "12:60", "0915", "9.15"])
def test_parse_time_rejects_and_names_the_text(text: str) -> None:
    with pytest.raises(ScheduleError) as caught:
        parse_time(text, "stop")
    message = str(caught.value)
    assert f"stop time {text!r}" in message
    assert "HH:MM" in message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mon-fri", {0, 1, 2, 3, 4}),
        ("mon,wed,fri", {0, 2, 4}),
        ("sat-sun", {5, 6}),
        ("fri-mon", {4, 5, 6, 0}),
        ("sun-mon", {6, 0}),
        ("daily", set(range(7))),
        ("all", set(range(7))),
        ("DAILY", set(range(7))),
        ("monday", {0}),
        ("Monday-Wednesday", {0, 1, 2}),
        ("tue", {1}),
        (" Mon , Fri ", {0, 4}),
        ("mon-tue,thu-fri", {0, 1, 3, 4}),
        ("mon-mon", {0}),
    ],
)
def test_parse_days(text: str, expected: set[int]) -> None:
    assert parse_days(text) == frozenset(expected)


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("", "no days"),
        (" , ", "no days"),
        ("fry", "'fry'"),
        ("mon-", "''"),
        ("mon-fry", "'fry'"),
        ("weekdays", "'weekdays'"),
    ],
)
def test_parse_days_rejects(text: str, named: str) -> None:
    with pytest.raises(ScheduleError) as caught:
        parse_days(text)
    assert named in str(caught.value)


@pytest.mark.parametrize(
    ("days", "text"),
    [
        ({0, 1, 2, 3, 4}, "mon-fri"),
        ({0, 2, 4}, "mon,wed,fri"),
        ({5, 6}, "sat,sun"),
        (set(range(7)), "daily"),
        ({1}, "tue"),
        ({0, 1, 2}, "mon-wed"),
        ({4, 5, 6, 0}, "mon,fri,sat,sun"),
    ],
)
def test_format_days_round_trips(days: set[int], text: str) -> None:
    assert format_days(frozenset(days)) == text
    assert parse_days(text) == frozenset(days)


def test_format_days_round_trips_every_set_of_days() -> None:
    for mask in range(1, 128):
        days = frozenset(day for day in range(7) if mask & (1 << day))
        assert parse_days(format_days(days)) == days


@pytest.mark.parametrize("code", list(EXCHANGES))
def test_parse_exchange_is_case_insensitive(code: str) -> None:
    assert parse_exchange(code) == code
    assert parse_exchange(f" {code.lower()} ") == code


@pytest.mark.parametrize("text", ["NASDAQ", "", "nse2"])
def test_parse_exchange_rejects_unknown_listing_the_known(text: str) -> None:
    with pytest.raises(ScheduleError) as caught:
        parse_exchange(text)
    message = str(caught.value)
    assert repr(text) in message
    for code in EXCHANGES:
        assert code in message


def test_make_schedule_builds_a_checked_schedule() -> None:
    made = make_schedule("21:00", "02:00", "mon-fri", "mcx", special_sessions=False)
    assert made == Schedule(time(21), time(2), frozenset(range(5)), "MCX", False)
    assert made.describe() == "21:00-02:00 IST mon-fri on MCX, skips special sessions"
    assert make_schedule("09:00", None, "daily", "NSE").describe() == "from 09:00 IST daily on NSE"
    assert make_schedule("09:00", "", "daily", "NSE").stop is None


@pytest.mark.parametrize(
    ("start", "stop", "days", "exchange", "named"),
    [
        ("09:15", "09:15", "mon-fri", "NSE", "both 09:15"),
        ("9:15", "15:30", "mon-fri", "NSE", "start time '9:15'"),
        ("09:15", "15:61", "mon-fri", "NSE", "stop time '15:61'"),
        ("09:15", "15:30", "fry", "NSE", "'fry'"),
        ("09:15", "15:30", "mon-fri", "LSE", "'LSE'"),
    ],
)
def test_make_schedule_rejects(start: str, stop: str, days: str, exchange: str, named: str) -> None:
    with pytest.raises(ScheduleError) as caught:
        make_schedule(start, stop, days, exchange)
    assert named in str(caught.value)


# ----- evaluate() over the synthetic calendar ----------------------------------------

Expected = tuple[bool, bool, str, datetime | None]  # open, exchange_closed, reason part, changes_at

EVALUATIONS: list[tuple[str, Schedule, datetime, Expected]] = [
    ("inside", DAY_HOURS, ist(1, 10, 3), (True, False, "inside its window", ist(1, 15, 30))),
    ("start is inclusive", DAY_HOURS, ist(1, 9, 15), (True, False, "inside", ist(1, 15, 30))),
    ("before start", DAY_HOURS, ist(1, 9, 14, 59), (False, False, "outside", ist(1, 9, 15))),
    ("stop is exclusive", DAY_HOURS, ist(1, 15, 30), (False, False, "outside", ist(2, 9, 15))),
    ("evening", DAY_HOURS, ist(3, 20), (False, False, "outside", ist(5, 9, 15))),
    (
        "holiday",
        DAY_HOURS,
        ist(4, 10),
        (False, True, "NSE holiday Test Holiday", ist(5, 9, 15)),
    ),
    (
        "weekend",
        DAY_HOURS,
        ist(6, 10),
        (False, True, "NSE is closed for the weekend", ist(8, 9, 15)),
    ),
    (
        "working saturday, not in days",
        DAY_HOURS,
        ist(20, 10),
        (False, False, "not scheduled on Saturdays", ist(22, 9, 15)),
    ),
    (
        "working saturday, daily",
        schedule("09:15", "15:30", "daily"),
        ist(20, 10),
        (True, False, "inside", ist(20, 15, 30)),
    ),
    (
        "weekday not in days",
        schedule("09:15", "15:30", "mon,wed,fri"),
        ist(2, 10),
        (False, False, "not scheduled on Tuesdays", ist(3, 9, 15)),
    ),
    (
        "next window skips the holiday",
        schedule("09:15", "15:30", "wed,thu"),
        ist(8, 10),
        (False, False, "not scheduled on Mondays", ist(11, 9, 15)),
    ),
    # a weekend special session: the part of the strategy's window inside it
    (
        "special session clipped",
        DAY_HOURS,
        ist(13, 10),
        (True, False, "inside", ist(13, 12)),
    ),
    (
        "before the special session",
        DAY_HOURS,
        ist(13, 9, 30),
        (False, False, "outside today's NSE Budget session 10:00-12:00", ist(13, 10)),
    ),
    (
        "after the special session",
        DAY_HOURS,
        ist(13, 12),
        (False, False, "Budget session", ist(15, 9, 15)),
    ),
    (
        "special session skipped",
        schedule("09:15", "15:30", special_sessions=False),
        ist(13, 10),
        (False, True, "skips special sessions", ist(15, 9, 15)),
    ),
    (
        "special session, no overlap: the whole session",
        schedule("13:00", "15:00"),
        ist(13, 10),
        (True, False, "inside", ist(13, 12)),
    ),
    (
        "special session, overlap at the end",
        schedule("11:00", "15:00"),
        ist(13, 10, 30),
        (False, False, "Budget session", ist(13, 11)),
    ),
    # overnight windows belong to the day they open on
    ("overnight evening", OVERNIGHT, ist(1, 23), (True, False, "inside", ist(2, 2))),
    ("overnight morning", OVERNIGHT, ist(2, 1, 59), (True, False, "inside", ist(2, 2))),
    ("overnight ends", OVERNIGHT, ist(2, 2), (False, False, "outside", ist(2, 21))),
    (
        "overnight into a holiday morning",
        OVERNIGHT,
        ist(4, 1),
        (True, False, "inside", ist(4, 2)),
    ),
    ("no window on a holiday", OVERNIGHT, ist(4, 22), (False, True, "holiday", ist(5, 21))),
    (
        "holiday's window does not run into friday",
        OVERNIGHT,
        ist(5, 1),
        (False, False, "outside", ist(5, 21)),
    ),
    ("friday night", OVERNIGHT, ist(5, 23), (True, False, "inside", ist(6, 2))),
    ("saturday 01:59", OVERNIGHT, ist(6, 1, 59), (True, False, "inside", ist(6, 2))),
    (
        "saturday 02:00",
        OVERNIGHT,
        ist(6, 2),
        (False, True, "closed for the weekend", ist(8, 21)),
    ),
    # without a stop time: open through every following trading day
    ("no stop, monday early", NO_STOP, ist(1, 8), (False, False, "outside", ist(1, 9))),
    ("no stop, opens", NO_STOP, ist(1, 9), (True, False, "inside", ist(4))),
    ("no stop, overnight", NO_STOP, ist(3, 3), (True, False, "inside", ist(4))),
    ("no stop, holiday", NO_STOP, ist(4, 10), (False, True, "holiday", ist(5, 9))),
    ("no stop, after holiday", NO_STOP, ist(5, 8), (False, False, "outside", ist(5, 9))),
    ("no stop, friday", NO_STOP, ist(5, 9), (True, False, "inside", ist(6))),
    ("no stop, to saturday", NO_STOP, ist(12, 23, 59), (True, False, "inside", ist(13))),
    (
        "no stop on a special session day",
        NO_STOP,
        ist(13, 11),
        (True, False, "inside", ist(13, 12)),
    ),
    ("no stop, after midweek holiday", NO_STOP, ist(11, 3), (False, False, "outside", ist(11, 9))),
    (
        "no stop, daily with a working saturday",
        schedule("09:00", None, "daily"),
        ist(19, 12),
        (True, False, "inside", ist(21)),
    ),
    # past coverage every weekday is assumed to trade
    (
        "past coverage",
        DAY_HOURS,
        ist(5, 10, month=8),
        (True, False, "inside", ist(5, 15, 30, month=8)),
    ),
]


@pytest.mark.parametrize(
    ("schedule_", "instant", "expected"),
    [case[1:] for case in EVALUATIONS],
    ids=[case[0] for case in EVALUATIONS],
)
def test_evaluate(schedule_: Schedule, instant: datetime, expected: Expected) -> None:
    decision = evaluate(schedule_, synthetic_calendar(), instant)
    is_open, exchange_closed, reason, changes_at = expected
    assert (decision.open, decision.exchange_closed) == (is_open, exchange_closed), decision
    assert reason in decision.reason
    assert decision.changes_at == changes_at
    # the instant is in coverage unless it is in August
    assert bool(decision.warnings) == (instant.month == 8)


def test_evaluate_warns_past_coverage_naming_the_end() -> None:
    calendar = synthetic_calendar()
    decision = evaluate(DAY_HOURS, calendar, ist(5, 10, month=8))
    assert decision.open
    (warning,) = decision.warnings
    assert "after 2030-07-31" in warning
    assert "Mon 2030-08-05" in warning
    # the last covered Wednesday evening: the next window is on an assumed day
    decision = evaluate(DAY_HOURS, calendar, ist(31, 20))
    assert not decision.open
    assert decision.changes_at == ist(1, 9, 15, month=8)
    assert any("Thu 2030-08-01" in warning for warning in decision.warnings)


def test_window_close() -> None:
    calendar = synthetic_calendar()
    assert window_close(DAY_HOURS, calendar, ist(1, 10)) == ist(1, 15, 30)
    assert window_close(DAY_HOURS, calendar, ist(1, 16)) is None
    crypto = ExchangeCalendar("CRYPTO", closed_days=frozenset())
    always = make_schedule("00:00", None, "daily", "CRYPTO")
    assert window_close(always, crypto, ist(1, 10)) is None


def test_always_open_never_changes() -> None:
    crypto = ExchangeCalendar("CRYPTO", closed_days=frozenset())
    always = make_schedule("00:00", None, "daily", "CRYPTO")
    for instant in (ist(1), ist(6, 12), ist(7, 23, 59, 59), ist(31, 5, month=12)):
        decision = evaluate(always, crypto, instant)
        assert decision == WindowDecision(True, False, decision.reason, None, ())


def test_format_local_reads_in_ist() -> None:
    instant = datetime(2030, 7, 1, 3, 45, tzinfo=UTC)
    assert format_local(instant, synthetic_calendar()) == "Mon 2030-07-01 09:15 IST"


# ----- the host's time zone never matters -------------------------------------------

TZ_CASES = [(DAY_HOURS, case[2]) for case in EVALUATIONS] + [
    (OVERNIGHT, ist(day, hour)) for day in range(1, 15) for hour in (0, 1, 2, 3, 20, 21, 23)
]


@pytest.fixture
def restore_tz() -> Iterator[None]:
    saved = os.environ.get("TZ")
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = saved
        time_module.tzset()


def decisions_in(tz_name: str) -> list[WindowDecision]:
    os.environ["TZ"] = tz_name
    time_module.tzset()
    calendar = synthetic_calendar()
    return [evaluate(item, calendar, instant) for item, instant in TZ_CASES]


@pytest.mark.usefixtures("restore_tz")
def test_host_time_zone_does_not_matter() -> None:
    in_utc = decisions_in("UTC")
    in_new_york = decisions_in("America/New_York")
    in_kolkata = decisions_in("Asia/Kolkata")
    assert in_new_york == in_utc == in_kolkata
    assert time_module.localtime(0).tm_hour == 5  # the setting did take effect (IST)


def test_the_instant_s_own_zone_does_not_matter() -> None:
    calendar = synthetic_calendar()
    new_york = ZoneInfo("America/New_York")
    for item, instant in TZ_CASES:
        as_ist = _fresh(item, instant)
        assert _fresh(item, instant.astimezone(UTC)) == as_ist
        assert _fresh(item, instant.astimezone(new_york)) == as_ist
        assert evaluate(item, calendar, instant.astimezone(new_york)) == as_ist


def _fresh(item: Schedule, instant: datetime) -> WindowDecision:
    return evaluate(item, synthetic_calendar(), instant)


# ----- the memo on the calendar ------------------------------------------------------


def test_memo_does_not_leak_backwards() -> None:
    calendar = synthetic_calendar()
    assert evaluate(DAY_HOURS, calendar, ist(1, 10)).open
    earlier = evaluate(DAY_HOURS, calendar, ist(1, 8))
    assert not earlier.open
    assert earlier.changes_at == ist(1, 9, 15)
    # and a weekend answer is not reused for the friday before it
    assert evaluate(DAY_HOURS, calendar, ist(6, 10)).exchange_closed
    assert evaluate(DAY_HOURS, calendar, ist(5, 10)).open


def test_memo_flips_at_the_boundary() -> None:
    calendar = synthetic_calendar()
    assert evaluate(DAY_HOURS, calendar, ist(1, 15, 29, 59)).open
    after = evaluate(DAY_HOURS, calendar, ist(1, 15, 30))
    assert not after.open
    assert after.changes_at == ist(2, 9, 15)
    assert evaluate(DAY_HOURS, calendar, ist(2, 9, 14, 59)) == after
    assert evaluate(DAY_HOURS, calendar, ist(2, 9, 15)).open


def test_memo_does_not_outlive_the_day() -> None:
    calendar = synthetic_calendar()
    wednesday = evaluate(DAY_HOURS, calendar, ist(3, 20))
    assert (wednesday.exchange_closed, wednesday.changes_at) == (False, ist(5, 9, 15))
    holiday = evaluate(DAY_HOURS, calendar, ist(4, 0, 0, 1))
    assert holiday.exchange_closed
    assert "Test Holiday" in holiday.reason


def test_memo_is_per_schedule() -> None:
    calendar = synthetic_calendar()
    assert evaluate(DAY_HOURS, calendar, ist(1, 10)).open
    assert not evaluate(OVERNIGHT, calendar, ist(1, 10)).open
    assert evaluate(DAY_HOURS, calendar, ist(1, 10, 1)).open


# ----- a brute-force oracle over random schedules -----------------------------------

FIRST_DAY, LAST_DAY = date(2030, 7, 1), date(2030, 8, 11)


def random_calendar(rng: random.Random) -> ExchangeCalendar:
    days = [FIRST_DAY + timedelta(days=offset) for offset in range((LAST_DAY - FIRST_DAY).days)]
    weekdays = [day for day in days if day.weekday() < 5]
    saturdays = [day for day in days if day.weekday() == 5]
    holidays = {day: f"holiday {day}" for day in rng.sample(weekdays, rng.randint(0, 8))}
    return ExchangeCalendar(
        "NSE",
        holidays=holidays,
        covered_through=rng.choice(days),
        trading_days=frozenset(rng.sample(saturdays, rng.randint(0, 2))),
    )


def random_schedule(rng: random.Random) -> Schedule:
    days = {day for day in range(7) if rng.random() < 0.5} | {rng.randrange(5)}
    start = rng.randrange(24 * 60)
    stop = (start + rng.randrange(1, 24 * 60)) % (24 * 60)
    if rng.random() < 0.3:  # the common shapes, often
        start, stop = rng.choice([(555, 930), (1260, 120), (0, 1439), (1439, 0), (540, 541)])
    return Schedule(
        time(start // 60, start % 60), time(stop // 60, stop % 60), frozenset(days), "NSE"
    )


def oracle_windows(item: Schedule, calendar: ExchangeCalendar) -> list[tuple[datetime, datetime]]:
    """Every window, straight from the definition: it opens on a trading day in `days`."""
    assert item.stop is not None
    windows = []
    day = FIRST_DAY - timedelta(days=3)
    while day <= LAST_DAY + timedelta(days=30):
        trades = day in calendar.trading_days or (
            day.weekday() < 5 and day not in calendar.holidays
        )
        if trades and day.weekday() in item.days:
            close_day = day if item.stop > item.start else day + timedelta(days=1)
            windows.append(
                (
                    datetime.combine(day, item.start, tzinfo=INDIA),
                    datetime.combine(close_day, item.stop, tzinfo=INDIA),
                )
            )
        day += timedelta(days=1)
    return windows


def oracle_open(windows: list[tuple[datetime, datetime]], instant: datetime) -> bool:
    return any(opens <= instant < closes for opens, closes in windows)


def oracle_flip(windows: list[tuple[datetime, datetime]], instant: datetime) -> datetime:
    now = oracle_open(windows, instant)
    edges = sorted({edge for window in windows for edge in window if edge > instant})
    return next(edge for edge in edges if oracle_open(windows, edge) != now)


def test_evaluate_agrees_with_a_brute_force_oracle() -> None:
    rng = random.Random(20300701)
    checked = 0
    for _ in range(80):
        calendar = random_calendar(rng)
        item = random_schedule(rng)
        windows = oracle_windows(item, calendar)
        span = int((datetime.combine(LAST_DAY, time(), tzinfo=INDIA) - ist(1)).total_seconds())
        instants = [ist(1) + timedelta(seconds=rng.randrange(span)) for _ in range(40)]
        edges = [edge for window in windows for edge in window if ist(1) <= edge < ist(11, month=8)]
        for edge in rng.sample(edges, min(len(edges), 20)):
            instants += [edge, edge - timedelta(seconds=1), edge + timedelta(seconds=1)]
        # random order: the memo on `calendar` must never answer for the wrong instant
        rng.shuffle(instants)
        if rng.random() < 0.5:
            instants.sort()
        for instant in instants:
            decision = evaluate(item, calendar, instant)
            context = f"{item.describe()} at {format_local(instant, calendar)}: {decision}"
            expected_open = oracle_open(windows, instant)
            assert decision.open == expected_open, context
            changes_at = oracle_flip(windows, instant)
            assert decision.changes_at == changes_at, context
            # the flip is at minute resolution: a minute earlier it had not happened yet
            if changes_at - timedelta(minutes=1) > instant:
                assert oracle_open(windows, changes_at - timedelta(minutes=1)) == expected_open
            local_day = instant.astimezone(INDIA).date()
            exchange_open = calendar.day(local_day).trades
            assert decision.exchange_closed == (not expected_open and not exchange_open), context
            # a decision resting on an assumed trading day (today's, or the day the open
            # window opened on) says so
            resting_on = {local_day} | {
                opens.date() for opens, closes in windows if opens <= instant < closes
            }
            assumed = any(calendar.day(day).kind is DayKind.ASSUMED for day in resting_on)
            if assumed:
                assert decision.warnings, context
            if not decision.open and not assumed and decision.changes_at is not None:
                assert bool(decision.warnings) == (
                    calendar.day(decision.changes_at.date()).kind is DayKind.ASSUMED
                ), context
            checked += 1
    assert checked > 5000


def test_every_day_is_the_oracle_s_trading_days() -> None:
    """The oracle's idea of a trading day is the calendar's (so the oracle tests windows)."""
    rng = random.Random(7)
    calendar = random_calendar(rng)
    day = FIRST_DAY
    while day <= LAST_DAY:
        expected = day in calendar.trading_days or (
            day.weekday() < 5 and day not in calendar.holidays
        )
        assert calendar.day(day).trades == expected
        day += timedelta(days=1)
