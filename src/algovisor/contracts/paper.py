"""The paper broker's master contract: a realistic instrument list for any trading day.

`generate` is a pure function of the trading day and the trading calendar: about
150,000 rows across every exchange, in OpenAlgo's symbol format, shaped like a real
broker's file (see `paper_specs` for the names, lot sizes and expiry rules).

    equities     NSE ~2,000 (about 220 real names, padded with synthetic ones), BSE ~4,600
    indices      NSE_INDEX, BSE_INDEX; tick 0.05, lot 1
    NFO          index futures and options (NIFTY weekly on Tuesdays plus quarterlies, the
                 others monthly only), stock futures and monthly stock options
    BFO          SENSEX weekly on Thursdays, BANKEX monthly, a few stock futures
    MCX          energy, bullion and base-metal futures; options on CRUDEOIL, NATURALGAS,
                 GOLD and SILVER
    CDS, BCD     currency futures; USDINR and EURINR weekly (Friday) and monthly options

Expiries: a nominal expiry on a non-trading day moves to the trading day before it, and
nothing already expired is listed. Strike ladders sit around fixed spot levels (a hash of
the name for stocks), so an instrument's strikes do not change from one day to the next.
The expiry rules live in `paper_expiries`.

Tokens: the instrument's symbol is hashed (CRC-32) into its exchange's token range, so an
instrument keeps its token on every day it is listed. When two
symbols land on one token, the one with the earlier expiry (then the smaller symbol)
keeps it and the other takes the next free token; that rare loser's token can change if
the instrument holding the next slot comes or goes.
"""

from __future__ import annotations

import math
from datetime import date
from zlib import crc32

from algovisor.contracts import paper_specs as specs
from algovisor.contracts.paper_expiries import ExpiryCalendar, TradingDayTest, is_weekday
from algovisor.contracts.records import Instrument
from algovisor.contracts.symbols import expiry_code, format_strike, future_symbol

StrikeLadder = list[tuple[float, str]]  # (strike, its text in a symbol)

QUARTER_MONTHS = (3, 6, 9, 12)
LOWEST_STOCK_PRICE, HIGHEST_STOCK_PRICE = 5.0, 6_000.0
LOWEST_FNO_STOCK_PRICE = 40.0  # F&O membership needs a liquid, not-penny stock


def generate(trading_day: date, is_trading_day: TradingDayTest | None = None) -> list[Instrument]:
    """The paper broker's master contract for `trading_day`.

    `is_trading_day` is the exchange calendar; None treats every weekday as a trading
    day. The same arguments always give the same rows, in the same order. Raises
    ValueError for a calendar with no trading day in a month.
    """
    calendar = ExpiryCalendar(is_trading_day or is_weekday)
    book = _RowBook()
    _add_equities(book)
    _add_indices(book)
    _add_index_derivatives(book, calendar, trading_day)
    _add_stock_derivatives(book, calendar, trading_day)
    _add_commodities(book, calendar, trading_day)
    _add_currencies(book, calendar, trading_day)
    return book.finish()


def _hash_fraction(text: str) -> float:
    """A stable number in [0, 1) for `text`: Python's own hash changes between runs."""
    return crc32(text.encode()) / 2**32


def stock_spot(name: str, lowest_price: float) -> float:
    """A deterministic price, spread evenly on a log scale like real share prices."""
    override = specs.STOCK_SPOT_OVERRIDES.get(name)
    if override is not None:
        return override
    price_range = HIGHEST_STOCK_PRICE / lowest_price
    return lowest_price * math.exp(math.log(price_range) * _hash_fraction(f"spot:{name}"))


def _strike_ladder(spot: float, step: float, each_side: int) -> tuple[StrikeLadder, int]:
    """Strikes around the money, and where the at-the-money strike sits in the list."""
    at_the_money = round(spot / step)
    lowest = max(1, at_the_money - each_side)
    ladder = []
    for multiple in range(lowest, at_the_money + each_side + 1):
        strike = round(multiple * step, 4)
        ladder.append((strike, format_strike(strike)))
    return ladder, at_the_money - lowest


