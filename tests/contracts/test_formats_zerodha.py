"""Zerodha's instruments CSV: real rows normalise to OpenAlgo symbols; bad files are refused."""

from __future__ import annotations

from datetime import date

import pytest

from algovisor.contracts.formats import zerodha
from algovisor.contracts.records import ContractFormatError, Instrument
from tests.contracts.format_samples import (
    by_token,
    data_line_count,
    parse_bytes,
    sample,
)

HEADER = (
    "instrument_token,exchange_token,tradingsymbol,name,last_price,expiry,strike,"
    "tick_size,lot_size,instrument_type,segment,exchange"
)
NIFTY_OPTION = "11677186,45614,NIFTY2440420450CE,NIFTY,0,04-04-2024,20450,0.05,50,CE,NFO-OPT,NFO"
SBIN = "779521,3045,SBIN,STATE BANK OF INDIA,0,,0,0.05,1,EQ,NSE,NSE"


def csv_text(*lines: str, newline: str = "\n") -> str:
    return newline.join((HEADER, *lines)) + newline


@pytest.mark.parametrize(
    ("file_name", "exchange", "token", "expected"),
    [
        # A NIFTY weekly (Zerodha writes 2440420450: YY, month digit, DD).
        ("zerodha_instruments.csv", "NFO", "11677186", Instrument(
            "NIFTY04APR2420450CE", "NIFTY2440420450CE", "NIFTY", "NFO", "NFO", "11677186",
            date(2024, 4, 4), 20450.0, 50, "CE", 0.05)),
        ("zerodha_instruments.csv", "NFO", "13368834", Instrument(
            "NIFTY25APR24FUT", "NIFTY24APRFUT", "NIFTY", "NFO", "NFO", "13368834",
            date(2024, 4, 25), None, 50, "FUT", 0.05)),
        # A decimal strike keeps its decimals in the symbol.
        ("zerodha_instruments.csv", "NFO", "36171010", Instrument(
            "VEDL25APR24262.5CE", "VEDL24APR262.5CE", "VEDL", "NFO", "NFO", "36171010",
            date(2024, 4, 25), 262.5, 2300, "CE", 0.05)),
        # A hyphen inside a name is not a series.
        ("zerodha_instruments.csv", "NFO", "13385730", Instrument(
            "BAJAJ-AUTO25APR24FUT", "BAJAJ-AUTO24APRFUT", "BAJAJ-AUTO", "NFO", "NFO",
            "13385730", date(2024, 4, 25), None, 125, "FUT", 0.05)),
        ("zerodha_instruments.csv", "NSE", "4267265", Instrument(
            "BAJAJ-AUTO", "BAJAJ-AUTO", "BAJAJ-AUTO", "NSE", "NSE", "4267265",
            None, None, 1, "EQ", 0.05)),
        ("zerodha_instruments.csv", "BSE", "136442116", Instrument(
            "BAJAJ-AUTO", "BAJAJ-AUTO", "BAJAJ-AUTO", "BSE", "BSE", "136442116",
            None, None, 1, "EQ", 0.05)),
        # The 2026 pandas re-save: ISO expiries, 0.0 floats, NIFTY lot 65, FUT tick 0.1.
        ("zerodha_instruments_nfo.csv", "NFO", "10696706", Instrument(
            "NIFTY12MAY2624350CE", "NIFTY2651224350CE", "NIFTY", "NFO", "NFO", "10696706",
            date(2026, 5, 12), 24350.0, 65, "CE", 0.05)),
        ("zerodha_instruments_nfo.csv", "NFO", "16914178", Instrument(
            "NIFTY26MAY26FUT", "NIFTY26MAYFUT", "NIFTY", "NFO", "NFO", "16914178",
            date(2026, 5, 26), None, 65, "FUT", 0.1)),
        ("zerodha_instruments_bfo.csv", "BFO", "222776325", Instrument(
            "SENSEX27MAY26FUT", "SENSEX26MAYFUT", "SENSEX", "BFO", "BFO", "222776325",
            date(2026, 5, 27), None, 20, "FUT", 0.05)),
        # A non-EQ series keeps its suffix, as Zerodha and NSE write it.
        ("zerodha_instruments_nse.csv", "NSE", "257", Instrument(
            "GOLDSTAR-SM", "GOLDSTAR-SM", "GOLDSTAR-SM", "NSE", "NSE", "257",
            None, None, 11250, "EQ", 0.05)),
        # Indices: segment INDICES, lot and tick 0 kept, broker spelling kept beside.
        ("zerodha_instruments_nse.csv", "NSE_INDEX", "256265", Instrument(
            "NIFTY", "NIFTY 50", "NIFTY", "NSE_INDEX", "NSE", "256265",
            None, None, 0, "INDEX", 0.0)),
    ],
)  # fmt: skip
def test_sample_rows_normalise(
    file_name: str, exchange: str, token: str, expected: Instrument
) -> None:
    with sample(file_name).open("rb") as stream:
        outcome = zerodha.parse(stream)
    assert by_token(outcome)[(exchange, token)] == expected


