"""The paper broker's books: positions, holdings and funds, folded from fills.

Pure: a `PositionBook` is built from the fills `orders` produced (in the order they
happened) and replaced, never changed, by each new fill; funds are computed from the
book and the working orders. Nothing is stored here, so a restart replays the same
fills into the same numbers.

Money is Decimal inside, from the printed value of each float price (100.05 is exactly
100.05), so sums over thousands of fills carry no binary noise; it is rounded to the
paisa (half up) only where it leaves: the rows for positionbook, holdings and funds.

Rules, kept simple:

- A position is net per (symbol, exchange, product). Its average price is the
  weighted price of the side that opened it; a reduction realizes
  (fill price - average) x closed quantity (sign-aware) and keeps the average; a fill
  past zero closes the position and opens the other side at the fill's price.
- The position book shows every position traded since the session's start
  (`day_start`), closed ones with quantity 0 and the day's realized P&L, as OpenAlgo
  does, plus NRML and MIS positions still open from earlier sessions. CNC positions
  from earlier sessions show under holdings only (settled delivery); there is no T+1.
- Holdings are the CNC positions with a positive quantity.
- Margin: a fill that opens exposure blocks its order's `margin_per_unit` per unit; a
  reduction releases the position's margin pro rata. A working order blocks margin
  for the quantity beyond the opposite position it would close (each working order
  is measured against the position alone, not against other working orders).
- Funds, like OpenAlgo's sandbox: available cash = starting cash + realized P&L - margin
  used; unrealized P&L is reported but moves no cash until realized.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from algovisor.brokers.paper.margin import decimal
from algovisor.brokers.paper.orders import (
    WORKING,
    Fill,
    Order,
    OrderRequest,
    PaperOrderError,
)

DEFAULT_STARTING_CASH = Decimal(10_000_000)  # one crore, as OpenAlgo's sandbox starts
ZERO = Decimal(0)
PAISA = Decimal("0.01")

PositionKey = tuple[str, str, str]  # symbol, exchange, product
PriceKey = tuple[str, str]  # symbol, exchange


class InsufficientFundsError(PaperOrderError):
    """An order would block more margin than the account has available."""


def rupees(amount: Decimal) -> float:
    """An amount rounded to the paisa, as a float for JSON."""
    return float(amount.quantize(PAISA, ROUND_HALF_UP)) + 0.0  # + 0.0: never -0.0


@dataclass(frozen=True, slots=True)
class Position:
    symbol: str
    exchange: str
    product: str
    quantity: int = 0  # net, signed: long +, short -
    average_price: Decimal = ZERO  # of the open quantity; 0 when flat
    margin: Decimal = ZERO  # blocked by the open quantity
    realized: Decimal = ZERO  # over every fill folded in
    day_realized: Decimal = ZERO  # over fills since the book's day start
    last_fill_at: datetime | None = None

    @property
    def key(self) -> PositionKey:
        return self.symbol, self.exchange, self.product

    def with_fill(self, fill: Fill, *, today: bool = True) -> Position:
        """The position after `fill` (one of its own symbol, exchange and product)."""
        held, traded = self.quantity, fill.signed_quantity
        price, per_unit = decimal(fill.price), decimal(fill.margin_per_unit)
        after = held + traded
        realized = ZERO
        if held == 0 or (held > 0) == (traded > 0):  # opening or adding
            average = (abs(held) * self.average_price + abs(traded) * price) / abs(after)
            margin = self.margin + abs(traded) * per_unit
        else:
            closed = min(abs(held), abs(traded))
            realized = closed * (price - self.average_price) * (1 if held > 0 else -1)
            if after == 0:
                average, margin = ZERO, ZERO
            elif (after > 0) == (held > 0):  # reduced
                average, margin = self.average_price, self.margin * abs(after) / abs(held)
            else:  # through zero: the rest opens the other side
                average, margin = price, abs(after) * per_unit
        return replace(
            self,
            quantity=after,
            average_price=average,
            margin=margin,
            realized=self.realized + realized,
            day_realized=self.day_realized + (realized if today else ZERO),
            last_fill_at=fill.at,
        )

    def unrealized(self, ltp: float) -> Decimal:
        return (decimal(ltp) - self.average_price) * self.quantity

    def row(self, ltp: float) -> dict[str, object]:
        """The positionbook row: pnl is the day's realized plus the unrealized P&L."""
        return {
            "symbol": self.symbol,
            "exchange": self.exchange,
            "product": self.product,
            "quantity": self.quantity,
            "average_price": rupees(self.average_price),
            "ltp": ltp,
            "pnl": rupees(self.day_realized + self.unrealized(ltp)),
        }


