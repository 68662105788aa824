"""Sessions: one strategy process's use of the SDK, from its start to a clean end or a crash.

Only an ACTIVE session is ever marked crashed (`events.mark_session_crashed`), so
the SDK, the runner's hook and the host's sweep may all try: the first one wins.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from algovisor.positions.database import Connection, Cursor
from algovisor.positions.events import mark_session_crashed
from algovisor.positions.records import Crash


class Sessions:
    def __init__(self, connection: Connection, now: Callable[[], datetime]) -> None:
        self._db = connection
        self._now = now

    def open(
        self,
        *,
        strategy_id: int | None,
        strategy_name: str,
        run_id: str | None,
        broker: str,
        label: str | None,
        hostname: str,
        pid: int,
    ) -> int:
        values = {
            "strategy_id": strategy_id,
            "strategy_name": strategy_name,
            "run_id": run_id,
            "broker": broker,
            "label": label,
            "hostname": hostname,
            "pid": pid,
            "now": self._stamp(),
        }

        def work(cursor: Cursor) -> int:
            cursor.execute(
                "INSERT INTO strategy_sessions (strategy_id, strategy_name, run_id, broker, "
                "label, status, hostname, pid, started_at) VALUES (:strategy_id, "
                ":strategy_name, :run_id, :broker, :label, 'ACTIVE', :hostname, :pid, :now) "
                "RETURNING id",
                values,
            )
            created = cursor.one()
            assert created is not None  # noqa: S101 - RETURNING always gives the row
            return int(created[0])

        return self._db.run(work)

    def end(self, session_id: int) -> bool:
        """Mark a clean end; False when the session was already ended or crashed."""
        now = self._stamp()
        return self._db.run(
            lambda cursor: (
                cursor.execute(
                    "UPDATE strategy_sessions SET status = 'ENDED', ended_at = :now "
                    "WHERE id = :id AND status = 'ACTIVE'",
                    {"id": session_id, "now": now},
                ).rowcount
                > 0
            )
        )

    def status(self, session_id: int) -> str | None:
        row = self._db.run(
            lambda cursor: cursor.execute(
                "SELECT status FROM strategy_sessions WHERE id = :id", {"id": session_id}
            ).one(),
            read_only=True,
        )
        return None if row is None else str(row[0])

    def crash(self, session_id: int, crash: Crash) -> int | None:
        """Mark the session and its open positions CRASHED; None if it was not ACTIVE."""
        now = self._stamp()
        return self._db.run(lambda cursor: mark_session_crashed(cursor, session_id, crash, now))

    def sweep_crashed(
        self, hostname: str, is_alive: Callable[[int, datetime], bool]
    ) -> list[tuple[int, int]]:
        """Mark every ACTIVE session whose process is gone; returns (session, positions) pairs.

        A session of a run is gone once its run has ended (or its record was
        deleted with its strategy); a standalone session on `hostname` once
        `is_alive(pid, session_started_at)` says so. Sessions of other hosts'
        standalone processes are theirs to judge.
        """
        candidates = self._db.run(
            lambda cursor: cursor.execute(
                "SELECT s.id, s.run_id, s.hostname, s.pid, s.started_at, r.status, "
                "r.exception_message FROM strategy_sessions s "
                "LEFT JOIN runs r ON r.id = s.run_id WHERE s.status = 'ACTIVE'"
            ).all(),
            read_only=True,  # every tick: SQLite's write lock only when there is a crash
        )
        read_timestamp = self._db.dialect.read_timestamp
        crashes = []
        for session_id, run_id, host, pid, started, run_status, ended in candidates:
            if run_id is not None and run_status is None:
                reason = "its run's record is gone (the strategy was deleted)"
            elif run_id is not None and run_status == "ended":
                reason = f"the run ended without ending its session: {ended or 'no record'}"
            elif (
                run_id is None
                and host == hostname
                and not is_alive(pid, read_timestamp(started) or datetime.now(UTC))
            ):
                reason = f"process {pid} ended without ending its session"
            else:
                continue
            crashes.append((session_id, Crash(reason)))
        if not crashes:
            return []
        now = self._stamp()

        def work(cursor: Cursor) -> list[tuple[int, int]]:
            marked = []
            for session_id, crash in crashes:
                # None: it ended meanwhile.
                count = mark_session_crashed(cursor, session_id, crash, now)
                if count is not None:
                    marked.append((session_id, count))
            return marked

        return self._db.run(work)

    def _stamp(self) -> Any:
        return self._db.dialect.timestamp(self._now())
