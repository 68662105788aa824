"""The paper broker's order engine: checks, order records, fills, modify and cancel.

Pure: every function takes records and a quote and returns new records; nothing here
keeps state, reads a clock or touches a database. The persistence layer stores the
`Order`s and `Fill`s these functions return and replays them; `ledger` folds the fills
into positions, holdings and funds.

How an order fills (always whole: no partial fills)

- MARKET fills at once: BUY at the ask, SELL at the bid (at the LTP if a side is
  missing). Crossing the spread is what a market order costs; filling at the LTP
  would let a strategy that trades often earn the spread back for nothing.
- LIMIT crosses when the market trades or offers through it (BUY: LTP or ask at or
  below the limit; SELL: LTP or bid at or above it). On arrival (placement, a modify,
  an SL just triggered) a crossing limit fills at once at the better of its limit and
  the touch: it takes the price that is there. Otherwise it rests `open`, and fills
  on a later quote that crosses, at its limit: a resting order is the maker, the
  trade happens at its price.
- SL and SL-M wait in `trigger pending` until the LTP reaches the trigger (BUY:
  LTP >= trigger; SELL: LTP <= trigger), on arrival included: as in OpenAlgo's
  sandbox a trigger already crossed fires at once. Then SL-M fills as a MARKET order
  and SL becomes an `open` limit at its price (pricetype stays SL, as brokers show it).
- The engine does not look at market hours: whether a frozen quote may fill an order
  is the caller's decision.

Prices are floats on the instrument's tick: a request price within a millionth of a
tick of a multiple is taken as that multiple (`100.05000000001` is 100.05), anything
further off is refused. Money arithmetic happens in `ledger`, in Decimal.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Protocol

from algovisor.brokers.paper.margin import (
    DEFAULT_MARGIN_RULES,
    MarginRules,
    decimal,
    margin_per_unit,
)
from algovisor.brokers.paper.segments import (
    DERIVATIVE_EXCHANGES,
    EQUITY_EXCHANGES,
    INDEX_EXCHANGES,
    IST,
)
from algovisor.contracts.records import Instrument
from algovisor.errors import InvalidInputError, NotFoundError

ACTIONS = ("BUY", "SELL")
PRICE_TYPES = ("MARKET", "LIMIT", "SL", "SL-M")
PRODUCTS = ("MIS", "NRML", "CNC")

OPEN, TRIGGER_PENDING, COMPLETE = "open", "trigger pending", "complete"
CANCELLED, REJECTED = "cancelled", "rejected"
WORKING = frozenset({OPEN, TRIGGER_PENDING})  # may still fill, be modified or cancelled

ORDER_SEQUENCE_LIMIT = 100_000_000  # eight digits after YYMMDD
TICK_TOLERANCE = 1e-6  # of a tick: float noise, not a different price
MAX_PRICE = 10_000_000.0  # a crore a unit: above any listed price, and Decimal-safe


class PaperOrderError(InvalidInputError):
    """An order the paper broker refuses; the message is OpenAlgo's text for the case."""


class RejectedOrderError(PaperOrderError):
    """An order accepted, numbered and recorded as rejected (OpenAlgo answers with its id)."""

    def __init__(self, message: str, order_id: str) -> None:
        super().__init__(message)
        self.order_id = order_id


class OrderNotFoundError(NotFoundError):
    """No order with that id (OpenAlgo's 404)."""


class Prices(Protocol):
    """What the engine reads from a quote: `market.Quote` is one."""

    @property
    def ltp(self) -> float: ...

    @property
    def bid(self) -> float: ...

    @property
    def ask(self) -> float: ...


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """One order as a strategy asks for it (OpenAlgo's placeorder fields, parsed).

    `price` matters for LIMIT and SL, `trigger_price` for SL and SL-M; 0 means not given.
    """

    symbol: str
    exchange: str
    action: str  # BUY or SELL
    quantity: int
    pricetype: str = "MARKET"
    product: str = "MIS"
    price: float = 0.0
    trigger_price: float = 0.0
    strategy: str = "Python"


@dataclass(frozen=True, slots=True)
class OrderChanges:
    """What a modify changes; None keeps the order's value."""

    quantity: int | None = None
    price: float | None = None
    trigger_price: float | None = None
    pricetype: str | None = None