@pytest.mark.parametrize(
    ("token", "symbol"),
    [
        ("260105", "BANKNIFTY"),
        ("257801", "FINNIFTY"),
        ("288009", "MIDCPNIFTY"),
        ("270857", "NIFTYNXT50"),
        ("264969", "INDIAVIX"),
        ("268041", "NIFTY500"),
    ],
)
def test_index_names_become_openalgo_index_symbols(token: str, symbol: str) -> None:
    with sample("zerodha_instruments_nse.csv").open("rb") as stream:
        outcome = zerodha.parse(stream)
    assert by_token(outcome)[("NSE_INDEX", token)].symbol == symbol


@pytest.mark.parametrize(
    "file_name",
    [
        "zerodha_instruments.csv",
        "zerodha_instruments_nfo.csv",
        "zerodha_instruments_bfo.csv",
        "zerodha_instruments_nse.csv",
    ],
)
def test_every_sample_row_is_read(file_name: str) -> None:
    path = sample(file_name)
    with path.open("rb") as stream:
        outcome = zerodha.parse(stream)
    assert outcome.rows_read == data_line_count(path)
    assert len(outcome.rows) == outcome.rows_read
    assert not outcome.rejected
    assert not outcome.skipped


def test_bom_and_crlf_read_like_plain_text() -> None:
    plain = parse_bytes(zerodha.parse, csv_text(NIFTY_OPTION, SBIN))
    excel = parse_bytes(
        zerodha.parse, b"\xef\xbb\xbf" + csv_text(NIFTY_OPTION, SBIN, newline="\r\n").encode()
    )
    assert excel.rows == plain.rows
    assert [row.symbol for row in plain.rows] == ["NIFTY04APR2420450CE", "SBIN"]


def test_quoted_names_as_kite_serves_them() -> None:
    line = '12345,48,NIFTY24APR22000CE,"NIFTY",0,2024-04-25,22000.0,0.05,50,CE,NFO-OPT,NFO'
    (row,) = parse_bytes(zerodha.parse, csv_text(line)).rows
    assert (row.symbol, row.name) == ("NIFTY25APR2422000CE", "NIFTY")


def test_currency_option_keeps_a_four_decimal_strike() -> None:
    line = "1234567,4822,USDINR24APR83.25CE,USDINR,0,2024-04-26,83.25,0.0025,1,CE,CDS-OPT,CDS"
    (row,) = parse_bytes(zerodha.parse, csv_text(line)).rows
    assert (row.symbol, row.exchange, row.strike, row.tick_size) == (
        "USDINR26APR2483.25CE",
        "CDS",
        83.25,
        0.0025,
    )


def test_untraded_segments_are_skipped_and_counted() -> None:
    outcome = parse_bytes(
        zerodha.parse,
        csv_text(
            "100,1,GUARSEED24APRFUT,GUARSEED,0,2024-04-19,0,1,5,FUT,NCO-FUT,NCO",
            "200,2,MCXBULLDEX,MCXBULLDEX,0,,0,0,0,EQ,INDICES,MCX",
            SBIN,
        ),
    )
    assert [row.symbol for row in outcome.rows] == ["SBIN"]
    assert outcome.skipped == {"exchange NCO not traded": 1, "MCX index not traded": 1}
    assert not outcome.rejected


