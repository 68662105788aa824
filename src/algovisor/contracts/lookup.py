"""The lookup book for code outside the host: strategies and scripts.

    from algovisor.contracts.lookup import open_book

    book = open_book()                       # this strategy's broker, from its environment
    token = book.token("NIFTY25NOV2524000CE", "NFO")
    chain = book.option_chain("NIFTY", book.expiries("NIFTY", "NFO")[0], "NFO")

Inside a strategy the runner provides `ALGOVISOR_BROKER` and
`ALGOVISOR_DATABASE_URL`; elsewhere pass them. The book is a snapshot of the
contract in force when it was opened.
"""

from __future__ import annotations

import os

from sqlalchemy import create_engine
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from algovisor.contracts import store
from algovisor.contracts.book import ContractBook
from algovisor.db.models import MasterContractStatus
from algovisor.errors import InvalidInputError, NotFoundError


def load_book(session: Session, broker: str) -> ContractBook:
    """The broker's current contract as a book; NotFoundError if none was loaded.

    Call it first in a session: on PostgreSQL it asks for one snapshot for the
    status row and the rows, so a swap in between cannot hand back an empty book.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
    row = session.get(MasterContractStatus, broker)
    if row is None or not row.generation:
        raise NotFoundError(
            f"the {broker} master contract has not been loaded",
            detail=f"Run `algovisor contracts download --broker {broker}`.",
        )
    rows = list(store.read_rows(session, broker, row.generation))
    return ContractBook.build(broker, row.generation, row.trading_day, rows)


def open_book(broker: str | None = None, database_url: str | None = None) -> ContractBook:
    """Read the broker's contract from the database into a book."""
    chosen_broker = broker or os.environ.get("ALGOVISOR_BROKER") or "paper"
    url = database_url or os.environ.get("ALGOVISOR_DATABASE_URL")
    if not url:
        raise InvalidInputError(
            "no database to read the contract from: pass database_url, or run under "
            "algovisor, which sets ALGOVISOR_DATABASE_URL"
        )
    engine = create_engine(url, poolclass=NullPool)
    try:
        with Session(engine) as session:
            return load_book(session, chosen_broker)
    finally:
        engine.dispose()
