"""What the positions store reads and raises: statuses, records, errors, the JSON it writes."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from algovisor.errors import ConflictError, NotFoundError
from algovisor.positions.validation import PositionInputError, Side

OPEN_STATUSES = ("ACTIVE", "CRASHED", "RECOVERED")
STATUSES = (*OPEN_STATUSES, "CLOSED")


class PositionNotFoundError(NotFoundError):
    """No position has that id."""


class PositionHeldError(ConflictError):
    """Another live session, or another strategy, holds the position."""


class SessionNotActiveError(ConflictError):
    """The session has crashed or ended; it takes no new positions."""


class DuplicateOrderError(ConflictError):
    """That client order id was already used."""


class PositionClosedError(ConflictError):
    """The position is already closed (or the exit is larger than what is open)."""


@dataclass(frozen=True, slots=True)
class PositionRecord:
    """A stored position as the SDK hands it back."""

    id: int
    session_id: int
    strategy: str
    broker: str
    symbol: str
    exchange: str
    product: str
    side: str
    quantity: int
    entry_price: float
    entry_time: datetime
    stop_price: float | None
    target_price: float | None
    current_price: float | None
    leg: str | None
    state: dict[str, Any]
    status: str
    entry_order_id: str | None
    client_order_id: str | None
    updated_at: datetime
    crashed_at: datetime | None
    crash_reason: str | None
    broker_verdict: str | None = None
    verdict_detail: str | None = field(default=None, compare=False)

    @property
    def signed_quantity(self) -> int:
        return self.quantity * Side(self.side).sign


@dataclass(frozen=True, slots=True)
class Crash:
    """Why a session ended without its strategy saying so."""

    reason: str
    exception_type: str | None = None
    traceback: str | None = None


def check_state(state: Mapping[str, Any]) -> None:
    """Raise PositionInputError unless `state` can be stored as JSON."""
    to_json(state)


def to_json(value: Mapping[str, Any]) -> str:
    """Compact JSON as stored; PositionInputError for anything JSON cannot hold."""
    try:
        return json.dumps(value, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as error:
        raise PositionInputError(
            f"state must be JSON: plain dicts, lists, strings, finite numbers ({error})"
        ) from error


def storable(state: dict[str, Any]) -> dict[str, Any]:
    """`state` without the entries that cannot be stored as JSON."""
    kept = {}
    for key, value in state.items():
        try:
            check_state({key: value})
        except PositionInputError:
            continue
        kept[key] = value
    return kept