@pytest.mark.parametrize(
    ("broken_line", "reason"),
    [
        ("11677186,45614,NIFTY2440420450CE,NIFTY,0,04-04-2024,abc,0.05,50,CE,NFO-OPT,NFO",
         "unreadable strike"),
        ("11677186,45614,NIFTY2440420450CE,NIFTY,0,31-02-2024,20450,0.05,50,CE,NFO-OPT,NFO",
         "unreadable expiry"),
        ("11677186,45614,NIFTY2440420450CE,NIFTY,0,04-04-2024,20450,0.05,fifty,CE,NFO-OPT,NFO",
         "unreadable lot size"),
        ("11677186,45614,NIFTY2440420450CE,NIFTY,0,04-04-2024,20450,nan,50,CE,NFO-OPT,NFO",
         "unreadable tick size"),
        (",45614,NIFTY2440420450CE,NIFTY,0,04-04-2024,20450,0.05,50,CE,NFO-OPT,NFO",
         "missing token"),
        ("11677186,45614,NIFTY2440420450CE,NIFTY,0,04-04-2024,0,0.05,50,CE,NFO-OPT,NFO",
         "option without strike"),
        ("11677186,45614,NIFTY2440420450CE,NIFTY,0,04-04-2024,20450,0.05,50,CE,NFO-OPT",
         "wrong field count"),
    ],
)  # fmt: skip
def test_a_broken_row_is_rejected_with_its_line_number(broken_line: str, reason: str) -> None:
    outcome = parse_bytes(zerodha.parse, csv_text(SBIN, broken_line, NIFTY_OPTION))
    assert [row.symbol for row in outcome.rows] == ["SBIN", "NIFTY04APR2420450CE"]
    assert outcome.rows_read == 3
    assert outcome.rejected == {reason: 1}
    assert outcome.examples[0].startswith(f"row 3: {reason}")  # header is line 1


def test_blank_line_mid_file_is_rejected_but_trailing_blank_lines_are_not() -> None:
    outcome = parse_bytes(zerodha.parse, csv_text(SBIN, "", NIFTY_OPTION) + "\n\n")
    assert len(outcome.rows) == 2
    assert outcome.rejected == {"blank row": 1}
    assert outcome.examples == ["row 3: blank row"]


def test_a_file_cut_in_its_last_line_is_refused_as_cut_short() -> None:
    text = csv_text(SBIN, NIFTY_OPTION)
    cut = text[: text.rindex("0.05,50")]  # stops inside the option's tick size field
    with pytest.raises(
        ContractFormatError, match="the file is cut short: its last line has no end"
    ):
        parse_bytes(zerodha.parse, cut)


def test_a_row_with_a_wrong_field_count_mid_file_is_rejected_alone() -> None:
    text = csv_text(SBIN, NIFTY_OPTION)
    broken = text.replace("0.05,50", "0.05", 1) if "0.05,50" in text else text
    outcome = parse_bytes(zerodha.parse, broken + text.split("\n", 1)[1])
    assert outcome.rejected == {"wrong field count": 1}
    assert outcome.examples[0].startswith("row 3: wrong field count")


def test_an_angel_json_is_refused_saying_what_was_expected_and_found() -> None:
    data = sample("angelone_OpenAPIScripMaster.json").read_bytes()
    with pytest.raises(ContractFormatError) as refused:
        parse_bytes(zerodha.parse, data)
    message = str(refused.value)
    assert message.startswith("not a Zerodha instruments CSV: the header lacks instrument_token")
    assert '[{"token":"99926000"' in message
    assert "looks like JSON" in message


def test_a_csv_of_another_broker_is_refused_naming_its_header() -> None:
    data = sample("dhan_api-scrip-master.csv").read_bytes()
    with pytest.raises(ContractFormatError, match="found: SEM_EXM_EXCH_ID,SEM_SEGMENT"):
        parse_bytes(zerodha.parse, data)


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (b"", "empty"),
        (b"\n\r\n  \n", "empty"),
        (bytes(range(256)) * 8, "not UTF-8"),
        (b"\x1f\x8b\x08\x00\x12\x34", "not UTF-8"),  # gzip data handed to the parser itself
        (b"instrument_token\x00\x00\x00" + bytes(64), "NUL"),
        (b"PK\x03\x04 this is a zip archive", "header lacks"),
    ],
    ids=["empty", "blank lines", "binary", "gzip", "nul bytes", "other text"],
)
def test_garbage_is_refused(data: bytes, says: str) -> None:
    with pytest.raises(ContractFormatError, match=says):
        parse_bytes(zerodha.parse, data)


def test_a_header_alone_yields_no_rows_and_no_rejections() -> None:
    outcome = parse_bytes(zerodha.parse, HEADER + "\n")
    assert (outcome.rows, outcome.rows_read, outcome.rejected_count) == ([], 0, 0)
