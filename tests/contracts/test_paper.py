"""The paper broker's generated master contract: scale, shape, real examples, expiry rules.

Expected symbols below are worked out by hand from the 2026 calendar: 25 November 2026
is a Wednesday, the day after November's monthly NSE expiry.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta
from itertools import pairwise
from zlib import crc32

import pytest

from algovisor.contracts import paper, paper_specs
from algovisor.contracts.paper_expiries import TradingDayTest
from algovisor.contracts.records import EXCHANGES, INSTRUMENT_TYPES, Instrument
from algovisor.contracts.symbols import future_symbol, option_symbol

WEDNESDAY = date(2026, 11, 25)
TUESDAY, THURSDAY, FRIDAY = 1, 3, 4


@pytest.fixture(scope="module")
def rows() -> list[Instrument]:
    return paper.generate(WEDNESDAY)


@pytest.fixture(scope="module")
def expiry_day_rows() -> list[Instrument]:
    """The day before: Tuesday 24 November, November's monthly expiry."""
    return paper.generate(WEDNESDAY - timedelta(days=1))


def by_symbol(rows: list[Instrument], exchange: str) -> dict[str, Instrument]:
    return {row.symbol: row for row in rows if row.exchange == exchange}


def option_expiries(rows: list[Instrument], name: str) -> list[date]:
    return sorted({row.expiry for row in rows if row.name == name and row.strike and row.expiry})


def with_holidays(*holidays: date) -> TradingDayTest:
    return lambda day: day.weekday() < 5 and day not in holidays


def test_same_day_gives_the_same_rows(rows: list[Instrument]) -> None:
    assert paper.generate(WEDNESDAY) == rows


def test_row_count_is_real_broker_scale(rows: list[Instrument]) -> None:
    assert 145_000 <= len(rows) <= 160_000


def test_every_exchange_has_instruments(rows: list[Instrument]) -> None:
    counts = Counter(row.exchange for row in rows)
    assert set(counts) == set(EXCHANGES)
    assert counts["NSE"] >= 1_900
    assert counts["BSE"] > counts["NSE"]
    assert counts["NFO"] > 100_000


def test_tokens_and_symbols_are_unique_per_exchange(rows: list[Instrument]) -> None:
    assert len({(row.exchange, row.token) for row in rows}) == len(rows)
    assert len({(row.exchange, row.symbol) for row in rows}) == len(rows)
    assert all(row.token.isdigit() for row in rows)


def test_every_row_is_in_openalgo_format(rows: list[Instrument]) -> None:
    for row in rows:
        assert row.instrument_type in INSTRUMENT_TYPES
        assert (row.broker_symbol, row.broker_exchange) == (row.symbol, row.exchange)
        assert row.lot_size >= 1
        assert row.tick_size > 0
        if row.instrument_type in ("EQ", "INDEX"):
            assert (row.symbol, row.expiry, row.strike) == (row.name, None, None)
        elif row.instrument_type == "FUT":
            assert row.expiry is not None
            assert row.strike is None
            assert row.symbol == future_symbol(row.name, row.expiry)
        else:
            assert row.expiry is not None
            assert row.strike is not None
            assert row.strike > 0
            assert row.symbol == option_symbol(
                row.name, row.expiry, row.strike, row.instrument_type
            )


def test_real_equities_are_listed_on_both_exchanges(rows: list[Instrument]) -> None:
    for exchange in ("NSE", "BSE"):
        symbols = by_symbol(rows, exchange)
        for name in ("RELIANCE", "TCS", "HDFCBANK", "SBIN", "M&M", "BAJAJ-AUTO"):
            assert symbols[name].instrument_type == "EQ"
            assert symbols[name].lot_size == 1
            assert symbols[name].tick_size == 0.05
    ticks = Counter(row.tick_size for row in rows if row.exchange == "NSE")
    assert set(ticks) == {0.05, 0.01}  # penny stocks trade in paise
    assert ticks[0.01] < ticks[0.05]


def test_indices_are_listed_under_their_own_exchanges(rows: list[Instrument]) -> None:
    nse_indices = by_symbol(rows, "NSE_INDEX")
    bse_indices = by_symbol(rows, "BSE_INDEX")
    for name in ("NIFTY", "BANKNIFTY", "FINNIFTY", "MIDCPNIFTY", "NIFTYNXT50", "INDIAVIX"):
        assert nse_indices[name].instrument_type == "INDEX"
    for name in ("SENSEX", "BANKEX", "SENSEX50"):
        assert bse_indices[name].instrument_type == "INDEX"
    assert {row.lot_size for row in rows if row.instrument_type == "INDEX"} == {1}


def test_nifty_weekly_option_for_next_tuesday(rows: list[Instrument]) -> None:
    option = by_symbol(rows, "NFO")["NIFTY01DEC2626000CE"]
    assert option.expiry == date(2026, 12, 1)
    assert (option.name, option.strike, option.instrument_type) == ("NIFTY", 26_000.0, "CE")
    assert (option.lot_size, option.tick_size) == (65, 0.05)
    strikes = sorted(
        row.strike
        for row in rows
        if row.name == "NIFTY" and row.expiry == option.expiry
        if row.instrument_type == "PE" and row.strike
    )
    assert {later - earlier for earlier, later in pairwise(strikes)} == {50.0}
    expiries = option_expiries(rows, "NIFTY")
    assert expiries[:5] == [date(2026, 12, day) for day in (1, 8, 15, 22, 29)]
    assert all(expiry.weekday() == TUESDAY for expiry in expiries)


