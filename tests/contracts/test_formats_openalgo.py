"""An OpenAlgo server's /api/v1/instruments answer: symbols kept, types read from free text."""

from __future__ import annotations

from datetime import date

import pytest

from algovisor.contracts.formats import openalgo
from algovisor.contracts.records import ContractFormatError, Instrument
from tests.contracts.format_samples import parse_bytes, parse_json


def answer(*rows: dict[str, object]) -> dict[str, object]:
    return {"status": "success", "message": f"Found {len(rows)} instruments", "data": list(rows)}


def row(**fields: object) -> dict[str, object]:
    base: dict[str, object] = {
        "symbol": "NIFTY28NOV2424000CE", "brsymbol": "NIFTY24N2824000CE", "name": "NIFTY",
        "exchange": "NFO", "brexchange": "NFO", "token": "43919", "expiry": "28-NOV-24",
        "strike": 24000.0, "lotsize": 75, "instrumenttype": "OPTIDX", "tick_size": 0.05,
    }  # fmt: skip
    return base | fields


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        # OPTIDX says "option"; the symbol's ending says which.
        (row(), Instrument(
            "NIFTY28NOV2424000CE", "NIFTY24N2824000CE", "NIFTY", "NFO", "NFO", "43919",
            date(2024, 11, 28), 24000.0, 75, "CE", 0.05)),
        (row(symbol="BANKNIFTY28NOV24FUT", brsymbol="BANKNIFTY24NOVFUT", name="BANKNIFTY",
             token="35001", strike=-1.0, lotsize=15, instrumenttype="FUTIDX"), Instrument(
            "BANKNIFTY28NOV24FUT", "BANKNIFTY24NOVFUT", "BANKNIFTY", "NFO", "NFO", "35001",
            date(2024, 11, 28), None, 15, "FUT", 0.05)),
        # A Zerodha-backed server: CE/PE written out, token with its exchange token.
        (row(symbol="VEDL25APR24292.5PE", brsymbol="VEDL24APR292.5PE", name="VEDL",
             token="36171266::::141294", expiry="25-APR-24", strike=292.5, lotsize=2300,
             instrumenttype="PE"), Instrument(
            "VEDL25APR24292.5PE", "VEDL24APR292.5PE", "VEDL", "NFO", "NFO",
            "36171266::::141294", date(2024, 4, 25), 292.5, 2300, "PE", 0.05)),
        # An Angel-backed server: cash rows have an empty type and strike -1.
        (row(symbol="RELIANCE", brsymbol="RELIANCE-EQ", name="RELIANCE", exchange="NSE",
             brexchange="NSE", token="2885", expiry="", strike=-1.0, lotsize=1,
             instrumenttype="", tick_size=0.1), Instrument(
            "RELIANCE", "RELIANCE-EQ", "RELIANCE", "NSE", "NSE", "2885",
            None, None, 1, "EQ", 0.1)),
        # An Upstox-backed server: the type is the series.
        (row(symbol="IRFC-N1", brsymbol="IRFC", name="IRFC BOND", exchange="NSE",
             brexchange="NSE_EQ", token="NSE_EQ|INE053F07AB1", expiry="", strike=0, lotsize=1,
             instrumenttype="N1"), Instrument(
            "IRFC-N1", "IRFC", "IRFC-N1", "NSE", "NSE_EQ", "NSE_EQ|INE053F07AB1",
            None, None, 1, "EQ", 0.05)),
        (row(symbol="NIFTY", brsymbol="Nifty 50", name="NIFTY", exchange="NSE_INDEX",
             brexchange="NSE", token="99926000", expiry="", strike=0.0, lotsize=1,
             instrumenttype="AMXIDX", tick_size=0.0), Instrument(
            "NIFTY", "Nifty 50", "NIFTY", "NSE_INDEX", "NSE", "99926000",
            None, None, 1, "INDEX", 0.0)),
        # The documented minimal row: no brsymbol, brexchange, expiry, strike or tick size.
        ({"symbol": "RELIANCE", "name": "Reliance Industries Ltd", "exchange": "NSE",
          "token": "2885", "lotsize": 1, "instrumenttype": "EQ"}, Instrument(
            "RELIANCE", "RELIANCE", "RELIANCE", "NSE", "NSE", "2885",
            None, None, 1, "EQ", 0.0)),
    ],
    ids=["optidx", "futidx", "zerodha-backed", "angel-backed", "upstox-backed", "index",
         "minimal"],
)  # fmt: skip
def test_rows_keep_the_servers_symbols(item: dict[str, object], expected: Instrument) -> None:
    assert parse_json(openalgo.parse, answer(item)).rows == [expected]


