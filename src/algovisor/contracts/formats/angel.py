"""Angel One SmartAPI's scrip master (`OpenAPIScripMaster.json`, a JSON list).

    {"token": "99926000", "symbol": "Nifty 50", "name": "NIFTY", "expiry": "",
     "strike": "0.000000", "lotsize": "1", "instrumenttype": "AMXIDX",
     "exch_seg": "NSE", "tick_size": "0.000000", ...}

Every value is text. Strikes are x100 ("2300000.000000" is 23000) and tick sizes
are in paise ("5.000000" is 0.05); currency options (OPTCUR, OPTIRC on CDS/BCD)
carry their strike x10^7 ("832500000.000000" is 83.25). Expiries are 25JUN2026.
Cash rows have an empty instrumenttype and a series suffix on NSE: SBIN-EQ is
SBIN, while other series keep it (GOLDSTAR-SM), as NSE and Zerodha write them.
Indices are AMXIDX rows, named by their `symbol` ("Nifty Bank" -> BANKNIFTY).
"""

from __future__ import annotations

from types import MappingProxyType
from typing import BinaryIO

from algovisor.contracts.formats import rows
from algovisor.contracts.formats.fields import (
    JsonReaders,
    from_hundredths,
    month_name_date,
    text_field,
)
from algovisor.contracts.formats.reading import json_records, read_json
from algovisor.contracts.indices import index_symbol
from algovisor.contracts.records import Instrument, ParseOutcome

LABEL = "an Angel One scrip master JSON"
REQUIRED_KEYS = ("token", "symbol", "name", "exch_seg", "instrumenttype")
_CASH_EXCHANGES = frozenset({"NSE", "BSE"})
_DERIVATIVE_EXCHANGES = frozenset({"NFO", "BFO", "CDS", "BCD", "MCX"})
_INDEX_EXCHANGES = MappingProxyType({"NSE": "NSE_INDEX", "BSE": "BSE_INDEX"})
_CURRENCY_EXCHANGES = frozenset({"CDS", "BCD"})
# Currency options quote their strike to four decimals, then x100 like every strike.
_CURRENCY_STRIKE_SCALE = 10_000_000


def parse(stream: BinaryIO) -> ParseOutcome:
    """Parse Angel One's scrip master JSON into OpenAlgo-format rows."""
    items = read_json(stream, LABEL)
    read = JsonReaders.fresh(month_name_date)
    outcome = ParseOutcome()
    records = json_records(items, LABEL, REQUIRED_KEYS, outcome)
    return rows.collect(records, lambda item: _instrument(item, read), outcome)


def _instrument(item: dict[str, object], read: JsonReaders) -> Instrument | str:
    """One scrip as an instrument, or the reason it is skipped; raises RowError if unreadable."""
    exchange = text_field(item["exch_seg"])
    instrument_type = text_field(item["instrumenttype"])
    token = rows.require_token(text_field(item["token"]))
    broker_symbol = text_field(item["symbol"])
    if exchange in _CASH_EXCHANGES:
        if instrument_type == "AMXIDX":
            index_exchange = _INDEX_EXCHANGES[exchange]
            return rows.index(
                index_symbol(broker_symbol, index_exchange), broker_symbol, index_exchange,
                exchange, token, read.lot_size(item.get("lotsize")),
                read.tick_size(item.get("tick_size")),
            )  # fmt: skip
        if instrument_type == "":
            return rows.equity(
                _equity_symbol(broker_symbol, exchange), broker_symbol, exchange, exchange,
                token, read.lot_size(item.get("lotsize")), read.tick_size(item.get("tick_size")),
            )  # fmt: skip
        return f"{exchange} instrument type {instrument_type} not traded"
    if exchange not in _DERIVATIVE_EXCHANGES:
        return f"exchange {exchange} not traded"
    is_future = instrument_type.startswith("FUT")
    if not is_future and not instrument_type.startswith("OPT"):
        return f"{exchange} instrument type {instrument_type} not traded"
    name = text_field(item["name"])
    expiry = read.expiry(text_field(item.get("expiry")))
    lot_size = read.lot_size(item.get("lotsize"))
    tick_size = read.tick_size(item.get("tick_size"))
    if is_future:
        return rows.future(
            name, expiry, broker_symbol, exchange, exchange, token, lot_size, tick_size
        )
    strike = read.strike(item.get("strike"))
    if exchange in _CURRENCY_EXCHANGES and instrument_type in ("OPTCUR", "OPTIRC"):
        strike = round(strike / _CURRENCY_STRIKE_SCALE, 6)
    else:
        strike = from_hundredths(strike)
    return rows.option(
        name, expiry, strike, broker_symbol[-2:], broker_symbol, exchange, exchange, token,
        lot_size, tick_size,
    )  # fmt: skip


def _equity_symbol(broker_symbol: str, exchange: str) -> str:
    """SBIN-EQ -> SBIN on NSE; other series keep their suffix; BSE symbols have none."""
    if exchange == "NSE" and broker_symbol.endswith("-EQ"):
        return broker_symbol[:-3]
    return broker_symbol
