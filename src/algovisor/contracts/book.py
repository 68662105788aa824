"""The in-memory lookup book: one broker's contract, built once, read without locks.

A book is immutable. A new contract builds a new book and the holder swaps one
reference, so a reader sees the old book or the new one, never a mixture.

Per exchange the rows are kept in columns sorted by symbol: a dict from symbol
to token (the hot lookup), a sorted symbol list (prefix search and row access by
bisection), tokens sorted beside their rows (reverse lookup), and packed arrays
for lot size, tick size, strike, expiry and type. That keeps a 150,000-row
contract near 200 bytes a row.
"""

from __future__ import annotations

import math
from array import array
from bisect import bisect_left
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from itertools import groupby
from operator import itemgetter
from types import MappingProxyType

from algovisor.contracts.records import INSTRUMENT_TYPES, Instrument
from algovisor.contracts.symbols import expiry_code
from algovisor.errors import NotFoundError


class SymbolNotFoundError(NotFoundError, KeyError):
    """The symbol (or token) is not in this contract."""

    def __str__(self) -> str:
        return self.message


def missing_exchange(broker: str, exchange: str, known: Iterable[str]) -> SymbolNotFoundError:
    listed = ", ".join(sorted(known)) or "none"
    return SymbolNotFoundError(
        f"the {broker} contract has no exchange {exchange!r} (it has: {listed})"
    )


def missing_symbol(
    broker: str, symbol: str, exchange: str, trading_day: date | None
) -> SymbolNotFoundError:
    return SymbolNotFoundError(
        f"{symbol} is not in the {broker} {exchange} contract"
        f"{f' for {trading_day}' if trading_day else ''}; "
        "check the symbol format (e.g. NIFTY28NOV2424000CE) with `algovisor contracts search`"
    )


def missing_token(broker: str, token: str, exchange: str) -> SymbolNotFoundError:
    return SymbolNotFoundError(f"token {token} is not in the {broker} {exchange} contract")


@dataclass(frozen=True)
class ChainLink:
    """One strike of an option chain: its call and its put (either may be missing)."""

    strike: float
    call: Instrument | None
    put: Instrument | None


_by_symbol = itemgetter(0)
_by_exchange = itemgetter(3)


def _coded(values: Sequence[str], typecode: str) -> tuple[list[str], array[int]]:
    """Few distinct values (names, segments) as one small int per row, plus the table."""
    table = list(dict.fromkeys(values))
    codes = {value: code for code, value in enumerate(table)}
    return table, array(typecode, map(codes.__getitem__, values))


class ExchangeBook:
    """One exchange's instruments, column by column, sorted by symbol."""

    __slots__ = (
        "_broker_exchange_names",
        "_broker_exchanges",
        "_broker_symbols",
        "_expiries",
        "_kinds",
        "_lot_sizes",
        "_name_ids",
        "_names",
        "_strikes",
        "_tick_sizes",
        "_token_order",
        "_token_rows",
        "exchange",
        "symbols",
        "tokens",
    )

    def __init__(self, exchange: str, rows: list[Instrument]) -> None:
        rows.sort(key=_by_symbol)  # already in this order from the validator: one pass
        self.exchange = exchange
        # Columns at C speed; a loop per field over 100,000 named tuples costs more.
        (
            symbols,
            broker_symbols,
            names,
            _,
            broker_exchanges,
            tokens,
            expiries,
            strikes,
            lot_sizes,
            kinds,
            tick_sizes,
        ) = zip(*rows, strict=True)
        self.symbols: list[str] = list(symbols)
        # symbol -> token: the lookup strategies make most often, one dict access.
        self.tokens: dict[str, str] = dict(zip(symbols, tokens, strict=True))
        self._names, self._name_ids = _coded(names, "i")
        self._broker_exchange_names, self._broker_exchanges = _coded(broker_exchanges, "b")
        # A broker symbol equal to ours is stored as the same string object.
        self._broker_symbols = [
            symbol if broker_symbol == symbol else broker_symbol
            for symbol, broker_symbol in zip(symbols, broker_symbols, strict=True)
        ]
        self._lot_sizes = array("i", lot_sizes)
        self._tick_sizes = array("d", tick_sizes)
        self._strikes = array("d", [math.nan if strike is None else strike for strike in strikes])
        self._expiries = array("i", [day.toordinal() if day else 0 for day in expiries])
        kind_codes = {kind: code for code, kind in enumerate(INSTRUMENT_TYPES)}
        self._kinds = array("b", map(kind_codes.__getitem__, kinds))
        # The reverse (token) index is sorted when first asked for: few processes
        # ever ask, and building it would delay every contract's readiness.
        self._token_order: list[str] | None = None
        self._token_rows = array("i")

    def __len__(self) -> int:
        return len(self.symbols)

    def row(self, index: int) -> Instrument:
        strike = self._strikes[index]
        expiry = self._expiries[index]
        return Instrument(
            symbol=self.symbols[index],
            broker_symbol=self._broker_symbols[index],
            name=self._names[self._name_ids[index]],
            exchange=self.exchange,
            broker_exchange=self._broker_exchange_names[self._broker_exchanges[index]],
            token=self.tokens[self.symbols[index]],
            expiry=date.fromordinal(expiry) if expiry else None,
            strike=None if math.isnan(strike) else strike,
            lot_size=self._lot_sizes[index],
            instrument_type=INSTRUMENT_TYPES[self._kinds[index]],
            tick_size=self._tick_sizes[index],
        )

    def index_of(self, symbol: str) -> int | None:
        index = bisect_left(self.symbols, symbol)
        if index < len(self.symbols) and self.symbols[index] == symbol:
            return index
        return None

    def index_of_token(self, token: str) -> int | None:
        order = self._token_order
        if order is None:  # two threads may both build it: the same list, harmlessly
            tokens = [self.tokens[symbol] for symbol in self.symbols]
            rows = sorted(range(len(tokens)), key=tokens.__getitem__)
            self._token_rows = array("i", rows)
            order = self._token_order = list(map(tokens.__getitem__, rows))
        position = bisect_left(order, token)
        if position < len(order) and order[position] == token:
            return self._token_rows[position]
        return None

    def with_prefix(self, prefix: str) -> Iterator[int]:
        index = bisect_left(self.symbols, prefix)
        while index < len(self.symbols) and self.symbols[index].startswith(prefix):
            yield index
            index += 1

    def name_of(self, index: int) -> str:
        return self._names[self._name_ids[index]]

    def expiry_ordinal(self, index: int) -> int:
        return self._expiries[index]

    def kind(self, index: int) -> str:
        return INSTRUMENT_TYPES[self._kinds[index]]


