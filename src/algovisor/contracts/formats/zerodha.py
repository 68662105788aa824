"""Zerodha Kite's instrument list (`GET https://api.kite.trade/instruments`, a CSV).

    instrument_token,exchange_token,tradingsymbol,name,last_price,expiry,strike,
    tick_size,lot_size,instrument_type,segment,exchange

Prices, strikes and tick sizes are in rupees. The expiry is 2024-04-25 as served,
or 25-04-2024 in copies re-saved by a spreadsheet; both are read. Index rows sit
in segment INDICES with instrument_type EQ and tick and lot size 0 (kept as 0).
Equity symbols are Zerodha's trading symbols, which are NSE's: SBIN, GOLDSTAR-SM.
The token is `instrument_token`, the one Kite's quote and order APIs take.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import BinaryIO

from algovisor.contracts.formats import rows
from algovisor.contracts.formats.fields import (
    ExpiryReader,
    RowError,
    numeric_date,
    read_float,
    read_int,
)
from algovisor.contracts.formats.reading import CsvTable, read_text
from algovisor.contracts.indices import index_symbol
from algovisor.contracts.records import ParseOutcome

LABEL = "a Zerodha instruments CSV"
REQUIRED_COLUMNS = (
    "instrument_token",
    "tradingsymbol",
    "name",
    "expiry",
    "strike",
    "tick_size",
    "lot_size",
    "instrument_type",
    "segment",
    "exchange",
)
_DERIVATIVE_EXCHANGES = frozenset({"NFO", "BFO", "CDS", "BCD", "MCX"})
_INDEX_EXCHANGES = MappingProxyType({"NSE": "NSE_INDEX", "BSE": "BSE_INDEX"})


def parse(stream: BinaryIO) -> ParseOutcome:
    """Parse Zerodha's instruments CSV into OpenAlgo-format rows."""
    table = CsvTable(read_text(stream, LABEL), LABEL)
    column = table.columns(REQUIRED_COLUMNS)
    token_at, symbol_at, name_at = (
        column["instrument_token"],
        column["tradingsymbol"],
        column["name"],
    )
    expiry_at, strike_at, tick_at = column["expiry"], column["strike"], column["tick_size"]
    lot_at, type_at = column["lot_size"], column["instrument_type"]
    segment_at, exchange_at = column["segment"], column["exchange"]
    read_expiry = ExpiryReader(numeric_date)

    outcome = ParseOutcome()
    for line_number, row in table.rows(outcome):
        exchange = row[exchange_at].strip()
        segment = row[segment_at].strip()
        instrument_type = row[type_at].strip()
        try:
            token = rows.require_token(row[token_at].strip())
            broker_symbol = row[symbol_at].strip()
            if segment == "INDICES":
                index_exchange = _INDEX_EXCHANGES.get(exchange)
                if index_exchange is None:
                    outcome.skip(f"{exchange} index not traded")
                    continue
                outcome.rows.append(
                    rows.index(
                        index_symbol(broker_symbol, index_exchange), broker_symbol,
                        index_exchange, exchange, token,
                        read_int(row[lot_at], "unreadable lot size"),
                        read_float(row[tick_at], "unreadable tick size"),
                    )
                )  # fmt: skip
                continue
            if exchange in ("NSE", "BSE"):
                if instrument_type != "EQ":
                    outcome.skip(f"{exchange} instrument type {instrument_type} not traded")
                    continue
                outcome.rows.append(
                    rows.equity(
                        broker_symbol, broker_symbol, exchange, exchange, token,
                        read_int(row[lot_at], "unreadable lot size"),
                        read_float(row[tick_at], "unreadable tick size"),
                    )
                )  # fmt: skip
                continue
            if exchange not in _DERIVATIVE_EXCHANGES:
                outcome.skip(f"exchange {exchange} not traded")
                continue
            if instrument_type not in ("FUT", "CE", "PE"):
                outcome.skip(f"{exchange} instrument type {instrument_type} not traded")
                continue
            name = row[name_at].strip()
            expiry = read_expiry(row[expiry_at].strip())
            lot_size = read_int(row[lot_at], "unreadable lot size")
            tick_size = read_float(row[tick_at], "unreadable tick size")
            if instrument_type == "FUT":
                outcome.rows.append(
                    rows.future(
                        name, expiry, broker_symbol, exchange, exchange, token,
                        lot_size, tick_size,
                    )
                )  # fmt: skip
            else:
                outcome.rows.append(
                    rows.option(
                        name, expiry, read_float(row[strike_at], "unreadable strike"),
                        instrument_type, broker_symbol, exchange, exchange, token,
                        lot_size, tick_size,
                    )
                )  # fmt: skip
        except RowError as error:
            outcome.reject(line_number, error.reason, error.detail)
    return outcome
