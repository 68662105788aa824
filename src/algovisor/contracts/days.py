"""Which trading day a contract is for, and when the next one is due.

Brokers publish the day's master contract before the open; a contract
downloaded after the cut-off (08:00 IST) on a trading day is that day's, and
it stays the current one through the evening, weekends and holidays until the
next trading day's cut-off. Special sessions (Muhurat) count as trading days.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from algovisor.schedule.calendar import DayKind, ExchangeCalendar

CUTOFF = time(8, 0)
# Far enough back to cross any run of holidays and weekends.
MAX_DAYS_BACK = 15


def opens_for_trading(calendar: ExchangeCalendar, day: date) -> bool:
    return calendar.day(day).kind in (DayKind.TRADING, DayKind.ASSUMED, DayKind.SPECIAL)


def contract_day(now: datetime, calendar: ExchangeCalendar, cutoff: time = CUTOFF) -> date:
    """The trading day whose contract is current at `now`."""
    local = now.astimezone(calendar.tz)
    day = local.date()
    if local.time() < cutoff:
        day -= timedelta(days=1)
    for _ in range(MAX_DAYS_BACK):
        if opens_for_trading(calendar, day):
            return day
        day -= timedelta(days=1)
    return day