@dataclass(frozen=True, slots=True)
class ContractBook:
    """Lookups over one broker's contract for one trading day."""

    broker: str
    generation: int
    trading_day: date | None
    exchanges: dict[str, ExchangeBook] = field(default_factory=dict)
    # exchange -> (symbol -> token): `token` is two dict accesses and nothing else.
    _tokens: dict[str, dict[str, str]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        tokens = {exchange: book.tokens for exchange, book in self.exchanges.items()}
        object.__setattr__(self, "_tokens", tokens)

    @classmethod
    def build(
        cls,
        broker: str,
        generation: int,
        trading_day: date | None,
        rows: Iterable[Instrument],
    ) -> ContractBook:
        # Sorted by exchange, the grouping is one pass (the validator sorts so).
        ordered = sorted(rows, key=_by_exchange)
        by_exchange = {exchange: list(part) for exchange, part in groupby(ordered, _by_exchange)}
        return cls(
            broker,
            generation,
            trading_day,
            {exchange: ExchangeBook(exchange, part) for exchange, part in by_exchange.items()},
        )

    def __len__(self) -> int:
        return sum(len(book) for book in self.exchanges.values())

    def _exchange(self, exchange: str) -> ExchangeBook:
        book = self.exchanges.get(exchange)
        if book is None:
            raise self._no_exchange(exchange)
        return book

    def _no_exchange(self, exchange: str) -> SymbolNotFoundError:
        return missing_exchange(self.broker, exchange, self.exchanges)

    def token(self, symbol: str, exchange: str) -> str:
        """The broker's token for an OpenAlgo symbol; raises SymbolNotFoundError."""
        try:
            return self._tokens[exchange][symbol]
        except KeyError:
            raise self._not_found(symbol, exchange) from None

    def tokens(self, exchange: str) -> Mapping[str, str]:
        """One exchange's symbol -> token map, read-only: the fastest path for hot loops."""
        return MappingProxyType(self._exchange(exchange).tokens)

    def instrument(self, symbol: str, exchange: str) -> Instrument:
        book = self._exchange(exchange)
        index = book.index_of(symbol)
        if index is None:
            raise self._not_found(symbol, exchange)
        return book.row(index)

    def by_token(self, token: str, exchange: str) -> Instrument:
        book = self._exchange(exchange)
        index = book.index_of_token(token)
        if index is None:
            raise missing_token(self.broker, token, exchange)
        return book.row(index)

    def lot_size(self, symbol: str, exchange: str) -> int:
        return self.instrument(symbol, exchange).lot_size

    def tick_size(self, symbol: str, exchange: str) -> float:
        return self.instrument(symbol, exchange).tick_size

    def search(self, query: str, exchange: str | None = None, limit: int = 50) -> list[Instrument]:
        """Instruments whose symbol starts with `query` (any case), by exchange and symbol."""
        prefix = query.strip().upper()
        found: list[Instrument] = []
        for name in sorted(self.exchanges) if exchange is None else [exchange]:
            book = self._exchange(name)
            for index in book.with_prefix(prefix):
                if len(found) >= limit:
                    return found
                found.append(book.row(index))
        return found

    def expiries(self, name: str, exchange: str, instrument_type: str | None = None) -> list[date]:
        """Every expiry of an underlying's futures and options (or of one type), soonest first."""
        book = self._exchange(exchange)
        ordinals = {
            book.expiry_ordinal(index)
            for index in book.with_prefix(name.upper())
            if book.name_of(index) == name.upper()
            and book.expiry_ordinal(index)
            and (instrument_type is None or book.kind(index) == instrument_type)
        }
        return [date.fromordinal(ordinal) for ordinal in sorted(ordinals)]

    def option_chain(self, name: str, expiry: date, exchange: str) -> list[ChainLink]:
        """Calls and puts of one expiry, by strike."""
        book = self._exchange(exchange)
        underlying = name.upper()
        links: dict[float, list[Instrument | None]] = {}
        for index in book.with_prefix(f"{underlying}{expiry_code(expiry)}"):
            kind = book.kind(index)
            if kind not in ("CE", "PE") or book.name_of(index) != underlying:
                continue
            row = book.row(index)
            if row.strike is None or row.expiry != expiry:
                continue
            pair = links.setdefault(row.strike, [None, None])
            pair[0 if kind == "CE" else 1] = row
        return [ChainLink(strike, *links[strike]) for strike in sorted(links)]

    def _not_found(self, symbol: str, exchange: str) -> SymbolNotFoundError:
        if exchange not in self.exchanges:
            return self._no_exchange(exchange)
        return missing_symbol(self.broker, symbol, exchange, self.trading_day)