def _narrowed(ladder: tuple[StrikeLadder, int], each_side: int) -> StrikeLadder:
    strikes, middle = ladder
    return strikes[max(0, middle - each_side) : middle + each_side + 1]


class _RowBook:
    """Collects rows and gives each a token from its symbol's hash."""

    def __init__(self) -> None:
        self.rows: list[Instrument] = []
        # Per exchange: token slot -> index of the row holding it.
        self._owners: dict[str, dict[int, int]] = {exchange: {} for exchange in specs.TOKEN_RANGES}
        self._clashes: list[int] = []  # rows whose slot was taken when they were added

    def add(
        self,
        symbol: str,
        name: str,
        exchange: str,
        expiry: date | None,
        lot_size: int,
        instrument_type: str,
        tick_size: float,
    ) -> None:
        first_token, span = specs.TOKEN_RANGES[exchange]
        slot = crc32(symbol.encode()) % span
        owners = self._owners[exchange]
        if slot in owners:
            self._clashes.append(len(self.rows))
        else:
            owners[slot] = len(self.rows)
        self.rows.append(
            Instrument(
                symbol,
                symbol,
                name,
                exchange,
                exchange,
                str(first_token + slot),
                expiry,
                None,
                lot_size,
                instrument_type,
                tick_size,
            )
        )

    def add_futures(
        self, name: str, exchange: str, expiries: list[date], lot_size: int, tick_size: float
    ) -> None:
        for expiry in expiries:
            symbol = future_symbol(name, expiry)
            self.add(symbol, name, exchange, expiry, lot_size, "FUT", tick_size)

    def add_options(
        self,
        name: str,
        exchange: str,
        expiry: date,
        strikes: StrikeLadder,
        lot_size: int,
        tick_size: float,
    ) -> None:
        """A CE and a PE at every strike: `add` inlined, as this makes most of the rows."""
        first_token, span = specs.TOKEN_RANGES[exchange]
        owners = self._owners[exchange]
        rows, clashes = self.rows, self._clashes
        prefix = name + expiry_code(expiry)
        for strike, strike_text in strikes:
            for option_type in ("CE", "PE"):
                symbol = prefix + strike_text + option_type
                slot = crc32(symbol.encode()) % span
                if slot in owners:
                    clashes.append(len(rows))
                else:
                    owners[slot] = len(rows)
                rows.append(
                    Instrument(
                        symbol,
                        symbol,
                        name,
                        exchange,
                        exchange,
                        str(first_token + slot),
                        expiry,
                        strike,
                        lot_size,
                        option_type,
                        tick_size,
                    )
                )

    def finish(self) -> list[Instrument]:
        """Settle token clashes: earliest expiry, then smallest symbol, keeps the slot."""
        rows = self.rows
        groups: dict[tuple[str, int], list[int]] = {}
        for index in self._clashes:
            row = rows[index]
            slot = int(row.token) - specs.TOKEN_RANGES[row.exchange][0]
            holder = self._owners[row.exchange][slot]
            groups.setdefault((row.exchange, slot), [holder]).append(index)
        for (exchange, slot), indices in sorted(groups.items()):
            first_token, span = specs.TOKEN_RANGES[exchange]
            owners = self._owners[exchange]
            indices.sort(key=lambda index: (rows[index].expiry or date.min, rows[index].symbol))
            if len({rows[index].symbol for index in indices}) < len(indices):
                raise ValueError(f"the paper contract lists {rows[indices[0]].symbol} twice")
            for position, index in enumerate(indices):
                target = slot
                if position > 0:
                    while target in owners:
                        target = (target + 1) % span
                    owners[target] = index
                rows[index] = rows[index]._replace(token=str(first_token + target))
        return rows