def test_nifty_futures_are_monthly_with_a_coarser_tick(rows: list[Instrument]) -> None:
    future = by_symbol(rows, "NFO")["NIFTY29DEC26FUT"]
    assert (future.lot_size, future.tick_size, future.instrument_type) == (65, 0.10, "FUT")
    futures = sorted(
        row.expiry for row in rows if row.name == "NIFTY" and row.symbol.endswith("FUT")
    )
    assert futures == [date(2026, 12, 29), date(2027, 1, 26), date(2027, 2, 23)]


@pytest.mark.parametrize(
    ("name", "lot_size", "strike_step"),
    [("BANKNIFTY", 30, 100.0), ("FINNIFTY", 60, 50.0), ("MIDCPNIFTY", 120, 25.0),
     ("NIFTYNXT50", 25, 100.0)],
)  # fmt: skip
def test_other_nse_indices_have_monthly_options_only(
    rows: list[Instrument], name: str, lot_size: int, strike_step: float
) -> None:
    # Last Tuesdays of December, January and February: no weeklies since November 2024.
    assert option_expiries(rows, name) == [date(2026, 12, 29), date(2027, 1, 26), date(2027, 2, 23)]
    options = [row for row in rows if row.name == name and row.strike]
    assert {row.lot_size for row in options} == {lot_size}
    assert all(row.strike % strike_step == 0 for row in options if row.strike)


def test_sensex_weeklies_expire_on_thursdays(rows: list[Instrument]) -> None:
    option = by_symbol(rows, "BFO")["SENSEX03DEC2685000PE"]
    assert (option.lot_size, option.tick_size, option.expiry) == (20, 0.05, date(2026, 12, 3))
    expiries = option_expiries(rows, "SENSEX")
    assert expiries[:3] == [date(2026, 11, 26), date(2026, 12, 3), date(2026, 12, 10)]
    assert all(expiry.weekday() == THURSDAY for expiry in expiries)
    assert option_expiries(rows, "BANKEX") == [
        date(2026, 11, 26),
        date(2026, 12, 31),
        date(2027, 1, 28),
    ]


def test_stock_options_bracket_a_fixed_spot_with_both_sides(rows: list[Instrument]) -> None:
    reliance = [row for row in rows if row.name == "RELIANCE" and row.exchange == "NFO"]
    futures = [row for row in reliance if row.instrument_type == "FUT"]
    assert [row.symbol for row in futures] == ["RELIANCE29DEC26FUT", "RELIANCE26JAN27FUT",
                                               "RELIANCE23FEB27FUT"]  # fmt: skip
    calls = {row.strike for row in reliance if row.instrument_type == "CE"}
    puts = {row.strike for row in reliance if row.instrument_type == "PE"}
    assert calls == puts
    assert {1_440.0, 1_460.0} <= calls  # around its price, 1,450, on a 20-rupee step
    assert all(strike is not None and strike % 20 == 0 for strike in calls)
    assert {row.lot_size for row in reliance} == {futures[0].lot_size}
    stocks_with_options = {row.name for row in rows if row.exchange == "NFO" and row.strike}
    assert len(stocks_with_options) >= 200


def test_usdinr_options_keep_decimal_strikes(rows: list[Instrument]) -> None:
    currencies = by_symbol(rows, "CDS")
    monthly = currencies["USDINR26NOV2683.25CE"]
    assert (monthly.strike, monthly.lot_size, monthly.tick_size) == (83.25, 1000, 0.0025)
    weekly = currencies["USDINR04DEC2683.25PE"]  # a Friday weekly
    assert weekly.expiry == date(2026, 12, 4)
    # No Friday weekly in the week of the monthly expiry (Thursday 26 November).
    assert "USDINR27NOV2683.25CE" not in currencies
    assert "EURINR26NOV26102.75CE" in currencies
    assert {row.lot_size for row in rows if row.name == "JPYINR"} == {1000}


def test_currency_futures_expire_two_days_before_month_end(rows: list[Instrument]) -> None:
    futures = sorted(row.expiry for row in rows if row.symbol.startswith("USDINR") and
                     row.exchange == "CDS" and row.instrument_type == "FUT")  # fmt: skip
    assert len(futures) == 12
    # November 2026 ends on Monday the 30th; December on Thursday the 31st.
    assert futures[:2] == [date(2026, 11, 26), date(2026, 12, 29)]
    assert "USDINR26NOV26FUT" in by_symbol(rows, "BCD")