class PositionBook:
    """Net positions folded from fills; `with_fill` returns a new book."""

    def __init__(
        self,
        positions: Iterable[Position] = (),
        *,
        day_start: datetime | None = None,
    ) -> None:
        self._positions = {position.key: position for position in positions}
        self.day_start = day_start  # None: every fill is today's

    @classmethod
    def from_fills(
        cls, fills: Iterable[Fill], *, day_start: datetime | None = None
    ) -> PositionBook:
        book = cls(day_start=day_start)
        for fill in fills:
            book._apply(fill)
        return book

    def starting(self, day_start: datetime) -> PositionBook:
        """The book as a new day begins at `day_start`: no P&L realized that day yet."""
        return PositionBook(
            (replace(position, day_realized=ZERO) for position in self._positions.values()),
            day_start=day_start,
        )

    def with_fill(self, fill: Fill) -> PositionBook:
        book = PositionBook(self._positions.values(), day_start=self.day_start)
        book._apply(fill)
        return book

    def _apply(self, fill: Fill) -> None:
        key = (fill.symbol, fill.exchange, fill.product)
        position = self._positions.get(key) or Position(*key)
        self._positions[key] = position.with_fill(fill, today=self._today(fill.at))

    def _today(self, at: datetime | None) -> bool:
        return self.day_start is None or (at is not None and at >= self.day_start)

    def __iter__(self) -> Iterator[Position]:
        return iter(self._positions.values())

    def __len__(self) -> int:
        return len(self._positions)

    def get(self, symbol: str, exchange: str, product: str) -> Position | None:
        return self._positions.get((symbol, exchange, product))

    def quantity(self, symbol: str, exchange: str, product: str) -> int:
        position = self.get(symbol, exchange, product)
        return position.quantity if position else 0

    def shown(self) -> list[Position]:
        """The positions the position book lists (see the module docstring)."""
        return [
            position
            for position in self._positions.values()
            if self._today(position.last_fill_at)
            or (position.quantity != 0 and position.product != "CNC")
        ]

    def rows(self, ltps: Mapping[PriceKey, float]) -> list[dict[str, object]]:
        """positionbook's `data`; `ltps` must price every position shown."""
        return [position.row(ltps[position.symbol, position.exchange]) for position in self.shown()]

    def holdings(self, ltps: Mapping[PriceKey, float]) -> dict[str, object]:
        """holdings' `data`: every CNC position held, and the totals."""
        rows: list[dict[str, object]] = []
        invested = value = ZERO
        for position in self._positions.values():
            if position.product != "CNC" or position.quantity <= 0:
                continue
            ltp = ltps[position.symbol, position.exchange]
            cost = position.average_price * position.quantity
            pnl = position.unrealized(ltp)
            invested += cost
            value += decimal(ltp) * position.quantity
            rows.append(
                {
                    "symbol": position.symbol,
                    "exchange": position.exchange,
                    "product": "CNC",
                    "quantity": position.quantity,
                    "average_price": rupees(position.average_price),
                    "ltp": ltp,
                    "pnl": rupees(pnl),
                    "pnlpercent": rupees(pnl * 100 / cost) if cost else 0.0,
                }
            )
        total = value - invested
        return {
            "holdings": rows,
            "statistics": {
                "totalholdingvalue": rupees(value),
                "totalinvvalue": rupees(invested),
                "totalprofitandloss": rupees(total),
                "totalpnlpercentage": rupees(total * 100 / invested) if invested else 0.0,
            },
        }


def working_margin(order: Order, book: PositionBook) -> Decimal:
    """The margin a working (or about to be placed) order blocks: its quantity beyond the
    opposite position it would close, at its margin per unit."""
    held = book.quantity(order.symbol, order.exchange, order.product)
    closes = held if order.action == "SELL" else -held
    new_exposure = order.quantity - max(0, min(order.quantity, closes))
    return new_exposure * decimal(order.margin_per_unit)


