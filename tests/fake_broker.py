"""An in-memory broker position book: the `PositionBook` protocol's test double."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from algovisor.positions.reconcile import BrokerPosition


class FakePositionBook:
    """Answers with `positions`, or raises `error`, or hangs until `hang` is set."""

    def __init__(
        self,
        positions: Sequence[BrokerPosition] = (),
        *,
        error: Exception | None = None,
        hang: threading.Event | None = None,
    ) -> None:
        self._positions = list(positions)
        self._error = error
        self._hang = hang
        self.asked = 0

    def positions(self) -> Sequence[BrokerPosition]:
        self.asked += 1
        if self._hang is not None:
            self._hang.wait(30)
        if self._error is not None:
            raise self._error
        return self._positions
