"""The simulated market's arithmetic: seeded randomness, walks, option values, ticks.

Pure functions of their arguments. Randomness is never drawn from a shared
generator: every number comes from a hash of (seed, what, when), so an answer does
not depend on which questions were asked before it, in this process or another.

An underlying (an index, a share, an MCX commodity, a currency pair) follows one
geometric random walk, built in two layers:

    day anchors   the close of each day: the base price times exp(a tapered moving sum
                  of the last 56 days' shocks), so a level is computed from 56 hashes,
                  never by walking from some epoch, and wanders a few daily moves
                  around the base (the paper contract's strikes stay near the money);
    session path  a Brownian bridge in 15-second steps from the day's open (yesterday's
                  close times a small overnight gap) to the day's close anchor, drawn
                  in one go from a generator seeded for that (underlying, day).

Futures and options are priced off their underlying's walk: a future at
spot x (1 + carry x years to expiry), an option by Black-76 on that forward.
"""

from __future__ import annotations

import math
import random
from array import array
from datetime import date
from decimal import Decimal
from hashlib import blake2b
from typing import NamedTuple

from algovisor.contracts import paper_specs as specs
from algovisor.contracts.paper import (
    LOWEST_FNO_STOCK_PRICE,
    LOWEST_STOCK_PRICE,
    stock_spot,  # the generator's own price, so the walk starts where its strikes sit
)
from algovisor.contracts.records import Instrument

STEP_SECONDS = 15
YEAR_SECONDS = 365 * 86_400
TRADING_DAYS_PER_YEAR = 252
IST_OFFSET_SECONDS = 19_800  # India keeps +05:30 all year
EPOCH_ORDINAL = date(1970, 1, 1).toordinal()

ANCHOR_DAYS = 56  # calendar days of shocks in a day's level
WEEKEND_SHOCK_WEIGHT = 0.35  # news still happens on a Sunday, less of it
OVERNIGHT_GAP_SHARE = 0.25  # of a day's volatility, between yesterday's close and the open
# Of a day's volatility, the wiggle within the session: real daily ranges are ~1.3x it.
INTRADAY_VOLATILITY_SHARE = 0.75

# Walk families: how an underlying moves and which hours it trades.
INDEX, EQUITY, COMMODITY, CURRENCY = "INDEX", "EQ", "MCX", "CUR"
# Daily volatility: each name draws its own from the range. Carry: annual, for futures.
FAMILY_VOLATILITY = {
    INDEX: (0.008, 0.012),
    EQUITY: (0.015, 0.025),
    COMMODITY: (0.012, 0.022),
    CURRENCY: (0.0025, 0.004),
}
FAMILY_CARRY = {INDEX: 0.06, EQUITY: 0.07, COMMODITY: 0.05, CURRENCY: 0.025}
# Where an unknown name's base price is drawn from (log-uniform).
FAMILY_PRICE_RANGE = {
    INDEX: (3_000.0, 60_000.0),
    EQUITY: (LOWEST_STOCK_PRICE, 6_000.0),
    COMMODITY: (100.0, 100_000.0),
    CURRENCY: (50.0, 150.0),
}
INDEX_LEVELS = {spec.name: spec.spot for spec in specs.INDEX_OPTIONS} | {"INDIAVIX": 13.5}
VIX_DAILY_VOLATILITY = 0.04
COMMODITY_LEVELS = {spec.name: spec.spot for spec in specs.COMMODITIES}
CURRENCY_LEVELS = {spec.name: spec.spot for spec in specs.CURRENCIES}
FNO_NAMES = frozenset(specs.FNO_STOCKS)


class Session(NamedTuple):
    """A trading session, in seconds after midnight IST."""

    opens: int
    closes: int

    @property
    def seconds(self) -> int:
        return self.closes - self.opens

    @property
    def steps(self) -> int:
        return self.seconds // STEP_SECONDS


EQUITY_SESSION = Session(9 * 3600 + 15 * 60, 15 * 3600 + 30 * 60)  # NSE, BSE and their F&O
COMMODITY_SESSION = Session(9 * 3600, 23 * 3600 + 30 * 60)  # MCX
CURRENCY_SESSION = Session(9 * 3600, 17 * 3600)  # CDS, BCD
FAMILY_SESSION = {
    INDEX: EQUITY_SESSION,
    EQUITY: EQUITY_SESSION,
    COMMODITY: COMMODITY_SESSION,
    CURRENCY: CURRENCY_SESSION,
}


