"""OpenAlgo's symbol format, as pure functions.

equity     SBIN, M&M                       (the exchange's own symbol)
future     BANKNIFTY24APR24FUT             name + DDMMMYY + FUT
option     NIFTY28NOV2424000CE             name + DDMMMYY + strike + CE/PE
           VEDL25APR24292.5CE              (a strike keeps its decimals, no trailing zeros)
index      NIFTY, BANKNIFTY, SENSEX        under NSE_INDEX / BSE_INDEX
"""

from __future__ import annotations

import re
from datetime import date

MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
MONTH_NUMBERS = {name: number for number, name in enumerate(MONTHS, start=1)}


def expiry_code(expiry: date) -> str:
    """28NOV24: day, month, two-digit year."""
    return f"{expiry.day:02d}{MONTHS[expiry.month - 1]}{expiry.year % 100:02d}"


def format_strike(strike: float) -> str:
    """24000 for 24000.0, 292.5 for 292.5, 83.0025 for 83.0025: no float noise, no zeros."""
    text = f"{strike:.4f}".rstrip("0").rstrip(".")
    return text or "0"


def future_symbol(name: str, expiry: date) -> str:
    return f"{name}{expiry_code(expiry)}FUT"


def option_symbol(name: str, expiry: date, strike: float, option_type: str) -> str:
    if option_type not in ("CE", "PE"):
        raise ValueError(f"option type must be CE or PE, not {option_type!r}")
    return f"{name}{expiry_code(expiry)}{format_strike(strike)}{option_type}"


def parse_expiry_code(text: str) -> date:
    """The inverse of `expiry_code`: 28NOV24 -> 2024-11-28. Raises ValueError."""
    if len(text) != 7 or text[2:5] not in MONTH_NUMBERS:
        raise ValueError(f"{text!r} is not an expiry like 28NOV24")
    return date(2000 + int(text[5:7]), MONTH_NUMBERS[text[2:5]], int(text[0:2]))


_DERIVATIVE = re.compile(
    r"^(?P<name>.+?)(?P<code>\d{2}[A-Z]{3}\d{2})(?:(?P<strike>\d+(?:\.\d+)?)(?P<kind>CE|PE)|FUT)$"
)


def parse_derivative(symbol: str) -> tuple[str, date, float | None, str] | None:
    """(name, expiry, strike or None, CE/PE/FUT) of a future or option symbol, else None."""
    found = _DERIVATIVE.match(symbol)
    if found is None:
        return None
    try:
        expiry = parse_expiry_code(found["code"])
    except ValueError:
        return None
    strike = found["strike"]
    return found["name"], expiry, float(strike) if strike else None, found["kind"] or "FUT"
