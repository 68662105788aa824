"""Every write to the positions tables, each call one transaction; shared by the SDK and the host.

sessions.open / end / crash          a strategy process's use of the SDK (sessions.py)
insert_entry, record_exit            durable before they return, with their event
write_updates                        one coalesced batch, one transaction
sessions.sweep_crashed               idempotent: only ACTIVE sessions are marked
resumable / mark_recovered           recovery (verdicts: verify.record_verdicts)
intents.record / intents.confirm     an order is durable before it is sent (intents.py)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from algovisor.positions.database import Connection, Cursor
from algovisor.positions.events import INSERT_EVENT, add_event
from algovisor.positions.intents import OrderIntents
from algovisor.positions.records import (
    OPEN_STATUSES,
    STATUSES,
    PositionClosedError,
    PositionHeldError,
    PositionNotFoundError,
    PositionRecord,
    SessionNotActiveError,
    to_json,
)
from algovisor.positions.sessions import Sessions
from algovisor.positions.validation import Entry, PositionInputError, Side

PNL_DECIMALS = 4

_POSITION_COLUMNS = (
    "id, session_id, strategy_name, broker, symbol, exchange, product, side, quantity, "
    "entry_price, entry_time, stop_price, target_price, current_price, leg, state, status, "
    "entry_order_id, client_order_id, updated_at, crashed_at, crash_reason, broker_verdict"
)


class PositionStore:
    def __init__(self, connection: Connection, now: Callable[[], datetime]) -> None:
        self._db = connection
        self._now = now
        self.sessions = Sessions(connection, now)
        self.intents = OrderIntents(connection, now)

    @property
    def connection(self) -> Connection:
        return self._db

    def close(self) -> None:
        self._db.close()

    # ----- entries and exits ------------------------------------------------------

    def insert_entry(
        self,
        session_id: int,
        entry: Entry,
        *,
        leg: str | None,
        state: Mapping[str, Any] | None,
        entry_order_id: str | None,
        client_order_id: str | None,
    ) -> int:
        now = self.stamp()
        row = {
            "session_id": session_id,
            "symbol": entry.symbol,
            "exchange": entry.exchange,
            "product": entry.product,
            "side": entry.side.value,
            "quantity": entry.quantity,
            "entry_price": entry.entry_price,
            "stop_price": entry.stop_price,
            "target_price": entry.target_price,
            "leg": leg,
            "state": to_json(dict(state or {})),
            "entry_order_id": entry_order_id,
            "client_order_id": client_order_id,
            "now": now,
        }

        def work(cursor: Cursor) -> int:
            # The strategy and broker are the session's, copied in the same statement.
            found = cursor.execute(
                "INSERT INTO strategy_positions (session_id, strategy_id, strategy_name, broker, "
                "symbol, exchange, product, side, quantity, initial_quantity, entry_price, "
                "entry_time, stop_price, target_price, leg, state, entry_order_id, "
                "client_order_id, status, realized_pnl, updated_at, update_count) "
                "SELECT id, strategy_id, strategy_name, broker, :symbol, :exchange, "
                ":product, :side, :quantity, :quantity, :entry_price, :now, :stop_price, "
                ":target_price, :leg, :state, :entry_order_id, :client_order_id, 'ACTIVE', 0, "
                ":now, 0 FROM strategy_sessions WHERE id = :session_id AND status = 'ACTIVE' "
                "RETURNING id",
                row,
            ).one()
            if found is None:
                # A crashed or ended session holds nothing new: the sweep would miss it.
                raise SessionNotActiveError(
                    f"session {session_id} is not active (crashed or ended); nothing was written"
                )
            position_id = int(found[0])
            add_event(
                cursor,
                position_id,
                session_id,
                "ENTRY",
                now,
                {
                    "side": entry.side.value,
                    "quantity": entry.quantity,
                    "price": entry.entry_price,
                    "stop_price": entry.stop_price,
                    "target_price": entry.target_price,
                    "order_id": entry_order_id,
                    "client_order_id": client_order_id,
                },
            )
            return position_id

        return self._db.run(work)

    def record_exit(
        self,
        position_id: int,
        *,
        quantity: int | None,
        exit_price: float,
        exit_reason: str,
        exit_order_id: str | None,
        pnl: float | None,
        session_id: int | None,
    ) -> tuple[int, float]:
        """Close all or part of a position; returns (quantity still open, this exit's P&L)."""
        now = self.stamp()

        def work(cursor: Cursor) -> tuple[int, float]:
            row = cursor.execute(
                self._locking(
                    "SELECT p.status, p.quantity, p.initial_quantity, p.side, p.entry_price, "
                    "p.exit_price, p.realized_pnl, p.session_id, s.status, s.pid, s.hostname, "
                    "p.strategy_name FROM strategy_positions p "
                    "JOIN strategy_sessions s ON s.id = p.session_id WHERE p.id = :id"
                ),
                {"id": position_id},
            ).one()
            if row is None:
                raise PositionNotFoundError(f"no position has id {position_id}")
            status, open_quantity, initial, side, entry_price, average_exit, realized = row[:7]
            if status == "CLOSED":
                raise PositionClosedError(
                    f"position {position_id} is already closed; nothing was written"
                )
            owner, owner_status, pid, host, strategy = row[7:]
            if session_id is not None and owner != session_id:
                raise PositionHeldError(
                    f"position {position_id} is not held by this session; resume it with "
                    "mark_position_recovered() first"
                )
            if session_id is None and owner_status == "ACTIVE":
                raise PositionHeldError(
                    f"position {position_id} is held by a live session ({owner}, strategy "
                    f"{strategy!r}, pid {pid} on {host}); stop it first, or let it exit"
                )
            closing = open_quantity if quantity is None else quantity
            if closing > open_quantity:
                raise PositionClosedError(
                    f"position {position_id} has {open_quantity} open; cannot exit {closing}"
                )
            # Rounded past the paisa: binary floats would show 35.29999999999973.
            exit_pnl = round(
                pnl
                if pnl is not None
                else (exit_price - float(entry_price)) * closing * Side(side).sign,
                PNL_DECIMALS,
            )
            exited_before = initial - open_quantity
            average = (float(average_exit or 0) * exited_before + exit_price * closing) / (
                exited_before + closing
            )
            remaining = open_quantity - closing
            cursor.execute(
                "UPDATE strategy_positions SET quantity = :remaining, exit_price = :average, "
                "exit_reason = :reason, exit_order_id = :order_id, "
                "realized_pnl = :realized, updated_at = :now, "
                "status = CASE WHEN :remaining = 0 THEN 'CLOSED' ELSE status END, "
                "exit_time = CASE WHEN :remaining = 0 THEN :now ELSE exit_time END "
                "WHERE id = :id",
                {
                    "id": position_id,
                    "remaining": remaining,
                    "average": average,
                    "reason": exit_reason,
                    "order_id": exit_order_id,
                    "realized": round(float(realized or 0) + exit_pnl, PNL_DECIMALS),
                    "now": now,
                },
            )
            add_event(
                cursor,
                position_id,
                session_id,
                "EXIT" if remaining == 0 else "PARTIAL_EXIT",
                now,
                {
                    "quantity": closing,
                    "remaining": remaining,
                    "price": exit_price,
                    "reason": exit_reason,
                    "order_id": exit_order_id,
                    "pnl": exit_pnl,
                },
            )
            return remaining, exit_pnl

        return self._db.run(work)

    # ----- high-frequency updates -------------------------------------------------

    def write_updates(
        self, batch: Mapping[int, Mapping[str, Any]], session_id: int | None = None
    ) -> dict[int, PositionInputError]:
        """One transaction for the whole batch; a field not given keeps its stored value.

        A batch entry whose `stop_price` differs from its `stop_from` (the stop it
        replaced) also gets a STOP_MOVED event.

        Returns the positions whose state could not be written (not JSON; the
        caller tells the strategy); their other fields are written all the same.
        """
        now = self.stamp()
        rows = []
        rejected: dict[int, PositionInputError] = {}
        for position_id, fields in batch.items():
            try:
                state = to_json(fields["state"]) if "state" in fields else None
            except PositionInputError as error:
                rejected[position_id] = error  # its prices and stop are still written
                state = None
            rows.append(
                {
                    "id": position_id,
                    "current_price": fields.get("current_price"),
                    "stop_price": fields.get("stop_price"),
                    "target_price": fields.get("target_price"),
                    "state": state,
                    "now": now,
                }
            )
        moves = [
            {
                "position_id": position_id,
                "session_id": session_id,
                "kind": "STOP_MOVED",
                "at": now,
                "details": to_json({"from": fields.get("stop_from"), "to": fields["stop_price"]}),
            }
            for position_id, fields in batch.items()
            if fields.get("stop_price") is not None
            and fields.get("stop_price") != fields.get("stop_from")
        ]

        def work(cursor: Cursor) -> None:
            if self._db.dialect.name == "postgresql" and rows:
                # One statement over arrays: executemany costs a round of Python
                # work per row (holding the GIL the strategy's thread needs).
                cursor.execute(_UPDATE_FROM_ARRAYS, _as_arrays(rows, now))
            else:
                cursor.executemany(_UPDATE_ONE, rows)
            cursor.executemany(INSERT_EVENT, moves)

        self._db.run(work)
        return rejected

    # ----- recovery ---------------------------------------------------------------

    def open_positions(
        self, strategy_name: str | None = None, *, statuses: tuple[str, ...] = OPEN_STATUSES
    ) -> list[PositionRecord]:
        unknown = set(statuses) - set(STATUSES)
        if unknown:
            raise PositionInputError(f"unknown position status {sorted(unknown)}")
        parameters: dict[str, Any] = {f"status_{i}": status for i, status in enumerate(statuses)}
        where = [f"p.status IN ({', '.join(':' + name for name in parameters)})"]
        if strategy_name is not None:
            where.append("p.strategy_name = :strategy")
            parameters["strategy"] = strategy_name
        return self._positions(" AND ".join(where), parameters)

    def resumable(self, strategy_name: str, session_id: int | None) -> list[PositionRecord]:
        """Open positions of the strategy that no live session holds."""
        return self._positions(
            "p.strategy_name = :strategy AND p.status <> 'CLOSED' AND p.session_id <> :session "
            "AND s.status <> 'ACTIVE'",
            {"strategy": strategy_name, "session": -1 if session_id is None else session_id},
        )

    def position(self, position_id: int) -> PositionRecord:
        found = self._positions("p.id = :id", {"id": position_id})
        if not found:
            raise PositionNotFoundError(f"no position has id {position_id}")
        return found[0]

    def mark_recovered(
        self, position_id: int, *, session_id: int | None, notes: str | None
    ) -> bool:
        """CRASHED (or left open) -> RECOVERED, adopted by `session_id`; False if it already was.

        Refused for a closed position, one a live session of another process
        holds, and one of another strategy (two writers on one position).
        """
        now = self.stamp()

        def work(cursor: Cursor) -> bool:
            row = cursor.execute(
                self._locking(
                    "SELECT p.status, p.session_id, p.strategy_name, s.status, s.pid, s.hostname "
                    "FROM strategy_positions p JOIN strategy_sessions s ON s.id = p.session_id "
                    "WHERE p.id = :id"
                ),
                {"id": position_id},
            ).one()
            if row is None:
                raise PositionNotFoundError(f"no position has id {position_id}")
            status, owner, strategy, owner_status, pid, host = row
            if status == "CLOSED":
                raise PositionClosedError(f"position {position_id} is closed; nothing to recover")
            if owner == session_id or (status == "RECOVERED" and session_id is None):
                return False
            if owner_status == "ACTIVE":
                raise PositionHeldError(
                    f"position {position_id} is held by a live session ({owner}, strategy "
                    f"{strategy!r}, pid {pid} on {host}); nothing to recover"
                )
            if session_id is not None:
                adopter = cursor.execute(
                    "SELECT strategy_name FROM strategy_sessions WHERE id = :id",
                    {"id": session_id},
                ).one()
                if adopter is None or adopter[0] != strategy:
                    raise PositionHeldError(
                        f"position {position_id} belongs to strategy {strategy!r}; only it "
                        "can resume it"
                    )
            cursor.execute(
                "UPDATE strategy_positions SET status = 'RECOVERED', recovered_at = :now, "
                "session_id = COALESCE(:session, session_id), updated_at = :now WHERE id = :id",
                {"id": position_id, "session": session_id, "now": now},
            )
            add_event(
                cursor,
                position_id,
                session_id,
                "RECOVERY",
                now,
                {"from_status": status, "from_session": owner, "notes": notes},
            )
            return True

        return self._db.run(work)

    # ----- internals --------------------------------------------------------------

    def stamp(self) -> Any:
        """Now, as this database stores timestamps."""
        return self._db.dialect.timestamp(self._now())

    def _locking(self, select: str) -> str:
        """`select` locking its rows until commit (SQLite's BEGIN IMMEDIATE already has)."""
        return f"{select} FOR UPDATE" if self._db.dialect.name == "postgresql" else select

    def _positions(self, where: str, parameters: dict[str, Any]) -> list[PositionRecord]:
        columns = ", ".join(f"p.{name.strip()}" for name in _POSITION_COLUMNS.split(","))
        rows = self._db.run(
            lambda cursor: cursor.execute(
                f"SELECT {columns} FROM strategy_positions p "  # noqa: S608 - fixed fragments
                f"JOIN strategy_sessions s ON s.id = p.session_id WHERE {where} ORDER BY p.id",
                parameters,
            ).all(),
            read_only=True,
        )
        dialect = self._db.dialect
        records = []
        for row in rows:
            values = list(row)
            values[10] = dialect.read_timestamp(values[10])
            values[15] = dialect.read_json(values[15])
            values[19] = dialect.read_timestamp(values[19])
            values[20] = dialect.read_timestamp(values[20])
            records.append(PositionRecord(*values))
        return records


_UPDATE_ONE = (
    "UPDATE strategy_positions SET "
    "current_price = COALESCE(:current_price, current_price), "
    "stop_price = COALESCE(:stop_price, stop_price), "
    "target_price = COALESCE(:target_price, target_price), "
    "state = COALESCE(:state, state), "
    "updated_at = :now, update_count = update_count + 1 "
    "WHERE id = :id AND status <> 'CLOSED'"
)
_UPDATE_FROM_ARRAYS = (
    "UPDATE strategy_positions AS p SET "
    "current_price = COALESCE(u.current_price, p.current_price), "
    "stop_price = COALESCE(u.stop_price, p.stop_price), "
    "target_price = COALESCE(u.target_price, p.target_price), "
    "state = COALESCE(u.state::json, p.state), "
    "updated_at = :now, update_count = p.update_count + 1 "
    "FROM unnest(:ids::integer[], :current_prices::float8[], :stop_prices::float8[], "
    ":target_prices::float8[], :states::text[]) "
    "AS u(id, current_price, stop_price, target_price, state) "
    "WHERE p.id = u.id AND p.status <> 'CLOSED'"
)


def _as_arrays(rows: list[dict[str, Any]], now: Any) -> dict[str, Any]:
    return {
        "ids": [row["id"] for row in rows],
        "current_prices": [row["current_price"] for row in rows],
        "stop_prices": [row["stop_price"] for row in rows],
        "target_prices": [row["target_price"] for row in rows],
        "states": [row["state"] for row in rows],
        "now": now,
    }