@dataclass(frozen=True, slots=True)
class Order:
    """An order and where it stands. Replaced, never changed, as it moves on."""

    order_id: str
    symbol: str
    exchange: str
    action: str
    quantity: int
    pricetype: str
    product: str
    price: float  # the limit; 0.0 for MARKET and SL-M
    trigger_price: float  # 0.0 unless SL or SL-M
    strategy: str
    status: str  # open, trigger pending, complete, cancelled, rejected
    created_at: datetime
    updated_at: datetime
    filled_quantity: int = 0
    average_price: float = 0.0  # the fill price once complete
    rejection_reason: str = ""
    # Margin one unit of new exposure blocks (see `margin_per_unit`); `ledger` sums it.
    margin_per_unit: float = 0.0

    @property
    def pending_quantity(self) -> int:
        return self.quantity - self.filled_quantity if self.status in WORKING else 0

    @property
    def request(self) -> OrderRequest:
        return OrderRequest(
            symbol=self.symbol,
            exchange=self.exchange,
            action=self.action,
            quantity=self.quantity,
            pricetype=self.pricetype,
            product=self.product,
            price=self.price,
            trigger_price=self.trigger_price,
            strategy=self.strategy,
        )


@dataclass(frozen=True, slots=True)
class Fill:
    """One trade: a whole order filled at one price (the trade book's row)."""

    trade_id: str
    order_id: str
    symbol: str
    exchange: str
    product: str
    action: str
    quantity: int
    price: float
    at: datetime
    strategy: str = "Python"
    margin_per_unit: float = 0.0  # the order's: what the position it opens blocks

    @property
    def signed_quantity(self) -> int:
        return self.quantity if self.action == "BUY" else -self.quantity


def on_tick(value: float, tick: float) -> float | None:
    """`value` as an exact multiple of `tick`, or None if it is not one (within tolerance)."""
    units = value / tick
    nearest = round(units)
    if abs(units - nearest) > TICK_TOLERANCE:
        return None
    return float(nearest * decimal(tick))


def format_order_id(at: datetime, sequence: int) -> str:
    """OpenAlgo's sandbox format: the IST date as YYMMDD, then eight digits."""
    _require_aware(at)
    if not 0 <= sequence < ORDER_SEQUENCE_LIMIT:
        raise ValueError(f"order sequence {sequence} does not fit in eight digits")
    return f"{at.astimezone(IST):%y%m%d}{sequence:08d}"


def check_order(request: OrderRequest, instrument: Instrument) -> None:
    """Raise PaperOrderError, with OpenAlgo's text, if the order cannot be accepted."""
    if (request.symbol, request.exchange) != (instrument.symbol, instrument.exchange):
        raise ValueError(
            f"order for {request.symbol} on {request.exchange} checked against "
            f"{instrument.symbol} on {instrument.exchange}"
        )
    pricetype, product, exchange = request.pricetype, request.product, instrument.exchange
    if request.action not in ACTIONS:
        raise PaperOrderError("Invalid action. Must be BUY or SELL")
    if pricetype not in PRICE_TYPES:
        raise PaperOrderError("Invalid price_type. Must be MARKET, LIMIT, SL, or SL-M")
    if product not in PRODUCTS:
        raise PaperOrderError("Invalid product. Must be CNC, NRML, or MIS")
    if exchange in INDEX_EXCHANGES or instrument.instrument_type == "INDEX":
        raise PaperOrderError(
            f"{instrument.symbol} on {exchange} is an index and cannot be traded. "
            "Trade its futures or options instead."
        )
    if exchange in EQUITY_EXCHANGES and product == "NRML":
        raise PaperOrderError(
            f"NRML product not allowed for {exchange} equity segment. "
            "Use CNC for delivery or MIS for intraday."
        )
    if exchange in DERIVATIVE_EXCHANGES and product == "CNC":
        raise PaperOrderError(
            f"CNC product not allowed for {exchange} derivatives segment. "
            "Use NRML for carryforward or MIS for intraday."
        )
    quantity = request.quantity
    if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity <= 0:
        raise PaperOrderError("Quantity must be positive")
    lot = instrument.lot_size or 1
    if exchange in DERIVATIVE_EXCHANGES and quantity % lot:
        raise PaperOrderError(f"Quantity must be in multiples of lot size {lot}")
    tick = instrument.tick_size
    if pricetype in ("LIMIT", "SL"):
        _check_price("Price", "price", pricetype, request.price, tick)
    if pricetype in ("SL", "SL-M"):
        _check_price("Trigger price", "trigger_price", pricetype, request.trigger_price, tick)


