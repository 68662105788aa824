"""What strategy scripts import: `from algovisor.sdk import PositionPersistenceManager`.

Light on purpose (standard library, plus psycopg only on PostgreSQL): every strategy
process pays for what it imports.
"""

from algovisor.positions.database import StoreUnavailableError
from algovisor.positions.records import (
    DuplicateOrderError,
    PositionClosedError,
    PositionHeldError,
    PositionNotFoundError,
    PositionRecord,
    SessionNotActiveError,
)
from algovisor.positions.updates import WriterStalledError
from algovisor.positions.validation import PositionInputError
from algovisor.sdk.brokers import openalgo_broker
from algovisor.sdk.manager import PositionPersistenceManager

__all__ = [
    "DuplicateOrderError",
    "PositionClosedError",
    "PositionHeldError",
    "PositionInputError",
    "PositionNotFoundError",
    "PositionPersistenceManager",
    "PositionRecord",
    "SessionNotActiveError",
    "StoreUnavailableError",
    "WriterStalledError",
    "openalgo_broker",
]
