"""Checks a parsed contract must pass before any of it is loaded.

A contract is all or nothing: too many unreadable rows, or two instruments
claiming one token (or one symbol) on an exchange, refuse the whole file, since
trading a token that may belong to another instrument loses real money. Rows
repeated identically are harmless and are loaded once.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date
from itertools import pairwise
from operator import itemgetter

from algovisor.contracts.records import (
    EXCHANGES,
    INSTRUMENT_TYPES,
    Instrument,
    ParseOutcome,
)
from algovisor.errors import InvalidInputError

DEFAULT_MAX_REJECTED_RATIO = 0.05
# The database columns' widths: a longer value must be a bad row, not a failed load.
MAX_KEY_LENGTH = 64
MAX_TEXT_LENGTH = 128
MAX_EXCHANGE_LENGTH = 16


class ContractValidationError(InvalidInputError):
    """The parsed contract is not safe to trade on; nothing of it is loaded."""


@dataclass(frozen=True)
class ValidContract:
    """Rows that passed, in (exchange, symbol) order, and what was left out and why."""

    rows: list[Instrument]
    exchange_counts: dict[str, int]
    rows_read: int
    rejected: Counter[str]
    skipped: Counter[str]
    examples: list[str]

    @property
    def rejected_count(self) -> int:
        return sum(self.rejected.values())


def row_problem(row: Instrument, trading_day: date) -> str | None:
    """Why a normalised row cannot be loaded, or None; `expired` rows are skipped, not bad."""
    if row.exchange not in EXCHANGES:
        return f"unknown exchange {row.exchange}"
    if row.instrument_type not in INSTRUMENT_TYPES:
        return f"unknown instrument type {row.instrument_type}"
    if not row.symbol or len(row.symbol) > MAX_KEY_LENGTH:
        return "symbol missing or too long"
    if not row.token or len(row.token) > MAX_KEY_LENGTH:
        return "token missing or too long"
    if len(row.broker_symbol) > MAX_TEXT_LENGTH or len(row.name) > MAX_TEXT_LENGTH:
        return "broker symbol or name too long"
    if len(row.broker_exchange) > MAX_EXCHANGE_LENGTH:
        return "broker exchange too long"
    if row.lot_size < 0 or row.tick_size < 0:
        return "negative lot or tick size"
    derivative = row.instrument_type in ("FUT", "CE", "PE")
    if derivative and row.expiry is None:
        return "derivative without expiry"
    if row.instrument_type in ("CE", "PE") and (row.strike is None or row.strike <= 0):
        return "option without strike"
    if row.expiry is not None and row.expiry < trading_day:
        return "expired"
    return None


def validate(
    outcome: ParseOutcome,
    trading_day: date,
    max_rejected_ratio: float = DEFAULT_MAX_REJECTED_RATIO,
) -> ValidContract:
    """Check every row, refuse inconsistent or mostly-broken files, and order what remains."""
    rejected = Counter(outcome.rejected)
    skipped = Counter(outcome.skipped)
    examples = list(outcome.examples)
    kept: list[Instrument] = []
    for row in outcome.rows:
        problem = row_problem(row, trading_day)
        if problem == "expired":
            skipped["expired"] += 1
        elif problem is not None:
            rejected[problem] += 1
            if len(examples) < ParseOutcome.MAX_EXAMPLES:
                examples.append(f"{row.exchange}:{row.symbol} token {row.token}: {problem}")
        else:
            kept.append(row)
    _refuse_mostly_broken(len(kept), rejected, skipped, examples, max_rejected_ratio)
    # One sort serves the lookup book (by symbol within an exchange), the
    # database (its primary key order) and the duplicate checks (neighbours).
    kept.sort(key=itemgetter(3, 0))
    rows = _drop_repeats(kept, skipped)
    _refuse_conflicts(rows)
    counts = Counter(row.exchange for row in rows)
    return ValidContract(
        rows, dict(sorted(counts.items())), outcome.rows_read, rejected, skipped, examples
    )


def _refuse_mostly_broken(
    kept: int,
    rejected: Counter[str],
    skipped: Counter[str],
    examples: list[str],
    max_ratio: float,
) -> None:
    bad = sum(rejected.values())
    if kept == 0:
        details = [f"{count:,} rows skipped: {reason}" for reason, count in skipped.most_common(3)]
        if bad:
            details.append(f"{bad:,} rows rejected, e.g. {examples[0] if examples else '?'}")
        detail = f" ({'; '.join(details)})" if details else ""
        raise ContractValidationError(f"the contract holds no usable instruments{detail}")
    ratio = bad / (bad + kept)
    if ratio > max_ratio:
        reasons = ", ".join(f"{reason}: {count:,}" for reason, count in rejected.most_common(3))
        raise ContractValidationError(
            f"too many rejected rows: {bad:,} of {bad + kept:,} ({ratio:.0%}, the limit is "
            f"{max_ratio:.0%}); {reasons}; first: {examples[0] if examples else '?'}. "
            "Check that the file is complete and in the declared format."
        )


def _drop_repeats(rows: list[Instrument], skipped: Counter[str]) -> list[Instrument]:
    """Rows sorted by (exchange, symbol): identical neighbours are one instrument listed twice."""
    unique: list[Instrument] = []
    for row in rows:
        if unique and unique[-1] == row:
            skipped["repeated row"] += 1
        else:
            unique.append(row)
    return unique


def _refuse_conflicts(rows: list[Instrument]) -> None:
    for previous, row in pairwise(rows):
        if previous.symbol == row.symbol and previous.exchange == row.exchange:
            clash = (
                f"has two tokens, {previous.token} and {row.token}"
                if previous.token != row.token
                else f"is listed twice (token {row.token}) with different details"
            )
            raise ContractValidationError(
                f"symbol {row.symbol} on {row.exchange} {clash}; "
                "the file is inconsistent and was not loaded"
            )
    owners: dict[tuple[str, str], str] = {}
    for row in rows:
        owner = owners.setdefault((row.exchange, row.token), row.symbol)
        if owner != row.symbol:
            raise ContractValidationError(
                f"token {row.token} on {row.exchange} is given to two instruments, "
                f"{owner} and {row.symbol}; the file is inconsistent and was not loaded"
            )
