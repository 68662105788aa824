"""Upstox's instruments JSON: instrument_key tokens, IST expiries from epoch ms, paise ticks."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from algovisor.contracts.formats import upstox
from algovisor.contracts.formats.fields import ist_date_from_epoch_ms
from algovisor.contracts.records import ContractFormatError, Instrument
from tests.contracts.format_samples import by_token, parse_bytes, parse_json, sample

IST = timezone(timedelta(hours=5, minutes=30))


def epoch_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def derivative(**fields: object) -> dict[str, object]:
    """An NSE_FO option row as in complete.json."""
    base: dict[str, object] = {
        "weekly": False, "segment": "NSE_FO", "name": "NIFTY", "exchange": "NSE",
        "expiry": 1767119399000, "instrument_type": "CE", "asset_symbol": "NIFTY",
        "underlying_symbol": "NIFTY", "instrument_key": "NSE_FO|50971", "lot_size": 75,
        "freeze_quantity": 1800.0, "exchange_token": "50971", "minimum_lot": 75,
        "tick_size": 5.0, "trading_symbol": "NIFTY 27000 CE 30 DEC 25",
        "strike_price": 27000.0, "qty_multiplier": 1.0,
    }  # fmt: skip
    return base | fields


def equity(**fields: object) -> dict[str, object]:
    base: dict[str, object] = {
        "segment": "NSE_EQ", "name": "RELIANCE INDUSTRIES LTD", "exchange": "NSE",
        "isin": "INE002A01018", "instrument_type": "EQ",
        "instrument_key": "NSE_EQ|INE002A01018", "lot_size": 1, "freeze_quantity": 100000.0,
        "exchange_token": "2885", "tick_size": 10.0, "trading_symbol": "RELIANCE",
    }  # fmt: skip
    return base | fields


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        ("NSE_FO|50971", Instrument(
            "NIFTY30DEC2527000CE", "NIFTY 27000 CE 30 DEC 25", "NIFTY", "NFO", "NSE_FO",
            "NSE_FO|50971", date(2025, 12, 30), 27000.0, 75, "CE", 0.05)),
        ("NSE_FO|52168", Instrument(
            "NIFTY28OCT25FUT", "NIFTY FUT 28 OCT 25", "NIFTY", "NFO", "NSE_FO",
            "NSE_FO|52168", date(2025, 10, 28), None, 75, "FUT", 0.1)),
    ],
)  # fmt: skip
def test_sample_rows_normalise(token: str, expected: Instrument) -> None:
    with sample("upstox_NSE_FO.json").open("rb") as stream:
        outcome = upstox.parse(stream)
    assert by_token(outcome)[("NFO", token)] == expected


def test_every_sample_row_is_read() -> None:
    with sample("upstox_NSE_FO.json").open("rb") as stream:
        outcome = upstox.parse(stream)
    assert (outcome.rows_read, len(outcome.rows), outcome.rejected_count) == (1521, 1521, 0)
    # Each expiry is read as the IST day its trading symbol names.
    for row in outcome.rows:
        assert row.broker_symbol.endswith(row.expiry.strftime("%d %b %y").upper())  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("milliseconds", "expected"),
    [
        (1767119399000, date(2025, 12, 30)),  # 23:59:59 IST, as Upstox writes expiries
        (1793125799000, date(2026, 10, 27)),
        (epoch_ms(datetime(2025, 9, 30, 0, 0, 0, tzinfo=IST)), date(2025, 9, 30)),  # UTC: 29th
        (epoch_ms(datetime(2025, 9, 30, 5, 29, 59, tzinfo=IST)), date(2025, 9, 30)),
        (epoch_ms(datetime(2025, 9, 29, 23, 59, 59, tzinfo=IST)), date(2025, 9, 29)),
    ],
)
def test_expiry_milliseconds_are_read_as_the_ist_day(milliseconds: int, expected: date) -> None:
    assert ist_date_from_epoch_ms(milliseconds) == expected
    (row,) = parse_json(upstox.parse, [derivative(expiry=milliseconds)]).rows
    assert row.expiry == expected


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        (equity(), Instrument(
            "RELIANCE", "RELIANCE", "RELIANCE", "NSE", "NSE_EQ", "NSE_EQ|INE002A01018",
            None, None, 1, "EQ", 0.1)),
        # On NSE_EQ the instrument type is the series: a debenture must not become CHOLAFIN.
        (equity(instrument_type="D1", trading_symbol="CHOLAFIN",
                instrument_key="NSE_EQ|INE121A08PJ0", tick_size=1.0, lot_size=1), Instrument(
            "CHOLAFIN-D1", "CHOLAFIN", "CHOLAFIN-D1", "NSE", "NSE_EQ", "NSE_EQ|INE121A08PJ0",
            None, None, 1, "EQ", 0.01)),
        # On BSE_EQ it is the BSE group, not part of the symbol.
        (equity(segment="BSE_EQ", exchange="BSE", instrument_type="A", trading_symbol="IRFC",
                instrument_key="BSE_EQ|INE053F01010", tick_size=5.0), Instrument(
            "IRFC", "IRFC", "IRFC", "BSE", "BSE_EQ", "BSE_EQ|INE053F01010",
            None, None, 1, "EQ", 0.05)),
        # Index rows have no lot or tick size.
        ({"segment": "NSE_INDEX", "name": "Nifty Bank", "exchange": "NSE",
          "instrument_type": "INDEX", "instrument_key": "NSE_INDEX|Nifty Bank",
          "exchange_token": "26009", "trading_symbol": "BANKNIFTY"}, Instrument(
            "BANKNIFTY", "BANKNIFTY", "BANKNIFTY", "NSE_INDEX", "NSE_INDEX",
            "NSE_INDEX|Nifty Bank", None, None, 0, "INDEX", 0.0)),
        ({"segment": "NSE_INDEX", "name": "Nifty 50", "exchange": "NSE",
          "instrument_type": "INDEX", "instrument_key": "NSE_INDEX|Nifty 50",
          "exchange_token": "26000", "trading_symbol": "NIFTY 50"}, Instrument(
            "NIFTY", "NIFTY 50", "NIFTY", "NSE_INDEX", "NSE_INDEX", "NSE_INDEX|Nifty 50",
            None, None, 0, "INDEX", 0.0)),
        ({"segment": "BSE_INDEX", "name": "SENSEX 50", "exchange": "BSE",
          "instrument_type": "INDEX", "instrument_key": "BSE_INDEX|SNSX50",
          "exchange_token": "83", "trading_symbol": "SNSX50"}, Instrument(
            "SENSEX50", "SNSX50", "SENSEX50", "BSE_INDEX", "BSE_INDEX", "BSE_INDEX|SNSX50",
            None, None, 0, "INDEX", 0.0)),
        # MCX: the underlying symbol is the root; tick 100 paise is 1 rupee.
        (derivative(segment="MCX_FO", exchange="MCX", name="CRUDE OIL",
                    underlying_symbol="CRUDEOIL", instrument_type="FUT",
                    instrument_key="MCX_FO|440001", trading_symbol="CRUDEOIL FUT 19 NOV 24",
                    expiry=epoch_ms(datetime(2024, 11, 19, 23, 59, 59, tzinfo=IST)),
                    tick_size=100.0, lot_size=100, strike_price=0.0), Instrument(
            "CRUDEOIL19NOV24FUT", "CRUDEOIL FUT 19 NOV 24", "CRUDEOIL", "MCX", "MCX_FO",
            "MCX_FO|440001", date(2024, 11, 19), None, 100, "FUT", 1.0)),
        (derivative(segment="NCD_FO", name="USDINR", underlying_symbol="USDINR",
                    instrument_key="NCD_FO|14295", trading_symbol="USDINR 83.25 PE 27 MAR 26",
                    instrument_type="PE", strike_price=83.25, tick_size=0.25, lot_size=1,
                    expiry=1774636199000), Instrument(
            "USDINR27MAR2683.25PE", "USDINR 83.25 PE 27 MAR 26", "USDINR", "CDS", "NCD_FO",
            "NCD_FO|14295", date(2026, 3, 27), 83.25, 1, "PE", 0.0025)),
    ],
    ids=["nse eq", "nse debenture series", "bse group", "nifty bank", "nifty 50", "snsx50",
         "mcx future", "currency option"],
)  # fmt: skip
def test_segments_normalise(item: dict[str, object], expected: Instrument) -> None:
    assert parse_json(upstox.parse, [item]).rows == [expected]


def test_untraded_segments_are_skipped() -> None:
    outcome = parse_json(
        upstox.parse,
        [
            derivative(segment="NSE_COM", instrument_key="NSE_COM|1"),
            {"segment": "GLOBAL_INDEX", "name": "DOW JONES", "exchange": "GLOBAL",
             "instrument_type": "", "instrument_key": "GLOBAL_INDEX|^DJI",
             "exchange_token": "", "trading_symbol": "^DJI"},
            derivative(),
        ],
    )  # fmt: skip
    assert [row.token for row in outcome.rows] == ["NSE_FO|50971"]
    assert outcome.skipped == {
        "segment NSE_COM not traded": 1,
        "segment GLOBAL_INDEX not traded": 1,
    }


@pytest.mark.parametrize(
    ("broken", "reason"),
    [
        (derivative(tick_size="five"), "unreadable tick size"),
        (derivative(tick_size=None), "unreadable tick size"),
        (derivative(strike_price=None), "unreadable strike"),
        (derivative(strike_price=0.0), "option without strike"),
        (derivative(expiry="soon"), "unreadable expiry"),
        (derivative(lot_size=[75]), "unreadable lot size"),
        (derivative(instrument_key=""), "missing token"),
        (derivative(underlying_symbol="", name=""), "missing underlying name"),
    ],
)
def test_a_broken_row_is_rejected_with_its_position(broken: dict[str, object], reason: str) -> None:
    outcome = parse_json(upstox.parse, [equity(), broken, derivative()])
    assert [row.instrument_type for row in outcome.rows] == ["EQ", "CE"]
    assert outcome.rejected == {reason: 1}
    assert outcome.examples[0].startswith(f"row 2: {reason}")


@pytest.mark.parametrize(
    ("data", "says"),
    [
        ('{"status": "success", "data": []}', "expected a JSON list of instruments"),
        ('[{"token": "1", "symbol": "SBIN-EQ", "exch_seg": "NSE"}]',
         "first instrument lacks segment, instrument_key, instrument_type, trading_symbol"),
        ('[{"segment": "NSE_FO", "instrument_key": "NSE_FO|1"},', "cut short"),
        ('[{"segment": "NSE_FO", "instrument_key": "NSE_FO|1', "cut short"),
        ("segment,name\nNSE_EQ,RELIANCE\n", "invalid JSON"),
    ],
    ids=["object", "angel json", "cut after an element", "cut mid-string", "csv"],
)  # fmt: skip
def test_another_format_or_a_cut_file_is_refused(data: str, says: str) -> None:
    with pytest.raises(ContractFormatError, match=says):
        parse_bytes(upstox.parse, data)