def test_a_bare_list_is_read_like_the_envelope() -> None:
    items = [row(), row(token="43920", symbol="NIFTY28NOV2424000PE", brsymbol="X")]
    assert parse_json(openalgo.parse, items).rows == parse_json(openalgo.parse, answer(*items)).rows


def test_an_error_answer_is_refused_with_the_servers_message() -> None:
    with pytest.raises(
        ContractFormatError, match="answered with an error: Invalid openalgo apikey"
    ):
        parse_json(openalgo.parse, {"status": "error", "message": "Invalid openalgo apikey"})


def test_exchanges_and_indices_without_an_openalgo_home_are_skipped() -> None:
    outcome = parse_json(
        openalgo.parse,
        answer(
            row(exchange="MCX_INDEX", symbol="MCXBULLDEX", instrumenttype="INDEX"),
            row(exchange="MCX", symbol="MCXMETLDEX", instrumenttype="AMXIDX"),
            row(exchange="NCDEX", symbol="GUARSEED"),
            row(),
        ),
    )
    assert [item.symbol for item in outcome.rows] == ["NIFTY28NOV2424000CE"]
    assert outcome.skipped == {
        "exchange MCX_INDEX not traded": 1,
        "MCX index not traded": 1,
        "exchange NCDEX not traded": 1,
    }


@pytest.mark.parametrize(
    ("broken", "reason"),
    [
        (row(strike=-1.0), "option without strike"),
        (row(strike="n/a"), "unreadable strike"),
        (row(expiry="2024-11-28"), "unreadable expiry"),
        (row(lotsize=None), "unreadable lot size"),
        (row(tick_size="0,05"), "unreadable tick size"),
        (row(token=""), "missing token"),
        (row(symbol=""), "missing symbol"),
        (row(symbol="NIFTYWEIRD", instrumenttype="SPREAD"), "unknown instrument type"),
        ({"symbol": "SBIN", "exchange": "NSE"}, "missing field"),
    ],
)
def test_a_broken_row_is_rejected_with_its_position(broken: dict[str, object], reason: str) -> None:
    outcome = parse_json(openalgo.parse, answer(row(token="1"), row(token="2"), broken))
    assert [item.token for item in outcome.rows] == ["1", "2"]
    assert outcome.rejected == {reason: 1}
    assert outcome.examples[0].startswith(f"row 3: {reason}")


@pytest.mark.parametrize(
    ("data", "says"),
    [
        ('{"status": "success", "message": "ok"}', "expected an object with status and data"),
        ('"instruments"', "expected an object with status and data, found a string"),
        ('{"status": "success", "data": {"symbol": "SBIN"}}', "expected a JSON list"),
        ('{"status": "success", "data": [{"symbol": "SBIN", "exchange": "N', "cut short"),
        ("symbol,brsymbol,name,exchange,token\nSBIN,SBIN-EQ,SBIN,NSE,3045\n", "invalid JSON"),
    ],
    ids=["no data", "string", "data not a list", "cut short", "csv answer"],
)
def test_a_wrong_answer_is_refused(data: str, says: str) -> None:
    with pytest.raises(ContractFormatError, match=says):
        parse_bytes(openalgo.parse, data)
