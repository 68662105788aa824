"""What a position must be before anything of it is written: pure checks, clear errors.

A strategy that passes a NaN price or a negative quantity has a bug the trader
must see at once (an exception at the call), not a row that breaks recovery later.
"""

from __future__ import annotations

import math
import numbers
import operator
from dataclasses import dataclass
from enum import StrEnum

from algovisor.contracts.records import EXCHANGES
from algovisor.db.limits import MAX_INTEGER
from algovisor.errors import InvalidInputError

# OpenAlgo's products: intraday, carry-forward derivatives, delivery.
PRODUCTS = ("MIS", "NRML", "CNC")
MAX_FLUSH_INTERVAL_MS = 60_000  # the largest INTEGER on PostgreSQL: quantities and ids


class PositionInputError(InvalidInputError):
    """A position, order or price the SDK was given is not valid; nothing was written."""


class Side(StrEnum):
    LONG = "LONG"
    SHORT = "SHORT"

    @classmethod
    def of(cls, text: str) -> Side:
        """LONG/SHORT, or the order action that opens it: BUY/SELL (any case)."""
        word = str(text).strip().upper()
        side = {"LONG": cls.LONG, "BUY": cls.LONG, "SHORT": cls.SHORT, "SELL": cls.SHORT}.get(word)
        if side is None:
            raise PositionInputError(f"side must be LONG or SHORT (or BUY or SELL), not {text!r}")
        return side

    @property
    def sign(self) -> int:
        return 1 if self is Side.LONG else -1


@dataclass(frozen=True, slots=True)
class Entry:
    """A position entry, checked and normalised."""

    symbol: str
    exchange: str
    side: Side
    quantity: int
    entry_price: float
    product: str
    stop_price: float | None
    target_price: float | None


def check_entry(
    symbol: str,
    exchange: str,
    side: str,
    quantity: int,
    entry_price: float,
    *,
    product: str = "MIS",
    stop_price: float | None = None,
    target_price: float | None = None,
) -> Entry:
    """The entry as it will be stored; raises PositionInputError naming what is wrong."""
    name = str(symbol).strip().upper()
    if not name or len(name) > 64:
        raise PositionInputError(f"symbol must be 1-64 characters, not {symbol!r}")
    venue = str(exchange).strip().upper()
    if venue not in EXCHANGES:
        raise PositionInputError(
            f"unknown exchange {exchange!r}; use one of: {', '.join(EXCHANGES)}"
        )
    kind = str(product).strip().upper()
    if kind not in PRODUCTS:
        raise PositionInputError(f"product must be one of {', '.join(PRODUCTS)}, not {product!r}")
    return Entry(
        name,
        venue,
        Side.of(side),
        check_quantity(quantity),
        check_price(entry_price, "entry price"),
        kind,
        check_optional_price(stop_price, "stop price"),
        check_optional_price(target_price, "target price"),
    )


def check_quantity(quantity: object) -> int:
    """A positive whole number of units (shares, or lots times lot size); numpy's too."""
    if isinstance(quantity, bool) or not isinstance(quantity, numbers.Real):
        raise PositionInputError(f"quantity must be a whole number, not {quantity!r}")
    if isinstance(quantity, numbers.Integral):
        whole = operator.index(quantity)
    elif float(quantity).is_integer():
        whole = int(float(quantity))
    else:
        raise PositionInputError(f"quantity must be a whole number, not {quantity!r}")
    if whole <= 0:
        raise PositionInputError(f"quantity must be above zero, not {quantity!r}")
    if whole > MAX_INTEGER:
        raise PositionInputError(f"quantity must be at most {MAX_INTEGER}, not {quantity!r}")
    return whole


def check_flush_interval(milliseconds: object) -> float:
    """How often queued updates are written: above 0, at most a minute."""
    if (
        isinstance(milliseconds, bool)
        or not isinstance(milliseconds, numbers.Real)
        or not 0 < float(milliseconds) <= MAX_FLUSH_INTERVAL_MS
    ):
        raise PositionInputError(
            f"flush_interval_ms must be above 0 and at most {MAX_FLUSH_INTERVAL_MS}, "
            f"not {milliseconds!r}"
        )
    return float(milliseconds)


def check_id(value: object, what: str = "position id") -> int:
    """A row id: a whole number the database can hold."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise PositionInputError(f"{what} must be a whole number, not {value!r}")
    whole = operator.index(value)
    if not 0 < whole <= MAX_INTEGER:
        raise PositionInputError(f"{what} must be between 1 and {MAX_INTEGER}, not {value!r}")
    return whole


def check_text(value: object, what: str, max_length: int) -> str | None:
    """Optional free text (a leg, a label): stripped, 1 to `max_length` characters."""
    if value is None:
        return None
    text = str(value).strip()
    if not text or len(text) > max_length:
        raise PositionInputError(f"{what} must be 1-{max_length} characters, not {value!r}")
    return text


def check_price(value: object, what: str) -> float:
    """A finite price above zero."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise PositionInputError(f"{what} must be a number, not {value!r}")
    price = float(value)
    if not math.isfinite(price) or price <= 0:
        raise PositionInputError(f"{what} must be a finite number above zero, not {value!r}")
    return price


def check_optional_price(value: object, what: str) -> float | None:
    return None if value is None else check_price(value, what)
