"""The paper broker's simulated market: prices, quotes, depth and history, all deterministic.

Every answer is a function of the seed, the instrument and the instant asked about
(an aware datetime: the market keeps no clock), so two markets with one seed agree in
any process and in any order of calls, and a FakeClock drives it in tests.

How a price is made (arithmetic in `pricing`):

- Each underlying (index, share, MCX commodity, currency pair) walks in 15-second steps:
  fine enough that a strategy polling every second sees the price move (between
  steps it moves in a straight line), coarse enough that a day's path is 1,500 floats,
  built once per underlying and day (a few milliseconds) and kept in an LRU cache.
  A price is then one lookup and an interpolation; the day's high and low are a max
  over the path so far. NSE and BSE share one walk per share.
- Futures and options are computed from the underlying at the same instant: F&O on
  NFO/BFO from the index or share of their `name`; MCX and CDS/BCD contracts from a
  walk of the commodity or currency itself (each expiry carried from it, so the months
  stay in line). An option's path is its value at the underlying's steps; that array
  is built only for a quote, depth or history (`price` evaluates two steps).
- Prices are rounded to the instrument's tick, never below one tick.
- Sessions (IST): NSE, BSE, NFO, BFO and the indices 09:15-15:30; MCX 09:00-23:30;
  CDS and BCD 09:00-17:00. Trading days come from `is_trading_day` (default: weekdays).
  Outside the session the market is frozen at the last session's close: before the
  open, on holidays and weekends a quote shows the previous session (its OHLC, volume,
  and the close before it as prev_close), with `market_open` False and `as_of` the
  close it shows. A derivative is frozen at its expiry's close (its intrinsic value)
  after expiry. Options expire at their session's close (15:30 on NFO/BFO).
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime

from algovisor.brokers.paper import pricing
from algovisor.brokers.paper.lru import Lru
from algovisor.brokers.paper.pricing import (
    EPOCH_ORDINAL,
    IST_OFFSET_SECONDS,
    STEP_SECONDS,
    Priced,
    SessionPath,
    Underlying,
    interpolate,
)
from algovisor.brokers.paper.segments import INDEX_EXCHANGES
from algovisor.contracts.book import ContractBook
from algovisor.contracts.paper_expiries import LONGEST_HOLIDAY_DAYS, TradingDayTest, is_weekday
from algovisor.contracts.records import Instrument
from algovisor.errors import InvalidInputError

# OpenAlgo's intervals (docs/OPENALGO_API.md 7.5): bar width in seconds, None for daily.
INTERVALS: dict[str, int | None] = {
    "1m": 60, "3m": 180, "5m": 300, "10m": 600, "15m": 900, "30m": 1800, "1h": 3600, "D": None,
}  # fmt: skip
MAX_BARS = 50_000  # 1m bars for 60 sessions is 22,500
MAX_SESSIONS = 1_000  # sessions walked for one history request (about four years)
MAX_DEPTH_LEVELS = 20
# The days history is made for: the walks need a trading day before the first (date's
# range ends at year 1), and no strategy asks for bars of 1990 or 2500.
HISTORY_FIRST_DAY = date(2000, 1, 1)
HISTORY_LAST_DAY = date(2100, 12, 31)
COMMODITY_EXCHANGES = frozenset({"MCX"})
CURRENCY_EXCHANGES = frozenset({"CDS", "BCD"})


class UnsupportedIntervalError(InvalidInputError):
    """A history interval OpenAlgo does not offer."""


class HistoryRangeError(InvalidInputError):
    """A history request that is backwards, too large to answer at once, or outside the
    days history is made for."""


@dataclass(frozen=True, slots=True)
class Quote:
    """One instrument at one instant: the fields of OpenAlgo's quotes endpoint, and more."""

    ltp: float
    bid: float
    ask: float
    open: float
    high: float
    low: float
    prev_close: float
    volume: int
    oi: int  # open interest, 0 for shares and indices
    last_quantity: int
    market_open: bool  # False: frozen at the last close
    as_of: datetime  # the instant these values describe (that close, when frozen)


