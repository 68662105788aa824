"""The paper broker's account: orders, trades, positions and funds, kept in the database.

One `PaperAccount` lives in the host (the API's order endpoints and the matching
loop share it). It is write-through: every change is committed in one
transaction first (`paper_store.write`), and only then made to the copy in
memory, so a failed write changes nothing and a restart (which replays the
stored orders and trades) finds exactly what was answered. One lock orders all
changes, as one broker account's order queue would: a funds check and the
order it admits are atomic. Several orders at once (a basket, a split, a
square-off) are each their own transaction, and each answered on its own.

The rules of the day (see `brokers.paper.orders` for how an order fills):

- A day is an IST calendar day. Orders are day orders: one still working when
  its day ends is cancelled ("expired"). The order book shows the day's orders.
- Orders are accepted around the clock; outside a session a MARKET order fills
  at the frozen touch, and working orders only match while the instrument's
  market is open (`match`, every `paper_match_interval_secs`). A host that was
  down does not replay the prices it missed.
- Funds are checked at the price an order trades at when it fills on arrival,
  else at its own price, and again when a stop triggers: a fill the account
  cannot carry then is rejected, as a broker's risk check would.
- MIS square-off: at the segment's configured time on a trading day, working
  MIS orders placed before it are cancelled and MIS positions open at it are
  closed at the market, before anything else the account does after that time.
- Expiry: a position in a future or option whose last session has closed is
  settled at its final price (an option's intrinsic value), even after the
  contract stopped listing it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import date, datetime

from algovisor.brokers.paper import orders as engine
from algovisor.brokers.paper.ledger import (
    Funds,
    InsufficientFundsError,
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
    REJECTED,
    WORKING,
    Fill,
    Order,
    OrderChanges,
    OrderNotFoundError,
    OrderRequest,
    PaperOrderError,
    RejectedOrderError,
)
from algovisor.brokers.paper.segments import (
    DERIVATIVE_EXCHANGES,
    IST,
    day_start,
    last_squareoff,
)
from algovisor.contracts.records import Instrument
from algovisor.errors import AlgovisorError, UnavailableError
from algovisor.positions.reconcile import BrokerPosition
from algovisor.services import broker_accounts, paper_store
from algovisor.services.context import ServiceContext
from algovisor.services.paper_settings import PaperSettings

logger = logging.getLogger("algovisor.paper")

EXPIRED = "Expired: a day order still working when its day ended"
SQUARED_OFF = "Cancelled at the MIS square-off"
SETTLEMENT = "Expiry settlement"
FAILURE_REPEAT_SECS = 60.0  # a failure that goes on is logged again after this


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
        self.instruments = paper_store.Instruments(ctx)
        self._is_trading_day = is_trading_day or (lambda day: day.weekday() < 5)
        self._lock = threading.RLock()
        self._day: date | None = None  # None until loaded
        self._orders: dict[str, Order] = {}  # the day's, and any still working
        self._working_orders: dict[str, Order] = {}
        self._fills: list[Fill] = []  # the day's
        self._book = PositionBook()
        self._sequence = 0  # the last order number used today
        self._last_price: dict[PriceKey, float] = {}
        self._told: dict[str, float] = {}  # failures logged, with when (monotonic)
        self.key = broker_accounts.PaperKey(ctx)

    # ----- orders -----------------------------------------------------------------------

    def place(self, request: OrderRequest) -> Order:
        """Accept, match and record one order; raises PaperOrderError with OpenAlgo's text."""
        with self._lock:
            return self._place(request, self._today())

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

    def place_all(self, requests: Iterable[OrderRequest]) -> list[Order | AlgovisorError]:
        """Several orders in turn (a basket, a split), each its own transaction: each one's
        order, or why it was not placed."""
        with self._lock:
            now = self._today()
            return [self._attempt(request, now) for request in requests]

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
            others = [item for item in self._working() if item.order_id != order_id]
            reason = cnc_sell_rejection(request, self._book, others)
            if reason is not None:
                raise PaperOrderError(reason)
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
            self._admit(now, others, changed, fills)
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
            requests = closing_orders(self._book.shown(), strategy=strategy)
            results = [self._attempt(request, now) for request in requests]
            failures = [
                f"{request.exchange}:{request.symbol} {request.product}: {result.message}"
                for request, result in zip(requests, results, strict=True)
                if isinstance(result, AlgovisorError)
            ]
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
        """The broker protocol's positions, as this account holds them in memory."""
        with self._lock:
            self._today()
            return paper_store.broker_positions(self._book)

    def listed(self, symbol: str, exchange: str) -> Instrument | None:
        """The loaded contract's instrument, or None, for market data (no account lock)."""
        return self.instruments.get(symbol, exchange)

    # ----- the matching loop ------------------------------------------------------------

    def match(self) -> int:
        """Advance every working order on its market's quote, oldest first, each in its own
        transaction; returns how many orders changed."""
        with self._lock:
            now = self._today()
            moved = 0
            for order in sorted(self._working(), key=lambda item: item.order_id):
                instrument = self._instrument_or_none(order.symbol, order.exchange)
                if instrument is None or not self.market.market_open(instrument, now):
                    continue
                quote = self.market.quote(instrument, now)
                after, fills = engine.on_price(order, instrument, quote, now, self.settings.rules)
                if after is order:
                    continue
                if fills:  # a stop just triggered, or a limit crossed: can the account carry it?
                    others = [item for item in self._working() if item.order_id != order.order_id]
                    try:
                        self._admit(now, others, after, fills)
                    except InsufficientFundsError as error:
                        after = replace(
                            order, status=REJECTED, updated_at=now, rejection_reason=error.message
                        )
                        fills = []
                self._commit([after], fills)
                moved += 1
            return moved

    def serve_forever(self, stop: threading.Event, interval_secs: float) -> None:
        """Match until `stop` is set; a failed round is logged (not every round) and retried."""
        while not stop.wait(interval_secs):
            try:
                self.match()
            except Exception as error:
                if self._first_time(f"match: {error}"):
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
        self._admit(now, working, order, fills)
        self._commit([order], fills)
        return order

    def _attempt(self, request: OrderRequest, now: datetime) -> Order | AlgovisorError:
        try:
            return self._place(request, now)
        except (PaperOrderError, UnavailableError) as error:
            return error

    def _admit(self, now: datetime, others: list[Order], order: Order, fills: list[Fill]) -> None:
        """Raise InsufficientFundsError unless the account can carry `order`: at the price it
        traded at if it filled, else at its own price (limit, else trigger)."""
        blocks = replace(order, margin_per_unit=fills[0].margin_per_unit) if fills else order
        check_funds(self._funds(now, others), working_margin(blocks, self._book))

    def _peek_sequence(self) -> int:
        return self._sequence + 1  # taken for good only when the order is committed

    def _due(self, now: datetime) -> None:
        """What the clock makes due before anything else: the MIS square-off and expiry
        settlement. A failure is logged (once a while) and retried on the next call."""
        for step in (self._square_off, self._settle_expired):
            try:
                step(now)
            except AlgovisorError as error:
                if self._first_time(f"{step.__name__}: {error.message}"):
                    logger.warning("paper broker: %s failed, will retry: %s", step.__name__, error)

    def _square_off(self, now: datetime) -> None:
        """Cancel and close what the latest square-off of each exchange left open."""
        mis_working = any(order.product == "MIS" for order in self._working())
        if not mis_working and not any(p.product == "MIS" and p.quantity for p in self._book):
            return  # the usual case between square-offs: nothing to look up
        due = {
            exchange: instant
            for exchange, at_time in self.settings.squareoff.items()
            if (instant := last_squareoff(at_time, now, self._is_trading_day)) is not None
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
            self._place(request, now)

    def _settle_expired(self, now: datetime) -> None:
        """Close every open position in a contract whose last session has closed."""
        for position in list(self._book):
            if not position.quantity or position.exchange not in DERIVATIVE_EXCHANGES:
                continue
            instrument = self.instruments.settlement(position.symbol, position.exchange)
            if instrument is None or not self.market.expired(instrument, now):
                continue
            [request] = closing_orders([position], strategy=SETTLEMENT)
            price = self.market.price(instrument, now)
            order, fills = engine.settled(request, instrument, price, now, self._peek_sequence)
            self._commit([order], fills)

    def _commit(self, changed: list[Order], fills: list[Fill]) -> None:
        """Store the orders and fills in one transaction, then take them in memory."""
        if not changed and not fills:
            return
        new = [order for order in changed if order.order_id not in self._orders]
        known = [order for order in changed if order.order_id in self._orders]
        paper_store.write(self.ctx, new, known, fills)
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
        """Now; loads the account on first use, rolls it into a new day when one began, and
        does what is due (`_due`) first."""
        now = self.ctx.clock.now()
        today = now.astimezone(IST).date()
        if self._day != today:
            if self._day is None:
                self._load(today)
            else:
                self._roll(today)
            self._begin(today, now)
        self._due(now)
        return now

    def _load(self, today: date) -> None:
        """Read the account: the day's orders and any still working, and every trade (the
        positions are folded from them)."""
        start = day_start(today)
        self._orders, fills = paper_store.load(self.ctx, start)
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
        self._told.clear()
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
        order = self._orders.get(order_id) or paper_store.stored_order(self.ctx, order_id)
        if order is None:
            raise OrderNotFoundError(f"Order {order_id} not found")
        return order

    def _working(self) -> list[Order]:
        return list(self._working_orders.values())

    def _funds(self, now: datetime, working: list[Order]) -> Funds:
        return account_funds(
            self._book, working, self._ltps(now), starting_cash=self.settings.starting_cash
        )

    def _instrument(self, symbol: str, exchange: str) -> Instrument:
        instrument = self.instruments.get(symbol, exchange)
        if instrument is None:
            raise PaperOrderError(f"Symbol {symbol} not found on {exchange}")
        return instrument

    def _instrument_or_none(self, symbol: str, exchange: str) -> Instrument | None:
        try:
            return self.instruments.get(symbol, exchange)
        except UnavailableError:
            return None

    def _ltps(self, now: datetime, *, shown: bool = False) -> dict[PriceKey, float]:
        """The price of every position (the open ones, or every one the book shows); one the
        contract no longer lists is priced at its last fill."""
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

    def _first_time(self, failure: str) -> bool:
        """Whether to log `failure` now: the first time, then every FAILURE_REPEAT_SECS."""
        now = self.ctx.clock.monotonic()
        told = self._told.get(failure)
        if told is not None and now - told < FAILURE_REPEAT_SECS:
            return False
        self._told[failure] = now
        return True
