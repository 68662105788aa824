"""Dhan's scrip master CSV: ids unique per segment, paise ticks except on indices, both layouts."""

from __future__ import annotations

from datetime import date

import pytest

from algovisor.contracts.formats import dhan
from algovisor.contracts.records import ContractFormatError, Instrument
from tests.contracts.format_samples import by_token, data_line_count, parse_bytes, sample

HEADER = (
    "SEM_EXM_EXCH_ID,SEM_SEGMENT,SEM_SMST_SECURITY_ID,SEM_INSTRUMENT_NAME,SEM_EXPIRY_CODE,"
    "SEM_TRADING_SYMBOL,SEM_LOT_UNITS,SEM_CUSTOM_SYMBOL,SEM_EXPIRY_DATE,SEM_STRIKE_PRICE,"
    "SEM_OPTION_TYPE,SEM_TICK_SIZE,SEM_EXPIRY_FLAG,SEM_EXCH_INSTRUMENT_TYPE,SEM_SERIES,"
    "SM_SYMBOL_NAME"
)
NIFTY_INDEX = "NSE,I,13,INDEX,0,NIFTY,1,Nifty 50,0001-01-01,,XX,0.05,,INDEX,X,NIFTY"
ABB = "NSE,E,13,EQUITY,0,ABB,1,ABB India,,,,5,NA,ES,EQ,ABB INDIA LIMITED"
# As Dhan serves them: lot units as floats, expiry with a time, strike in rupees, tick in paise.
NIFTY_OPTION = (
    "NSE,D,45001,OPTIDX,0,NIFTY-Dec2024-24500-CE,75.0,NIFTY 26 DEC 24500 CALL,"
    "2024-12-26 14:30:00,24500.00000,CE,5.0000,W,OP,NA,"
)


def csv_text(*lines: str) -> str:
    return "\r\n".join((HEADER, *lines)) + "\r\n"


def test_one_security_id_in_two_segments_is_two_instruments() -> None:
    outcome = parse_bytes(dhan.parse, csv_text(NIFTY_INDEX, ABB))
    assert outcome.rows == [
        Instrument("NIFTY", "NIFTY", "NIFTY", "NSE_INDEX", "IDX_I", "13",
                   None, None, 1, "INDEX", 0.05),
        Instrument("ABB", "ABB", "ABB", "NSE", "NSE_EQ", "13", None, None, 1, "EQ", 0.05),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("file_name", "exchange", "token", "expected"),
    [
        # Security id 40 is both an NSE index and an NSE equity in the same file.
        ("dhan_api-scrip-master.csv", "NSE_INDEX", "40", Instrument(
            "NIFTYCONSUMPTION", "NIFTY CONSUMPTION", "NIFTYCONSUMPTION", "NSE_INDEX", "IDX_I",
            "40", None, None, 1, "INDEX", 0.05)),
        ("dhan_api-scrip-master.csv", "NSE_INDEX", "21", Instrument(
            "INDIAVIX", "INDIA VIX", "INDIAVIX", "NSE_INDEX", "IDX_I", "21",
            None, None, 1, "INDEX", 0.05)),
        ("dhan_api-scrip-master.csv", "NSE_INDEX", "37", Instrument(
            "NIFTYMIDCAP100", "NIFTY MID100 FREE", "NIFTYMIDCAP100", "NSE_INDEX", "IDX_I",
            "37", None, None, 1, "INDEX", 0.05)),
        # Index ticks are already rupees (0.01 here), unlike E and D rows.
        ("dhan_api-scrip-master.csv", "BSE_INDEX", "83", Instrument(
            "SENSEX50", "SNSX50", "SENSEX50", "BSE_INDEX", "IDX_I", "83",
            None, None, 1, "INDEX", 0.01)),
        ("dhan_api-scrip-master.csv", "BSE_INDEX", "51", Instrument(
            "SENSEX", "SENSEX", "SENSEX", "BSE_INDEX", "IDX_I", "51",
            None, None, 1, "INDEX", 0.01)),
        # BSE equity: tick "5" is paise; the BSE group is not part of the symbol.
        ("dhan_api-scrip-master.csv", "BSE", "200669", Instrument(
            "FROG", "FROG", "FROG", "BSE", "BSE_EQ", "200669", None, None, 400, "EQ", 0.05)),
        # BOM, CRLF, spreadsheet dates (27-01-2026 14:30), a blank last line.
        ("dhan_dhan_master.csv", "NFO", "49224", Instrument(
            "BANKNIFTY27JAN26FUT", "BANKNIFTY-Jan2026-FUT", "BANKNIFTY", "NFO", "NSE_FNO",
            "49224", date(2026, 1, 27), None, 30, "FUT", 0.2)),
        ("dhan_dhan_master.csv", "NSE_INDEX", "25", Instrument(
            "BANKNIFTY", "BANKNIFTY", "BANKNIFTY", "NSE_INDEX", "IDX_I", "25",
            None, None, 1, "INDEX", 0.05)),
        # The detailed layout; a non-EQ series becomes a suffix (NSE's convention).
        ("dhan_api-scrip-master-detailed.csv", "NSE", "1006", Instrument(
            "675KA35-SG", "675KA35", "675KA35-SG", "NSE", "NSE_EQ", "1006",
            None, None, 100, "EQ", 0.01)),
        ("dhan_api-scrip-master-detailed.csv", "NSE", "100", Instrument(
            "ARE&M", "ARE&M", "ARE&M", "NSE", "NSE_EQ", "100", None, None, 1, "EQ", 0.05)),
        ("dhan_api-scrip-master-detailed.csv", "NSE_INDEX", "13", Instrument(
            "NIFTY", "NIFTY", "NIFTY", "NSE_INDEX", "IDX_I", "13",
            None, None, 1, "INDEX", 0.05)),
    ],
)  # fmt: skip
def test_sample_rows_normalise(
    file_name: str, exchange: str, token: str, expected: Instrument
) -> None:
    with sample(file_name).open("rb") as stream:
        outcome = dhan.parse(stream)
    assert by_token(outcome)[(exchange, token)] == expected


