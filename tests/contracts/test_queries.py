"""The database answers the API and CLI give are the in-memory book's, row for row."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import text

from algovisor.contracts import store
from algovisor.contracts.book import ContractBook, SymbolNotFoundError
from algovisor.contracts.queries import ContractQueries
from algovisor.contracts.records import ParseOutcome
from algovisor.contracts.sources import Source
from algovisor.contracts.validate import validate
from algovisor.errors import NotFoundError
from algovisor.services import contracts as contract_service
from algovisor.services.context import ServiceContext
from tests.contracts.test_validate_and_book import DAY, NEXT, ROWS, WEEKLY


@pytest.fixture
def loaded(ctx: ServiceContext) -> ContractBook:
    rows = validate(ParseOutcome(rows=list(ROWS)), DAY).rows
    now = ctx.clock.now()
    with ctx.transaction() as session:
        attempt = store.begin_attempt(session, "paper", Source("paper", "paper"), now, 60)
    store.insert_rows(ctx.engine, "paper", attempt.generation, rows)
    summary = {
        "total_symbols": len(rows),
        "exchange_counts": {"BSE": 1, "NFO": 8, "NSE": 2, "NSE_INDEX": 1},
        "rows_rejected": 0,
        "rejections": {},
        "step_secs": {},
    }
    with ctx.transaction() as session:
        store.swap_in(session, "paper", attempt.id, attempt.generation, DAY, now, summary)
    return ContractBook.build("paper", 1, DAY, rows)


def both(ctx: ServiceContext, book: ContractBook, ask: Callable[[object], object]) -> None:
    with ctx.reading() as session:
        from_database = ask(ContractQueries(session, "paper"))
    assert from_database == ask(book)


@pytest.mark.parametrize(
    "ask",
    [
        pytest.param(lambda c: c.instrument("NIFTY24NOV2624000CE", "NFO"), id="instrument"),
        pytest.param(lambda c: c.instrument("VEDL24NOV26292.5CE", "NFO"), id="decimal strike"),
        pytest.param(lambda c: c.by_token("500112", "BSE"), id="by token"),
        pytest.param(lambda c: c.search("nifty24nov26", "NFO"), id="search an exchange"),
        pytest.param(lambda c: c.search("SBIN"), id="search everywhere"),
        pytest.param(lambda c: c.search("NIFTY", limit=2), id="search limited"),
        pytest.param(lambda c: c.expiries("NIFTY", "NFO"), id="expiries"),
        pytest.param(lambda c: c.expiries("nifty", "NFO", "FUT"), id="future expiries"),
        pytest.param(lambda c: c.option_chain("NIFTY", WEEKLY, "NFO"), id="chain"),
        pytest.param(lambda c: c.option_chain("NIFTY", NEXT, "NFO"), id="one-sided chain"),
    ],
)
def test_the_database_and_the_book_agree(
    ctx: ServiceContext, loaded: ContractBook, ask: Callable[[object], object]
) -> None:
    both(ctx, loaded, ask)


@pytest.mark.parametrize(
    ("ask", "message"),
    [
        (lambda c: c.instrument("NIFTY24NOV2699999CE", "NFO"), "is not in the paper NFO contract"),
        (lambda c: c.instrument("CRUDEOIL", "MCX"), "has no exchange 'MCX'"),
        (lambda c: c.by_token("1", "NSE"), "token 1 is not in the paper NSE contract"),
    ],
)
def test_the_database_and_the_book_refuse_alike(
    ctx: ServiceContext,
    loaded: ContractBook,
    ask: Callable[[object], object],
    message: str,
) -> None:
    with ctx.reading() as session, pytest.raises(SymbolNotFoundError) as from_database:
        ask(ContractQueries(session, "paper"))
    with pytest.raises(SymbolNotFoundError) as from_book:
        ask(loaded)
    assert message in from_database.value.message
    assert from_database.value.message == from_book.value.message


def test_a_chain_for_a_day_without_expiry_lists_the_expiries(
    ctx: ServiceContext, loaded: ContractBook
) -> None:
    with pytest.raises(NotFoundError) as refused:
        contract_service.option_chain(ctx, "paper", "NIFTY", DAY, "NFO")
    assert refused.value.message == "NIFTY has no options expiring 2026-11-20 on NFO"
    assert refused.value.detail == "Its expiries: 2026-11-24, 2026-12-29."


def test_symbols_sort_by_code_point_whatever_the_servers_locale(ctx: ServiceContext) -> None:
    """PostgreSQL's locale collations skip punctuation (M&M, BAJAJ-AUTO): the column says C."""
    if ctx.engine.dialect.name != "postgresql":
        pytest.skip("SQLite always compares text byte by byte")
    with ctx.reading() as session:
        collations = dict(
            session.execute(
                text(
                    "SELECT column_name, collation_name FROM information_schema.columns WHERE "
                    "table_name = 'master_contracts' AND column_name IN ('symbol', 'exchange')"
                )
            ).all()
        )
    assert collations == {"symbol": "C", "exchange": "C"}