class Underlying(NamedTuple):
    """One walk and the numbers its derivatives are priced with."""

    key: str  # family:name, e.g. INDEX:NIFTY, EQ:RELIANCE (shared by NSE and BSE)
    family: str
    base_price: float
    daily_volatility: float
    implied_volatility: float  # annual, at the money
    carry: float  # annual, simple
    session: Session


def hashed_bytes(*parts: object, size: int = 8) -> bytes:
    return blake2b(":".join(map(str, parts)).encode(), digest_size=size).digest()


def hashed_unit(*parts: object) -> float:
    """A stable number in [0, 1) for `parts`: Python's own hash changes between runs."""
    return int.from_bytes(hashed_bytes(*parts), "big") / 2**64


def hashed_normal(*parts: object) -> float:
    """A standard normal draw for `parts` (Box-Muller on two hashed uniforms)."""
    raw = hashed_bytes(*parts, size=16)
    first = (int.from_bytes(raw[:8], "big") + 1) / (2**64 + 1)  # in (0, 1): log is finite
    second = int.from_bytes(raw[8:], "big") / 2**64
    return math.sqrt(-2.0 * math.log(first)) * math.cos(2.0 * math.pi * second)


def _log_uniform(low: float, high: float, fraction: float) -> float:
    return low * math.exp(math.log(high / low) * fraction)


def underlying(family: str, name: str) -> Underlying:
    """A walk's parameters: the same for every seed, so strikes and lots stay sensible."""
    low_vol, high_vol = FAMILY_VOLATILITY[family]
    daily = low_vol + (high_vol - low_vol) * hashed_unit("volatility", family, name)
    base: float | None
    if family == INDEX:
        base = INDEX_LEVELS.get(name)
        daily = VIX_DAILY_VOLATILITY if name == "INDIAVIX" else daily
    elif family == EQUITY:
        lowest = LOWEST_FNO_STOCK_PRICE if name in FNO_NAMES else LOWEST_STOCK_PRICE
        base = stock_spot(name, lowest)
    elif family == COMMODITY:
        base = COMMODITY_LEVELS.get(name)
    else:
        base = CURRENCY_LEVELS.get(name)
    if base is None:
        base = _log_uniform(*FAMILY_PRICE_RANGE[family], hashed_unit("price", family, name))
    premium = 1.05 + 0.2 * hashed_unit("premium", family, name)  # options cost a bit more
    return Underlying(
        key=f"{family}:{name}",
        family=family,
        base_price=base,
        daily_volatility=daily,
        implied_volatility=daily * math.sqrt(TRADING_DAYS_PER_YEAR) * premium,
        carry=FAMILY_CARRY[family],
        session=FAMILY_SESSION[family],
    )


def close_anchor(seed: int, walk: Underlying, ordinal: int) -> float:
    """The walk's close on day `ordinal`: base x exp(tapered sum of recent daily shocks).

    Weights fall linearly from 1 (today) to 0 (56 days back), so a day's change is about
    one day's volatility and the level stays within a few of them of the base.
    """
    level = 0.0
    for back in range(ANCHOR_DAYS):
        day = ordinal - back
        weight = 1.0 - back / ANCHOR_DAYS
        if (day - 1) % 7 >= 5:  # day 1 of the proleptic calendar was a Monday
            weight *= WEEKEND_SHOCK_WEIGHT
        level += weight * hashed_normal(seed, walk.key, day, "day")
    return walk.base_price * math.exp(walk.daily_volatility * level)


def open_gap(seed: int, walk: Underlying, ordinal: int) -> float:
    """Today's open over yesterday's close."""
    shock = hashed_normal(seed, walk.key, ordinal, "gap")
    return math.exp(OVERNIGHT_GAP_SHARE * walk.daily_volatility * shock)


def session_opens(walk: Underlying, ordinal: int) -> float:
    """The epoch second the walk's session opens on day `ordinal`."""
    return float((ordinal - EPOCH_ORDINAL) * 86_400 - IST_OFFSET_SECONDS + walk.session.opens)


class SessionPath(NamedTuple):
    """One underlying's session: its price and cumulative share of trading at every step."""

    prices: array[float]
    activity: array[float]  # 0 at the open, 1 at the close
    opens: float  # epoch seconds


