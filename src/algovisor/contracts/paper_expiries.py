"""Expiry dates for the paper master contract, under any trading calendar.

A contract's nominal expiry (the month's last Tuesday, the 19th, a Friday) moves to
the trading day before it when the exchange is shut, and a listing holds only
contracts that have not yet expired: an expiry on the trading day itself still counts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date, timedelta

TradingDayTest = Callable[[date], bool]
ExpiryRule = Callable[[int, int], date]  # (year, month) -> that month's expiry, settled

EVERY_MONTH = tuple(range(1, 13))
# A calendar with no trading day in this many days is broken, not a long holiday.
LONGEST_HOLIDAY_DAYS = 30


def is_weekday(day: date) -> bool:
    """The default calendar: every weekday trades."""
    return day.weekday() < 5


def month_end(year: int, month: int) -> date:
    return date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)


class ExpiryCalendar:
    """Expiry rules and listings under one exchange calendar."""

    def __init__(self, is_trading_day: TradingDayTest) -> None:
        self._is_trading_day = is_trading_day

    def on_or_before(self, day: date) -> date:
        """`day` if it trades, else the trading day before it: where a holiday expiry goes."""
        for days_back in range(LONGEST_HOLIDAY_DAYS):
            candidate = day - timedelta(days=days_back)
            if self._is_trading_day(candidate):
                return candidate
        raise ValueError(
            f"the calendar has no trading day in the {LONGEST_HOLIDAY_DAYS} days to {day}"
        )

    def trading_days_before(self, day: date, count: int) -> date:
        for _ in range(count):
            day = self.on_or_before(day - timedelta(days=1))
        return day

    def last_weekday_rule(self, weekday: int) -> ExpiryRule:
        """The month's last `weekday` (Monday is 0), as NSE and BSE monthlies expire."""

        def rule(year: int, month: int) -> date:
            last_day = month_end(year, month)
            return self.on_or_before(last_day - timedelta(days=(last_day.weekday() - weekday) % 7))

        return rule

    def day_of_month_rule(self, day_of_month: int | None) -> ExpiryRule:
        """A fixed day of the month (None: its last business day), as MCX contracts expire."""

        def rule(year: int, month: int) -> date:
            last_day = month_end(year, month)
            if day_of_month is None or day_of_month >= last_day.day:
                return self.on_or_before(last_day)
            return self.on_or_before(date(year, month, day_of_month))

        return rule

    def before_month_end_rule(self, trading_days: int) -> ExpiryRule:
        """`trading_days` before the month's last business day, as currency futures expire."""

        def rule(year: int, month: int) -> date:
            last_business_day = self.on_or_before(month_end(year, month))
            return self.trading_days_before(last_business_day, trading_days)

        return rule

    def monthly(
        self,
        trading_day: date,
        rule: ExpiryRule,
        count: int,
        months: tuple[int, ...] = EVERY_MONTH,
    ) -> list[date]:
        """The next `count` unexpired monthly expiries, in the contract months given."""
        expiries: list[date] = []
        year, month = trading_day.year, trading_day.month
        while len(expiries) < count:
            if month in months:
                expiry = rule(year, month)
                if expiry >= trading_day:
                    expiries.append(expiry)
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        return expiries

    def weekly(
        self, trading_day: date, weekday: int, count: int, monthly: Iterable[date]
    ) -> list[date]:
        """The next `count` weekly expiries, skipping weeks that hold a monthly expiry.

        The exchanges list no weekly in a monthly's week: the monthly serves it.
        """
        monthly_weeks = {expiry.isocalendar()[:2] for expiry in monthly}
        nominal = trading_day + timedelta(days=(weekday - trading_day.weekday()) % 7)
        expiries: list[date] = []
        while len(expiries) < count:
            expiry = self.on_or_before(nominal)
            week = expiry.isocalendar()[:2]
            if expiry >= trading_day and week not in monthly_weeks and expiry not in expiries:
                expiries.append(expiry)
            nominal += timedelta(days=7)
        return expiries
