"""The paper broker's simulated market: deterministic, on the tick, consistent across kinds.

Driven over the real paper contract for Wednesday 4 March 2026. NIFTY's March monthly
expires on Tuesday 31 March, its weekly on Tuesday 10 March.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise

import pytest

from algovisor.brokers.paper import pricing
from algovisor.brokers.paper.market import (
    INTERVALS,
    MAX_BARS,
    HistoryRangeError,
    SimulatedMarket,
    UnsupportedIntervalError,
)
from algovisor.contracts.book import ContractBook
from algovisor.contracts.paper import generate
from algovisor.contracts.records import Instrument
from algovisor.contracts.symbols import future_symbol, option_symbol
from algovisor.errors import InvalidInputError
from algovisor.schedule.calendar import INDIA

DAY = date(2026, 3, 4)  # a Wednesday
MONTHLY = date(2026, 3, 31)
WEEKLY = date(2026, 3, 10)
SEED = 20260304


def ist(day: date, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute, second), INDIA)


@pytest.fixture(scope="module")
def book() -> ContractBook:
    return ContractBook.build("paper", 1, DAY, generate(DAY))


@pytest.fixture(scope="module")
def market(book: ContractBook) -> SimulatedMarket:
    return SimulatedMarket(SEED, book)


@pytest.fixture(scope="module")
def picks(book: ContractBook) -> dict[str, Instrument]:
    """One instrument of every kind, tick and exchange family."""
    names = {
        "nifty": ("NIFTY", "NSE_INDEX"),
        "sensex": ("SENSEX", "BSE_INDEX"),
        "reliance": ("RELIANCE", "NSE"),
        "reliance_bse": ("RELIANCE", "BSE"),
        "nifty_fut": (future_symbol("NIFTY", MONTHLY), "NFO"),
        "nifty_ce": (option_symbol("NIFTY", MONTHLY, 26000, "CE"), "NFO"),
        "nifty_pe": (option_symbol("NIFTY", MONTHLY, 26000, "PE"), "NFO"),
        "weekly_ce": (option_symbol("NIFTY", WEEKLY, 26000, "CE"), "NFO"),
        "weekly_pe": (option_symbol("NIFTY", WEEKLY, 26000, "PE"), "NFO"),
        "reliance_fut": (future_symbol("RELIANCE", MONTHLY), "NFO"),
        "reliance_ce": (option_symbol("RELIANCE", MONTHLY, 1440, "CE"), "NFO"),
    }
    found = {key: book.instrument(symbol, exchange) for key, (symbol, exchange) in names.items()}
    found["penny"] = next(row for row in book.search("", "NSE", 5000) if row.tick_size == 0.01)
    for name, exchange in (("CRUDEOIL", "MCX"), ("USDINR", "CDS")):
        expiry = book.expiries(name, exchange, "FUT")[0]
        found[f"{name.lower()}_fut"] = book.instrument(future_symbol(name, expiry), exchange)
    chain = book.option_chain("CRUDEOIL", book.expiries("CRUDEOIL", "MCX", "CE")[0], "MCX")
    found["crudeoil_ce"] = chain[len(chain) // 2].call
    return found


def instants(day: date, every_minutes: int = 7) -> list[datetime]:
    """Instants through a session and around it, off the step grid on purpose."""
    start = ist(day, 9, 15)
    points = [start + timedelta(minutes=m, seconds=13) for m in range(0, 375, every_minutes)]
    return [ist(day, 8, 0), start, *points, ist(day, 15, 30), ist(day, 20, 0)]


def ticks_off(value: float, tick: float) -> float:
    return abs(value / tick - round(value / tick))


# -- determinism ----------------------------------------------------------------------


def snapshot(market: SimulatedMarket, instruments: list[Instrument], moments: list[datetime]):
    return [
        (market.price(row, at), market.quote(row, at), market.depth(row, at))
        for row in instruments
        for at in moments
    ]


def test_same_seed_same_answers_in_any_order(book, picks):
    rows = list(picks.values())
    moments = [ist(DAY, 9, 20, 5), ist(DAY, 13, 2, 59), ist(DAY + timedelta(days=1), 11)]
    forward = snapshot(SimulatedMarket(SEED, book), rows, moments)
    backward_market = SimulatedMarket(SEED, book)
    backward = [
        (backward_market.price(row, at), backward_market.quote(row, at), None)
        for row in reversed(rows)
        for at in reversed(moments)
    ]
    backward.reverse()
    assert [(price, quote) for price, quote, _ in forward] == [
        (price, quote) for price, quote, _ in backward
    ]
    # Built from a plain list of rows, with a tiny cache that keeps evicting: the same.
    small = SimulatedMarket(SEED, list(book.search("NIFTY", "NSE_INDEX")), cached_sessions=1)
    assert snapshot(small, rows, moments) == forward


def test_history_first_or_quotes_first_agree(book, picks):
    at = ist(DAY, 14, 47, 31)
    ce = picks["nifty_ce"]
    history_first = SimulatedMarket(SEED, book)
    bars = history_first.history(ce, "5m", DAY - timedelta(days=3), DAY, at)
    quotes_first = SimulatedMarket(SEED, book)
    quote = quotes_first.quote(ce, at)
    assert history_first.quote(ce, at) == quote
    assert quotes_first.history(ce, "5m", DAY - timedelta(days=3), DAY, at) == bars


def test_different_seeds_differ(book, picks):
    at = ist(DAY, 12, 0)
    for key in ("nifty", "reliance", "nifty_ce", "crudeoil_fut"):
        prices = {SimulatedMarket(seed, book).price(picks[key], at) for seed in range(8)}
        assert len(prices) >= 6, (key, prices)


CHILD = """
import json, sys
from datetime import date, datetime
from algovisor.brokers.paper.market import SimulatedMarket
from algovisor.contracts.records import Instrument
request = json.load(sys.stdin)
rows = [Instrument(*r[:6], r[6] and date.fromisoformat(r[6]), *r[7:]) for r in request["rows"]]
market = SimulatedMarket(request["seed"], rows)
at = datetime.fromisoformat(request["at"])
print(json.dumps([market.price(row, at) for row in rows]))
"""


def test_another_process_with_another_hash_seed_agrees(market, picks):
    at = ist(DAY, 11, 11, 11)
    rows = [picks[key] for key in ("nifty", "reliance", "nifty_ce", "usdinr_fut", "crudeoil_ce")]
    request = {
        "seed": SEED,
        "at": at.isoformat(),
        "rows": [[*row[:6], row.expiry and row.expiry.isoformat(), *row[7:]] for row in rows],
    }
    child = subprocess.run(
        [sys.executable, "-c", CHILD],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONHASHSEED": "12345"},
        check=True,
    )
    assert json.loads(child.stdout) == [market.price(row, at) for row in rows]


def test_threads_agree_with_one_thread(book, picks):
    rows = list(picks.values())
    moments = [ist(DAY, 10) + timedelta(seconds=97 * n) for n in range(40)]
    expected = snapshot(SimulatedMarket(SEED, book), rows, moments)
    shared = SimulatedMarket(SEED, book, cached_sessions=4)  # evicting while others read

    def one(row: Instrument) -> list[object]:
        return [
            (shared.price(row, at), shared.quote(row, at), shared.depth(row, at)) for at in moments
        ]

    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(one, rows))
    assert [item for result in results for item in result] == expected


# -- ticks, levels, kinds -------------------------------------------------------------


def test_every_price_is_on_the_tick_and_positive(market, picks):
    for key, row in picks.items():
        tick = row.tick_size
        for at in instants(DAY, every_minutes=29):
            quote = market.quote(row, at)
            depth = market.depth(row, at)
            prices = [quote.ltp, quote.bid, quote.ask, quote.open, quote.high, quote.low]
            prices += [quote.prev_close, market.price(row, at)]
            prices += [level.price for level in depth.bids + depth.asks]
            for price in prices:
                assert price >= tick, (key, at, price)
                assert ticks_off(price, tick) < 1e-6, (key, at, price, tick)
                assert len(repr(price)) <= 14, (key, price)  # no float noise like 0.30000000004


def test_price_levels_are_in_their_ballparks(market, picks):
    at = ist(DAY, 12)
    expected = {
        "nifty": (22_000, 30_000),
        "sensex": (72_000, 98_000),
        "reliance": (1_200, 1_700),
        "penny": (3, 15),
        "crudeoil_fut": (4_500, 7_000),
        "usdinr_fut": (80, 98),
    }
    for key, (low, high) in expected.items():
        assert low <= market.price(picks[key], at) <= high, key


def test_nse_and_bse_shares_share_a_walk(market, picks):
    for at in instants(DAY, every_minutes=43):
        assert market.price(picks["reliance"], at) == market.price(picks["reliance_bse"], at)


# -- derivatives ----------------------------------------------------------------------


def test_option_values_are_monotone_in_the_underlying():
    walk = pricing.underlying(pricing.INDEX, "NIFTY")
    volatility = pricing.smile(walk, 26_000)
    spots = [24_000 + 25 * n for n in range(160)]
    calls = [pricing.derivative_value("CE", walk, 26_000, volatility, s, 0.05) for s in spots]
    puts = [pricing.derivative_value("PE", walk, 26_000, volatility, s, 0.05) for s in spots]
    assert all(later > earlier for earlier, later in pairwise(calls))
    assert all(later < earlier for earlier, later in pairwise(puts))
    # Deep in the money: above intrinsic value; 8% out of the money: little.
    assert calls[-1] > spots[-1] - 26_000
    assert puts[-1] < 30
    assert calls[0] < 30


def test_put_call_parity_and_futures_over_the_session(market, picks):
    carry = pricing.FAMILY_CARRY[pricing.INDEX]
    close = ist(MONTHLY, 15, 30).timestamp()
    for at in instants(DAY, every_minutes=11):
        spot = market.price(picks["nifty"], at)
        shown = market.quote(picks["nifty"], at).as_of
        years = (close - shown.timestamp()) / pricing.YEAR_SECONDS
        call, put = market.price(picks["nifty_ce"], at), market.price(picks["nifty_pe"], at)
        # C - P = discount x (F - K) = S - K / (1 + carry x years), up to ticks.
        assert call - put == pytest.approx(spot - 26_000 / (1 + carry * years), abs=0.25)
        future = market.price(picks["nifty_fut"], at)
        assert future > spot
        assert future == pytest.approx(spot * (1 + carry * years), abs=0.2)


def test_call_follows_the_underlying_across_instants(market, picks):
    moments = [ist(DAY, 9, 16) + timedelta(minutes=3 * n, seconds=7) for n in range(124)]
    spot = [market.price(picks["nifty"], at) for at in moments]
    call = [market.price(picks["nifty_ce"], at) for at in moments]
    put = [market.price(picks["nifty_pe"], at) for at in moments]
    compared = 0
    for first in range(len(moments)):
        for second in range(first + 1, len(moments)):
            move = spot[second] / spot[first] - 1
            if abs(move) < 0.002:  # a few hours' time decay is smaller than 0.2% x delta
                continue
            compared += 1
            assert (call[second] > call[first]) == (move > 0), (moments[first], moments[second])
            assert (put[second] < put[first]) == (move > 0)
    assert compared > 50


def test_stock_derivatives_follow_their_share(market, picks):
    at_low, at_high = ist(DAY, 10), ist(DAY, 14)
    share = [market.price(picks["reliance"], at) for at in (at_low, at_high)]
    future = [market.price(picks["reliance_fut"], at) for at in (at_low, at_high)]
    call = [market.price(picks["reliance_ce"], at) for at in (at_low, at_high)]
    assert all(f > s for f, s in zip(future, share, strict=True))
    if abs(share[1] - share[0]) > 5:
        rising = share[1] > share[0]
        assert (future[1] > future[0]) == rising
        assert (call[1] > call[0]) == rising


def test_expired_option_is_frozen_at_its_intrinsic_value(market, picks):
    settle = ist(WEEKLY, 15, 30)
    spot = market.price(picks["nifty"], settle)
    call = market.quote(picks["weekly_ce"], ist(WEEKLY + timedelta(days=2), 11))
    put = market.price(picks["weekly_pe"], ist(WEEKLY + timedelta(days=20), 11))
    assert call.ltp == pytest.approx(max(spot - 26_000, 0.05), abs=0.05)
    assert put == pytest.approx(max(26_000 - spot, 0.05), abs=0.05)
    assert not call.market_open
    assert call.as_of == settle
    # The future converges on the index at its own expiry.
    assert market.price(picks["nifty_fut"], ist(MONTHLY, 18)) == pytest.approx(
        market.price(picks["nifty"], ist(MONTHLY, 18)), abs=0.1
    )


def test_commodity_and_currency_contracts_trade_their_own_hours(market, picks):
    crude, rupee = picks["crudeoil_fut"], picks["usdinr_fut"]
    assert market.market_open(crude, ist(DAY, 9, 5))
    assert market.market_open(crude, ist(DAY, 23, 0))
    assert not market.market_open(crude, ist(DAY, 23, 45))
    assert market.market_open(rupee, ist(DAY, 16, 30))
    assert not market.market_open(rupee, ist(DAY, 17, 30))
    assert not market.market_open(picks["nifty_fut"], ist(DAY, 16))
    # Options on MCX price off the same commodity walk as its futures.
    option = picks["crudeoil_ce"]
    assert market.price(option, ist(DAY, 20)) >= option.tick_size


def test_a_derivative_without_expiry_is_refused(market):
    broken = Instrument("X", "X", "NIFTY", "NFO", "NFO", "1", None, None, 65, "FUT", 0.1)
    with pytest.raises(InvalidInputError, match="without an expiry"):
        market.price(broken, ist(DAY, 10))


# -- quotes and depth -----------------------------------------------------------------


def test_quote_invariants_over_many_instants(market, picks):
    for key, row in picks.items():
        volumes = []
        for at in instants(DAY, every_minutes=5):
            quote = market.quote(row, at)
            assert quote.low <= quote.ltp <= quote.high, (key, at, quote)
            assert quote.low <= quote.open <= quote.high, (key, at, quote)
            assert quote.bid < quote.ask, (key, at, quote)
            assert quote.bid <= quote.ltp <= quote.ask, (key, at, quote)
            assert quote.ltp == market.price(row, at)
            assert quote.volume % row.lot_size == 0
            assert quote.oi % row.lot_size == 0
            assert (quote.oi > 0) == (row.instrument_type in ("FUT", "CE", "PE")), key
            if at.time() >= time(9, 15):
                volumes.append(quote.volume)
        assert volumes == sorted(volumes), key
        assert (volumes[-1] > volumes[0]) == (row.instrument_type != "INDEX"), key


def test_frozen_outside_the_session(market, picks):
    nifty = picks["nifty"]
    close = ist(DAY, 15, 30)
    frozen = [close, ist(DAY, 18), ist(DAY + timedelta(days=1), 8, 59), ist(DAY, 23, 59, 59)]
    quotes = [market.quote(nifty, at) for at in frozen]
    assert len({(q.ltp, q.high, q.low, q.volume) for q in quotes}) == 1
    assert not any(q.market_open for q in quotes)
    assert {q.as_of for q in quotes} == {close}
    assert market.quote(nifty, ist(DAY, 15, 29, 59)).market_open
    # The next session opens with a gap on yesterday's close, which is its prev_close.
    morning = market.quote(nifty, ist(DAY + timedelta(days=1), 9, 15))
    assert morning.market_open
    assert morning.prev_close == quotes[0].ltp
    assert morning.open == morning.ltp == morning.high == morning.low
    assert market.quote(picks["reliance"], ist(DAY, 9, 15)).volume == 0
    # Saturday and Sunday show Friday's session, and Monday's prev_close is Friday's close.
    friday, saturday = date(2026, 3, 6), date(2026, 3, 7)
    weekend = market.quote(nifty, ist(saturday, 12))
    assert weekend == market.quote(nifty, ist(friday, 15, 30))
    assert weekend.as_of == ist(friday, 15, 30)
    assert market.quote(nifty, ist(date(2026, 3, 9), 10)).prev_close == weekend.ltp


def test_holidays_from_the_calendar_are_frozen(book, picks):
    holiday = date(2026, 3, 5)
    market = SimulatedMarket(SEED, book, is_trading_day=lambda d: d.weekday() < 5 and d != holiday)
    nifty = picks["nifty"]
    assert not market.market_open(nifty, ist(holiday, 11))
    assert market.price(nifty, ist(holiday, 11)) == market.price(nifty, ist(DAY, 15, 30))
    after = market.quote(nifty, ist(holiday + timedelta(days=1), 10))
    assert after.prev_close == market.price(nifty, ist(DAY, 15, 30))


def test_naive_instants_are_refused(market, picks):
    with pytest.raises(InvalidInputError, match="time-zone-aware"):
        market.price(picks["nifty"], datetime(2026, 3, 4, 10, 0))  # noqa: DTZ001


def test_depth_levels_step_out_a_tick_at_a_time(market, picks):
    for key, row in picks.items():
        tick, lot = row.tick_size, row.lot_size
        for at in instants(DAY, every_minutes=41):
            depth = market.depth(row, at)
            quote = depth.quote
            assert depth.bids[0].price == quote.bid
            assert depth.asks[0].price == quote.ask
            assert len(depth.asks) == 5
            assert len(depth.bids) == min(5, round(quote.bid / tick))
            for side, direction in ((depth.bids, -1), (depth.asks, 1)):
                for near, far in pairwise(side):
                    assert (far.price - near.price) / tick == pytest.approx(direction), key
                for level in side:
                    assert level.quantity > 0
                    assert level.quantity % lot == 0
            assert depth.total_buy_quantity >= sum(level.quantity for level in depth.bids)
            assert depth.total_sell_quantity >= sum(level.quantity for level in depth.asks)
    with pytest.raises(InvalidInputError, match="depth levels"):
        market.depth(picks["nifty"], ist(DAY, 10), levels=0)


def test_one_tick_option_keeps_its_bid_above_zero(market, book):
    far = book.instrument(option_symbol("NIFTY", WEEKLY, 22_000, "PE"), "NFO")
    depth = market.depth(far, ist(WEEKLY, 15, 29))
    assert depth.quote.ltp == 0.05
    assert depth.quote.bid == 0.05 < depth.quote.ask
    assert len(depth.bids) == 1


# -- history --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "counts"),
    [
        ("reliance", {"1m": 375, "3m": 125, "5m": 75, "10m": 38, "15m": 25, "30m": 13, "1h": 7}),
        ("crudeoil_fut", {"1m": 870, "5m": 174, "1h": 15}),
        ("usdinr_fut", {"1m": 480, "30m": 16, "1h": 8}),
    ],
)
def test_bar_counts_for_a_full_session(market, picks, key, counts):
    row = picks[key]
    at = ist(DAY + timedelta(days=1), 8)  # the day is over
    opens = market.history(row, "1m", DAY, DAY, at)[0].timestamp
    first_hour = {"reliance": time(9, 15)}.get(key, time(9, 0))
    assert opens == int(datetime.combine(DAY, first_hour, INDIA).timestamp())
    for interval, count in counts.items():
        bars = market.history(row, interval, DAY, DAY, at)
        assert len(bars) == count, interval
        width = INTERVALS[interval]
        assert [bar.timestamp - opens for bar in bars] == [n * width for n in range(count)]
    (daily,) = market.history(row, "D", DAY, DAY, at)
    assert daily.timestamp == int(datetime.combine(DAY, time(0), UTC).timestamp())


def test_bars_agree_with_each_other_and_with_the_quote(market, picks):
    at = ist(DAY, 13, 41, 27)
    for key in ("nifty", "reliance", "nifty_ce", "nifty_pe", "crudeoil_fut"):
        row = picks[key]
        minutes = market.history(row, "1m", DAY, DAY, at)
        fives = market.history(row, "5m", DAY, DAY, at)
        (daily,) = market.history(row, "D", DAY, DAY, at)
        quote = market.quote(row, at)
        for bar in minutes + fives:
            assert bar.low <= min(bar.open, bar.close) <= max(bar.open, bar.close) <= bar.high
            assert bar.timestamp < at.timestamp()
        for earlier, later in pairwise(minutes):
            assert later.open == earlier.close
        for index, five in enumerate(fives):
            part = minutes[5 * index : 5 * index + 5]
            assert five.open == part[0].open
            assert five.close == part[-1].close
            assert five.high == max(bar.high for bar in part)
            assert five.low == min(bar.low for bar in part)
            assert five.volume == sum(bar.volume for bar in part)
        # The bar under way closes at the price now; the day's bar is the quote.
        assert minutes[-1].close == market.price(row, at) == quote.ltp
        assert (daily.open, daily.high, daily.low, daily.close) == (
            quote.open,
            quote.high,
            quote.low,
            quote.ltp,
        )
        assert daily.volume == quote.volume == sum(bar.volume for bar in minutes)
        assert minutes[-1].oi == quote.oi


def test_a_completed_minute_closes_at_the_price_at_its_end(market, picks):
    at = ist(DAY, 11, 0, 30)
    for key in ("reliance", "nifty_ce", "usdinr_fut"):
        bars = market.history(picks[key], "1m", DAY, DAY, at)
        assert bars[-2].close == market.price(picks[key], ist(DAY, 11, 0))
        assert bars[-1].close == market.price(picks[key], at)
        assert bars[-1].timestamp == int(ist(DAY, 11, 0).timestamp())


def test_daily_history_across_days_and_prev_close(market, picks):
    at = ist(date(2026, 3, 9), 10, 5)  # a Monday
    for key in ("nifty", "nifty_fut", "reliance"):
        bars = market.history(picks[key], "D", date(2026, 2, 23), date(2026, 3, 31), at)
        days = [datetime.fromtimestamp(bar.timestamp, UTC).date() for bar in bars]
        assert days == [
            day
            for day in (date(2026, 2, 23) + timedelta(days=n) for n in range(15))
            if day.weekday() < 5
        ]
        assert market.quote(picks[key], at).prev_close == bars[-2].close
        for earlier, later in pairwise(bars):
            gap = abs(later.open / earlier.close - 1)
            assert gap < 0.05, key  # overnight gaps are small, so the walk is continuous


def test_history_rejects_bad_requests(market, picks):
    row, at = picks["reliance"], ist(DAY, 12)
    with pytest.raises(UnsupportedIntervalError) as raised:
        market.history(row, "2m", DAY, DAY, at)
    assert str(raised.value) == (
        "Unsupported interval '2m'. Use one of: 1m, 3m, 5m, 10m, 15m, 30m, 1h, D"
    )
    assert isinstance(raised.value, InvalidInputError)
    with pytest.raises(HistoryRangeError, match="after its end"):
        market.history(row, "D", DAY, DAY - timedelta(days=1), at)
    with pytest.raises(HistoryRangeError, match=f"at most {MAX_BARS:,} bars"):
        market.history(row, "1m", date(2025, 6, 1), DAY, at)
    with pytest.raises(HistoryRangeError, match="too long"):
        market.history(row, "D", date(2000, 1, 1), DAY, at)
    # Outside the days the market has: date's first day has no trading day before it.
    for start, end in ((date.min, date(1, 1, 5)), (date(1999, 12, 31), DAY), (DAY, date.max)):
        with pytest.raises(HistoryRangeError, match="from 2000-01-01 to 2100-12-31"):
            market.history(row, "D", start, end, at)
    assert len(market.history(row, "D", date(2000, 1, 1), date(2000, 1, 7), at)) == 5
    # Nothing in the future, and nothing on a day without a session.
    assert market.history(row, "D", DAY + timedelta(days=1), DAY + timedelta(days=9), at) == []
    assert market.history(row, "D", date(2100, 12, 1), date(2100, 12, 31), at) == []
    assert (
        market.history(row, "1m", date(2026, 3, 7), date(2026, 3, 8), ist(date(2026, 3, 9), 9))
        == []
    )


# -- realism --------------------------------------------------------------------------


def test_daily_ranges_and_moves_look_like_the_real_market(book, picks):
    at = ist(DAY, 16)
    ranges, moves, stock_ranges = [], [], []
    for seed in range(100):
        market = SimulatedMarket(seed, book)
        quote = market.quote(picks["nifty"], at)
        ranges.append((quote.high - quote.low) / quote.open)
        moves.append(quote.ltp / quote.prev_close - 1)
        stock = market.quote(picks["reliance"], at)
        stock_ranges.append((stock.high - stock.low) / stock.open)
    assert 0.003 <= statistics.median(ranges) <= 0.03
    assert 0.005 <= statistics.pstdev(moves) <= 0.02
    assert statistics.median(ranges) < statistics.median(stock_ranges) <= 0.06
