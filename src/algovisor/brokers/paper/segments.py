"""The paper broker's exchange groups and its day: when a day starts, when MIS squares off.

Pure; times are IST (order ids carry the IST date, and a day is an IST calendar day).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, time, timedelta, timezone

IST = timezone(timedelta(hours=5, minutes=30), "IST")

EQUITY_EXCHANGES = frozenset({"NSE", "BSE"})
DERIVATIVE_EXCHANGES = frozenset({"NFO", "BFO", "MCX", "CDS", "BCD"})  # lot sizes apply
INDEX_EXCHANGES = frozenset({"NSE_INDEX", "BSE_INDEX"})
OPTION_TYPES = frozenset({"CE", "PE"})

# The MIS square-off's segments: each has its own time (settings paper_squareoff_*).
SQUAREOFF_SEGMENTS = {
    "equity": ("NSE", "BSE", "NFO", "BFO"),
    "currency": ("CDS", "BCD"),
    "commodity": ("MCX",),
}
SQUAREOFF_LOOKBACK_DAYS = 8  # a square-off is looked for this far back (a long holiday)


def squareoff_times(equity: str, currency: str, commodity: str) -> dict[str, time]:
    """Each exchange's square-off time of day (IST) from the segments' `HH:MM`."""
    given = {"equity": equity, "currency": currency, "commodity": commodity}
    return {
        exchange: time.fromisoformat(given[segment])
        for segment, exchanges in SQUAREOFF_SEGMENTS.items()
        for exchange in exchanges
    }


def day_start(day: date) -> datetime:
    """The instant an IST day begins."""
    return datetime.combine(day, time(), IST)


def last_squareoff(
    at_time: time, now: datetime, is_trading_day: Callable[[date], bool]
) -> datetime | None:
    """The latest square-off instant (`at_time` on a trading day) at or before `now`."""
    today = now.astimezone(IST).date()
    for back in range(SQUAREOFF_LOOKBACK_DAYS):
        day = today - timedelta(days=back)
        instant = datetime.combine(day, at_time, IST)
        if instant <= now and is_trading_day(day):
            return instant
    return None
