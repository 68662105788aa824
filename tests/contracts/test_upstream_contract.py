"""The `openalgo` contract from the configured upstream: the host's daily refresh needs no
--url, a new key or server is used from the next refresh on, and the key stays out of logs.

The manager is wired as the host wires it and ticked by hand on a FakeClock; the
upstream is a local server that plays OpenAlgo.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime, time
from pathlib import Path

import pytest

from algovisor.clock import FakeClock
from algovisor.contracts.manager import ContractManager
from algovisor.db.models import BrokerAccount
from algovisor.errors import InvalidInputError
from algovisor.services import broker_accounts, contracts
from algovisor.services.context import ServiceContext
from tests.contracts.test_manager import (
    REFRESH_JOIN_SECS,
    WEDNESDAY,
    ReadyCalls,
    move_to,
    quiet_paper,
    status_row,
    tick_and_wait,
)
from tests.contracts.test_pipeline import IST, MONDAY, MONDAY_MORNING, generation, load_file
from tests.fake_openalgo import INSTRUMENTS, KEY, FakeOpenAlgo, fake_openalgo, instruments_answer

NEW_KEY = "9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b7a6f5e4d3c2b1a0f9e8d"


@pytest.fixture
def server() -> Iterator[FakeOpenAlgo]:
    with fake_openalgo() as fake:
        fake.answers["instruments"] = instruments_answer()
        yield fake


@pytest.fixture
def clock(ctx: ServiceContext) -> FakeClock:
    fake = FakeClock(MONDAY_MORNING)
    ctx.clock = fake
    return fake


@pytest.fixture
def manager(ctx: ServiceContext, clock: FakeClock) -> Iterator[ContractManager]:
    """The manager as `host.serve` wires it, configured sources and all."""
    instance = ContractManager(
        ctx.sessions,
        ctx.read_sessions,
        ctx.clock,
        ctx.calendars.current,
        contracts.make_refresh(ctx),
        contracts.pipeline_settings(ctx),
        contracts.refresh_time(ctx),
        ReadyCalls(),
        configured_sources=lambda: contracts.configured_sources(ctx),
    )
    quiet_paper(ctx, clock.now())
    yield instance
    instance.join(REFRESH_JOIN_SECS)


@pytest.fixture(autouse=True)
def no_key_in_logs(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    caplog.set_level(logging.DEBUG)
    yield
    for key in (KEY, NEW_KEY):
        assert all(key not in record.getMessage() for record in caplog.records)


def test_the_host_refreshes_the_openalgo_contract_from_the_upstream(
    ctx: ServiceContext,
    clock: FakeClock,
    manager: ContractManager,
    server: FakeOpenAlgo,
    caplog: pytest.LogCaptureFixture,
) -> None:
    tick_and_wait(manager)
    assert manager.book("openalgo") is None  # no upstream: nothing to refresh from
    assert server.requests == []

    broker_accounts.set_upstream(ctx, server.url, KEY)
    tick_and_wait(manager)  # Monday 10:00 IST, after the refresh time: due at once
    view = contracts.status(ctx, "openalgo")
    assert view.is_ready, view.message
    assert view.trading_day == MONDAY
    assert view.total_symbols == len(INSTRUMENTS)
    assert view.source == f"{server.url}/api/v1/instruments (openalgo)"
    book = manager.book("openalgo")
    assert book is not None
    assert book.generation == generation(ctx, "openalgo")
    [asked] = server.asked("instruments")
    assert (asked.method, asked.query) == ("GET", {"apikey": [KEY]})
    # httpx logged the request: without its query, where the key travelled.
    requests = [r.getMessage() for r in caplog.records if r.name == "httpx"]
    assert any(f"GET {server.url}/api/v1/instruments " in message for message in requests)

    # The key is replaced: Wednesday's refresh sends the new one, not the remembered one.
    broker_accounts.set_upstream(ctx, server.url, NEW_KEY)
    server.key = NEW_KEY
    move_to(clock, datetime.combine(WEDNESDAY, time(8, 0), tzinfo=IST))
    tick_and_wait(manager)
    view = contracts.status(ctx, "openalgo")
    assert view.is_ready, view.message
    assert view.trading_day == WEDNESDAY
    assert server.asked("instruments")[-1].query == {"apikey": [NEW_KEY]}


def test_refresh_now_asks_the_upstream(
    ctx: ServiceContext, manager: ContractManager, server: FakeOpenAlgo
) -> None:
    with pytest.raises(InvalidInputError, match="algovisor broker set-upstream URL"):
        manager.refresh_now("openalgo")
    broker_accounts.set_upstream(ctx, server.url, KEY)
    manager.refresh_now("openalgo")
    manager.join(REFRESH_JOIN_SECS)
    assert contracts.status(ctx, "openalgo").is_ready
    assert len(server.asked("instruments")) == 1


def test_a_removed_upstream_is_asked_nothing_more(
    ctx: ServiceContext, clock: FakeClock, manager: ContractManager, server: FakeOpenAlgo
) -> None:
    broker_accounts.set_upstream(ctx, server.url, KEY)
    tick_and_wait(manager)
    assert len(server.asked("instruments")) == 1
    assert status_row(ctx, "openalgo").source_secret is not None  # a copy of the key

    assert broker_accounts.remove_upstream(ctx)
    row = status_row(ctx, "openalgo")
    assert (row.source_kind, row.source_location, row.source_secret) == (None, None, None)
    assert contracts.status(ctx, "openalgo").total_symbols == len(INSTRUMENTS)  # in force
    move_to(clock, datetime.combine(WEDNESDAY, time(8, 0), tzinfo=IST))
    tick_and_wait(manager)
    with pytest.raises(InvalidInputError, match="algovisor broker set-upstream URL"):
        manager.refresh_now("openalgo")
    assert len(server.asked("instruments")) == 1
    assert not contracts.status(ctx, "openalgo").is_ready  # Monday's, not Wednesday's

    # Set again: the next tick refreshes from it.
    broker_accounts.set_upstream(ctx, server.url, KEY)
    tick_and_wait(manager)
    assert contracts.status(ctx, "openalgo").is_ready
    assert len(server.asked("instruments")) == 2


def test_the_openalgo_contract_is_refreshed_only_from_the_configured_upstream(
    ctx: ServiceContext, clock: FakeClock, manager: ContractManager, server: FakeOpenAlgo
) -> None:
    """A URL given once (`contracts download --url --api-key`) is remembered, but the host
    refreshes the `openalgo` contract from the upstream strategies trade through, or not at
    all: whatever a removal left behind (a download under way remembers its source as it
    ends) is never asked."""
    source = contracts.choose_source(
        "openalgo", None, f"{server.url}/api/v1/instruments", None, KEY
    )
    assert contracts.download(ctx, "openalgo", source).is_ready
    assert status_row(ctx, "openalgo").source_kind == "url"
    move_to(clock, datetime.combine(WEDNESDAY, time(8, 0), tzinfo=IST))
    tick_and_wait(manager)
    assert len(server.asked("instruments")) == 1
    assert not contracts.status(ctx, "openalgo").is_ready


def test_a_contract_loaded_from_a_file_is_left_to_the_trader(
    ctx: ServiceContext,
    clock: FakeClock,
    manager: ContractManager,
    server: FakeOpenAlgo,
    tmp_path: Path,
) -> None:
    path = tmp_path / "instruments.json"
    path.write_text(
        '{"status": "success", "data": [{"symbol": "SBIN", "exchange": "NSE", "token": "3045",'
        ' "lotsize": 1, "instrumenttype": "EQ", "tick_size": 0.05}]}'
    )
    load_file(ctx, "openalgo", path, "openalgo")
    broker_accounts.set_upstream(ctx, server.url, KEY)
    move_to(clock, datetime.combine(WEDNESDAY, time(8, 0), tzinfo=IST))
    tick_and_wait(manager)
    assert server.requests == []
    assert status_row(ctx, "openalgo").source_kind == "file"


def test_an_upstream_key_that_no_longer_decrypts_is_logged_once_and_asks_nothing(
    ctx: ServiceContext,
    manager: ContractManager,
    server: FakeOpenAlgo,
    caplog: pytest.LogCaptureFixture,
) -> None:
    broker_accounts.set_upstream(ctx, server.url, KEY)
    with ctx.transaction() as session:
        row = session.get(BrokerAccount, "openalgo")
        assert row is not None
        row.upstream_key_secret = "gAAAAA-not-a-token"
    for _ in range(3):
        tick_and_wait(manager)
    said = [r.getMessage() for r in caplog.records if "configured sources" in r.getMessage()]
    assert said == [
        "contracts: the configured sources cannot be read: a stored secret does not decrypt "
        f"with {ctx.settings.data_dir / 'secret.key'}"
    ]
    assert server.requests == []
