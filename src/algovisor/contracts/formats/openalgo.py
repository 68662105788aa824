"""An OpenAlgo server's instrument list (`GET /api/v1/instruments`, JSON).

    {"status": "success", "message": "Found 5000 instruments",
     "data": [{"symbol": "NIFTY28NOV2424000CE", "brsymbol": "NIFTY24N2824000CE",
               "name": "NIFTY", "exchange": "NFO", "brexchange": "NFO", "token": "43919",
               "expiry": "28-NOV-24", "strike": 24000.0, "lotsize": 75,
               "instrumenttype": "OPTIDX", "tick_size": 0.05}, ...]}

A bare list of the same objects is read too; `"status": "error"` refuses the file
with the server's message. The rows are already in OpenAlgo's format, so `symbol`
is kept as the server gives it: it is what the server's order API takes. The
underlying broker's symbol and exchange (`brsymbol`, `brexchange`) go to
`broker_symbol` and `broker_exchange` and default to the OpenAlgo ones.

`instrumenttype` is free text that depends on the server's broker (EQ, "", BE,
OPTIDX, FUTSTK, CE, PE, AMXIDX...), so the type is decided from the exchange first
(NSE_INDEX -> INDEX, NSE/BSE -> EQ), then from the text, then from the symbol's
ending (FUT, CE, PE). Strikes of -1, -0.01 or 0 mean "no strike". A missing
`tick_size` (the documented example omits it) is kept as 0.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import BinaryIO

from algovisor.contracts.formats import rows
from algovisor.contracts.formats.fields import (
    ExpiryReader,
    RowError,
    month_name_date,
    read_float,
    read_int,
    text_field,
)
from algovisor.contracts.formats.reading import describe_json, json_records, read_json
from algovisor.contracts.records import (
    EXCHANGES,
    ContractFormatError,
    Instrument,
    ParseOutcome,
)

LABEL = "an OpenAlgo instruments answer"
REQUIRED_KEYS = ("symbol", "exchange", "token")
_INDEX_EXCHANGES = MappingProxyType({"NSE": "NSE_INDEX", "BSE": "BSE_INDEX"})
_INDEX_TYPES = frozenset({"INDEX", "AMXIDX", "INDICES"})
_INDEX_HOMES = frozenset({"NSE", "BSE", "NSE_INDEX", "BSE_INDEX"})


def parse(stream: BinaryIO) -> ParseOutcome:
    """Parse an OpenAlgo server's instruments answer into rows, keeping its symbols."""
    items = _instrument_list(read_json(stream, LABEL))
    read_expiry = ExpiryReader(month_name_date)
    outcome = ParseOutcome()
    for position, item in json_records(items, LABEL, REQUIRED_KEYS, outcome):
        exchange = text_field(item["exchange"]).upper()
        if exchange not in EXCHANGES:
            outcome.skip(f"exchange {exchange} not traded")
            continue
        written_type = text_field(item.get("instrumenttype")).upper()
        if written_type in _INDEX_TYPES and exchange not in _INDEX_HOMES:
            outcome.skip(f"{exchange} index not traded")  # OpenAlgo has no MCX/CDS index home
            continue
        try:
            outcome.rows.append(_instrument(item, exchange, read_expiry))
        except RowError as error:
            outcome.reject(position, error.reason, error.detail)
    return outcome


def _instrument_list(document: object) -> object:
    """The list of instruments inside the server's answer (or the bare list itself)."""
    if isinstance(document, list):
        return document
    if not isinstance(document, dict):
        raise ContractFormatError(
            f"not {LABEL}: expected an object with status and data, found {describe_json(document)}"
        )
    if text_field(document.get("status")).lower() == "error":
        message = text_field(document.get("message")) or "no message given"
        raise ContractFormatError(f"the OpenAlgo server answered with an error: {message}")
    if "data" not in document:
        raise ContractFormatError(
            f"not {LABEL}: expected an object with status and data, found {describe_json(document)}"
        )
    return document["data"]


def _instrument(item: dict[str, object], exchange: str, read_expiry: ExpiryReader) -> Instrument:
    symbol = text_field(item["symbol"])
    if not symbol:
        raise RowError("missing symbol")
    token = rows.require_token(text_field(item["token"]))
    broker_symbol = text_field(item.get("brsymbol")) or symbol
    broker_exchange = text_field(item.get("brexchange")) or exchange
    written_type = text_field(item.get("instrumenttype")).upper()
    tick_value = item.get("tick_size")
    tick_size = 0.0 if tick_value is None else read_float(tick_value, "unreadable tick size")

    instrument_type = _instrument_type(exchange, written_type, symbol)
    if instrument_type == "INDEX":
        exchange = _INDEX_EXCHANGES.get(exchange, exchange)
    if instrument_type in ("EQ", "INDEX"):
        lot_value = item.get("lotsize")
        lot_size = 0 if lot_value is None else read_int(lot_value, "unreadable lot size")
        return Instrument(
            symbol, broker_symbol, symbol, exchange, broker_exchange, token,
            None, None, lot_size, instrument_type, tick_size,
        )  # fmt: skip

    name = text_field(item.get("name"))
    if not name:
        raise RowError("missing underlying name")
    expiry = read_expiry(text_field(item.get("expiry")))
    lot_size = read_int(item.get("lotsize"), "unreadable lot size")
    strike: float | None = None
    if instrument_type != "FUT":
        strike = read_float(item.get("strike"), "unreadable strike")
        if strike <= 0:
            raise RowError("option without strike", repr(strike))
    return Instrument(
        symbol, broker_symbol, name, exchange, broker_exchange, token,
        expiry, strike, lot_size, instrument_type, tick_size,
    )  # fmt: skip


def _instrument_type(exchange: str, written_type: str, symbol: str) -> str:
    """EQ, INDEX, FUT, CE or PE, from the exchange, the written type, then the symbol."""
    if exchange in ("NSE_INDEX", "BSE_INDEX") or written_type in _INDEX_TYPES:
        return "INDEX"
    if exchange in ("NSE", "BSE"):
        return "EQ"  # the written type is the broker's series or group here (EQ, BE, A...)
    if written_type in ("CE", "PE"):
        return written_type
    if written_type.startswith("OPT") and symbol[-2:] in ("CE", "PE"):
        return symbol[-2:]
    if written_type.startswith("FUT"):
        return "FUT"
    if symbol.endswith("FUT"):
        return "FUT"
    if symbol[-2:] in ("CE", "PE"):
        return symbol[-2:]
    raise RowError("unknown instrument type", repr(written_type))
