"""The broker protocol, one capability at a time; the paper broker and adapters fill it in.

capability     method          used by
positions      positions()     reconciliation of strategies' positions
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from algovisor.errors import UnavailableError
from algovisor.positions.reconcile import BrokerPosition


class BrokerError(UnavailableError):
    """The broker could not be asked, or did not answer in time."""


class PositionBook(Protocol):
    """An account's net positions, signed (short is negative), per symbol, exchange, product."""

    def positions(self) -> Sequence[BrokerPosition]: ...
