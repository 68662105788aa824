"""Angel One's scrip master JSON: x100 strikes, paise ticks, series suffixes, AMXIDX indices."""

from __future__ import annotations

import csv
import json
from datetime import date

import pytest

from algovisor.contracts.formats import angel
from algovisor.contracts.records import ContractFormatError, Instrument, ParseOutcome
from tests.contracts.format_samples import by_token, parse_bytes, parse_json, sample


def scrip(**fields: object) -> dict[str, object]:
    """One scrip as Angel serves it: every value text, `is_cas_enabled` a JSON boolean."""
    base: dict[str, object] = {
        "token": "2885", "symbol": "RELIANCE-EQ", "name": "RELIANCE", "expiry": "",
        "strike": "-1.000000", "lotsize": "1", "instrumenttype": "", "exch_seg": "NSE",
        "tick_size": "10.000000", "freeze_qty": "0", "is_cas_enabled": False,
    }  # fmt: skip
    return base | fields


def derivative_sample() -> ParseOutcome:
    """The Saan40 CSV conversion (same keys, values verbatim) turned back into JSON objects."""
    with sample("angelone_instruments_saan40.csv").open(encoding="utf-8") as text:
        return parse_json(angel.parse, list(csv.DictReader(text)))


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        ("99926000", Instrument(
            "NIFTY", "Nifty 50", "NIFTY", "NSE_INDEX", "NSE", "99926000",
            None, None, 1, "INDEX", 0.0)),
        ("99926009", Instrument(
            "BANKNIFTY", "Nifty Bank", "BANKNIFTY", "NSE_INDEX", "NSE", "99926009",
            None, None, 1, "INDEX", 0.0)),
        ("99926017", Instrument(
            "INDIAVIX", "India VIX", "INDIAVIX", "NSE_INDEX", "NSE", "99926017",
            None, None, 1, "INDEX", 0.0)),
        ("99926037", Instrument(
            "FINNIFTY", "Nifty Fin Service", "FINNIFTY", "NSE_INDEX", "NSE", "99926037",
            None, None, 1, "INDEX", 0.0)),
        ("99926074", Instrument(
            "MIDCPNIFTY", "NIFTY MID SELECT", "MIDCPNIFTY", "NSE_INDEX", "NSE", "99926074",
            None, None, 1, "INDEX", 0.0)),
        # -EQ is dropped; tick "5.000000" is paise.
        ("1008", Instrument(
            "FACT", "FACT-EQ", "FACT", "NSE", "NSE", "1008", None, None, 1, "EQ", 0.05)),
        ("10473", Instrument(
            "POWERMECH", "POWERMECH-EQ", "POWERMECH", "NSE", "NSE", "10473",
            None, None, 1, "EQ", 0.1)),
        # Other series keep their suffix, as NSE and Zerodha write them.
        ("10710", Instrument(
            "VEEKAYEM-SM", "VEEKAYEM-SM", "VEEKAYEM-SM", "NSE", "NSE", "10710",
            None, None, 500, "EQ", 0.05)),
        ("1001", Instrument(
            "94SFL28-YL", "94SFL28-YL", "94SFL28-YL", "NSE", "NSE", "1001",
            None, None, 1, "EQ", 0.01)),
    ],
)  # fmt: skip
def test_raw_json_sample_rows_normalise(token: str, expected: Instrument) -> None:
    with sample("angelone_OpenAPIScripMaster.json").open("rb") as stream:
        outcome = angel.parse(stream)
    assert by_token(outcome)[(expected.exchange, token)] == expected
    assert (outcome.rows_read, len(outcome.rows), outcome.rejected_count) == (16, 16, 0)


@pytest.mark.parametrize(
    ("exchange", "token", "expected"),
    [
        # strike "2300000.000000" is 23000.
        ("NFO", "37799", Instrument(
            "NIFTY25JUN2623000CE", "NIFTY25JUN2623000CE", "NIFTY", "NFO", "NFO", "37799",
            date(2026, 6, 25), 23000.0, 75, "CE", 0.05)),
        ("NFO", "38503", Instrument(
            "NIFTY08MAY2522600PE", "NIFTY08MAY2522600PE", "NIFTY", "NFO", "NFO", "38503",
            date(2025, 5, 8), 22600.0, 75, "PE", 0.05)),
        ("NFO", "54452", Instrument(
            "NIFTY24APR25FUT", "NIFTY24APR25FUT", "NIFTY", "NFO", "NFO", "54452",
            date(2025, 4, 24), None, 75, "FUT", 0.05)),
        ("NSE_INDEX", "99926033", Instrument(
            "NIFTY200", "Nifty 200", "NIFTY200", "NSE_INDEX", "NSE", "99926033",
            None, None, 1, "INDEX", 0.0)),
        # BSE cash symbols carry no series.
        ("BSE", "590136", Instrument(
            "BANKNIFTY1", "BANKNIFTY1", "BANKNIFTY1", "BSE", "BSE", "590136",
            None, None, 1, "EQ", 0.01)),
    ],
)  # fmt: skip
def test_derivative_sample_rows_normalise(exchange: str, token: str, expected: Instrument) -> None:
    assert by_token(derivative_sample())[(exchange, token)] == expected


def test_every_derivative_sample_row_is_read_and_odd_cds_index_rows_skipped() -> None:
    outcome = derivative_sample()
    assert outcome.rows_read == 1635
    assert len(outcome.rows) == 1631
    assert outcome.skipped == {"CDS instrument type INDEX not traded": 4}
    assert not outcome.rejected