def _equity_names() -> tuple[list[str], list[str]]:
    """NSE's names (real first, then synthetic) and the names only BSE lists."""
    real = set(specs.FNO_STOCKS)
    combinations = {
        prefix + suffix
        for prefix in specs.SYNTHETIC_NAME_PREFIXES
        for suffix in specs.SYNTHETIC_NAME_SUFFIXES
    }
    synthetic = sorted(combinations - real, key=lambda name: (crc32(name.encode()), name))
    nse_synthetic_count = specs.NSE_EQUITY_COUNT - len(specs.FNO_STOCKS)
    nse = [*specs.FNO_STOCKS, *synthetic[:nse_synthetic_count]]
    bse_only = synthetic[nse_synthetic_count : nse_synthetic_count + specs.BSE_ONLY_EQUITY_COUNT]
    return nse, bse_only


def _add_equities(book: _RowBook) -> None:
    nse, bse_only = _equity_names()
    fno = set(specs.FNO_STOCKS)
    for exchange, names in (("NSE", nse), ("BSE", nse + bse_only)):
        for name in names:
            lowest_price = LOWEST_FNO_STOCK_PRICE if name in fno else LOWEST_STOCK_PRICE
            penny = stock_spot(name, lowest_price) < specs.PENNY_STOCK_BELOW_RUPEES
            tick = specs.PENNY_STOCK_TICK if penny else specs.EQUITY_TICK
            book.add(name, name, exchange, None, 1, "EQ", tick)


def _add_indices(book: _RowBook) -> None:
    for exchange, names in (("NSE_INDEX", specs.NSE_INDICES), ("BSE_INDEX", specs.BSE_INDICES)):
        for name in names:
            book.add(name, name, exchange, None, 1, "INDEX", specs.INDEX_TICK)


def _add_index_derivatives(book: _RowBook, calendar: ExpiryCalendar, trading_day: date) -> None:
    for spec in specs.INDEX_OPTIONS:
        nse = spec.exchange == "NFO"
        monthly_weekday = specs.NSE_EXPIRY_WEEKDAY if nse else specs.BSE_EXPIRY_WEEKDAY
        rule = calendar.last_weekday_rule(monthly_weekday)
        future_tick = specs.NFO_INDEX_FUTURE_TICK if nse else specs.BFO_INDEX_FUTURE_TICK
        futures = calendar.monthly(trading_day, rule, specs.INDEX_FUTURE_MONTHS)
        book.add_futures(spec.name, spec.exchange, futures, spec.lot_size, future_tick)

        monthly = calendar.monthly(trading_day, rule, spec.monthly_count)
        widest = max(spec.weekly_strikes_each_side, spec.monthly_strikes_each_side)
        ladder = _strike_ladder(spec.spot, spec.strike_step, widest)
        series: list[tuple[date, StrikeLadder]] = [
            (expiry, _narrowed(ladder, spec.monthly_strikes_each_side)) for expiry in monthly
        ]
        if spec.weekly_weekday is not None:
            weekly_strikes = _narrowed(ladder, spec.weekly_strikes_each_side)
            weekly = calendar.weekly(trading_day, spec.weekly_weekday, spec.weekly_count, monthly)
            series += [(expiry, weekly_strikes) for expiry in weekly]
        if spec.quarterly_count:
            # Long-dated contracts: the same price range at twice the strike step.
            quarterly_strikes, _ = _strike_ladder(
                spec.spot, spec.strike_step * 2, spec.monthly_strikes_each_side // 2
            )
            candidates = calendar.monthly(
                trading_day, rule, spec.monthly_count + spec.quarterly_count, QUARTER_MONTHS
            )
            quarterly = [expiry for expiry in candidates if expiry > monthly[-1]]
            series += [(expiry, quarterly_strikes) for expiry in quarterly[: spec.quarterly_count]]
        for expiry, strikes in sorted(series):
            book.add_options(
                spec.name, spec.exchange, expiry, strikes, spec.lot_size, specs.OPTION_TICK
            )