@dataclass(frozen=True, slots=True)
class DepthLevel:
    price: float
    quantity: int


@dataclass(frozen=True, slots=True)
class Depth:
    quote: Quote
    bids: tuple[DepthLevel, ...]  # best (highest) first
    asks: tuple[DepthLevel, ...]  # best (lowest) first
    total_buy_quantity: int  # the whole book, beyond the levels shown
    total_sell_quantity: int


@dataclass(frozen=True, slots=True)
class Bar:
    """An OHLCV bar. `timestamp` as OpenAlgo sends it: epoch seconds of the bar's start,
    or for a daily bar 00:00 UTC on its IST date."""

    timestamp: int
    open: float
    high: float
    low: float
    close: float
    volume: int
    oi: int


def _epoch(at: datetime) -> float:
    if at.utcoffset() is None:
        raise InvalidInputError(
            f"the market needs a time-zone-aware instant, not {at.isoformat()}",
            detail="Use datetime.now(UTC) or a FakeClock's now().",
        )
    return at.timestamp()


def _interval_seconds(interval: str) -> int | None:
    if interval not in INTERVALS:
        raise UnsupportedIntervalError(
            f"Unsupported interval {interval!r}. Use one of: {', '.join(INTERVALS)}"
        )
    return INTERVALS[interval]