@dataclass(frozen=True, slots=True)
class Funds:
    starting_cash: Decimal
    used_margin: Decimal
    realized: Decimal  # since the account started
    day_realized: Decimal
    unrealized: Decimal

    @property
    def available(self) -> Decimal:
        return self.starting_cash + self.realized - self.used_margin

    def row(self) -> dict[str, str]:
        """funds' `data`, in 2-decimal strings as OpenAlgo's live brokers send it."""

        def text(amount: Decimal) -> str:
            return f"{amount.quantize(PAISA, ROUND_HALF_UP):.2f}"

        return {
            "availablecash": text(self.available),
            "collateral": "0.00",
            "m2mrealized": text(self.day_realized),
            "m2munrealized": text(self.unrealized),
            "utiliseddebits": text(self.used_margin),
        }


def account_funds(
    book: PositionBook,
    orders: Iterable[Order],
    ltps: Mapping[PriceKey, float],
    *,
    starting_cash: Decimal = DEFAULT_STARTING_CASH,
) -> Funds:
    """The account's funds: `orders` may hold any orders, only working ones block margin;
    `ltps` must price every open position."""
    used = sum((position.margin for position in book), ZERO)
    used += sum((working_margin(order, book) for order in orders if order.status in WORKING), ZERO)
    unrealized = sum(
        (
            position.unrealized(ltps[position.symbol, position.exchange])
            for position in book
            if position.quantity
        ),
        ZERO,
    )
    return Funds(
        starting_cash=starting_cash,
        used_margin=used,
        realized=sum((position.realized for position in book), ZERO),
        day_realized=sum((position.day_realized for position in book), ZERO),
        unrealized=unrealized,
    )


def check_funds(funds: Funds, required: Decimal) -> None:
    """Raise InsufficientFundsError, with OpenAlgo's text, if `required` is not available.

    Before storing what `orders.place` returned: `check_funds(account_funds(book, orders,
    ltps), working_margin(order, book))`, with the book and orders as they were before
    it. Amounts are plain 2-decimal numbers (no Indian digit grouping).
    """
    available = funds.available
    if required <= 0 or required <= available:
        return
    raise InsufficientFundsError(
        f"Insufficient funds. Required: ₹{required.quantize(PAISA, ROUND_HALF_UP)}, "
        f"Available: ₹{available.quantize(PAISA, ROUND_HALF_UP)}, "
        f"Shortage: ₹{(required - available).quantize(PAISA, ROUND_HALF_UP)}"
    )


def cnc_sell_rejection(
    request: OrderRequest, book: PositionBook, orders: Iterable[Order] = ()
) -> str | None:
    """Why a CNC sell cannot go through (OpenAlgo's texts), or None: delivery sells need
    shares held beyond those already offered by working CNC sells."""
    if request.product != "CNC" or request.action != "SELL":
        return None
    held = max(0, book.quantity(request.symbol, request.exchange, "CNC"))
    offered = sum(
        order.quantity
        for order in orders
        if order.status in WORKING
        and (order.symbol, order.exchange, order.product, order.action)
        == (request.symbol, request.exchange, "CNC", "SELL")
    )
    available = held - offered
    if available <= 0:
        return (
            f"Cannot sell {request.symbol} in CNC. No positions or holdings available. "
            "CNC (delivery) requires existing shares. Use MIS for intraday short selling."
        )
    if request.quantity > available:
        return (
            f"Cannot sell {request.quantity} shares of {request.symbol} in CNC. "
            f"Only {available} shares available"
        )
    return None


def closing_orders(
    positions: Iterable[Position],
    *,
    products: Iterable[str] | None = None,
    strategy: str = "Python",
) -> list[OrderRequest]:
    """MARKET orders that flatten every open position (of `products`, default all)."""
    wanted = None if products is None else frozenset(products)
    return [
        OrderRequest(
            symbol=position.symbol,
            exchange=position.exchange,
            action="SELL" if position.quantity > 0 else "BUY",
            quantity=abs(position.quantity),
            pricetype="MARKET",
            product=position.product,
            strategy=strategy,
        )
        for position in positions
        if position.quantity and (wanted is None or position.product in wanted)
    ]


def square_off_mis(
    positions: Iterable[Position], strategy: str = "Squareoff"
) -> list[OrderRequest]:
    """The orders that close every MIS position; the caller decides when (and first
    cancels the working MIS orders, so none opens a position after them)."""
    return closing_orders(positions, products=("MIS",), strategy=strategy)