def test_commodity_futures_and_options(rows: list[Instrument]) -> None:
    commodities = by_symbol(rows, "MCX")
    crude = commodities["CRUDEOIL18DEC26FUT"]  # the 19th is a Saturday
    assert (crude.lot_size, crude.tick_size, crude.instrument_type) == (100, 1.0, "FUT")
    gold = commodities["GOLD04DEC26FUT"]  # 5th of even months; the 5th is a Saturday
    assert (gold.lot_size, gold.tick_size) == (100, 1.0)
    assert commodities["NATURALGAS25DEC26FUT"].lot_size == 1250
    assert commodities["NATURALGAS25DEC26FUT"].tick_size == 0.1
    assert commodities["COPPER30NOV26FUT"].tick_size == 0.05
    assert commodities["SILVERM30NOV26FUT"].lot_size == 5
    # Crude options expire two trading days before their future.
    assert commodities["CRUDEOIL16DEC265600CE"].lot_size == 100
    named = {row.name for row in rows if row.exchange == "MCX"}
    assert {spec.name for spec in paper_specs.COMMODITIES} == named
    with_options = {row.name for row in rows if row.exchange == "MCX" and row.strike}
    assert with_options == {"CRUDEOIL", "NATURALGAS", "GOLD", "SILVER"}


def test_holiday_on_an_expiry_tuesday_moves_it_to_monday() -> None:
    weekly_holiday, monthly_holiday = date(2026, 12, 1), date(2026, 12, 29)
    rows = paper.generate(WEDNESDAY, with_holidays(weekly_holiday, monthly_holiday))
    derivatives = by_symbol(rows, "NFO")
    assert derivatives["NIFTY30NOV2626000CE"].expiry == date(2026, 11, 30)
    assert derivatives["BANKNIFTY28DEC26FUT"].expiry == date(2026, 12, 28)
    assert derivatives["RELIANCE28DEC26FUT"].expiry == date(2026, 12, 28)
    expiries = {row.expiry for row in rows}
    assert weekly_holiday not in expiries
    assert monthly_holiday not in expiries


@pytest.mark.parametrize(
    "trading_day",
    [date(2026, 12, 31), date(2027, 2, 23), date(2027, 6, 30)],
)
def test_nothing_listed_has_expired(trading_day: date) -> None:
    rows = paper.generate(trading_day)
    expiries = {row.expiry for row in rows if row.expiry is not None}
    assert min(expiries) >= trading_day
    assert all(expiry.weekday() < 5 for expiry in expiries)


def test_an_expiry_day_still_lists_the_expiring_contracts(
    expiry_day_rows: list[Instrument],
) -> None:
    assert by_symbol(expiry_day_rows, "NFO")["RELIANCE24NOV26FUT"].expiry == date(2026, 11, 24)
    assert min(row.expiry for row in expiry_day_rows if row.expiry) == date(2026, 11, 24)


def test_tokens_stay_put_across_an_expiry(
    expiry_day_rows: list[Instrument], rows: list[Instrument]
) -> None:
    # Tuesday's monthly expires: tens of thousands of rows go and new ones come the next day.
    before = {(row.exchange, row.symbol): row.token for row in expiry_day_rows}
    after = {(row.exchange, row.symbol): row.token for row in rows}
    kept = before.keys() & after.keys()
    assert len(before.keys() - after.keys()) > 10_000
    assert len(after.keys() - before.keys()) > 10_000
    assert [key for key in kept if before[key] != after[key]] == []


def test_tokens_stay_unique_in_a_crowded_token_range(monkeypatch: pytest.MonkeyPatch) -> None:
    # 2,000 NSE names in 2,050 tokens: clashes galore, settled by probing and wrapping.
    ranges = dict(paper_specs.TOKEN_RANGES, NSE=(1_000, 2_050))
    monkeypatch.setattr(paper_specs, "TOKEN_RANGES", ranges)
    tokens = [int(row.token) for row in paper.generate(WEDNESDAY) if row.exchange == "NSE"]
    assert len(set(tokens)) == len(tokens) == paper_specs.NSE_EQUITY_COUNT
    assert all(1_000 <= token < 3_050 for token in tokens)


def test_a_calendar_without_trading_days_is_refused() -> None:
    with pytest.raises(ValueError, match="no trading day"):
        paper.generate(WEDNESDAY, lambda _day: False)


def test_every_expiry_is_a_trading_day_of_the_calendar_given() -> None:
    holidays = {WEDNESDAY + timedelta(days=offset) for offset in range(1, 120, 5)}
    rows = paper.generate(WEDNESDAY, with_holidays(*holidays))
    expiries = {row.expiry for row in rows if row.expiry is not None}
    assert len(expiries) > 50
    assert not expiries & holidays


def test_a_token_clash_is_lost_by_the_later_listed_instrument(rows: list[Instrument]) -> None:
    # A new listing (the furthest expiry) must not take a token an older contract holds,
    # or that contract's token would change overnight.
    holders = {(row.exchange, row.token): row for row in rows}
    displaced = 0
    for row in rows:
        first_token, span = paper_specs.TOKEN_RANGES[row.exchange]
        hashed = str(first_token + crc32(row.symbol.encode()) % span)
        if row.token != hashed:
            displaced += 1
            holder = holders[(row.exchange, hashed)]
            assert (holder.expiry or date.min, holder.symbol) < (row.expiry or date.min, row.symbol)
    assert 0 < displaced < 1_000