@pytest.mark.parametrize(
    "file_name",
    ["dhan_dhan_master.csv", "dhan_api-scrip-master.csv", "dhan_api-scrip-master-detailed.csv"],
)
def test_every_sample_row_is_read_and_a_trailing_blank_line_is_no_rejection(
    file_name: str,
) -> None:
    path = sample(file_name)
    with path.open("rb") as stream:
        outcome = dhan.parse(stream)
    assert outcome.rows_read == data_line_count(path)
    assert len(outcome.rows) == outcome.rows_read
    assert not outcome.rejected
    assert not outcome.skipped


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (NIFTY_OPTION, Instrument(
            "NIFTY26DEC2424500CE", "NIFTY-Dec2024-24500-CE", "NIFTY", "NFO", "NSE_FNO",
            "45001", date(2024, 12, 26), 24500.0, 75, "CE", 0.05)),
        # The underlying may contain hyphens: it is read from the right of the symbol.
        ("NSE,D,52001,FUTSTK,0,BAJAJ-AUTO-Jan2026-FUT,75.0,BAJAJ-AUTO JAN FUT,"
         "2026-01-27 14:30:00,-0.01000,XX,10.0000,M,FUT,NA,", Instrument(
            "BAJAJ-AUTO27JAN26FUT", "BAJAJ-AUTO-Jan2026-FUT", "BAJAJ-AUTO", "NFO", "NSE_FNO",
            "52001", date(2026, 1, 27), None, 75, "FUT", 0.1)),
        ("NSE,D,52002,OPTSTK,0,VEDL-Apr2024-292.5-PE,2300.0,VEDL 25 APR 292.5 PUT,"
         "2024-04-25 14:30:00,292.50000,PE,5.0000,M,OP,NA,", Instrument(
            "VEDL25APR24292.5PE", "VEDL-Apr2024-292.5-PE", "VEDL", "NFO", "NSE_FNO",
            "52002", date(2024, 4, 25), 292.5, 2300, "PE", 0.05)),
        ("MCX,M,440001,FUTCOM,0,CRUDEOIL-19Jan2099-FUT,100.0,CRUDEOIL JAN FUT,"
         "2099-01-19 23:30:00,-0.01000,XX,100.0000,M,FUT,NA,", Instrument(
            "CRUDEOIL19JAN99FUT", "CRUDEOIL-19Jan2099-FUT", "CRUDEOIL", "MCX", "MCX_COMM",
            "440001", date(2099, 1, 19), None, 100, "FUT", 1.0)),
        ("BSE,C,1026077,OPTCUR,0,USDINR-28Aug2024-83.25-CE,1.0,USDINR 28 AUG 83.25 CALL,"
         "2024-08-28 12:30:00,83.2500,CE,0.2500,M,OPTCUR,NA,", Instrument(
            "USDINR28AUG2483.25CE", "USDINR-28Aug2024-83.25-CE", "USDINR", "BCD",
            "BSE_CURRENCY", "1026077", date(2024, 8, 28), 83.25, 1, "CE", 0.0025)),
    ],
    ids=["index option", "hyphenated stock future", "decimal strike", "mcx", "bse currency"],
)  # fmt: skip
def test_derivatives_as_dhan_serves_them(line: str, expected: Instrument) -> None:
    assert parse_bytes(dhan.parse, csv_text(line)).rows == [expected]


