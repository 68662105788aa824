"""`PositionPersistenceManager`: what a strategy calls to keep its positions across any crash.

    entry, exit, crash, order intent   written and committed before the call returns
    queue_position_update()            a dict write here; the writer thread commits
                                       every flush_interval_ms, one transaction per batch
    normal exit, SIGTERM, atexit       pending updates flushed, the session ended
    unhandled exception                the session and its open positions CRASHED,
                                       with the traceback (the runner, or sys.excepthook)
    kill -9, OOM                       the host marks them when the run ends

Under the host the strategy, run, broker and database come from the
environment the runner is given; standalone, the database is
ALGOVISOR_DATABASE_URL, or algovisor.db in ALGOVISOR_DATA_DIR (default
./algovisor-data).
"""

from __future__ import annotations

import atexit
import math
import os
import socket
import sys
import threading
import traceback as traceback_module
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from algovisor.brokers.protocol import PositionBook
from algovisor.positions.database import (
    Connection,
    Dialect,
    default_database_url,
    ensure_schema,
)
from algovisor.positions.liveness import process_alive
from algovisor.positions.records import (
    Crash,
    PositionClosedError,
    PositionNotFoundError,
    PositionRecord,
    check_state,
    storable,
)
from algovisor.positions.store import PositionStore
from algovisor.positions.updates import BatchWriter, Fields, PendingUpdates
from algovisor.positions.validation import (
    PositionInputError,
    check_entry,
    check_flush_interval,
    check_id,
    check_optional_price,
    check_price,
    check_quantity,
    check_text,
)
from algovisor.positions.verify import DEFAULT_BROKER_TIMEOUT_SECS, check_against_broker
from algovisor.sdk import crashes