def _check_price(label: str, field: str, pricetype: str, value: float, tick: float) -> None:
    """A price an order of `pricetype` needs: given, finite, positive on the tick, bounded."""
    if not value:
        raise PaperOrderError(f"{pricetype} orders require {field}")
    if not math.isfinite(value):
        raise PaperOrderError(f"Invalid {field}")
    if value < 0:
        raise PaperOrderError(f"{label} must be positive")
    if value > MAX_PRICE:
        raise PaperOrderError(
            f"{label} {value} is above the paper broker's limit of {MAX_PRICE:,.0f}"
        )
    snapped = on_tick(value, tick)
    if snapped is None:
        raise PaperOrderError(f"{label} {value} is not a multiple of tick size {tick}")
    if snapped <= 0:  # a sliver above zero is zero on the tick
        raise PaperOrderError(f"{label} must be positive")


def place(
    request: OrderRequest,
    instrument: Instrument,
    quote: Prices,
    at: datetime,
    next_id: Callable[[], int],
    rules: MarginRules = DEFAULT_MARGIN_RULES,
) -> tuple[Order, list[Fill]]:
    """Accept an order and match it against `quote`: the order as it stands, and its fill.

    Raises PaperOrderError (nothing is numbered then). `next_id` gives the order's
    sequence number; funds are the caller's to check (`ledger.check_funds`).
    """
    check_order(request, instrument)
    order = _numbered(request, at, next_id, OPEN)
    return _arrive(
        _with_terms(order, request, instrument, quote, rules), instrument, quote, at, rules
    )


def on_price(
    order: Order,
    instrument: Instrument,
    quote: Prices,
    at: datetime,
    rules: MarginRules = DEFAULT_MARGIN_RULES,
) -> tuple[Order, list[Fill]]:
    """Advance a working order with a new quote: trigger it, fill it, or leave it as it is.

    An order that does not move comes back as the same object, with no fills.
    """
    _require_aware(at)
    if order.status == TRIGGER_PENDING:
        if not _triggered(order, quote):
            return order, []
        return _arrive(_trigger(order, at), instrument, quote, at, rules)
    if order.status != OPEN:
        return order, []
    if order.pricetype == "MARKET":  # never rests, but a stored one still fills
        return _fill(order, _touch(order.action, quote), at, instrument, rules)
    if not _crosses(order, quote):
        return order, []
    return _fill(order, order.price, at, instrument, rules)


def modify(
    order: Order,
    changes: OrderChanges,
    instrument: Instrument,
    quote: Prices,
    at: datetime,
    rules: MarginRules = DEFAULT_MARGIN_RULES,
) -> tuple[Order, list[Fill]]:
    """Change a working order's quantity, prices or type, then match it like a new arrival.

    Symbol, exchange, side and product cannot change. Raises PaperOrderError.
    """
    _require_aware(at)
    if order.status not in WORKING:
        raise PaperOrderError(f"Cannot modify order in {order.status} status")
    current = order.request
    request = replace(
        current,
        quantity=current.quantity if changes.quantity is None else changes.quantity,
        price=current.price if changes.price is None else changes.price,
        trigger_price=(
            current.trigger_price if changes.trigger_price is None else changes.trigger_price
        ),
        pricetype=current.pricetype if changes.pricetype is None else changes.pricetype,
    )
    check_order(request, instrument)
    changed = _with_terms(order, request, instrument, quote, rules)
    # An SL already triggered stays a working limit unless it becomes a stop order anew.
    triggered = order.status == OPEN and request.pricetype == current.pricetype
    status = OPEN if triggered else changed.status
    return _arrive(replace(changed, status=status, updated_at=at), instrument, quote, at, rules)


def cancel(order: Order, at: datetime) -> Order:
    """The order cancelled; raises PaperOrderError unless it is still working."""
    _require_aware(at)
    if order.status not in WORKING:
        raise PaperOrderError(f"Cannot cancel order in {order.status} status")
    return replace(order, status=CANCELLED, updated_at=at)


def rejected(request: OrderRequest, at: datetime, next_id: Callable[[], int], reason: str) -> Order:
    """A numbered order recorded as rejected after acceptance (a CNC sell without stock)."""
    order = _numbered(request, at, next_id, REJECTED)
    return replace(
        order,
        price=request.price if request.pricetype in ("LIMIT", "SL") else 0.0,
        trigger_price=request.trigger_price if request.pricetype in ("SL", "SL-M") else 0.0,
        rejection_reason=reason,
    )


