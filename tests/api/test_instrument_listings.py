"""`GET /api/v1/instruments` answers: made once per contract generation even when many
requests ask at once, and kept per app, so two apps on two databases never share one.
"""

from __future__ import annotations

import contextlib
import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from algovisor.api.app import create_app
from algovisor.contracts.queries import ContractQueries
from algovisor.data_layout import DataLayout
from algovisor.services import broker_accounts
from algovisor.services import contracts as contract_service
from algovisor.services.context import ServiceContext
from algovisor.services.paper_broker import InstrumentListings
from algovisor.settings import Settings
from tests.conftest import POSTGRES_URL, load_small_contract, postgres_schema_url, small_zerodha_csv

CALLERS = 8


def generation(ctx: ServiceContext) -> int:
    with ctx.reading() as session:
        return ContractQueries(session, "paper").generation


def test_concurrent_first_requests_make_the_listing_once(
    ctx: ServiceContext, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    load_small_contract(ctx, tmp_path)
    listings = InstrumentListings()
    made: list[str | None] = []
    making, release = threading.Event(), threading.Event()
    real_listing = ContractQueries.listing

    def slow_listing(self: ContractQueries, exchange: str | None = None) -> Any:
        """The real query, held open until every caller has asked (the window to share)."""
        made.append(exchange)
        making.set()
        assert release.wait(10)
        return real_listing(self, exchange)

    monkeypatch.setattr(ContractQueries, "listing", slow_listing)
    answers: list[bytes] = []
    started = threading.Barrier(CALLERS + 1)

    def ask() -> None:
        started.wait(10)
        answers.append(listings.answer(ctx, None, "json"))

    callers = [threading.Thread(target=ask) for _ in range(CALLERS)]
    for caller in callers:
        caller.start()
    started.wait(10)
    assert making.wait(10)
    time.sleep(0.2)  # the others reach the listing by now, were it not single-flight
    release.set()
    for caller in callers:
        caller.join(10)
    assert made == [None]
    assert len(answers) == CALLERS
    assert len(set(answers)) == 1
    assert b'"symbol":"SBIN"' in answers[0]
    # Kept: asked again, nothing is made; another exchange or format is made on its own.
    assert listings.answer(ctx, None, "json") == answers[0]
    listings.answer(ctx, "NSE", "json")
    listings.answer(ctx, None, "csv")
    assert made == [None, "NSE", None]


def second_database(settings: Settings, data_dir: Path) -> AbstractContextManager[str]:
    """A URL of another database on the test's backend (a PostgreSQL schema is dropped after)."""
    if settings.resolved_database_url.startswith("sqlite"):
        return contextlib.nullcontext(f"sqlite:///{data_dir / 'algovisor.db'}")
    assert POSTGRES_URL
    return postgres_schema_url(POSTGRES_URL)


@pytest.fixture
def other_ctx(settings: Settings, tmp_path: Path, calendar_cache: Path) -> Iterator[ServiceContext]:
    """A second host's context on its own database."""
    data_dir = tmp_path / "other"
    (data_dir / "calendars").mkdir(parents=True)
    shutil.copyfile(calendar_cache, DataLayout(data_dir).calendar_cache)
    with second_database(settings, data_dir) as url:
        changes = {"data_dir": data_dir, "database_url": url}
        context = ServiceContext.open(settings.model_copy(update=changes))
        yield context
        context.close()


def test_two_apps_on_two_databases_answer_each_its_own_contract(
    ctx: ServiceContext, other_ctx: ServiceContext, tmp_path: Path
) -> None:
    load_small_contract(ctx, tmp_path)
    other = small_zerodha_csv(tmp_path / "other.csv", expiry="2027-11-25")
    source = contract_service.choose_source("paper", other, None, "zerodha")
    contract_service.download(other_ctx, "paper", source)
    assert generation(ctx) == generation(other_ctx)  # equal numbers: one cache would mix them
    symbols = []
    for context in (ctx, other_ctx):
        key = broker_accounts.paper_api_key(context)
        with TestClient(create_app(context)) as client:
            response = client.get("/api/v1/instruments", params={"apikey": key, "exchange": "NFO"})
            assert response.status_code == 200, response.text
            symbols.append(sorted(row["symbol"] for row in response.json()["data"]))
    assert symbols == [
        ["NIFTY28DEC2724000CE", "NIFTY28DEC2724000PE", "NIFTY28DEC27FUT"],
        ["NIFTY25NOV2724000CE", "NIFTY25NOV2724000PE", "NIFTY25NOV27FUT"],
    ]