def session_path(
    seed: int, walk: Underlying, ordinal: int, previous_close: float, close_price: float
) -> SessionPath:
    """The day's prices from its open (a small gap from `previous_close`) to `close_price`.

    A random walk with the day's volatility, bent linearly (a Brownian bridge) so that
    it ends exactly on `close_price`. Trading activity is heavier at the open and close
    and when the price moves.
    """
    open_price = previous_close * open_gap(seed, walk, ordinal)
    steps = walk.session.steps
    seeded = int.from_bytes(hashed_bytes(seed, walk.key, ordinal, "path"))
    generator = random.Random(seeded)  # noqa: S311 - a simulation, not a secret
    uniform = generator.random  # the one method Python promises to keep stable
    shocks: list[float] = []
    while len(shocks) < steps:
        radius = math.sqrt(-2.0 * math.log(1.0 - uniform()))
        angle = 2.0 * math.pi * uniform()
        shocks += (radius * math.cos(angle), radius * math.sin(angle))
    step_volatility = INTRADAY_VOLATILITY_SHARE * walk.daily_volatility / math.sqrt(steps)
    drift = math.log(close_price / open_price)
    level, activity_total = 0.0, 0.0
    levels = [0.0]
    activity = [0.0]
    for step in range(1, steps + 1):
        shock = shocks[step - 1]
        level += step_volatility * shock
        levels.append(level)
        hour_shape = 1.0 + 1.5 * (2.0 * step / steps - 1.0) ** 2  # U: busy open and close
        activity_total += hour_shape * (0.4 + abs(shock))
        activity.append(activity_total)
    bend = (level - drift) / steps
    prices = array("d", (open_price * math.exp(levels[i] - bend * i) for i in range(steps + 1)))
    prices[steps] = close_price  # exactly: tomorrow's quote reads this close as prev_close
    shares = array("d", (value / activity_total for value in activity))
    shares[steps] = 1.0
    return SessionPath(prices, shares, session_opens(walk, ordinal))


def interpolate(values: array[float], elapsed: float) -> float:
    """The value `elapsed` seconds into a session: a straight line between steps."""
    position = elapsed / STEP_SECONDS
    step = int(position)
    if step >= len(values) - 1:
        return values[-1]
    start = values[step]
    return start + (values[step + 1] - start) * (position - step)


def normal_cdf(x: float) -> float:
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


def black76(
    forward: float, strike: float, volatility: float, years: float, discount: float, call: bool
) -> float:
    """A European option on a forward; never below its discounted intrinsic value."""
    intrinsic = discount * max(forward - strike if call else strike - forward, 0.0)
    if years <= 0.0 or volatility <= 0.0 or strike <= 0.0:
        return intrinsic
    spread = volatility * math.sqrt(years)
    d1 = (math.log(forward / strike) + 0.5 * spread * spread) / spread
    d2 = d1 - spread
    if call:
        value = discount * (forward * normal_cdf(d1) - strike * normal_cdf(d2))
    else:
        value = discount * (strike * normal_cdf(-d2) - forward * normal_cdf(-d1))
    return max(value, intrinsic)


def smile(walk: Underlying, strike: float) -> float:
    """Implied volatility at a strike: a mild skew and smile, fixed per strike.

    Sticky-strike (measured from the base price, not today's spot), so an option's
    value is strictly monotone in its underlying.
    """
    moneyness = max(-0.5, min(0.5, math.log(strike / walk.base_price))) if strike > 0 else 0.0
    return walk.implied_volatility * (1.0 + 0.8 * moneyness * moneyness - 0.2 * moneyness)


def derivative_value(
    instrument_type: str,
    walk: Underlying,
    strike: float,
    volatility: float,
    spot: float,
    years: float,
) -> float:
    """A future (FUT) or option (CE/PE) at `years` to expiry with the underlying at `spot`."""
    years = max(years, 0.0)
    growth = 1.0 + walk.carry * years
    forward = spot * growth
    if instrument_type == "FUT":
        return forward
    return black76(forward, strike, volatility, years, 1.0 / growth, instrument_type == "CE")


def tick_decimals(tick: float) -> int:
    exponent = Decimal(str(tick)).normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


# -- one instrument: how it is priced and traded ---------------------------------------

DERIVATIVES = frozenset({"FUT", "CE", "PE"})
OPTIONS = frozenset({"CE", "PE"})


class Priced(NamedTuple):
    """An instrument as the market prices it, resolved once."""

    walk: Underlying
    kind: str  # EQ, INDEX, FUT, CE, PE
    identity: str  # exchange:symbol, which the instrument's own hashes are keyed on
    tick: float
    decimals: int
    lot_size: int
    strike: float
    volatility: float
    expiry_ordinal: int  # the last session it trades; 0: no expiry
    expiry_close: float  # epoch seconds
    activity_scale: float  # options: 1 at the base price, less away from it
    liquid: bool  # an F&O share: more turnover, tighter spread
    spread_ticks: tuple[int, int]  # narrowest, and how many more it may be

    @property
    def derivative(self) -> bool:
        return self.kind in DERIVATIVES

    def value(self, spot: float, epoch: float) -> float:
        """A derivative's value with its underlying at `spot` at the instant `epoch`."""
        years = (self.expiry_close - epoch) / YEAR_SECONDS
        return derivative_value(self.kind, self.walk, self.strike, self.volatility, spot, years)