def test_detailed_layout_takes_the_underlying_from_its_own_column() -> None:
    text = (
        "EXCH_ID,SEGMENT,SECURITY_ID,ISIN,INSTRUMENT,UNDERLYING_SECURITY_ID,UNDERLYING_SYMBOL,"
        "SYMBOL_NAME,DISPLAY_NAME,INSTRUMENT_TYPE,SERIES,LOT_SIZE,SM_EXPIRY_DATE,STRIKE_PRICE,"
        "OPTION_TYPE,TICK_SIZE,EXPIRY_FLAG\n"
        "NSE,D,52175,NA,OPTIDX,13,NIFTY,NIFTY-Oct2024-25000-CE,NIFTY 31 OCT 25000 CALL,OP,NA,"
        "25,2024-10-31 14:30:00,25000.00,CE,5,W\n"
    )
    (row,) = parse_bytes(dhan.parse, text).rows
    assert (row.symbol, row.name, row.broker_symbol, row.token) == (
        "NIFTY31OCT2425000CE",
        "NIFTY",
        "NIFTY-Oct2024-25000-CE",
        "52175",
    )


def test_untraded_segments_are_skipped() -> None:
    outcome = parse_bytes(
        dhan.parse,
        csv_text("NCDEX,M,9001,FUTCOM,0,GUARSEED-Apr2024-FUT,5.0,GUAR,2024-04-19,,XX,1,M,FUT,,"),
    )
    assert (outcome.rows, outcome.skipped) == ([], {"NCDEX segment M not traded": 1})


@pytest.mark.parametrize(
    ("broken", "reason"),
    [
        (NIFTY_OPTION.replace("75.0", "lots"), "unreadable lot size"),
        (NIFTY_OPTION.replace("24500.00000", "24,500"), "wrong field count"),
        (NIFTY_OPTION.replace("24500.00000", "n/a"), "unreadable strike"),
        (NIFTY_OPTION.replace(",CE,", ",XX,"), "unknown option type"),
        (NIFTY_OPTION.replace("2024-12-26 14:30:00", "Dec 26"), "unreadable expiry"),
        (NIFTY_OPTION.replace("NIFTY-Dec2024-24500-CE", "NIFTYDEC24500CE"),
         "unreadable trading symbol"),
        (ABB.replace(",13,", ",,"), "missing token"),
    ],
)  # fmt: skip
def test_a_broken_row_is_rejected_with_its_line_number(broken: str, reason: str) -> None:
    outcome = parse_bytes(dhan.parse, csv_text(NIFTY_INDEX, broken, ABB))
    assert [row.exchange for row in outcome.rows] == ["NSE_INDEX", "NSE"]
    assert outcome.rejected == {reason: 1}
    assert outcome.examples[0].startswith(f"row 3: {reason}")


def test_a_blank_row_mid_file_is_rejected() -> None:
    outcome = parse_bytes(dhan.parse, csv_text(NIFTY_INDEX, "", ABB, "", ""))
    assert len(outcome.rows) == 2
    assert outcome.examples == ["row 3: blank row"]


def test_a_zerodha_file_is_refused_naming_the_columns_dhan_needs() -> None:
    data = sample("zerodha_instruments.csv").read_bytes()
    with pytest.raises(ContractFormatError) as refused:
        parse_bytes(dhan.parse, data)
    assert str(refused.value).startswith(
        "not a Dhan scrip master CSV: the header lacks SEM_EXM_EXCH_ID, SEM_SEGMENT"
    )
    assert "found: instrument_token,exchange_token" in str(refused.value)


def test_garbage_is_refused() -> None:
    with pytest.raises(ContractFormatError, match="not UTF-8"):
        parse_bytes(dhan.parse, bytes(range(128, 256)))