def settled(
    position: OrderRequest,
    instrument: Instrument,
    price: float,
    at: datetime,
    next_id: Callable[[], int],
) -> tuple[Order, list[Fill]]:
    """The order and trade that close `position` (its closing side and quantity) in an
    expired contract at its settlement price: how an exchange settles at expiry."""
    _require_aware(at)
    order = _numbered(position, at, next_id, OPEN)
    return _fill(order, price, at, instrument, DEFAULT_MARGIN_RULES)


def _numbered(
    request: OrderRequest, at: datetime, next_id: Callable[[], int], status: str
) -> Order:
    """A new order with its number, the request's fields and no prices yet."""
    return Order(
        order_id=format_order_id(at, next_id()),
        symbol=request.symbol,
        exchange=request.exchange,
        action=request.action,
        quantity=request.quantity,
        pricetype=request.pricetype,
        product=request.product,
        price=0.0,
        trigger_price=0.0,
        strategy=request.strategy,
        status=status,
        created_at=at,
        updated_at=at,
    )


# -- matching ---------------------------------------------------------------------------


def _with_terms(
    order: Order,
    request: OrderRequest,
    instrument: Instrument,
    quote: Prices,
    rules: MarginRules,
) -> Order:
    """`order` with the request's (checked) terms, prices snapped to the tick, and the
    status a fresh order of that type starts in."""
    tick = instrument.tick_size
    pricetype = request.pricetype
    price = trigger = 0.0  # not part of this type of order: shown as 0, as OpenAlgo does
    if pricetype in ("LIMIT", "SL"):
        price = on_tick(request.price, tick) or 0.0
    if pricetype in ("SL", "SL-M"):
        trigger = on_tick(request.trigger_price, tick) or 0.0
    # MARKET blocks at the price it will take, the others at their limit, else trigger.
    reference = _touch(request.action, quote) if pricetype == "MARKET" else price or trigger
    return replace(
        order,
        quantity=request.quantity,
        pricetype=pricetype,
        price=price,
        trigger_price=trigger,
        status=TRIGGER_PENDING if pricetype in ("SL", "SL-M") else OPEN,
        margin_per_unit=margin_per_unit(request, instrument, reference, rules),
    )


def _arrive(
    order: Order, instrument: Instrument, quote: Prices, at: datetime, rules: MarginRules
) -> tuple[Order, list[Fill]]:
    """Match an order that just reached the book: it takes the prices that are there."""
    if order.status == TRIGGER_PENDING:
        if not _triggered(order, quote):
            return order, []
        order = _trigger(order, at)
    touch = _touch(order.action, quote)
    if order.pricetype in {"MARKET", "SL-M"}:
        return _fill(order, touch, at, instrument, rules)
    if not _crosses(order, quote):
        return order, []
    better = min(order.price, touch) if order.action == "BUY" else max(order.price, touch)
    return _fill(order, better, at, instrument, rules)


def _trigger(order: Order, at: datetime) -> Order:
    return replace(order, status=OPEN, updated_at=at)


def _touch(action: str, quote: Prices) -> float:
    """The price a taker gets: the ask to buy, the bid to sell, else the LTP."""
    side = quote.ask if action == "BUY" else quote.bid
    return side if side > 0 else quote.ltp


def _triggered(order: Order, quote: Prices) -> bool:
    if order.action == "BUY":
        return quote.ltp >= order.trigger_price
    return quote.ltp <= order.trigger_price


def _crosses(order: Order, quote: Prices) -> bool:
    """Whether the market trades or offers through a limit order's price."""
    if order.action == "BUY":
        return quote.ltp <= order.price or 0 < quote.ask <= order.price
    return quote.ltp >= order.price or quote.bid >= order.price > 0


def _fill(
    order: Order, price: float, at: datetime, instrument: Instrument, rules: MarginRules
) -> tuple[Order, list[Fill]]:
    """The order complete at `price`; its trade blocks margin at the price it traded at
    (the order's own margin, at its limit or trigger, is what it blocked while working)."""
    done = replace(
        order,
        status=COMPLETE,
        filled_quantity=order.quantity,
        average_price=price,
        updated_at=at,
    )
    fill = Fill(
        trade_id=f"T{order.order_id}",
        order_id=order.order_id,
        symbol=order.symbol,
        exchange=order.exchange,
        product=order.product,
        action=order.action,
        quantity=order.quantity,
        price=price,
        at=at,
        strategy=order.strategy,
        margin_per_unit=margin_per_unit(order.request, instrument, price, rules),
    )
    return done, [fill]


def _require_aware(at: datetime) -> None:
    if at.utcoffset() is None:
        raise ValueError(f"order times must be time-zone aware, not {at.isoformat()}")