def priced(
    instrument: Instrument, walk: Underlying, expiry_ordinal: int, expiry_close: float
) -> Priced:
    kind = instrument.instrument_type
    strike = instrument.strike or walk.base_price
    activity_scale = 1.0
    if kind in OPTIONS:
        activity_scale = math.exp(-12.0 * abs(math.log(strike / walk.base_price)))
    liquid = walk.family == EQUITY and walk.key.partition(":")[2] in FNO_NAMES
    if kind == "INDEX":
        spread_ticks = (1, 0)
    elif kind == "EQ":
        spread_ticks = (1, 1) if liquid else (2, 3)
    elif kind == "FUT":
        spread_ticks = (1, 2)
    else:
        spread_ticks = (1, 2 if activity_scale > 0.1 else 5)
    tick = instrument.tick_size if instrument.tick_size > 0 else 0.05
    return Priced(
        walk=walk,
        kind=kind,
        identity=f"{instrument.exchange}:{instrument.symbol}",
        tick=tick,
        decimals=tick_decimals(tick),
        lot_size=max(1, instrument.lot_size),
        strike=strike,
        volatility=smile(walk, strike),
        expiry_ordinal=expiry_ordinal,
        expiry_close=expiry_close,
        activity_scale=activity_scale,
        liquid=liquid,
        spread_ticks=spread_ticks,
    )


class Activity(NamedTuple):
    """A day's trading in one instrument, in units (shares, or contracts x lot)."""

    volume: float
    open_interest_lots: float
    open_interest_drift: float  # how far open interest moves by the close, as a share


def day_activity(seed: int, instrument: Priced, ordinal: int) -> Activity:
    if instrument.kind == "INDEX":
        return Activity(0.0, 0.0, 0.0)
    size = hashed_unit(seed, instrument.identity, "size")
    day_factor = math.exp(0.3 * hashed_normal(seed, instrument.identity, ordinal, "volume"))
    if not instrument.derivative:
        turnover = 10 ** (9.0 + 1.5 * size) if instrument.liquid else 10 ** (6.0 + 2.5 * size)
        return Activity(turnover / instrument.walk.base_price * day_factor, 0.0, 0.0)
    lots = 10 ** (3.5 + 1.5 * size) * instrument.activity_scale
    drift = 0.2 * (hashed_unit(seed, instrument.identity, ordinal, "oi") - 0.5)
    return Activity(lots * instrument.lot_size * day_factor, max(1.0, lots * 4.0), drift)


def traded(instrument: Priced, activity: Activity, share: float) -> tuple[int, int]:
    """Volume and open interest when `share` of the day's trading is done, in whole lots."""
    lot = instrument.lot_size
    volume = int(activity.volume * share / lot) * lot
    growth = 1.0 + activity.open_interest_drift * share
    return volume, int(activity.open_interest_lots * growth) * lot


def spread(seed: int, instrument: Priced, ordinal: int, step: int, ltp: int) -> tuple[int, int]:
    """Bid and ask in ticks around the last price (in ticks, at least 1): LTP inside them."""
    noise = hashed_bytes(seed, instrument.identity, ordinal, step, "spread", size=2)
    narrowest, extra = instrument.spread_ticks
    if instrument.kind in OPTIONS:  # dearer options quote wider
        narrowest = max(narrowest, math.ceil(ltp * 0.0003))
    width = narrowest + noise[0] % (extra + 1)
    below = min(noise[1] % (width + 1), ltp - 1)
    return ltp - below, ltp - below + width


def last_quantity(seed: int, instrument: Priced, ordinal: int, step: int) -> int:
    if instrument.kind == "INDEX":
        return 0
    noise = hashed_bytes(seed, instrument.identity, ordinal, step, "trade", size=2)
    if instrument.derivative or instrument.lot_size > 1:
        return instrument.lot_size * (1 + noise[0] % 10)
    return 1 + (noise[0] * 256 + noise[1]) % 500


def level_size(instrument: Priced, noise: int) -> int:
    """A depth level's quantity from a hashed byte: whole lots, or about Rs 2,000-500,000."""
    if instrument.derivative or instrument.lot_size > 1:
        return instrument.lot_size * (1 + noise % 40)
    return max(1, int((1 + noise) * 2_000 / instrument.walk.base_price))
