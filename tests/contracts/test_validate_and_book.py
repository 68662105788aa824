"""The checks every contract passes before loading, and the lookup book built from it."""

from __future__ import annotations

from datetime import date

import pytest

from algovisor.contracts.book import ContractBook, SymbolNotFoundError
from algovisor.contracts.records import Instrument, ParseOutcome
from algovisor.contracts.symbols import format_strike, future_symbol, option_symbol
from algovisor.contracts.validate import ContractValidationError, validate

DAY = date(2026, 11, 20)
WEEKLY = date(2026, 11, 24)
NEXT = date(2026, 12, 29)


def option(name: str, expiry: date, strike: float, kind: str, token: str) -> Instrument:
    symbol = option_symbol(name, expiry, strike, kind)
    return Instrument(symbol, symbol, name, "NFO", "NFO", token, expiry, strike, 65, kind, 0.05)


def future(name: str, expiry: date, token: str) -> Instrument:
    symbol = future_symbol(name, expiry)
    return Instrument(symbol, symbol, name, "NFO", "NFO", token, expiry, None, 65, "FUT", 0.1)


def equity(symbol: str, token: str, exchange: str = "NSE") -> Instrument:
    return Instrument(
        symbol, f"{symbol}-EQ", symbol, exchange, exchange, token, None, None, 1, "EQ", 0.05
    )


ROWS = [
    equity("SBIN", "3045"),
    equity("SBIN", "500112", "BSE"),
    equity("3045", "999"),  # a symbol that looks like a token elsewhere
    future("NIFTY", WEEKLY, "100"),
    future("NIFTY", NEXT, "101"),
    option("NIFTY", WEEKLY, 24000, "CE", "200"),
    option("NIFTY", WEEKLY, 24000, "PE", "201"),
    option("NIFTY", WEEKLY, 24050, "CE", "202"),
    option("NIFTY", NEXT, 24000, "CE", "203"),
    option("NIFTYNXT50", WEEKLY, 68000, "CE", "204"),
    option("VEDL", WEEKLY, 292.5, "CE", "205"),
    Instrument(
        "NIFTY", "Nifty 50", "NIFTY", "NSE_INDEX", "NSE", "26000", None, None, 0, "INDEX", 0.0
    ),
]


def outcome(rows: list[Instrument], rejected: int = 0) -> ParseOutcome:
    parsed = ParseOutcome(rows=list(rows), rows_read=len(rows) + rejected)
    for number in range(rejected):
        parsed.reject(number + 2, "unreadable strike", "'abc'")
    return parsed


# ----- validation ----------------------------------------------------------------------


def test_symbols_follow_the_openalgo_format() -> None:
    assert option_symbol("NIFTY", date(2024, 11, 28), 24000.0, "CE") == "NIFTY28NOV2424000CE"
    assert future_symbol("BANKNIFTY", date(2024, 4, 24)) == "BANKNIFTY24APR24FUT"
    assert option_symbol("VEDL", date(2024, 4, 25), 292.5, "CE") == "VEDL25APR24292.5CE"
    assert format_strike(83.2500) == "83.25"


def test_a_good_contract_is_kept_whole_and_counted_per_exchange() -> None:
    contract = validate(outcome(ROWS), DAY)
    assert len(contract.rows) == len(ROWS)
    assert contract.exchange_counts == {"BSE": 1, "NFO": 8, "NSE": 2, "NSE_INDEX": 1}
    assert contract.rows == sorted(ROWS, key=lambda row: (row.exchange, row.symbol))


def test_a_few_bad_rows_are_counted_and_left_out() -> None:
    broken = [*ROWS, ROWS[0]._replace(symbol="X", token="")]
    contract = validate(outcome(broken), DAY, max_rejected_ratio=0.2)
    assert contract.rejected["token missing or too long"] == 1
    assert "X" not in {row.symbol for row in contract.rows}


def test_a_file_of_mostly_bad_rows_is_refused_with_counts_and_an_example() -> None:
    with pytest.raises(ContractValidationError) as refused:
        validate(outcome(ROWS[:4], rejected=6), DAY)
    message = refused.value.message
    assert "too many rejected rows: 6 of 10 (60%" in message
    assert "unreadable strike: 6" in message
    assert "row 2: unreadable strike ('abc')" in message


