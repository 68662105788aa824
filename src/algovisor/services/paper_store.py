"""The paper broker's books in the database (`paper_orders`, `paper_trades`), and its
instrument lookups; what `PaperAccount` keeps in memory is always what is stored here.

`StoredPaperPositions` reads the account's positions from the stored trades alone:
the broker protocol's `PositionBook` for any process (the CLI), never writing.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import fields
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError

from algovisor.brokers.paper import BROKER
from algovisor.brokers.paper.ledger import PositionBook, PriceKey
from algovisor.brokers.paper.orders import WORKING, Fill, Order
from algovisor.brokers.paper.segments import DERIVATIVE_EXCHANGES
from algovisor.contracts.queries import ContractQueries
from algovisor.contracts.records import Instrument
from algovisor.contracts.symbols import parse_derivative
from algovisor.db.models import MasterContractStatus, PaperOrderRow, PaperTradeRow
from algovisor.errors import NotFoundError, UnavailableError
from algovisor.positions.reconcile import BrokerPosition, Key
from algovisor.services.context import ServiceContext

logger = logging.getLogger("algovisor.paper")

ORDER_FIELDS = tuple(column.name for column in fields(Order))  # the row's columns too
FILL_FIELDS = tuple(column.name for column in fields(Fill))
GENERATION_CHECK_SECS = 1.0  # how often the cache asks which contract is loaded
MISS_MEMORY_SECS = 30.0  # an instrument not in the contract is looked up again after this
MAX_MISSES = 10_000  # remembered misses (unknown symbols asked for); forgotten past this
EXPIRED_TICK = 0.05  # the tick of a derivative rebuilt from its symbol (settlement only)


def write(
    ctx: ServiceContext, new: Iterable[Order], changed: Iterable[Order], fills: Iterable[Fill]
) -> None:
    """New orders inserted, changed ones updated, fills inserted: one transaction.

    A write the database refuses (a constraint, a trigger) is an UnavailableError
    saying nothing was changed, on SQLite and PostgreSQL alike.
    """
    try:
        with ctx.transaction() as session:
            session.add_all(PaperOrderRow(**_order_values(order)) for order in new)
            for order in changed:
                session.execute(
                    update(PaperOrderRow)
                    .where(PaperOrderRow.order_id == order.order_id)
                    .values(_order_values(order))
                )
            session.flush()  # orders before the trades that refer to them
            session.add_all(PaperTradeRow(**_fill_values(fill)) for fill in fills)
    except IntegrityError as error:
        logger.exception("paper broker: the database refused a write")
        raise UnavailableError(
            "the paper broker could not record this in the database; nothing was changed "
            "(the host's log has the database's answer)"
        ) from error


def load(ctx: ServiceContext, since: datetime) -> tuple[dict[str, Order], list[Fill]]:
    """The orders made since `since` or still working (in order-id order), and every trade
    in the order it happened."""
    with ctx.reading() as session:
        order_rows = session.scalars(
            select(PaperOrderRow)
            .where(or_(PaperOrderRow.created_at >= since, PaperOrderRow.status.in_(WORKING)))
            .order_by(PaperOrderRow.order_id)
        ).all()
        orders = {row.order_id: _order(row) for row in order_rows}
        return orders, all_fills(session)


def stored_order(ctx: ServiceContext, order_id: str) -> Order | None:
    with ctx.reading() as session:
        row = session.get(PaperOrderRow, order_id)
        return _order(row) if row is not None else None


def all_fills(session: Any) -> list[Fill]:
    rows = session.scalars(
        select(PaperTradeRow).order_by(PaperTradeRow.at, PaperTradeRow.trade_id)
    ).all()
    return [_fill(row) for row in rows]


class StoredPaperPositions:
    """The paper account's positions, folded from the stored trades (any process)."""

    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    def positions(self) -> list[BrokerPosition]:
        with self.ctx.reading() as session:
            book = PositionBook.from_fills(all_fills(session))
        return broker_positions(book)


def broker_positions(book: PositionBook) -> list[BrokerPosition]:
    """The broker protocol's rows: every open position, signed."""
    return [
        BrokerPosition(Key(p.symbol, p.exchange, p.product), p.quantity) for p in book if p.quantity
    ]


class Instruments:
    """Lookups in the loaded paper contract, kept while that contract is: a contract swapped
    in (the 08:00 refresh, a download by another process) empties the cache within
    GENERATION_CHECK_SECS. Misses are remembered for MISS_MEMORY_SECS. Thread-safe enough:
    a race costs a lookup, and a cache is never filled from an older contract's rows once
    the newer one was seen."""

    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self._found: dict[PriceKey, Instrument] = {}
        self._missing: dict[PriceKey, float] = {}  # monotonic time of a miss
        self._generation: int | None = None
        self._checked_at = float("-inf")

    def get(self, symbol: str, exchange: str) -> Instrument | None:
        """The instrument, or None; UnavailableError while no contract is loaded."""
        now = self.ctx.clock.monotonic()
        if now - self._checked_at >= GENERATION_CHECK_SECS:
            self._check_generation(now)
        key = (symbol, exchange)
        found = self._found.get(key)
        if found is not None:
            return found
        missed_at = self._missing.get(key)
        if missed_at is not None and now - missed_at < MISS_MEMORY_SECS:
            return None
        with self.ctx.reading() as session:
            queries = self._queries(session)
            try:
                found = queries.instrument(symbol, exchange)
            except NotFoundError:
                if len(self._missing) >= MAX_MISSES:
                    self._missing.clear()
                self._missing[key] = now
                return None
        if queries.generation == self._generation:
            self._found[key] = found
        return found

    def settlement(self, symbol: str, exchange: str) -> Instrument | None:
        """A derivative as the market needs it to price its expiry, even when today's
        contract no longer lists it (rebuilt from its symbol); None for anything else."""
        try:
            listed = self.get(symbol, exchange)
        except UnavailableError:
            listed = None
        if listed is not None or exchange not in DERIVATIVE_EXCHANGES:
            return listed
        parsed = parse_derivative(symbol)
        if parsed is None:
            return None
        name, expiry, strike, kind = parsed
        return Instrument(
            symbol, symbol, name, exchange, exchange, "", expiry, strike, 1, kind, EXPIRED_TICK
        )

    def _check_generation(self, now: float) -> None:
        with self.ctx.reading() as session:
            generation = session.scalar(
                select(MasterContractStatus.generation).where(MasterContractStatus.broker == BROKER)
            )
        self._checked_at = now
        if generation != self._generation:
            self._found.clear()
            self._missing.clear()
            self._generation = generation

    def _queries(self, session: Any) -> ContractQueries:
        try:
            return ContractQueries(session, BROKER)
        except NotFoundError as error:
            raise UnavailableError(
                "the paper master contract is not loaded yet; orders are taken once it is "
                "(`algovisor contracts status`)"
            ) from error


def _order_values(order: Order) -> dict[str, Any]:
    return {name: getattr(order, name) for name in ORDER_FIELDS}


def _order(row: PaperOrderRow) -> Order:
    return Order(**{name: getattr(row, name) for name in ORDER_FIELDS})


def _fill_values(fill: Fill) -> dict[str, Any]:
    return {name: getattr(fill, name) for name in FILL_FIELDS}


def _fill(row: PaperTradeRow) -> Fill:
    return Fill(**{name: getattr(row, name) for name in FILL_FIELDS})
