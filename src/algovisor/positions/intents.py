"""Orders about to be sent, made durable first: a crash between sending and recording shows.

A PENDING intent of a session that crashes becomes UNCONFIRMED (`events.mark_session_crashed`):
the trader must look at the broker's order book for it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from algovisor.positions.database import Connection, Cursor
from algovisor.positions.records import DuplicateOrderError, PositionNotFoundError


class OrderIntents:
    def __init__(self, connection: Connection, now: Callable[[], datetime]) -> None:
        self._db = connection
        self._now = now

    def record(
        self,
        session_id: int,
        *,
        client_order_id: str,
        symbol: str,
        exchange: str,
        action: str,
        quantity: int,
        price: float | None,
        position_id: int | None,
        purpose: str | None,
    ) -> None:
        row = {
            "client_order_id": client_order_id,
            "session_id": session_id,
            "position_id": position_id,
            "symbol": symbol,
            "exchange": exchange,
            "action": action,
            "quantity": quantity,
            "price": price,
            "purpose": purpose,
            "now": self._db.dialect.timestamp(self._now()),
        }

        def work(cursor: Cursor) -> None:
            if cursor.execute(
                "SELECT 1 FROM order_intents WHERE client_order_id = :client_order_id", row
            ).one():
                raise DuplicateOrderError(
                    f"client order id {client_order_id!r} was already used; give each order "
                    "its own (or leave it out to get one)"
                )
            cursor.execute(
                "INSERT INTO order_intents (client_order_id, session_id, position_id, symbol, "
                "exchange, action, quantity, price, purpose, status, created_at) VALUES "
                "(:client_order_id, :session_id, :position_id, :symbol, :exchange, :action, "
                ":quantity, :price, :purpose, 'PENDING', :now)",
                row,
            )

        self._db.run(work)

    def confirm(
        self,
        client_order_id: str,
        *,
        broker_order_id: str | None,
        accepted: bool,
        message: str | None,
    ) -> None:
        row = {
            "client_order_id": client_order_id,
            "broker_order_id": broker_order_id,
            "status": "CONFIRMED" if accepted else "REJECTED",
            "message": message,
            "now": self._db.dialect.timestamp(self._now()),
        }

        def work(cursor: Cursor) -> None:
            found = cursor.execute(
                "SELECT status FROM order_intents WHERE client_order_id = :client_order_id",
                row,
            ).one()
            if found is None:
                raise PositionNotFoundError(
                    f"no order intent has client order id {client_order_id!r}; record the "
                    "intent before sending the order"
                )
            cursor.execute(
                "UPDATE order_intents SET status = :status, broker_order_id = :broker_order_id, "
                "message = :message, confirmed_at = :now WHERE client_order_id = :client_order_id",
                row,
            )

        self._db.run(work)