@pytest.mark.parametrize(
    ("fields", "symbol", "strike", "tick_size"),
    [
        # Currency options: strike x10^7, tick in paise.
        ({"token": "5", "symbol": "USDINR25OCT8325CE", "name": "USDINR", "exch_seg": "CDS",
          "instrumenttype": "OPTCUR", "expiry": "29OCT2025", "strike": "832500000.000000",
          "lotsize": "1", "tick_size": "0.250000"},
         "USDINR29OCT2583.25CE", 83.25, 0.0025),
        ({"token": "433021", "symbol": "CRUDEOIL19NOV246000PE", "name": "CRUDEOIL",
          "exch_seg": "MCX", "instrumenttype": "OPTFUT", "expiry": "15NOV2024",
          "strike": "600000.000000", "lotsize": "100", "tick_size": "10.000000"},
         "CRUDEOIL15NOV246000PE", 6000.0, 0.1),
        ({"token": "66", "symbol": "VEDL25APR24292.5CE", "name": "VEDL", "exch_seg": "NFO",
          "instrumenttype": "OPTSTK", "expiry": "25APR2024", "strike": "29250.000000",
          "lotsize": "2300", "tick_size": "5.000000"},
         "VEDL25APR24292.5CE", 292.5, 0.05),
        ({"token": "433000", "symbol": "CRUDEOIL19NOV24FUT", "name": "CRUDEOIL",
          "exch_seg": "MCX", "instrumenttype": "FUTCOM", "expiry": "19NOV2024",
          "strike": "-1.000000", "lotsize": "100", "tick_size": "100.000000"},
         "CRUDEOIL19NOV24FUT", None, 1.0),
    ],
    ids=["cds currency option", "mcx option", "decimal strike", "mcx future"],
)  # fmt: skip
def test_scaled_fields_by_segment(
    fields: dict[str, object], symbol: str, strike: float | None, tick_size: float
) -> None:
    (row,) = parse_json(angel.parse, [scrip(**fields)]).rows
    assert (row.symbol, row.strike, row.tick_size) == (symbol, strike, tick_size)


def test_untraded_exchanges_and_mcx_indices_are_skipped() -> None:
    outcome = parse_json(
        angel.parse,
        [
            scrip(exch_seg="NCDEX", instrumenttype="FUTCOM", symbol="GUARSEED10"),
            scrip(exch_seg="MCX", instrumenttype="AMXIDX", symbol="MCXBULLDEX"),
            scrip(),
        ],
    )
    assert [row.symbol for row in outcome.rows] == ["RELIANCE"]
    assert outcome.skipped == {
        "exchange NCDEX not traded": 1,
        "MCX instrument type AMXIDX not traded": 1,
    }


@pytest.mark.parametrize(
    ("broken", "reason"),
    [
        (scrip(token="37799", symbol="NIFTY25JUN2623000CE", exch_seg="NFO",
               instrumenttype="OPTIDX", expiry="25JUN2026", strike="abc"), "unreadable strike"),
        (scrip(token="37799", symbol="NIFTY25JUN2623000CE", exch_seg="NFO",
               instrumenttype="OPTIDX", expiry="2026-06-25", strike="2300000"),
         "unreadable expiry"),
        (scrip(tick_size=""), "unreadable tick size"),
        (scrip(lotsize="1.5"), "unreadable lot size"),
        (scrip(token=""), "missing token"),
        ("RELIANCE-EQ", "not an object"),
        ({"token": "1", "symbol": "X"}, "missing field"),
    ],
)  # fmt: skip
def test_a_broken_scrip_is_rejected_with_its_position(broken: object, reason: str) -> None:
    outcome = parse_json(angel.parse, [scrip(), broken, scrip(token="526", symbol="BPCL-EQ")])
    assert [row.symbol for row in outcome.rows] == ["RELIANCE", "BPCL"]
    assert outcome.rejected == {reason: 1}
    assert outcome.examples[0].startswith(f"row 2: {reason}")  # the 1-based element position


def test_a_file_cut_mid_object_is_refused_as_cut_short() -> None:
    data = sample("angelone_OpenAPIScripMaster.json").read_bytes()
    with pytest.raises(ContractFormatError, match="cut short"):
        parse_bytes(angel.parse, data[: data.index(b'"symbol":"FACT-EQ"') + 5])


@pytest.mark.parametrize(
    ("data", "says"),
    [
        ("instrument_token,exchange_token,tradingsymbol\n1,2,SBIN\n",
         "not an Angel One scrip master JSON: invalid JSON .* starts: instrument_token"),
        ('{"status": true, "data": []}', "expected a JSON list of instruments, found an object"),
        ('[{"segment": "NSE_FO", "instrument_key": "NSE_FO|1"}]',
         "the first instrument lacks token, symbol, name, exch_seg, instrumenttype"),
        ("[1, 2, 3]", "the first element is the number 1"),
        ("\x00\x01\x02", "binary"),
        ("", "empty"),
    ],
    ids=["zerodha csv", "object", "upstox json", "numbers", "binary", "empty"],
)  # fmt: skip
def test_another_format_is_refused(data: str, says: str) -> None:
    with pytest.raises(ContractFormatError, match=says):
        parse_bytes(angel.parse, data)


def test_numbers_written_as_json_numbers_are_read_too() -> None:
    """A re-saved copy may turn "5.000000" into 5: the same row comes out."""
    as_text = parse_json(angel.parse, [scrip()]).rows
    as_numbers = parse_json(angel.parse, [scrip(lotsize=1, tick_size=10.0, strike=-1)]).rows
    assert as_numbers == as_text
    assert json.dumps(as_text[0].tick_size) == "0.1"
