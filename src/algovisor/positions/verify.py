"""Checking stored positions against the broker: ask with a deadline, classify, record.

A broker that fails or does not answer in time gives "unknown" for every
position, never "flat": a trader must not read silence as no exposure.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from typing import Any

from algovisor.brokers.protocol import PositionBook
from algovisor.positions.database import Cursor
from algovisor.positions.events import INSERT_EVENT
from algovisor.positions.reconcile import (
    BrokerPosition,
    Finding,
    HeldPosition,
    Key,
    Verdict,
    reconcile,
)
from algovisor.positions.records import to_json
from algovisor.positions.store import PositionStore

DEFAULT_BROKER_TIMEOUT_SECS = 5.0


def ask_broker(book: PositionBook, timeout_secs: float) -> tuple[list[BrokerPosition] | None, str]:
    """The broker's positions, or None with the reason it could not be asked."""
    answer: list[Sequence[BrokerPosition] | BaseException] = []

    def ask() -> None:
        try:
            answer.append(book.positions())
        except Exception as error:  # noqa: BLE001 - any failure means "unknown"
            answer.append(error)

    thread = threading.Thread(target=ask, name="broker-positions", daemon=True)
    thread.start()
    thread.join(timeout_secs)
    if not answer:
        return None, f"the broker did not answer within {timeout_secs:g} s"
    result = answer[0]
    if isinstance(result, BaseException):
        return None, f"the broker query failed: {result}"
    return list(result), ""


def check_against_broker(
    store: PositionStore,
    broker: str,
    book: PositionBook | None,
    timeout_secs: float = DEFAULT_BROKER_TIMEOUT_SECS,
) -> tuple[list[Finding], str]:
    """Verdicts for every open position on `broker`'s account, netted across strategies.

    Stored as events (and on each position); returns them with the reason the
    broker could not be asked ("" when it answered). No `book` (no adapter for
    the broker) makes every verdict unknown, with that reason.
    """
    held = [
        HeldPosition(
            record.id,
            record.strategy,
            Key(record.symbol, record.exchange, record.product),
            record.signed_quantity,
        )
        for record in store.open_positions()
        if record.broker == broker
    ]
    if book is None:
        actual, problem = None, f"no broker adapter for {broker!r} yet"
    else:
        actual, problem = ask_broker(book, timeout_secs)
    findings = reconcile(held, actual)
    record_verdicts(store, findings, problem)
    return findings, problem


def record_verdicts(store: PositionStore, findings: Iterable[Finding], problem: str = "") -> None:
    """Store each verdict on its positions and as an event (orphans: an event alone).

    `problem` says why the broker could not be asked; an unknown verdict
    leaves a position's last known one in place.
    """
    now = store.stamp()
    updates: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    for finding in findings:
        details = {
            "verdict": finding.verdict.value,
            "symbol": finding.key.symbol,
            "exchange": finding.key.exchange,
            "product": finding.key.product,
            "expected_quantity": finding.expected_quantity,
            "broker_quantity": finding.broker_quantity,
            "strategies": list(finding.strategies),
            "detail": finding.detail,
        }
        if problem:
            details["problem"] = problem
        for position_id in finding.position_ids or (None,):
            events.append(
                {
                    "position_id": position_id,
                    "session_id": None,
                    "kind": "RECONCILE",
                    "at": now,
                    "details": to_json(details),
                }
            )
            if position_id is not None and finding.verdict is not Verdict.UNKNOWN:
                updates.append({"id": position_id, "verdict": finding.verdict.value, "now": now})

    def work(cursor: Cursor) -> None:
        cursor.executemany(
            "UPDATE strategy_positions SET broker_verdict = :verdict, "
            "broker_checked_at = :now WHERE id = :id",
            updates,
        )
        cursor.executemany(INSERT_EVENT, events)

    store.connection.run(work)
