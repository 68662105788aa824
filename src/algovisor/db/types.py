"""Column types the tables (and their migrations) share."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import DateTime, String, TypeDecorator
from sqlalchemy.engine import Dialect


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out, on SQLite and PostgreSQL alike."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def byte_order_text(length: int) -> String:
    """Text sorted by code point on every database, as Python sorts it.

    PostgreSQL otherwise sorts by the server's locale, which ignores punctuation
    (M&M, BAJAJ-AUTO): prefix searches and orderings would differ from SQLite's.
    """
    return String(length).with_variant(String(length, collation="C"), "postgresql")
