"""Building normalised `Instrument` rows, one builder per instrument type.

The parsers decide what a broker row is; these builders decide what the
normalised row looks like, so every broker yields the same shape:

    equity   symbol = the exchange symbol (series suffix kept unless EQ), name = symbol
    index    symbol = OpenAlgo index symbol, name = symbol, no expiry or strike
    future   symbol = future_symbol(name, expiry)
    option   symbol = option_symbol(name, expiry, strike, CE/PE); the strike must be > 0

`name` is the underlying, as `Instrument` defines it: for an equity or an index
that is the instrument itself, so an option chain can find its underlying by name.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date
from functools import partial
from typing import TypeVar

from algovisor.contracts.formats.fields import RowError
from algovisor.contracts.records import Instrument, ParseOutcome
from algovisor.contracts.symbols import future_symbol, option_symbol


def nse_equity_symbol(symbol: str, series: str) -> str:
    """NSE's own convention, which Zerodha's trading symbols follow: SBIN for series EQ,
    GOLDSTAR-SM or SGBMAY29I-GB for the others.

    Keeping the series keeps symbols unique: IRFC (EQ) and IRFC-N1 (a bond) share a base.
    A blank series leaves the symbol as it is.
    """
    if series in ("", "EQ") or symbol.endswith(f"-{series}"):
        return symbol
    return f"{symbol}-{series}"


def cash(
    kind: str,
    symbol: str,
    broker_symbol: str,
    exchange: str,
    broker_exchange: str,
    token: str,
    lot_size: int,
    tick_size: float,
) -> Instrument:
    """An equity ("EQ") or an index ("INDEX"): no expiry, no strike, named after itself."""
    if not symbol:
        raise RowError("missing symbol")
    return Instrument(
        symbol, broker_symbol, symbol, exchange, broker_exchange, token,
        None, None, lot_size, kind, tick_size,
    )  # fmt: skip


equity = partial(cash, "EQ")
index = partial(cash, "INDEX")


def future(
    name: str,
    expiry: date,
    broker_symbol: str,
    exchange: str,
    broker_exchange: str,
    token: str,
    lot_size: int,
    tick_size: float,
) -> Instrument:
    if not name:
        raise RowError("missing underlying name")
    return Instrument(
        future_symbol(name, expiry), broker_symbol, name, exchange, broker_exchange, token,
        expiry, None, lot_size, "FUT", tick_size,
    )  # fmt: skip


def option(
    name: str,
    expiry: date,
    strike: float,
    option_type: str,
    broker_symbol: str,
    exchange: str,
    broker_exchange: str,
    token: str,
    lot_size: int,
    tick_size: float,
) -> Instrument:
    if not name:
        raise RowError("missing underlying name")
    if option_type not in ("CE", "PE"):
        raise RowError("unknown option type", repr(option_type))
    if strike <= 0:
        raise RowError("option without strike", repr(strike))
    return Instrument(
        option_symbol(name, expiry, strike, option_type), broker_symbol, name, exchange,
        broker_exchange, token, expiry, strike, lot_size, option_type, tick_size,
    )  # fmt: skip


def require_token(token: str) -> str:
    """The broker token, which every row needs: orders and quotes are sent by it."""
    if not token:
        raise RowError("missing token")
    return token


T = TypeVar("T")


def collect(
    records: Iterable[tuple[int, T]],
    make: Callable[[T], Instrument | str],
    outcome: ParseOutcome,
) -> ParseOutcome:
    """Each numbered record made into an instrument, skipped (`make` names why) or rejected."""
    for position, record in records:
        try:
            made = make(record)
        except RowError as error:
            outcome.reject(position, error.reason, error.detail)
            continue
        if isinstance(made, str):
            outcome.skip(made)
        else:
            outcome.rows.append(made)
    return outcome
