"""Lookups answered by the database, for the API and the CLI.

They ask once and go: building the whole in-memory book (about a second for a
150,000-row contract) would cost more than the indexed query. Answers and
errors are the same as `ContractBook`'s; strategies, which look up in loops,
use the book (`algovisor.contracts.lookup.open_book`).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, Select, select
from sqlalchemy.orm import Session

from algovisor.contracts.book import (
    ChainLink,
    missing_exchange,
    missing_symbol,
    missing_token,
)
from algovisor.contracts.records import Instrument
from algovisor.contracts.store import ROW_COLUMNS
from algovisor.db.models import MasterContractRow, MasterContractStatus
from algovisor.errors import NotFoundError

Row = MasterContractRow


class ContractQueries:
    """The contract in force for one broker, queried row by row."""

    def __init__(self, session: Session, broker: str) -> None:
        status = session.get(MasterContractStatus, broker)
        if status is None or not status.generation:
            raise NotFoundError(
                f"the {broker} master contract has not been loaded",
                detail=f"Run `algovisor contracts download --broker {broker}`.",
            )
        self._session = session
        self._broker = broker
        self._trading_day = status.trading_day
        self.generation: int = status.generation
        self._exchanges = set(status.exchange_counts)

    def _rows(self) -> Select[Any]:
        columns = [getattr(Row, name) for name in ROW_COLUMNS]
        return select(*columns).where(Row.broker == self._broker, self._in_force())

    def _in_force(self) -> ColumnElement[bool]:
        """The generation in force when the statement runs, not when this object was made:
        a swap between the two must not leave a lookup reading deleted rows."""
        current = select(MasterContractStatus.generation).where(
            MasterContractStatus.broker == self._broker
        )
        return Row.generation == current.scalar_subquery()

    def _fetch(self, query: Select[Any]) -> list[Instrument]:
        return [Instrument(*values) for values in self._session.execute(query)]

    def _exchange(self, exchange: str) -> str:
        if exchange not in self._exchanges:
            raise missing_exchange(self._broker, exchange, self._exchanges)
        return exchange

    def listing(self, exchange: str | None = None) -> list[Instrument]:
        """Every instrument, or an exchange's, in a stable order (exchange, symbol)."""
        query = self._rows()
        if exchange is not None:
            query = query.where(Row.exchange == self._exchange(exchange))
        return self._fetch(query.order_by(Row.exchange, Row.symbol))

    def instrument(self, symbol: str, exchange: str) -> Instrument:
        query = self._rows().where(Row.exchange == self._exchange(exchange), Row.symbol == symbol)
        found = self._fetch(query)
        if not found:
            raise missing_symbol(self._broker, symbol, exchange, self._trading_day)
        return found[0]

    def by_token(self, token: str, exchange: str) -> Instrument:
        query = self._rows().where(Row.exchange == self._exchange(exchange), Row.token == token)
        found = self._fetch(query)
        if not found:
            raise missing_token(self._broker, token, exchange)
        return found[0]

    def search(self, query: str, exchange: str | None = None, limit: int = 50) -> list[Instrument]:
        prefix = query.strip().upper()
        # A range on the primary key's symbol column, not LIKE: it uses the index.
        rows = self._rows().where(Row.symbol >= prefix, Row.symbol < prefix + "\U0010ffff")
        if exchange is not None:
            rows = rows.where(Row.exchange == self._exchange(exchange))
        return self._fetch(rows.order_by(Row.exchange, Row.symbol).limit(limit))

    def expiries(self, name: str, exchange: str, instrument_type: str | None = None) -> list[date]:
        query = (
            select(Row.expiry)
            .distinct()
            .where(
                Row.broker == self._broker,
                self._in_force(),
                Row.exchange == self._exchange(exchange),
                Row.name == name.upper(),
                Row.expiry.is_not(None),
            )
            .order_by(Row.expiry)
        )
        if instrument_type is not None:
            query = query.where(Row.instrument_type == instrument_type)
        return [expiry for expiry in self._session.scalars(query) if expiry is not None]

    def option_chain(self, name: str, expiry: date, exchange: str) -> list[ChainLink]:
        query = self._rows().where(
            Row.exchange == self._exchange(exchange),
            Row.name == name.upper(),
            Row.expiry == expiry,
            Row.instrument_type.in_(("CE", "PE")),
        )
        pairs: dict[float, list[Instrument | None]] = {}
        for row in self._fetch(query):
            if row.strike is not None:
                pairs.setdefault(row.strike, [None, None])[row.instrument_type == "PE"] = row
        return [ChainLink(strike, *pairs[strike]) for strike in sorted(pairs)]
