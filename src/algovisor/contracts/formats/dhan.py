"""Dhan's scrip master CSV, compact (`api-scrip-master.csv`) or detailed layout.

    SEM_EXM_EXCH_ID,SEM_SEGMENT,SEM_SMST_SECURITY_ID,SEM_INSTRUMENT_NAME,SEM_EXPIRY_CODE,
    SEM_TRADING_SYMBOL,SEM_LOT_UNITS,SEM_CUSTOM_SYMBOL,SEM_EXPIRY_DATE,SEM_STRIKE_PRICE,
    SEM_OPTION_TYPE,SEM_TICK_SIZE,SEM_EXPIRY_FLAG,SEM_EXCH_INSTRUMENT_TYPE,SEM_SERIES,...

The detailed layout (EXCH_ID, SEGMENT, SECURITY_ID, UNDERLYING_SYMBOL, SYMBOL_NAME...)
carries the same facts under other names and is read too.

Quirks: a security id is unique only per (exchange, segment) - `NSE,I,13` is NIFTY
and `NSE,E,13` is ABB - so each row keeps its segment in `broker_exchange` as the
code Dhan's API takes (NSE_EQ, NSE_FNO, IDX_I...). Tick sizes are in paise except
on index rows, where they are rupees. Lot units may be written 75.0. Expiries are
`2024-11-28 14:30:00`, or `28-11-2024 14:30` in spreadsheet copies; an index's
`0001-01-01` is ignored. Futures carry strike -0.01 and option type XX. The
underlying of a derivative is read from its trading symbol (NIFTY-Nov2024-24000-CE),
as SM_SYMBOL_NAME is blank or a contract mnemonic there.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import BinaryIO, Generic, NamedTuple, TypeVar

from algovisor.contracts.formats import rows
from algovisor.contracts.formats.fields import (
    ExpiryReader,
    RowError,
    from_hundredths,
    numeric_date,
    read_float,
    read_int,
)
from algovisor.contracts.formats.reading import CsvTable, read_text
from algovisor.contracts.indices import index_symbol
from algovisor.contracts.records import Instrument, ParseOutcome

LABEL = "a Dhan scrip master CSV"
Column = TypeVar("Column", str, int)


class _Layout(NamedTuple, Generic[Column]):
    """Where each fact is, in one of Dhan's two layouts: column names, or their positions."""

    exchange: Column
    segment: Column
    token: Column
    instrument: Column
    cash_symbol: Column  # the trading symbol of an equity or index row
    derivative_symbol: Column  # the trading symbol of a future or option row
    underlying: Column | None  # the derivative's underlying, if the layout has it
    lot_size: Column
    expiry: Column
    strike: Column
    option_type: Column
    tick_size: Column
    series: Column


COMPACT: _Layout[str] = _Layout(
    "SEM_EXM_EXCH_ID", "SEM_SEGMENT", "SEM_SMST_SECURITY_ID", "SEM_INSTRUMENT_NAME",
    "SEM_TRADING_SYMBOL", "SEM_TRADING_SYMBOL", None, "SEM_LOT_UNITS", "SEM_EXPIRY_DATE",
    "SEM_STRIKE_PRICE", "SEM_OPTION_TYPE", "SEM_TICK_SIZE", "SEM_SERIES",
)  # fmt: skip
DETAILED: _Layout[str] = _Layout(
    "EXCH_ID", "SEGMENT", "SECURITY_ID", "INSTRUMENT", "UNDERLYING_SYMBOL", "SYMBOL_NAME",
    "UNDERLYING_SYMBOL", "LOT_SIZE", "SM_EXPIRY_DATE", "STRIKE_PRICE", "OPTION_TYPE",
    "TICK_SIZE", "SERIES",
)  # fmt: skip

# (exchange, segment) -> (OpenAlgo exchange, Dhan's exchange segment for its API).
_SEGMENTS = MappingProxyType(
    {
        ("NSE", "E"): ("NSE", "NSE_EQ"),
        ("BSE", "E"): ("BSE", "BSE_EQ"),
        ("NSE", "I"): ("NSE_INDEX", "IDX_I"),
        ("BSE", "I"): ("BSE_INDEX", "IDX_I"),
        ("NSE", "D"): ("NFO", "NSE_FNO"),
        ("BSE", "D"): ("BFO", "BSE_FNO"),
        ("NSE", "C"): ("CDS", "NSE_CURRENCY"),
        ("BSE", "C"): ("BCD", "BSE_CURRENCY"),
        ("MCX", "M"): ("MCX", "MCX_COMM"),
        ("MCX", "D"): ("MCX", "MCX_COMM"),
    }
)


