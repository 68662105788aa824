"""Whether a broker's contract is ready for the trading day at a given instant, and why not.

Pure: the reconciler asks it every tick, `explain` and the API show its answer.
Readiness is recomputed from the loaded trading day rather than trusted from a
stored flag, because crossing the next day's cut-off makes a contract stale
without anyone writing anything.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from algovisor.contracts.days import contract_day
from algovisor.contracts.store import refreshed_by_host
from algovisor.db.models import MasterContractStatus
from algovisor.schedule.calendar import CalendarBook, ExchangeCalendar
from algovisor.schedule.windows import format_local

# Brokers publish one contract a day, on the NSE's trading days.
CONTRACT_CALENDAR = "NSE"


@dataclass(frozen=True, slots=True)
class Readiness:
    ready: bool
    reason: str  # why a strategy waits; "" when ready
    trading_day: date  # the trading day a contract must be for, now


def readiness(
    broker: str, row: MasterContractStatus | None, now: datetime, calendar: ExchangeCalendar
) -> Readiness:
    day = contract_day(now, calendar)
    if row is not None and row.generation and row.trading_day == day:
        return Readiness(True, "", day)
    reason = _why(row, day, calendar)
    if row is not None and row.source_kind == "file" and row.status != "downloading":
        reason += (
            f"; load today's file with `algovisor contracts download --broker {broker} "
            f"--file FILE --format {row.source_format}`"
        )
    elif row is None and broker != "paper":
        reason += f"; run `algovisor contracts download --broker {broker}`"
    return Readiness(False, f"waiting for the {broker} master contract: {reason}", day)


def _why(row: MasterContractStatus | None, day: date, calendar: ExchangeCalendar) -> str:
    if row is None or (row.status == "pending" and not row.generation):
        return "not downloaded yet"
    if row.status == "downloading":
        progress = ""
        if row.attempt_step == "download" and row.progress_total_bytes:
            progress = f" {row.progress_bytes / row.progress_total_bytes:.0%}"
        return f"{row.attempt_step or 'download'} in progress{progress} (for {day})"
    if row.status == "error":
        retry = f"; retrying at {format_local(row.retry_at, calendar)}" if row.retry_at else ""
        return f"the last attempt failed: {row.message}{retry}"
    if row.trading_day is not None:
        return f"the loaded contract is for {row.trading_day}, not {day}; a refresh is due"
    return row.message or row.status


class ReadinessBoard:
    """Every broker's readiness at one instant, from one read of the status table."""

    def __init__(
        self, rows: dict[str, MasterContractStatus], now: datetime, calendar: ExchangeCalendar
    ) -> None:
        self._rows = rows
        self._now = now
        self._calendar = calendar
        self._answers: dict[str, Readiness] = {}

    def row(self, broker: str) -> MasterContractStatus | None:
        return self._rows.get(broker)

    def __call__(self, broker: str) -> Readiness:
        answer = self._answers.get(broker)
        if answer is None:
            answer = readiness(broker, self._rows.get(broker), self._now, self._calendar)
            self._answers[broker] = answer
        return answer


def read_board(session: Session, now: datetime, calendars: CalendarBook) -> ReadinessBoard:
    rows = {row.broker: row for row in session.scalars(select(MasterContractStatus))}
    return ReadinessBoard(rows, now, calendars[CONTRACT_CALENDAR])


def projected_board(
    session: Session, at: datetime, now: datetime, calendars: CalendarBook
) -> Callable[[str], Readiness]:
    """Readiness at `at` as far as it can be known `now`, for `explain`.

    On the current trading day it is what it is now. On another day, a contract
    the host refreshes by itself (paper, a URL) is taken to be loaded by then; one
    read from a file is not, since only the trader can load the next file.
    """
    calendar = calendars[CONTRACT_CALENDAR]
    current = read_board(session, now, calendars)
    if contract_day(at, calendar) == contract_day(now, calendar):
        return current
    later = read_board(session, at, calendars)

    def answer(broker: str) -> Readiness:
        if refreshed_by_host(broker, later.row(broker)):
            return Readiness(True, "", contract_day(at, calendar))
        return later(broker)

    return answer