def test_expired_contracts_are_skipped_not_counted_as_bad() -> None:
    old = future("NIFTY", date(2026, 10, 27), "99")
    contract = validate(outcome([*ROWS, old]), DAY)
    assert contract.skipped["expired"] == 1
    assert contract.rejected_count == 0


def test_a_row_listed_twice_identically_is_loaded_once() -> None:
    contract = validate(outcome([*ROWS, ROWS[3]]), DAY)
    assert len(contract.rows) == len(ROWS)
    assert contract.skipped["repeated row"] == 1


def test_two_instruments_with_one_token_refuse_the_file() -> None:
    clash = option("NIFTY", WEEKLY, 24100, "CE", "200")  # token of the 24000 CE
    with pytest.raises(ContractValidationError, match="token 200 on NFO is given to two"):
        validate(outcome([*ROWS, clash]), DAY)


def test_one_symbol_with_two_tokens_refuses_the_file() -> None:
    clash = ROWS[5]._replace(token="777")
    with pytest.raises(ContractValidationError, match="has two tokens, 200 and 777"):
        validate(outcome([*ROWS, clash]), DAY)


def test_the_same_token_on_two_exchanges_is_fine() -> None:
    twin = equity("ABB", "13", "NSE")
    index = Instrument("NIFTY50X", "X", "X", "NSE_INDEX", "NSE", "13", None, None, 0, "INDEX", 0)
    assert len(validate(outcome([twin, index]), DAY).rows) == 2


def test_an_empty_file_is_refused() -> None:
    with pytest.raises(ContractValidationError, match="no usable instruments"):
        validate(outcome([]), DAY)


# ----- the book -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def book() -> ContractBook:
    return ContractBook.build("paper", 3, DAY, validate(outcome(ROWS), DAY).rows)


def test_symbol_to_token_and_back(book: ContractBook) -> None:
    assert book.token("NIFTY24NOV2624000CE", "NFO") == "200"
    assert book.token("SBIN", "BSE") == "500112"
    found = book.by_token("3045", "NSE")
    assert (found.symbol, found.broker_symbol, found.lot_size) == ("SBIN", "SBIN-EQ", 1)
    assert book.instrument("VEDL24NOV26292.5CE", "NFO").strike == 292.5


def test_an_unknown_symbol_says_what_to_check(book: ContractBook) -> None:
    with pytest.raises(SymbolNotFoundError, match="NIFTY24NOV2699999CE is not in the paper NFO"):
        book.token("NIFTY24NOV2699999CE", "NFO")
    with pytest.raises(KeyError):  # callers may treat it as a missing key
        book.token("SBIN", "NFO")
    with pytest.raises(SymbolNotFoundError, match="has no exchange 'MCX'"):
        book.instrument("CRUDEOIL", "MCX")


def test_search_by_prefix_in_any_case(book: ContractBook) -> None:
    symbols = [row.symbol for row in book.search("nifty24nov26", "NFO")]
    assert symbols == [
        "NIFTY24NOV2624000CE",
        "NIFTY24NOV2624000PE",
        "NIFTY24NOV2624050CE",
        "NIFTY24NOV26FUT",
    ]
    assert [row.exchange for row in book.search("SBIN")] == ["BSE", "NSE"]
    assert len(book.search("NIFTY", limit=2)) == 2


def test_expiries_of_an_underlying_exclude_lookalike_names(book: ContractBook) -> None:
    assert book.expiries("NIFTY", "NFO") == [WEEKLY, NEXT]
    assert book.expiries("NIFTY", "NFO", "CE") == [WEEKLY, NEXT]
    assert book.expiries("NIFTYNXT50", "NFO") == [WEEKLY]


def test_option_chain_pairs_calls_and_puts_by_strike(book: ContractBook) -> None:
    chain = book.option_chain("NIFTY", WEEKLY, "NFO")
    assert [link.strike for link in chain] == [24000.0, 24050.0]
    calls_and_puts = [(link.call, link.put) for link in chain]
    tokens = [(c.token if c else None, p.token if p else None) for c, p in calls_and_puts]
    assert tokens == [("200", "201"), ("202", None)]


def test_every_field_survives_the_columns(book: ContractBook) -> None:
    for row in ROWS:
        assert book.instrument(row.symbol, row.exchange) == row