def parse(stream: BinaryIO) -> ParseOutcome:
    """Parse Dhan's scrip master CSV (either layout) into OpenAlgo-format rows."""
    table = CsvTable(read_text(stream, LABEL), LABEL)
    layout = DETAILED if "SECURITY_ID" in table.header else COMPACT
    column = table.columns([name for name in layout if name is not None])
    at = _positions(layout, column)
    read_expiry = ExpiryReader(numeric_date)
    outcome = ParseOutcome()
    rows.collect(table.rows(outcome), lambda row: _instrument(row, at, read_expiry), outcome)
    return outcome


def _instrument(row: list[str], at: _Layout[int], read_expiry: ExpiryReader) -> Instrument | str:
    """One row as an instrument, or the reason it is skipped; raises RowError if unreadable."""
    dhan_exchange = row[at.exchange].strip()
    segment = row[at.segment].strip()
    mapped = _SEGMENTS.get((dhan_exchange, segment))
    if mapped is None:
        return f"{dhan_exchange} segment {segment} not traded"
    exchange, broker_exchange = mapped
    token = rows.require_token(row[at.token].strip())
    lot_size = read_int(row[at.lot_size].strip(), "unreadable lot size")
    tick_size = read_float(row[at.tick_size].strip(), "unreadable tick size")
    if segment == "I":
        broker_symbol = row[at.cash_symbol].strip()
        return rows.index(
            index_symbol(broker_symbol, exchange), broker_symbol, exchange, broker_exchange,
            token, lot_size, tick_size,
        )  # fmt: skip
    tick_size = from_hundredths(tick_size)  # paise everywhere but on index rows
    if segment == "E":
        broker_symbol = row[at.cash_symbol].strip()
        symbol = broker_symbol
        if exchange == "NSE":
            symbol = rows.nse_equity_symbol(broker_symbol, row[at.series].strip())
        return rows.equity(
            symbol, broker_symbol, exchange, broker_exchange, token, lot_size, tick_size
        )
    instrument = row[at.instrument].strip()
    is_future = instrument.startswith("FUT")
    if not is_future and not instrument.startswith("OPT"):
        return f"{exchange} instrument {instrument} not traded"
    broker_symbol = row[at.derivative_symbol].strip()
    name = "" if at.underlying is None else row[at.underlying].strip()
    if not name:
        name = _underlying(broker_symbol, 2 if is_future else 3)
    expiry = read_expiry(row[at.expiry].strip())
    if is_future:
        return rows.future(
            name, expiry, broker_symbol, exchange, broker_exchange, token, lot_size, tick_size
        )
    return rows.option(
        name, expiry, read_float(row[at.strike].strip(), "unreadable strike"),
        row[at.option_type].strip(), broker_symbol, exchange, broker_exchange, token,
        lot_size, tick_size,
    )  # fmt: skip


def _positions(layout: _Layout[str], column: dict[str, int]) -> _Layout[int]:
    """The layout's columns as positions in this file's header."""
    return _Layout(
        column[layout.exchange], column[layout.segment], column[layout.token],
        column[layout.instrument], column[layout.cash_symbol],
        column[layout.derivative_symbol],
        None if layout.underlying is None else column[layout.underlying],
        column[layout.lot_size], column[layout.expiry], column[layout.strike],
        column[layout.option_type], column[layout.tick_size], column[layout.series],
    )  # fmt: skip


def _underlying(trading_symbol: str, trailing_parts: int) -> str:
    """NIFTY from NIFTY-Nov2024-24000-CE, BAJAJ-AUTO from BAJAJ-AUTO-Jan2026-FUT.

    Split from the right: the underlying itself may contain hyphens.
    """
    parts = trading_symbol.rsplit("-", trailing_parts)
    if len(parts) != trailing_parts + 1 or not parts[0]:
        raise RowError("unreadable trading symbol", repr(trading_symbol))
    return parts[0]
