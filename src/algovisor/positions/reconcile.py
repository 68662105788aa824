"""Reconciling what strategies believe they hold with what the broker says: pure.

    matched             the broker's net quantity is what our positions add up to
    closed_at_broker    we hold it; the broker's net is zero (a "ghost")
    quantity_mismatch   both hold it, in different quantities (or directions)
    orphan              the broker holds it; no strategy's open position does
    unknown             the broker could not be asked: never read as "flat"

Quantities are netted per (symbol, exchange, product) across every strategy on
the same account, since the broker reports one net position per key.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum


class Verdict(StrEnum):
    MATCHED = "matched"
    CLOSED_AT_BROKER = "closed_at_broker"
    QUANTITY_MISMATCH = "quantity_mismatch"
    ORPHAN = "orphan"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Key:
    symbol: str
    exchange: str
    product: str

    def __str__(self) -> str:
        return f"{self.exchange}:{self.symbol} {self.product}"


@dataclass(frozen=True, slots=True)
class HeldPosition:
    """One of our open (or crashed) positions; `quantity` is signed: short is negative."""

    position_id: int
    strategy: str
    key: Key
    quantity: int


@dataclass(frozen=True, slots=True)
class BrokerPosition:
    """The broker's net position for one key; signed, as OpenAlgo's position book gives it."""

    key: Key
    quantity: int


@dataclass(frozen=True, slots=True)
class Finding:
    """A verdict on one key; `position_ids` are ours on that key (none for an orphan)."""

    key: Key
    verdict: Verdict
    expected_quantity: int  # what our positions net to
    broker_quantity: int | None  # None: the broker could not be asked
    position_ids: tuple[int, ...]
    strategies: tuple[str, ...]

    @property
    def detail(self) -> str:
        ours = f"strategies hold {self.expected_quantity:+d}"
        if self.broker_quantity is None:
            return f"{self.key}: {ours}; the broker could not be asked"
        return f"{self.key}: {ours}, the broker {self.broker_quantity:+d}"


def reconcile(
    held: Iterable[HeldPosition], broker: Sequence[BrokerPosition] | None
) -> list[Finding]:
    """A finding per key that either side holds, ordered by key; `broker=None`: unknown."""
    ours: dict[Key, list[HeldPosition]] = defaultdict(list)
    for position in held:
        ours[position.key].append(position)
    theirs: dict[Key, int] = defaultdict(int)
    for reported in broker or ():
        theirs[reported.key] += reported.quantity
    findings = []
    for key in sorted(set(ours) | set(theirs), key=lambda k: (k.exchange, k.symbol, k.product)):
        positions = ours.get(key, [])
        expected = sum(position.quantity for position in positions)
        actual = None if broker is None else theirs.get(key, 0)
        if not positions and not actual:
            continue  # nothing held on either side (a flat broker row, or no position)
        findings.append(
            Finding(
                key,
                _verdict(expected, actual, bool(positions)),
                expected,
                actual,
                tuple(position.position_id for position in positions),
                tuple(sorted({position.strategy for position in positions})),
            )
        )
    return findings


def _verdict(expected: int, actual: int | None, ours: bool) -> Verdict:
    if actual is None:
        return Verdict.UNKNOWN
    if not ours:
        return Verdict.ORPHAN
    if actual == expected:
        return Verdict.MATCHED
    if actual == 0:
        return Verdict.CLOSED_AT_BROKER
    return Verdict.QUANTITY_MISMATCH
