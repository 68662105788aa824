"""The paper broker's account: orders, trades, positions and funds, kept in the database.

One `PaperAccount` lives in the host (the API's order endpoints and the matching
loop share it). It is write-through: every change is committed in one
transaction first, and only then made to the copy in memory, so a failed write
changes nothing and a restart (which replays the stored orders and trades)
finds exactly what was answered. One lock orders all changes, as one broker
account's order queue would: a funds check and the order it admits are atomic.

The rules of the day (see `brokers.paper.orders` for how an order fills):

- A day is an IST calendar day. Orders are day orders: one still working when
  its day ends is cancelled ("expired"). The order book shows the day's orders.
- Orders are accepted around the clock; outside a session a MARKET order fills
  at the frozen last price, and working orders only match while the
  instrument's market is open (`match`, every `paper_match_interval_secs`). A
  host that was down does not replay the prices it missed.
- MIS square-off: at the segment's configured time on a trading day, working
  MIS orders placed before it are cancelled and MIS positions open at it are
  closed at the market. A host that was down at that time does it on its first
  match after. An MIS position opened after the square-off waits for the next one.
- An instrument no longer in today's contract (an expired option) is priced at
  its last fill.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields, replace
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError

from algovisor.brokers.paper import BROKER
from algovisor.brokers.paper import orders as engine
from algovisor.brokers.paper.ledger import (
    Funds,
    PositionBook,
    PriceKey,
    account_funds,
    check_funds,
    closing_orders,
    cnc_sell_rejection,
    square_off_mis,
    working_margin,
)
from algovisor.brokers.paper.market import SimulatedMarket
from algovisor.brokers.paper.orders import (
    CANCELLED,
    IST,
    WORKING,
    Fill,
    MarginRules,
    Order,
    OrderChanges,
    OrderRequest,
    PaperOrderError,
)
from algovisor.contracts.queries import ContractQueries
from algovisor.contracts.records import Instrument
from algovisor.db.models import PaperOrderRow, PaperTradeRow
from algovisor.errors import NotFoundError, UnavailableError
from algovisor.positions.reconcile import BrokerPosition, Key
from algovisor.services import broker_accounts
from algovisor.services.context import ServiceContext

logger = logging.getLogger("algovisor.paper")

EXPIRED = "Expired: a day order still working when its day ended"
SQUARED_OFF = "Cancelled at the MIS square-off"
MISS_MEMORY_SECS = 30.0  # an instrument not in the contract is looked up again after this
KEY_MEMORY_SECS = 10.0  # how long the paper key's hash is trusted without reading it
SEGMENTS = {
    "equity": ("NSE", "BSE", "NFO", "BFO"),
    "currency": ("CDS", "BCD"),
    "commodity": ("MCX",),
}


class RejectedOrderError(PaperOrderError):
    """An order accepted, numbered and recorded as rejected (OpenAlgo answers with its id)."""

    def __init__(self, message: str, order_id: str) -> None:
        super().__init__(message)
        self.order_id = order_id


class OrderNotFoundError(NotFoundError):
    """No order with that id (OpenAlgo's 404)."""


@dataclass(frozen=True, slots=True)
class PaperSettings:
    starting_cash: Decimal = Decimal(10_000_000)
    squareoff: dict[str, time] = field(
        default_factory=lambda: squareoff_times("15:15", "16:45", "23:30")
    )
    rules: MarginRules = field(default_factory=MarginRules)

    @classmethod
    def of(cls, ctx: ServiceContext) -> PaperSettings:
        settings = ctx.settings
        return cls(
            starting_cash=Decimal(settings.paper_starting_cash),
            squareoff=squareoff_times(
                settings.paper_squareoff_equity,
                settings.paper_squareoff_currency,
                settings.paper_squareoff_commodity,
            ),
        )


def squareoff_times(equity: str, currency: str, commodity: str) -> dict[str, time]:
    """Each exchange's square-off time of day (IST) from the segments' `HH:MM`."""
    given = {"equity": equity, "currency": currency, "commodity": commodity}
    return {
        exchange: time.fromisoformat(given[segment])
        for segment, exchanges in SEGMENTS.items()
        for exchange in exchanges
    }


def day_start(day: date) -> datetime:
    """The instant an IST day begins."""
    return datetime.combine(day, time(), IST)


class PaperAccount:
    """The paper broker's one account. Thread-safe; see the module docstring."""

    def __init__(
        self,
        ctx: ServiceContext,
        market: SimulatedMarket,
        settings: PaperSettings | None = None,
        is_trading_day: Callable[[date], bool] | None = None,
    ) -> None:
        self.ctx = ctx
        self.market = market
        self.settings = settings or PaperSettings.of(ctx)
        self._is_trading_day = is_trading_day or (lambda day: day.weekday() < 5)
        self._lock = threading.RLock()
        self._day: date | None = None  # None until loaded
        self._orders: dict[str, Order] = {}  # the day's, and any still working
        self._working_orders: dict[str, Order] = {}
        self._fills: list[Fill] = []  # the day's
        self._book = PositionBook()
        self._sequence = 0  # the last order number used today
        self._instruments: dict[PriceKey, Instrument] = {}
        self._missing: dict[PriceKey, float] = {}  # monotonic time of a miss
        self._last_price: dict[PriceKey, float] = {}
        self._reported: set[str] = set()
        self._key_hash: str | None = None
        self._key_read_at = 0.0

    # ----- orders -----------------------------------------------------------------------

    def place(self, request: OrderRequest) -> Order:
        """Accept, match and record one order; raises PaperOrderError with OpenAlgo's text."""
        with self._lock:
            now = self._today()
            return self._place(request, now)

    def place_smart(self, request: OrderRequest, position_size: int) -> Order | str:
        """OpenAlgo's smart order: trade so the net position becomes `position_size`
        (docs/OPENALGO_API.md 5.2); the message when nothing needs placing."""
        with self._lock:
            now = self._today()
            current = self._book.quantity(request.symbol, request.exchange, request.product)
            if position_size == current == 0 and request.quantity:
                return self._place(request, now)  # no position wanted or held: a plain trade
            if position_size == current:
                if request.quantity == 0:
                    return "No OpenPosition Found. Not placing Exit order."
                return "Positions Already Matched. No Action needed."
            difference = position_size - current
            action = "BUY" if difference > 0 else "SELL"
            return self._place(replace(request, action=action, quantity=abs(difference)), now)

    def place_all(self, requests: Iterable[OrderRequest]) -> list[Order | PaperOrderError]:
        """Several orders in turn (a basket, a split): each one's order or its error."""
        with self._lock:
            now = self._today()
            results: list[Order | PaperOrderError] = []
            for request in requests:
                try:
                    results.append(self._place(request, now))
                except PaperOrderError as error:
                    results.append(error)
            return results

    def modify(self, order_id: str, request: OrderRequest) -> Order:
        """Change a working order's quantity, price, trigger price or type.

        `request` is the order as the client restates it: symbol, exchange, side and
        product must be the order's; a price or trigger of 0 keeps the order's.
        """
        with self._lock:
            now = self._today()
            order = self._order(order_id)
            if order.status not in WORKING:
                raise PaperOrderError(f"Cannot modify order in {order.status} status")
            restated = (request.symbol, request.exchange, request.action, request.product)
            if restated != (order.symbol, order.exchange, order.action, order.product):
                raise PaperOrderError(
                    "Symbol, exchange, action and product of an order cannot change; "
                    "cancel it and place a new order"
                )
            changes = OrderChanges(
                quantity=request.quantity,
                price=request.price or None,
                trigger_price=request.trigger_price or None,
                pricetype=request.pricetype,
            )
            instrument = self._instrument(order.symbol, order.exchange)
            quote = self.market.quote(instrument, now)
            changed, fills = engine.modify(
                order, changes, instrument, quote, now, self.settings.rules
            )
            others = [item for item in self._working() if item.order_id != order_id]
            check_funds(self._funds(now, others), working_margin(changed, self._book))
            self._commit([changed], fills)
            return changed

    def cancel(self, order_id: str) -> Order:
        with self._lock:
            now = self._today()
            cancelled = engine.cancel(self._order(order_id), now)
            self._commit([cancelled], [])
            return cancelled

    def cancel_all(self) -> list[Order]:
        """Cancel every working order of the account (OpenAlgo ignores the strategy)."""
        with self._lock:
            now = self._today()
            cancelled = [engine.cancel(order, now) for order in self._working()]
            self._commit(cancelled, [])
            return cancelled

    def close_all(self, strategy: str) -> tuple[int, list[str]]:
        """Square off every open position at the market: (orders placed, failures)."""
        with self._lock:
            now = self._today()
            results = [
                self._try_place(request, now)
                for request in closing_orders(self._book.shown(), strategy=strategy)
            ]
            failures = [result for result in results if isinstance(result, str)]
            return len(results) - len(failures), failures

    # ----- reading ----------------------------------------------------------------------

    def order(self, order_id: str) -> Order:
        with self._lock:
            self._today()
            return self._order(order_id)

    def todays_orders(self) -> list[Order]:
        """The day's orders (earlier days' working orders expired when the day began)."""
        with self._lock:
            self._today()
            return list(self._orders.values())

    def todays_fills(self) -> list[Fill]:
        with self._lock:
            self._today()
            return list(self._fills)

    def net_quantity(self, symbol: str, exchange: str, product: str) -> int:
        with self._lock:
            self._today()
            return self._book.quantity(symbol, exchange, product)

    def positionbook(self) -> list[dict[str, object]]:
        with self._lock:
            now = self._today()
            return self._book.rows(self._ltps(now, shown=True))

    def holdings(self) -> dict[str, object]:
        with self._lock:
            now = self._today()
            return self._book.holdings(self._ltps(now))

    def funds(self) -> Funds:
        with self._lock:
            now = self._today()
            return self._funds(now, self._working())

    def positions(self) -> list[BrokerPosition]:
        """The broker protocol's positions (`brokers.protocol.PositionBook`)."""
        with self._lock:
            self._today()
            return broker_positions(self._book)

    # ----- the matching loop ------------------------------------------------------------

    def match(self) -> int:
        """Advance every working order on its market's quote (what is due for square-off
        was done by `_today`); returns how many orders changed."""
        with self._lock:
            now = self._today()
            moved: list[Order] = []
            fills: list[Fill] = []
            for order in self._working():
                instrument = self._instrument_or_none(order.symbol, order.exchange)
                if instrument is None or not self.market.market_open(instrument, now):
                    continue
                quote = self.market.quote(instrument, now)
                after, filled = engine.on_price(order, instrument, quote, now, self.settings.rules)
                if after is not order:
                    moved.append(after)
                    fills.extend(filled)
            self._commit(moved, fills)
            return len(moved)

    def serve_forever(self, stop: threading.Event, interval_secs: float) -> None:
        """Match until `stop` is set; a failed round is logged and retried next round."""
        while not stop.wait(interval_secs):
            try:
                self.match()
            except Exception:
                logger.exception("paper broker: matching working orders failed; retrying")

    # ----- internals --------------------------------------------------------------------

    def _place(self, request: OrderRequest, now: datetime) -> Order:
        instrument = self._instrument(request.symbol, request.exchange)
        working = self._working()
        reason = cnc_sell_rejection(request, self._book, working)
        if reason is not None:
            order = engine.rejected(request, now, self._peek_sequence, reason)
            self._commit([order], [])
            raise RejectedOrderError(reason, order.order_id)
        quote = self.market.quote(instrument, now)
        order, fills = engine.place(
            request, instrument, quote, now, self._peek_sequence, self.settings.rules
        )
        check_funds(self._funds(now, working), working_margin(order, self._book))
        self._commit([order], fills)
        return order

    def _try_place(self, request: OrderRequest, now: datetime) -> Order | str:
        try:
            return self._place(request, now)
        except PaperOrderError as error:
            return f"{request.exchange}:{request.symbol} {request.product}: {error.message}"

    def _peek_sequence(self) -> int:
        return self._sequence + 1  # taken for good only when the order is committed

    def _square_off(self, now: datetime) -> int:
        """Cancel and close what the latest square-off of each exchange left open."""
        mis_working = any(order.product == "MIS" for order in self._working())
        if not mis_working and not any(p.product == "MIS" and p.quantity for p in self._book):
            return 0  # the usual case between square-offs: nothing to look up
        due = {
            exchange: instant
            for exchange in self.settings.squareoff
            if (instant := self._last_squareoff(exchange, now)) is not None
        }
        stale = [
            replace(order, status=CANCELLED, updated_at=now, rejection_reason=SQUARED_OFF)
            for order in self._working()
            if order.product == "MIS"
            and order.exchange in due
            and order.created_at < due[order.exchange]
        ]
        self._commit(stale, [])
        positions = [
            position
            for position in self._book
            if position.product == "MIS"
            and position.quantity
            and position.exchange in due
            and position.last_fill_at is not None
            and position.last_fill_at < due[position.exchange]
        ]
        for request in square_off_mis(positions):
            result = self._try_place(request, now)
            if isinstance(result, str) and result not in self._reported:
                self._reported.add(result)  # retried every round; told once a day
                logger.warning("paper broker: MIS square-off failed, will retry: %s", result)
        return len(stale) + len(positions)

    def _last_squareoff(self, exchange: str, now: datetime) -> datetime | None:
        """The latest square-off instant of `exchange` at or before `now` (a week back)."""
        today = now.astimezone(IST).date()
        for back in range(8):
            day = today - timedelta(days=back)
            instant = datetime.combine(day, self.settings.squareoff[exchange], IST)
            if instant <= now and self._is_trading_day(day):
                return instant
        return None

    def _commit(self, changed: list[Order], fills: list[Fill]) -> None:
        """Store the orders and fills in one transaction, then take them in memory."""
        if not changed and not fills:
            return
        try:
            with self.ctx.transaction() as session:
                for order in changed:
                    values = _order_values(order)
                    if order.order_id in self._orders:
                        session.execute(
                            update(PaperOrderRow)
                            .where(PaperOrderRow.order_id == order.order_id)
                            .values(values)
                        )
                    else:
                        session.add(PaperOrderRow(**values))
                session.flush()
                session.add_all(PaperTradeRow(**_fill_values(fill)) for fill in fills)
        except IntegrityError as error:  # the database refused it: say so, change nothing
            logger.exception("paper broker: the database refused a write")
            raise UnavailableError(
                "the paper broker could not record this in the database; nothing was "
                "changed (the host's log has the database's answer)"
            ) from error
        for order in changed:
            if order.order_id not in self._orders:
                self._sequence = max(self._sequence, int(order.order_id[6:]))
            self._orders[order.order_id] = order
            if order.status in WORKING:
                self._working_orders[order.order_id] = order
            else:
                self._working_orders.pop(order.order_id, None)
        for fill in fills:
            self._fills.append(fill)
            self._book = self._book.with_fill(fill)
            self._last_price[fill.symbol, fill.exchange] = fill.price

    def _today(self) -> datetime:
        """Now; loads the account on first use and rolls it into a new day when one began."""
        now = self.ctx.clock.now()
        today = now.astimezone(IST).date()
        if self._day != today:
            if self._day is None:
                self._load(today)
            else:
                self._roll(today)
            self._begin(today, now)
        # Before anything else: a position open at the square-off must not look younger
        # for an order placed after it (the matching loop may not have run yet).
        self._square_off(now)
        return now

    def _load(self, today: date) -> None:
        """Read the account: the day's orders and any still working, and every trade (the
        positions are folded from them)."""
        start = day_start(today)
        with self.ctx.reading() as session:
            order_rows = session.scalars(
                select(PaperOrderRow).where(
                    or_(PaperOrderRow.created_at >= start, PaperOrderRow.status.in_(WORKING))
                )
            ).all()
            trade_rows = session.scalars(
                select(PaperTradeRow).order_by(PaperTradeRow.at, PaperTradeRow.trade_id)
            ).all()
            self._orders = {row.order_id: _order(row) for row in order_rows}
            fills = [_fill(row) for row in trade_rows]
        self._working_orders = {
            order_id: order for order_id, order in self._orders.items() if order.status in WORKING
        }
        self._book = PositionBook.from_fills(fills, day_start=start)
        self._fills = [fill for fill in fills if fill.at >= start]
        self._last_price = {(fill.symbol, fill.exchange): fill.price for fill in fills}

    def _roll(self, today: date) -> None:
        """A new day in a running host: the book counts the day's P&L from its start."""
        self._book = self._book.starting(day_start(today))
        self._orders = dict(self._working_orders)
        self._fills = []

    def _begin(self, today: date, now: datetime) -> None:
        """The day's start: yesterday's day orders expire, and order numbers start again."""
        start = day_start(today)
        self._instruments.clear()
        self._missing.clear()
        self._reported.clear()
        prefix = f"{start:%y%m%d}"
        self._sequence = max(
            (int(order_id[6:]) for order_id in self._orders if order_id.startswith(prefix)),
            default=0,
        )
        expired = [
            replace(order, status=CANCELLED, updated_at=now, rejection_reason=EXPIRED)
            for order in self._working()
            if order.created_at < start
        ]
        self._commit(expired, [])  # if this fails, the next call begins the day again
        for order in expired:
            del self._orders[order.order_id]  # an earlier day's: not in today's book
        self._day = today

    def _order(self, order_id: str) -> Order:
        order = self._orders.get(order_id)
        if order is not None:
            return order
        with self.ctx.reading() as session:  # an earlier day's
            row = session.get(PaperOrderRow, order_id)
            if row is None:
                raise OrderNotFoundError(f"Order {order_id} not found")
            return _order(row)

    def _working(self) -> list[Order]:
        return list(self._working_orders.values())

    def _funds(self, now: datetime, working: list[Order]) -> Funds:
        return account_funds(
            self._book, working, self._ltps(now), starting_cash=self.settings.starting_cash
        )

    def accepts_key(self, key: str) -> bool:
        """Whether `key` is the paper broker's key; its hash is read again every
        KEY_MEMORY_SECS, not on every request."""
        now = self.ctx.clock.monotonic()
        if self._key_hash is None or now - self._key_read_at > KEY_MEMORY_SECS:
            self._key_hash = broker_accounts.paper_key_hash(self.ctx)
            self._key_read_at = now
        return broker_accounts.is_paper_api_key(self.ctx, key, self._key_hash)

    def listed(self, symbol: str, exchange: str) -> Instrument | None:
        """Today's contract's instrument, or None, for market data: from the same cache as
        orders, without the account's lock (a race costs one lookup, never a wrong answer)."""
        return self._lookup(symbol, exchange)

    def _instrument(self, symbol: str, exchange: str) -> Instrument:
        instrument = self._lookup(symbol, exchange)
        if instrument is None:
            raise PaperOrderError(f"Symbol {symbol} not found on {exchange}")
        return instrument

    def _instrument_or_none(self, symbol: str, exchange: str) -> Instrument | None:
        try:
            return self._lookup(symbol, exchange)
        except UnavailableError:
            return None

    def _lookup(self, symbol: str, exchange: str) -> Instrument | None:
        """Today's contract's instrument (kept for the day), or None (kept for a short
        while: a contract swapped in may list it); 503 while no contract is loaded."""
        key = (symbol, exchange)
        found = self._instruments.get(key)
        if found is not None:
            return found
        missed_at = self._missing.get(key)
        if missed_at is not None and self.ctx.clock.monotonic() - missed_at < MISS_MEMORY_SECS:
            return None
        with self.ctx.reading() as session:
            try:
                queries = ContractQueries(session, BROKER)
            except NotFoundError as error:
                raise UnavailableError(
                    "the paper master contract is not loaded yet; orders are taken once "
                    "it is (`algovisor contracts status`)"
                ) from error
            try:
                found = queries.instrument(symbol, exchange)
            except NotFoundError:
                self._missing[key] = self.ctx.clock.monotonic()
                return None
        self._instruments[key] = found
        self._missing.pop(key, None)
        return found

    def _ltps(self, now: datetime, *, shown: bool = False) -> dict[PriceKey, float]:
        """The price of every position (the open ones, or every one the book shows)."""
        positions = self._book.shown() if shown else [p for p in self._book if p.quantity]
        prices: dict[PriceKey, float] = {}
        for position in positions:
            key = (position.symbol, position.exchange)
            if key in prices:
                continue
            instrument = self._instrument_or_none(*key)
            prices[key] = (
                self.market.price(instrument, now)
                if instrument is not None
                else self._last_price.get(key, float(position.average_price))
            )
        return prices


ORDER_FIELDS = tuple(column.name for column in fields(Order))  # the row's columns too
FILL_FIELDS = tuple(column.name for column in fields(Fill))


def _order_values(order: Order) -> dict[str, Any]:
    return {name: getattr(order, name) for name in ORDER_FIELDS}


def _order(row: PaperOrderRow) -> Order:
    return Order(**{name: getattr(row, name) for name in ORDER_FIELDS})


def _fill_values(fill: Fill) -> dict[str, Any]:
    return {name: getattr(fill, name) for name in FILL_FIELDS}


def _fill(row: PaperTradeRow) -> Fill:
    return Fill(**{name: getattr(row, name) for name in FILL_FIELDS})


class StoredPaperPositions:
    """The paper account's positions read from the database: the broker protocol's
    `PositionBook` for processes other than the host (the CLI), which never write."""

    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    def positions(self) -> list[BrokerPosition]:
        with self.ctx.reading() as session:
            rows = session.scalars(
                select(PaperTradeRow).order_by(PaperTradeRow.at, PaperTradeRow.trade_id)
            ).all()
            book = PositionBook.from_fills(_fill(row) for row in rows)
        return broker_positions(book)


def broker_positions(book: PositionBook) -> list[BrokerPosition]:
    return [
        BrokerPosition(Key(p.symbol, p.exchange, p.product), p.quantity) for p in book if p.quantity
    ]
