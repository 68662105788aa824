"""The normalised instrument row every source produces, and what a parse reports.

Every format parser and the paper generator yield `Instrument`s in OpenAlgo's
symbol format (see `algovisor.contracts.symbols`), with the broker's own symbol,
exchange and token kept beside it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from typing import NamedTuple

from algovisor.errors import InvalidInputError

# OpenAlgo's exchanges. Indices live under their own exchange, as OpenAlgo does.
EXCHANGES = ("NSE", "BSE", "NFO", "BFO", "CDS", "BCD", "MCX", "NSE_INDEX", "BSE_INDEX")

# Normalised instrument types: what the option chain and the lookups reason about.
INSTRUMENT_TYPES = ("EQ", "INDEX", "FUT", "CE", "PE")


class Instrument(NamedTuple):
    """One tradable instrument. A tuple, because a contract holds 150,000 of them."""

    symbol: str  # OpenAlgo format: NIFTY28NOV2424000CE, BANKNIFTY24APR24FUT, SBIN
    broker_symbol: str  # the broker's own trading symbol
    name: str  # the underlying: NIFTY, RELIANCE, CRUDEOIL
    exchange: str  # one of EXCHANGES
    broker_exchange: str  # the broker's own exchange or segment code
    token: str  # the broker's instrument token, as text
    expiry: date | None
    strike: float | None  # options only
    lot_size: int
    instrument_type: str  # one of INSTRUMENT_TYPES
    tick_size: float  # in rupees


class ContractFormatError(InvalidInputError):
    """The file is not in the declared format, or is cut short; nothing of it is loaded."""


@dataclass
class ParseOutcome:
    """What a parser made of a file: the good rows, and the bad ones counted by reason.

    `rejected` rows are broken (unreadable number, missing token); `skipped` rows
    are fine but outside what algovisor trades (an unsupported segment, a test
    contract). Only rejected rows count against the file.
    """

    rows: list[Instrument] = field(default_factory=list)
    rows_read: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    # The first few rejected rows, as "row 12: strike 'abc' is not a number".
    examples: list[str] = field(default_factory=list)

    MAX_EXAMPLES = 5

    def reject(self, row_number: int, reason: str, detail: str = "") -> None:
        self.rejected[reason] += 1
        if len(self.examples) < self.MAX_EXAMPLES:
            self.examples.append(f"row {row_number}: {reason}{f' ({detail})' if detail else ''}")

    def skip(self, reason: str) -> None:
        self.skipped[reason] += 1

    @property
    def rejected_count(self) -> int:
        return sum(self.rejected.values())
