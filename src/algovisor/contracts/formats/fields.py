"""Reading one field of one row: numbers, dates, and the error that rejects the row.

Every reader raises `RowError` with a short reason ("unreadable strike") that the
parser hands to `ParseOutcome.reject`, so reasons can be counted across a file.
Readers accept both text and JSON numbers, because re-saved copies of broker
files turn "5.000000" into 5.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable
from datetime import date, timedelta
from typing import Generic, NamedTuple, TypeVar

from algovisor.contracts.symbols import MONTH_NUMBERS

Key = TypeVar("Key", bound=Hashable)
Value = TypeVar("Value")

_EPOCH = date(1970, 1, 1)
_IST_OFFSET_SECS = 5 * 3600 + 30 * 60  # IST is UTC+05:30 all year: no daylight saving.
_SECS_PER_DAY = 86_400


class RowError(Exception):
    """This row cannot be read; the rest of the file can."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason} ({detail})" if detail else reason)
        self.reason = reason
        self.detail = detail


def _shown(value: object) -> str:
    """The offending value for a rejection example, cut short so one bad row stays one line."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def read_float(value: object, reason: str) -> float:
    """A finite number from text ("22000.0") or a JSON number; else `RowError(reason)`."""
    if isinstance(value, bool):  # JSON true/false are ints to Python, never a price.
        raise RowError(reason, _shown(value))
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise RowError(reason, _shown(value)) from None
    if not math.isfinite(number):
        raise RowError(reason, _shown(value))
    return number


def read_int(value: object, reason: str) -> int:
    """A whole number from "75", "75.0", 75 or 75.0; else `RowError(reason)`."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            pass  # "75.0" from a pandas re-save: read as a float below
    number = read_float(value, reason)
    if not number.is_integer():
        raise RowError(reason, _shown(value))
    return int(number)


def from_hundredths(value: float) -> float:
    """Paise to rupees, or Angel's x100 strikes to rupees, without float noise."""
    return round(value / 100, 6)


def text_field(value: object) -> str:
    """A JSON value as stripped text: None is empty, numbers are written plainly."""
    if type(value) is str:  # the common case first: this runs for every field of every row
        return value.strip()
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


class Memo(Generic[Key, Value]):
    """A field reader that reads each distinct raw value once, for one parse.

    Tick sizes, lot sizes and strikes repeat across a file's 150,000 rows; the
    cache lives in the instance, so nothing is shared between files. A value that
    raises `RowError` is not cached and raises again.
    """

    def __init__(self, read: Callable[[Key], Value]) -> None:
        self._read = read
        self._seen: dict[Key, Value] = {}

    def __call__(self, raw: Key) -> Value:
        try:
            return self._seen[raw]
        except KeyError:
            value = self._read(raw)
            self._seen[raw] = value
            return value
        except TypeError:  # an unhashable JSON value (a list): read it, uncached, to reject it
            return self._read(raw)


# ----- dates -------------------------------------------------------------------------


def numeric_date(text: str) -> date:
    """2024-04-25 or 25-04-2024, with an optional time after a space (Dhan: `14:30`)."""
    day_part = text.strip().split(" ", 1)[0]
    if len(day_part) != 10:
        raise ValueError(text)
    if day_part[4] == "-" and day_part[7] == "-":
        return date(int(day_part[0:4]), int(day_part[5:7]), int(day_part[8:10]))
    if day_part[2] == "-" and day_part[5] == "-":
        return date(int(day_part[6:10]), int(day_part[3:5]), int(day_part[0:2]))
    raise ValueError(text)


def month_name_date(text: str) -> date:
    """25JUN2026 (Angel), 28-NOV-24 or 28-Nov-2024 (OpenAlgo)."""
    compact = text.strip().upper().replace("-", "")
    if len(compact) not in (7, 9) or compact[2:5] not in MONTH_NUMBERS:
        raise ValueError(text)
    year = int(compact[5:])
    if len(compact) == 7:
        year += 2000
    return date(year, MONTH_NUMBERS[compact[2:5]], int(compact[0:2]))


def ist_date_from_epoch_ms(milliseconds: int) -> date:
    """The IST calendar day of an instant given in epoch milliseconds (Upstox expiries)."""
    days = (milliseconds // 1000 + _IST_OFFSET_SECS) // _SECS_PER_DAY
    return _EPOCH + timedelta(days=days)


class ExpiryReader:
    """Reads expiry fields with one parse per distinct text: a file has ~100 expiries.

    One reader per parse; it holds its own cache, so nothing is shared between files.
    """

    def __init__(self, parse: Callable[[str], date]) -> None:
        self._parse = parse
        self._seen: dict[str, date] = {}

    def __call__(self, text: str) -> date:
        known = self._seen.get(text)
        if known is not None:
            return known
        try:
            parsed = self._parse(text)
        except (ValueError, KeyError, IndexError, OverflowError):
            raise RowError("unreadable expiry", _shown(text)) from None
        self._seen[text] = parsed
        return parsed


class JsonReaders(NamedTuple):
    """One JSON parse's field readers, each remembering the values it has read.

    The JSON brokers (Angel, Upstox) write lot size, tick size in paise and strike
    alike; only their expiries differ.
    """

    expiry: ExpiryReader
    lot_size: Memo[object, int]
    tick_size: Memo[object, float]
    strike: Memo[object, float]

    @classmethod
    def fresh(cls, parse_expiry: Callable[[str], date]) -> JsonReaders:
        return cls(
            ExpiryReader(parse_expiry),
            Memo(lambda raw: read_int(raw, "unreadable lot size")),
            Memo(lambda raw: from_hundredths(read_float(raw, "unreadable tick size"))),
            Memo(lambda raw: read_float(raw, "unreadable strike")),
        )