class SimulatedMarket:
    """A seeded market over one trading day's instruments; see the module docstring.

    `cached_sessions` bounds the memory: one (underlying or option, day) path is ~12 KB.
    Safe to share between threads.
    """

    def __init__(
        self,
        seed: int,
        instruments: Iterable[Instrument] | ContractBook,
        *,
        is_trading_day: TradingDayTest | None = None,
        cached_sessions: int = 2_048,
    ) -> None:
        self.seed = seed
        self._is_trading_day = is_trading_day or is_weekday
        # Derivatives on these names follow an index, any other NFO/BFO name a share.
        self._index_names = set(pricing.INDEX_LEVELS)
        if isinstance(instruments, ContractBook):
            for exchange in INDEX_EXCHANGES:
                book = instruments.exchanges.get(exchange)
                self._index_names.update(book.symbols if book else ())
        else:
            self._index_names.update(
                row.symbol for row in instruments if row.instrument_type == "INDEX"
            )
        self._walks: dict[tuple[str, str], Underlying] = {}
        self._priced: dict[Instrument, Priced] = {}
        self._trades: dict[int, bool] = {}
        self._anchors: Lru[tuple[str, int], float] = Lru(cached_sessions * 8)
        self._days: Lru[tuple[str, int], SessionPath] = Lru(cached_sessions)
        self._derivative_days: Lru[tuple[str, int], array[float]] = Lru(cached_sessions)

    # -- public API -------------------------------------------------------------------

    def price(self, instrument: Instrument, at: datetime) -> float:
        """The last traded price at `at`, on the tick: the fast path for order fills."""
        priced = self._resolve(instrument)
        ordinal, elapsed, _ = self._locate(priced, at)
        return self._round(priced, self._value(priced, ordinal, elapsed))

    def market_open(self, instrument: Instrument, at: datetime) -> bool:
        """Whether the instrument's session is under way at `at` (else prices are frozen)."""
        return self._locate(self._resolve(instrument), at)[2]

    def expired(self, instrument: Instrument, at: datetime) -> bool:
        """Whether a derivative's last session has closed at `at` (its price is final)."""
        priced = self._resolve(instrument)
        ordinal, elapsed, _ = self._locate(priced, at)
        final = ordinal == priced.expiry_ordinal and elapsed >= priced.walk.session.seconds
        return bool(priced.expiry_ordinal) and final

    def quote(self, instrument: Instrument, at: datetime) -> Quote:
        priced = self._resolve(instrument)
        ordinal, elapsed, live = self._locate(priced, at)
        return self._quote(priced, ordinal, elapsed, live, at)

    def depth(self, instrument: Instrument, at: datetime, levels: int = 5) -> Depth:
        """The quote, and `levels` bids and asks a tick apart outward from bid and ask.

        Bids stop above zero, so a one-tick option may show fewer bid levels.
        """
        if not 1 <= levels <= MAX_DEPTH_LEVELS:
            raise InvalidInputError(f"depth levels must be 1 to {MAX_DEPTH_LEVELS}, not {levels}")
        priced = self._resolve(instrument)
        ordinal, elapsed, live = self._locate(priced, at)
        quote = self._quote(priced, ordinal, elapsed, live, at)
        step = int(elapsed // STEP_SECONDS)
        noise = pricing.hashed_bytes(self.seed, priced.identity, ordinal, step, "depth", size=42)
        best_bid, best_ask = round(quote.bid / priced.tick), round(quote.ask / priced.tick)
        bids = tuple(
            DepthLevel(
                self._units(priced, best_bid - level), pricing.level_size(priced, noise[level])
            )
            for level in range(min(levels, best_bid))
        )
        asks = tuple(
            DepthLevel(
                self._units(priced, best_ask + level),
                pricing.level_size(priced, noise[MAX_DEPTH_LEVELS + level]),
            )
            for level in range(levels)
        )
        lot = priced.lot_size
        total_buy = sum(level.quantity for level in bids) * (5 + noise[40] % 20) // lot * lot
        total_sell = sum(level.quantity for level in asks) * (5 + noise[41] % 20) // lot * lot
        return Depth(quote, bids, asks, total_buy, total_sell)

    def history(
        self, instrument: Instrument, interval: str, start: date, end: date, at: datetime
    ) -> list[Bar]:
        """Bars from `start` to `end` (IST dates, both included) as known at `at`, oldest first.

        Intraday bars start at the session's open and every `interval` after it (the last
        of a session may be shorter). The bar under way at `at` ends at `at`: its close is
        the price then, and today's daily bar matches the quote. Raises
        UnsupportedIntervalError and HistoryRangeError.
        """
        width = _interval_seconds(interval)
        if start > end:
            raise HistoryRangeError(f"history start {start} is after its end {end}")
        if start < HISTORY_FIRST_DAY or end > HISTORY_LAST_DAY:
            raise HistoryRangeError(
                f"history from {start} to {end} is outside the days the paper market has: "
                f"ask for dates from {HISTORY_FIRST_DAY} to {HISTORY_LAST_DAY}"
            )
        priced = self._resolve(instrument)
        today, elapsed_today, _ = self._locate(priced, at)
        first, last = start.toordinal(), min(end.toordinal(), today)
        if last - first >= 2 * MAX_SESSIONS:
            raise HistoryRangeError(
                f"history from {start} to {end} is too long: ask for at most "
                f"{MAX_SESSIONS:,} sessions at once"
            )
        full = float(priced.walk.session.seconds)
        sessions = [
            (day, elapsed_today if day == today else full)
            for day in range(first, last + 1)
            if self._trading(day)
        ]
        if width is None:
            count = len(sessions)
        else:
            count = sum(math.ceil(elapsed / width) for _, elapsed in sessions)
        if len(sessions) > MAX_SESSIONS or count > MAX_BARS:
            raise HistoryRangeError(
                f"history of {instrument.symbol} at {interval} from {start} to {end} is "
                f"{count:,} bars over {len(sessions):,} sessions; ask for at most "
                f"{MAX_BARS:,} bars and {MAX_SESSIONS:,} sessions at once (a shorter range "
                "or a longer interval)"
            )
        bars: list[Bar] = []
        for day, elapsed in sessions:
            activity = pricing.day_activity(self.seed, priced, day)
            if width is None:
                stamp = (day - EPOCH_ORDINAL) * 86_400
                bars.append(self._bar(priced, day, activity, stamp, 0.0, elapsed))
                continue
            opens = int(pricing.session_opens(priced.walk, day))
            for begin in range(0, math.ceil(elapsed / width) * width, width):
                stop = min(float(begin + width), elapsed)
                bars.append(self._bar(priced, day, activity, opens + begin, begin, stop))
        return bars

    # -- which walk, which session ----------------------------------------------------

    def _resolve(self, instrument: Instrument) -> Priced:
        found = self._priced.get(instrument)
        if found is None:
            found = self._build_priced(instrument)
            if len(self._priced) >= 200_000:  # a long-lived host meets many contracts
                self._priced.clear()
            self._priced[instrument] = found
        return found

    def _build_priced(self, instrument: Instrument) -> Priced:
        kind = instrument.instrument_type
        if instrument.exchange in COMMODITY_EXCHANGES:
            family = pricing.COMMODITY
        elif instrument.exchange in CURRENCY_EXCHANGES:
            family = pricing.CURRENCY
        elif kind == "INDEX" or (kind != "EQ" and instrument.name in self._index_names):
            family = pricing.INDEX
        else:
            family = pricing.EQUITY
        name = instrument.symbol if kind in ("EQ", "INDEX") else instrument.name
        walk = self._walks.get((family, name))
        if walk is None:
            walk = self._walks[(family, name)] = pricing.underlying(family, name)
        expiry_ordinal, expiry_close = 0, 0.0
        if kind in pricing.DERIVATIVES:
            if instrument.expiry is None:
                raise InvalidInputError(f"{instrument.symbol} is a {kind} without an expiry")
            expiry_ordinal = self._trading_day_on_or_before(instrument.expiry.toordinal())
            expiry_close = pricing.session_opens(walk, expiry_ordinal) + walk.session.seconds
        return pricing.priced(instrument, walk, expiry_ordinal, expiry_close)

    def _trading(self, ordinal: int) -> bool:
        trades = self._trades.get(ordinal)
        if trades is None:
            trades = self._trades[ordinal] = self._is_trading_day(date.fromordinal(ordinal))
        return trades

    def _trading_day_on_or_before(self, ordinal: int) -> int:
        for day in range(ordinal, ordinal - LONGEST_HOLIDAY_DAYS, -1):
            if self._trading(day):
                return day
        raise InvalidInputError(
            f"the trading calendar has no trading day in the {LONGEST_HOLIDAY_DAYS} days "
            f"to {date.fromordinal(ordinal)}"
        )

    def _locate(self, priced: Priced, at: datetime) -> tuple[int, float, bool]:
        """The session `at` shows, the seconds into it, and whether it is under way."""
        session = priced.walk.session
        days, seconds = divmod(_epoch(at) + IST_OFFSET_SECONDS, 86_400)
        ordinal = EPOCH_ORDINAL + int(days)
        elapsed = seconds - session.opens
        if elapsed < 0 or not self._trading(ordinal):
            ordinal = self._trading_day_on_or_before(ordinal - 1)
            elapsed = session.seconds
        live = elapsed < session.seconds
        if priced.expiry_ordinal and ordinal > priced.expiry_ordinal:
            return priced.expiry_ordinal, float(session.seconds), False
        return ordinal, min(elapsed, float(session.seconds)), live

    # -- values -----------------------------------------------------------------------

    def _anchor(self, walk: Underlying, ordinal: int) -> float:
        key = (walk.key, ordinal)
        close = self._anchors.get(key)
        if close is None:
            close = pricing.close_anchor(self.seed, walk, ordinal)
            self._anchors.put(key, close)
        return close

    def _day(self, walk: Underlying, ordinal: int) -> SessionPath:
        key = (walk.key, ordinal)
        day = self._days.get(key)
        if day is None:
            previous = self._anchor(walk, self._trading_day_on_or_before(ordinal - 1))
            close = self._anchor(walk, ordinal)
            day = pricing.session_path(self.seed, walk, ordinal, previous, close)
            self._days.put(key, day)
        return day

    def _path(self, priced: Priced, ordinal: int) -> array[float]:
        """The instrument's value (not yet on the tick) at every step of the session."""
        day = self._day(priced.walk, ordinal)
        if not priced.derivative:
            return day.prices
        key = (priced.identity, ordinal)
        values = self._derivative_days.get(key)
        if values is None:
            opens = day.opens
            values = array(
                "d",
                (
                    priced.value(spot, opens + step * STEP_SECONDS)
                    for step, spot in enumerate(day.prices)
                ),
            )
            self._derivative_days.put(key, values)
        return values

    def _value(self, priced: Priced, ordinal: int, elapsed: float) -> float:
        """The value at `elapsed`; for a derivative, without building its whole path."""
        day = self._day(priced.walk, ordinal)
        if not priced.derivative:
            return interpolate(day.prices, elapsed)
        values = self._derivative_days.get((priced.identity, ordinal))
        if values is not None:
            return interpolate(values, elapsed)
        # The same arithmetic as `interpolate` over `_path`, on the two steps around `elapsed`.
        position = elapsed / STEP_SECONDS
        step = min(int(position), len(day.prices) - 1)
        opens, prices = day.opens, day.prices
        start = priced.value(prices[step], opens + step * STEP_SECONDS)
        if step == len(prices) - 1:
            return start
        following = priced.value(prices[step + 1], opens + (step + 1) * STEP_SECONDS)
        return start + (following - start) * (position - step)

    def _previous_close(self, priced: Priced, ordinal: int) -> float:
        previous = self._trading_day_on_or_before(ordinal - 1)
        close = self._anchor(priced.walk, previous)
        if not priced.derivative:
            return close
        closes = pricing.session_opens(priced.walk, previous) + priced.walk.session.seconds
        return priced.value(close, closes)

    def _round(self, priced: Priced, value: float) -> float:
        """The nearest multiple of the tick, never below one tick."""
        return self._units(priced, max(1, round(value / priced.tick)))

    @staticmethod
    def _units(priced: Priced, ticks: int) -> float:
        return round(ticks * priced.tick, priced.decimals)

    # -- quotes and bars --------------------------------------------------------------

    def _quote(
        self, priced: Priced, ordinal: int, elapsed: float, live: bool, at: datetime
    ) -> Quote:
        values = self._path(priced, ordinal)
        step = min(int(elapsed // STEP_SECONDS), len(values) - 1)
        last = interpolate(values, elapsed)
        so_far = values[: step + 1]
        so_far.append(last)
        ltp = self._round(priced, last)
        bid, ask = pricing.spread(self.seed, priced, ordinal, step, round(ltp / priced.tick))
        share = interpolate(self._day(priced.walk, ordinal).activity, elapsed)
        activity = pricing.day_activity(self.seed, priced, ordinal)
        volume, open_interest = pricing.traded(priced, activity, share)
        as_of = at
        if not live:
            shown = pricing.session_opens(priced.walk, ordinal) + elapsed
            as_of = datetime.fromtimestamp(shown, UTC).astimezone(at.tzinfo)
        return Quote(
            ltp=ltp,
            bid=self._units(priced, bid),
            ask=self._units(priced, ask),
            open=self._round(priced, values[0]),
            high=self._round(priced, max(so_far)),
            low=self._round(priced, min(so_far)),
            prev_close=self._round(priced, self._previous_close(priced, ordinal)),
            volume=volume,
            oi=open_interest,
            last_quantity=pricing.last_quantity(self.seed, priced, ordinal, step),
            market_open=live,
            as_of=as_of,
        )

    def _bar(
        self,
        priced: Priced,
        ordinal: int,
        activity: pricing.Activity,
        stamp: int,
        begin: float,
        stop: float,
    ) -> Bar:
        values = self._path(priced, ordinal)
        inside = values[int(begin // STEP_SECONDS) : int(stop // STEP_SECONDS) + 1]
        close = interpolate(values, stop)
        inside.append(close)
        shares = self._day(priced.walk, ordinal).activity
        volume_before, _ = pricing.traded(priced, activity, interpolate(shares, begin))
        volume_after, open_interest = pricing.traded(priced, activity, interpolate(shares, stop))
        return Bar(
            timestamp=stamp,
            open=self._round(priced, interpolate(values, begin)),
            high=self._round(priced, max(inside)),
            low=self._round(priced, min(inside)),
            close=self._round(priced, close),
            volume=volume_after - volume_before,
            oi=open_interest,
        )