class PositionPersistenceManager:
    """Persist a strategy's positions; see the module docstring for what is durable when."""

    def __init__(
        self,
        strategy_name: str | None = None,
        broker: str | None = None,
        flush_interval_ms: float = 100,
        *,
        database_url: str | None = None,
        data_dir: str | None = None,
        stall_limit_secs: float = 30.0,
    ) -> None:
        environment = os.environ
        check_flush_interval(flush_interval_ms)
        self.strategy_name = (
            strategy_name
            or environment.get("ALGOVISOR_STRATEGY_NAME")
            or Path(sys.argv[0] or "strategy").stem
        )
        self.broker = broker or environment.get("ALGOVISOR_BROKER") or "paper"
        self.run_id = environment.get("ALGOVISOR_RUN_ID")
        strategy_id = environment.get("ALGOVISOR_STRATEGY_ID")
        self._strategy_id = int(strategy_id) if strategy_id and strategy_id.isdigit() else None
        url = (
            database_url
            or environment.get("ALGOVISOR_DATABASE_URL")
            or default_database_url(
                data_dir or environment.get("ALGOVISOR_DATA_DIR") or "./algovisor-data"
            )
        )
        dialect = Dialect.from_url(url)
        ensure_schema(url, dialect)
        self._store = PositionStore(Connection(dialect), lambda: datetime.now(UTC))
        self.flush_interval_ms = flush_interval_ms
        self._pending = PendingUpdates()
        self._writer = BatchWriter(
            self._pending, self._write_batch, flush_interval_ms / 1000, stall_limit_secs
        )
        self._session_id: int | None = None
        self._held: dict[int, _Held] = {}  # open positions of this session
        self._rejected: dict[int, PositionInputError] = {}
        self._closed = False
        self._session_lock = threading.Lock()
        self._writer.start()
        crashes.register(self)
        atexit.register(self._at_exit)
        crashes.install_process_hooks()

    # ----- sessions ---------------------------------------------------------------

    @property
    def session_id(self) -> int | None:
        return self._session_id

    def start_session(self, label: str | None = None) -> int:
        """Open this process's session (done for you by the first write); returns its id."""
        self._usable()
        with self._session_lock:  # two threads' first writes must share one session
            if self._session_id is None:
                self._session_id = self._store.sessions.open(
                    strategy_id=self._strategy_id,
                    strategy_name=self.strategy_name,
                    run_id=self.run_id,
                    broker=self.broker,
                    label=check_text(label, "label", 128),
                    hostname=socket.gethostname(),
                    pid=os.getpid(),
                )
            return self._session_id

    def end_session(self) -> None:
        """Flush pending updates and end the session cleanly; open positions stay open."""
        self._writer.flush()
        if self._session_id is not None:
            self._store.sessions.end(self._session_id)
            self._session_id = None
            self._held.clear()

    def __enter__(self) -> PositionPersistenceManager:
        self.start_session()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if error is not None and crashes.is_crash(error):
            try:
                self.handle_crash(
                    error, traceback="".join(traceback_module.format_exception(kind, error, trace))
                )
            except Exception as failure:  # noqa: BLE001 - the strategy's own error goes on
                # The session stays ACTIVE: the host marks it when the run ends.
                print(f"algovisor: could not mark the crash: {failure}", file=sys.stderr)
        self.close()

    def close(self) -> None:
        """Flush, end the session (unless it crashed), stop the writer and let go."""
        if self._closed:
            return
        try:
            self._writer.stop()
            if self._session_id is not None:
                self._store.sessions.end(self._session_id)
                self._session_id = None
        finally:
            self._closed = True
            self._store.close()
            crashes.unregister(self)
            atexit.unregister(self._at_exit)

    # ----- entries and exits (durable before they return) -------------------------

    def save_position_entry(
        self,
        symbol: str,
        exchange: str,
        side: str,
        quantity: int,
        entry_price: float,
        *,
        product: str = "MIS",
        stop_price: float | None = None,
        target_price: float | None = None,
        leg: str | None = None,
        state: Mapping[str, Any] | None = None,
        entry_order_id: str | None = None,
        client_order_id: str | None = None,
    ) -> int:
        """Record an opened position and its ENTRY event in one commit; returns its id."""
        entry = check_entry(
            symbol,
            exchange,
            side,
            quantity,
            entry_price,
            product=product,
            stop_price=stop_price,
            target_price=target_price,
        )
        if state is not None:
            if not isinstance(state, Mapping):
                raise PositionInputError(f"state must be a dict, not {type(state).__name__}")
            check_state(state)  # before the session is opened: a refused entry writes nothing
        order_id = check_text(entry_order_id, "entry_order_id", 64)
        client_id = check_text(client_order_id, "client_order_id", 64)
        leg_name = check_text(leg, "leg", 64)
        session_id = self.start_session()  # after every check: a refused entry writes nothing
        position_id = self._store.insert_entry(
            session_id,
            entry,
            leg=leg_name,
            state=state,
            entry_order_id=order_id,
            client_order_id=client_id,
        )
        self._held[position_id] = _Held(entry.stop_price, dict(state or {}))
        return position_id

    def save_position_exit(
        self,
        position_id: int,
        exit_price: float,
        exit_reason: str,
        *,
        quantity: int | None = None,
        exit_order_id: str | None = None,
        pnl: float | None = None,
    ) -> int:
        """Record an exit (all, or `quantity` of it) in one commit; returns what stays open."""
        self._usable()
        position_id = check_id(position_id)
        price = check_price(exit_price, "exit price")
        closing = None if quantity is None else check_quantity(quantity)
        if pnl is not None and (
            isinstance(pnl, bool) or not isinstance(pnl, int | float) or not math.isfinite(pnl)
        ):
            raise PositionInputError(f"pnl must be a finite number, not {pnl!r}")
        reason = str(exit_reason or "").strip()
        if not reason:
            raise PositionInputError("exit_reason must say why the position was exited")
        self._writer.flush()  # the exit lands after every update queued before it
        remaining, _ = self._store.record_exit(
            position_id,
            quantity=closing,
            exit_price=price,
            exit_reason=reason[:128],
            exit_order_id=check_text(exit_order_id, "exit_order_id", 64),
            pnl=pnl,
            # 0 is no session's id: without one of its own this manager holds nothing
            # (None would be the operator's exit).
            session_id=self._session_id or 0,
        )
        if remaining == 0:
            self._held.pop(position_id, None)
        return remaining

    # ----- high-frequency updates ------------------------------------------------

    def queue_position_update(
        self,
        position_id: int,
        *,
        current_price: float | None = None,
        stop_price: float | None = None,
        target_price: float | None = None,
        state: Mapping[str, Any] | None = None,
        force_immediate: bool = False,
    ) -> None:
        """Queue new values for a position; `force_immediate` commits before returning."""
        if self._rejected or self._closed:
            self._usable()
        self._writer.check()
        held = self._held.get(position_id)
        if held is None:
            raise self._not_held(position_id)
        fields: Fields = {}
        if current_price is not None:
            fields["current_price"] = check_price(current_price, "current price")
        if stop_price is not None:
            stop = check_price(stop_price, "stop price")
            if stop != held.stop_price:
                fields["stop_price"] = stop
                fields["stop_from"] = held.stop_price
                held.stop_price = stop
        if target_price is not None:
            fields["target_price"] = check_price(target_price, "target price")
        if state is not None:
            if not isinstance(state, Mapping):
                raise PositionInputError(f"state must be a dict, not {type(state).__name__}")
            # The whole merged state is written: a key set earlier is never lost.
            held.state = fields["state"] = {**held.state, **state}
        if fields:
            # int(): a numpy id finds its position, but sqlite3 would store it as a blob.
            self._pending.put(int(position_id), fields)
        if force_immediate:
            self._writer.flush()
            if self._rejected:
                self._usable()  # "committed before returning" did not happen: say so now

    def flush(self) -> None:
        """Commit every queued update now; raises if the database cannot be written."""
        self._writer.flush()

    # ----- crashes and recovery -------------------------------------------------

    def handle_crash(
        self, error: BaseException | None, reason: str | None = None, traceback: str | None = None
    ) -> int:
        """Mark this session and its open positions CRASHED; returns how many were marked.

        The manager then holds nothing: a later write opens a new session, and the
        crashed positions are resumed from it with `recover()`.
        """
        session_id = self._session_id
        if session_id is None:
            return 0
        try:
            self._writer.flush()
        except Exception as flush_error:  # noqa: BLE001 - still mark the crash
            print(
                f"algovisor: position updates not written before the crash mark: {flush_error}",
                file=sys.stderr,
            )
        # Let go first: should the mark fail, close() must not end this session
        # cleanly; it stays ACTIVE, and the host marks it when the run ends.
        self._session_id = None
        self._held.clear()
        description = reason or (
            f"{type(error).__name__}: {error}" if error is not None else "crash reported"
        )
        if traceback is None and error is not None and error.__traceback__ is not None:
            traceback = "".join(traceback_module.format_exception(error))
        marked = self._store.sessions.crash(
            session_id,
            Crash(
                description[:2000],
                type(error).__name__ if error is not None else None,
                traceback,
            ),
        )
        return marked or 0

    def get_crashed_positions(self, strategy: str | None = None) -> list[PositionRecord]:
        """Positions marked CRASHED and still open, of one strategy or of all."""
        self._mark_dead_sessions()
        return self._store.open_positions(strategy, statuses=("CRASHED",))

    def recover(
        self,
        broker: PositionBook | None = None,
        *,
        timeout_secs: float = DEFAULT_BROKER_TIMEOUT_SECS,
    ) -> list[PositionRecord]:
        """This strategy's open positions no live session holds (crashed or left open).

        With `broker`, each is checked against the account (verdict on the record:
        matched, closed_at_broker, quantity_mismatch, or unknown when the broker
        could not be asked). Call `mark_position_recovered` for each you resume.
        """
        self._usable()
        self._mark_dead_sessions()
        positions = self._store.resumable(self.strategy_name, self._session_id)
        if broker is None or not positions:
            return positions
        findings, problem = check_against_broker(self._store, self.broker, broker, timeout_secs)
        verdicts = {
            position_id: finding for finding in findings for position_id in finding.position_ids
        }
        return [
            replace(
                record,
                broker_verdict=verdicts[record.id].verdict.value,
                verdict_detail=problem or verdicts[record.id].detail,
            )
            if record.id in verdicts
            else record
            for record in positions
        ]

    def mark_position_recovered(self, position_id: int, notes: str | None = None) -> None:
        """Resume a position: it becomes RECOVERED and this session's, so updates apply again."""
        position_id = check_id(position_id)
        text = check_text(notes, "notes", 2000)
        session_id = self.start_session()
        self._store.mark_recovered(position_id, session_id=session_id, notes=text)
        record = self._store.position(position_id)
        self._held[position_id] = _Held(record.stop_price, record.state)

    # ----- order intents --------------------------------------------------------

    def record_order_intent(
        self,
        symbol: str,
        exchange: str,
        action: str,
        quantity: int,
        *,
        price: float | None = None,
        position_id: int | None = None,
        purpose: str | None = None,
        client_order_id: str | None = None,
    ) -> str:
        """Make an order durable before it is sent; returns its client order id."""
        entry = check_entry(symbol, exchange, action, quantity, 1.0)
        word = str(action).strip().upper()
        if word not in ("BUY", "SELL"):
            raise PositionInputError(f"action must be BUY or SELL, not {action!r}")
        limit = check_optional_price(price, "price")
        if position_id is not None:
            position_id = check_id(position_id)
            if position_id not in self._held:
                raise self._not_held(position_id)
        identifier = check_text(client_order_id, "client_order_id", 64) or os.urandom(8).hex()
        reason = check_text(purpose, "purpose", 64)
        self._store.intents.record(
            self.start_session(),
            client_order_id=identifier,
            symbol=entry.symbol,
            exchange=entry.exchange,
            action=word,
            quantity=entry.quantity,
            price=limit,
            position_id=position_id,
            purpose=reason,
        )
        return identifier

    def confirm_order(
        self,
        client_order_id: str,
        broker_order_id: str | None = None,
        *,
        accepted: bool = True,
        message: str | None = None,
    ) -> None:
        """Record the broker's answer to an order whose intent was recorded."""
        self._usable()
        self._store.intents.confirm(
            client_order_id,
            broker_order_id=check_text(broker_order_id, "broker_order_id", 64),
            accepted=accepted,
            message=message,
        )

    # ----- internals --------------------------------------------------------------

    def _write_batch(self, batch: dict[int, Fields]) -> None:
        rejected = self._store.write_updates(batch, self._session_id)
        if rejected:
            for position_id in rejected:
                # The state is merged into every later update: keep only what can be
                # stored, or the position's updates would all be refused from now on.
                held = self._held.get(position_id)
                if held is not None:
                    held.state = storable(held.state)
            self._rejected.update(rejected)

    def _mark_dead_sessions(self) -> None:
        """Sessions of processes that died with no host watching (standalone, kill -9)."""
        self._store.sessions.sweep_crashed(socket.gethostname(), process_alive)

    def _usable(self) -> None:
        if self._closed:
            raise PositionClosedError("this PositionPersistenceManager was closed")
        if self._rejected:
            position_id, error = self._rejected.popitem()
            raise PositionInputError(
                f"an update of position {position_id} was not written: {error.message}"
            )
        self._writer.check()

    def _not_held(self, position_id: object) -> Exception:
        if isinstance(position_id, bool) or not isinstance(position_id, int):
            return PositionInputError(f"position id must be an integer, not {position_id!r}")
        return PositionNotFoundError(
            f"position {position_id} is not open in this session; if it crashed, resume it "
            "with mark_position_recovered() first"
        )

    def _at_exit(self) -> None:
        try:
            self.close()
        except Exception as error:  # noqa: BLE001 - the process is ending; say it
            print(f"algovisor: could not close the position session: {error}", file=sys.stderr)


@dataclass(slots=True)
class _Held:
    """What the manager remembers of an open position: its stop and its merged state."""

    stop_price: float | None
    state: dict[str, Any]