def _stock_lot_size(spot: float) -> int:
    """Lots near NSE's contract value: multiples of 25 where the price allows, as NSE sets them."""
    shares = specs.STOCK_LOT_VALUE_RUPEES / spot
    if shares >= 25:
        return round(shares / 25) * 25
    return max(1, round(shares))


def _stock_strike_step(spot: float) -> float:
    return next(step for below, step in specs.STOCK_STRIKE_STEPS if spot < below)


def _add_stock_derivatives(book: _RowBook, calendar: ExpiryCalendar, trading_day: date) -> None:
    nse_expiries = calendar.monthly(
        trading_day,
        calendar.last_weekday_rule(specs.NSE_EXPIRY_WEEKDAY),
        specs.STOCK_DERIVATIVE_MONTHS,
    )
    bse_expiries = calendar.monthly(
        trading_day,
        calendar.last_weekday_rule(specs.BSE_EXPIRY_WEEKDAY),
        specs.STOCK_DERIVATIVE_MONTHS,
    )
    for position, name in enumerate(specs.FNO_STOCKS):
        spot = stock_spot(name, LOWEST_FNO_STOCK_PRICE)
        lot_size = _stock_lot_size(spot)
        book.add_futures(name, "NFO", nse_expiries, lot_size, specs.EQUITY_TICK)
        ladder = _strike_ladder(spot, _stock_strike_step(spot), max(specs.STOCK_STRIKES_EACH_SIDE))
        for expiry, each_side in zip(nse_expiries, specs.STOCK_STRIKES_EACH_SIDE, strict=True):
            book.add_options(
                name, "NFO", expiry, _narrowed(ladder, each_side), lot_size, specs.OPTION_TICK
            )
        if position < specs.BSE_STOCK_FUTURES_COUNT:
            book.add_futures(name, "BFO", bse_expiries, lot_size, specs.EQUITY_TICK)


def _add_commodities(book: _RowBook, calendar: ExpiryCalendar, trading_day: date) -> None:
    for spec in specs.COMMODITIES:
        rule = calendar.day_of_month_rule(spec.expiry_day)
        futures = calendar.monthly(trading_day, rule, spec.future_count, spec.months)
        book.add_futures(spec.name, "MCX", futures, spec.lot_size, spec.tick_size)
        if not spec.option_count:
            continue
        # Options expire a few trading days before their future: the nearest future's
        # options may be gone while the future still trades.
        option_expiries = [
            calendar.trading_days_before(expiry, spec.option_lead_days) for expiry in futures
        ]
        unexpired = [expiry for expiry in option_expiries if expiry >= trading_day]
        strikes, _ = _strike_ladder(
            spec.spot, spec.option_strike_step, spec.option_strikes_each_side
        )
        for expiry in unexpired[: spec.option_count]:
            book.add_options(
                spec.name, "MCX", expiry, strikes, spec.lot_size, spec.option_tick_size
            )


def _add_currencies(book: _RowBook, calendar: ExpiryCalendar, trading_day: date) -> None:
    rule = calendar.before_month_end_rule(specs.CURRENCY_EXPIRY_DAYS_BEFORE_MONTH_END)
    for spec in specs.CURRENCIES:
        futures = calendar.monthly(trading_day, rule, spec.future_count)
        for exchange in ("CDS", "BCD"):
            book.add_futures(spec.name, exchange, futures, spec.lot_size, specs.CURRENCY_TICK)
        if not spec.strikes_each_side:
            continue
        strikes, _ = _strike_ladder(spec.spot, spec.strike_step, spec.strikes_each_side)
        monthly = futures[: spec.monthly_option_count]
        weekly = calendar.weekly(
            trading_day, specs.CURRENCY_WEEKLY_WEEKDAY, spec.weekly_option_count, futures
        )
        for expiry in sorted(monthly + weekly):
            book.add_options(spec.name, "CDS", expiry, strikes, spec.lot_size, specs.CURRENCY_TICK)
