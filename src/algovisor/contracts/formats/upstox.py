"""Upstox's instrument list (`complete.json.gz`, a JSON list once gunzipped).

    {"segment": "NSE_FO", "name": "NIFTY", "exchange": "NSE", "expiry": 1767119399000,
     "instrument_type": "CE", "instrument_key": "NSE_FO|50971", "lot_size": 75,
     "tick_size": 5, "trading_symbol": "NIFTY 27000 CE 30 DEC 25", "strike_price": 27000,
     "underlying_symbol": "NIFTY", "weekly": false, ...}

The token is `instrument_key`, which Upstox's APIs take and which cannot be rebuilt
(`NSE_EQ|<ISIN>`, `NSE_FO|<token>`, `NSE_INDEX|Nifty 50`). Tick sizes are in paise
(5 is 0.05). Expiries are epoch milliseconds at 23:59:59 IST of the expiry day,
read as that IST day. Strikes are rupees. On NSE_EQ, `instrument_type` is the series
(EQ, BE, SM, SG...) and the symbol keeps a non-EQ series as a suffix (NSE's and
Zerodha's convention: IRFC and IRFC-N1 are different instruments); on BSE_EQ it is
the BSE group (A, B, T...), which is not part of the symbol. Index rows have no lot
or tick size: both are kept as 0. NSE_COM and the GLOBAL_* segments are skipped.
"""

from __future__ import annotations

from datetime import date
from types import MappingProxyType
from typing import BinaryIO

from algovisor.contracts.formats import rows
from algovisor.contracts.formats.fields import (
    JsonReaders,
    ist_date_from_epoch_ms,
    numeric_date,
    text_field,
)
from algovisor.contracts.formats.reading import json_records, read_json
from algovisor.contracts.indices import index_symbol
from algovisor.contracts.records import Instrument, ParseOutcome

LABEL = "an Upstox instruments JSON"
REQUIRED_KEYS = ("segment", "instrument_key", "instrument_type", "trading_symbol")
_CASH_SEGMENTS = MappingProxyType({"NSE_EQ": "NSE", "BSE_EQ": "BSE"})
_INDEX_SEGMENTS = MappingProxyType({"NSE_INDEX": "NSE_INDEX", "BSE_INDEX": "BSE_INDEX"})
_DERIVATIVE_SEGMENTS = MappingProxyType(
    {"NSE_FO": "NFO", "BSE_FO": "BFO", "NCD_FO": "CDS", "BCD_FO": "BCD", "MCX_FO": "MCX"}
)


def parse(stream: BinaryIO) -> ParseOutcome:
    """Parse Upstox's instruments JSON (already gunzipped) into OpenAlgo-format rows."""
    items = read_json(stream, LABEL)
    read = JsonReaders.fresh(_expiry_date)
    outcome = ParseOutcome()
    records = json_records(items, LABEL, REQUIRED_KEYS, outcome)
    return rows.collect(records, lambda item: _instrument(item, read), outcome)


def _instrument(item: dict[str, object], read: JsonReaders) -> Instrument | str:
    """One instrument, or the reason it is skipped; raises RowError if unreadable."""
    segment = text_field(item["segment"])
    instrument_type = text_field(item["instrument_type"])
    token = rows.require_token(text_field(item["instrument_key"]))
    broker_symbol = text_field(item["trading_symbol"])
    lot_value, tick_value = item.get("lot_size"), item.get("tick_size")
    index_exchange = _INDEX_SEGMENTS.get(segment)
    if index_exchange is not None:
        # Index rows carry no lot or tick size: both are kept as 0.
        return rows.index(
            index_symbol(broker_symbol, index_exchange), broker_symbol, index_exchange,
            segment, token, 0 if lot_value is None else read.lot_size(lot_value),
            0.0 if tick_value is None else read.tick_size(tick_value),
        )  # fmt: skip
    cash_exchange = _CASH_SEGMENTS.get(segment)
    if cash_exchange is not None:
        symbol = broker_symbol
        if cash_exchange == "NSE":
            symbol = rows.nse_equity_symbol(broker_symbol, instrument_type)
        return rows.equity(
            symbol, broker_symbol, cash_exchange, segment, token,
            read.lot_size(lot_value), read.tick_size(tick_value),
        )  # fmt: skip
    exchange = _DERIVATIVE_SEGMENTS.get(segment)
    if exchange is None:
        return f"segment {segment} not traded"
    if instrument_type not in ("FUT", "CE", "PE"):
        return f"{exchange} instrument type {instrument_type} not traded"
    # underlying_symbol is the root (CRUDEOIL) where `name` may be spelled out.
    name = text_field(item.get("underlying_symbol")) or text_field(item.get("name"))
    expiry = read.expiry(text_field(item.get("expiry")))
    lot_size, tick_size = read.lot_size(lot_value), read.tick_size(tick_value)
    if instrument_type == "FUT":
        return rows.future(
            name, expiry, broker_symbol, exchange, segment, token, lot_size, tick_size
        )
    return rows.option(
        name, expiry, read.strike(item.get("strike_price")), instrument_type, broker_symbol,
        exchange, segment, token, lot_size, tick_size,
    )  # fmt: skip


def _expiry_date(text: str) -> date:
    """Epoch milliseconds as the IST day (the served form), or 2025-09-30 (a re-save)."""
    if text.isdigit():
        return ist_date_from_epoch_ms(int(text))
    return numeric_date(text)
