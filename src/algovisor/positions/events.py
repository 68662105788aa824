"""The event trail, and the one write that touches a whole session: marking it crashed.

Every crash path (the SDK in-process, the runner's hook, the host's sweep)
ends here, in one transaction, and only an ACTIVE session is marked: marking
twice changes nothing. Each CRASH event keeps what was open at that moment.
"""

from __future__ import annotations

from typing import Any

from algovisor.positions.database import Cursor
from algovisor.positions.records import Crash, to_json

INSERT_EVENT = (
    "INSERT INTO position_events (position_id, session_id, kind, at, details) "
    "VALUES (:position_id, :session_id, :kind, :at, :details)"
)


def add_event(
    cursor: Cursor,
    position_id: int | None,
    session_id: int | None,
    kind: str,
    at: Any,
    details: dict[str, Any],
) -> None:
    cursor.execute(
        INSERT_EVENT,
        {
            "position_id": position_id,
            "session_id": session_id,
            "kind": kind,
            "at": at,
            "details": to_json(details),
        },
    )


def mark_session_crashed(cursor: Cursor, session_id: int, crash: Crash, now: Any) -> int | None:
    marked = cursor.execute(
        "UPDATE strategy_sessions SET status = 'CRASHED', crashed_at = :now, "
        "crash_reason = :reason, exception_type = :exception_type, traceback = :traceback "
        "WHERE id = :id AND status = 'ACTIVE'",
        {
            "id": session_id,
            "now": now,
            "reason": crash.reason,
            "exception_type": crash.exception_type,
            "traceback": crash.traceback,
        },
    ).rowcount
    if not marked:
        return None
    # What was open at the crash, kept on its CRASH event: the report must say
    # so even after the position is resumed, trailed further and closed.
    snapshots = cursor.execute(
        "SELECT id, status, side, quantity, stop_price, target_price, current_price, state "
        "FROM strategy_positions WHERE session_id = :id AND status IN ('ACTIVE', 'RECOVERED')",
        {"id": session_id},
    ).all()
    cursor.execute(
        "UPDATE strategy_positions SET status = 'CRASHED', crashed_at = :now, "
        "crash_reason = :reason WHERE session_id = :id AND status IN ('ACTIVE', 'RECOVERED')",
        {"id": session_id, "now": now, "reason": crash.reason},
    )
    cursor.execute(
        "UPDATE order_intents SET status = 'UNCONFIRMED' "
        "WHERE session_id = :id AND status = 'PENDING'",
        {"id": session_id},
    )
    cursor.executemany(
        INSERT_EVENT,
        [
            {
                "position_id": position_id,
                "session_id": session_id,
                "kind": "CRASH",
                "at": now,
                "details": to_json(
                    {
                        "reason": crash.reason,
                        "exception_type": crash.exception_type,
                        "status_before": status,
                        "side": side,
                        "quantity": quantity,
                        "stop_price": stop,
                        "target_price": target,
                        "current_price": current,
                        "state": cursor.dialect.read_json(state),
                    }
                ),
            }
            for position_id, status, side, quantity, stop, target, current, state in snapshots
        ],
    )
    return len(snapshots)
