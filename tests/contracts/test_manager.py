"""The host's contract manager: automatic refreshes, backoff, stuck and dead downloads, CLI loads.

The manager is ticked by hand, with a FakeClock where days must pass. The paper
contract is real (150,000 generated rows, a second or two a load), so only the
test of paper's daily refresh generates it; the watchdog's paper retry loads a
three-row stand-in, and tests about other brokers keep paper quiet with a failed
paper attempt whose retry is a year away.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, time, timedelta
from pathlib import Path

import psutil
import pytest

from algovisor.clock import FakeClock, SystemClock
from algovisor.contracts import paper, store
from algovisor.contracts.manager import ContractManager
from algovisor.contracts.records import Instrument
from algovisor.contracts.sources import ContractSourceError, Source
from algovisor.db.models import MasterContractStatus
from algovisor.errors import InvalidInputError
from algovisor.services import contracts
from algovisor.services.context import ServiceContext
from algovisor.settings import Settings
from tests.conftest import free_port, wait_until
from tests.contracts.test_pipeline import (
    FIRST,
    IST,
    MONDAY,
    MONDAY_MORNING,
    SECOND,
    ContractServer,
    equity,
    generation,
    load_file,
    many_equities,
    rows_by_generation,
    send,
    write,
    zerodha_csv,
)

WEDNESDAY = MONDAY + timedelta(days=2)  # Tuesday 24 November 2026 is a holiday (Guru Nanak)
REFRESH_JOIN_SECS = 60.0
SMALL_PAPER = (
    Instrument("RELIANCE", "RELIANCE", "RELIANCE", "NSE", "NSE", "2885", None, None, 1, "EQ", 0.05),
    Instrument("SBIN", "SBIN", "SBIN", "NSE", "NSE", "3045", None, None, 1, "EQ", 0.05),
    Instrument("NIFTY", "NIFTY", "NIFTY", "NSE_INDEX", "NSE", "26000", None, None, 0, "INDEX", 0.0),
)


class ReadyCalls:
    """The manager's `on_ready`: counts how often it woke the reconciler."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> None:
        self.count += 1


def make_manager(ctx: ServiceContext, on_ready: ReadyCalls) -> ContractManager:
    """The manager as the host wires it, on the test's clock."""
    return ContractManager(
        ctx.sessions,
        ctx.read_sessions,
        ctx.clock,
        ctx.calendars.current,
        contracts.make_refresh(ctx),
        contracts.pipeline_settings(ctx),
        contracts.refresh_time(ctx),
        on_ready,
    )


@pytest.fixture
def clock(ctx: ServiceContext) -> FakeClock:
    fake = FakeClock(MONDAY_MORNING)
    ctx.clock = fake
    return fake


@pytest.fixture
def on_ready() -> ReadyCalls:
    return ReadyCalls()


@pytest.fixture
def manager(
    ctx: ServiceContext, clock: FakeClock, on_ready: ReadyCalls
) -> Iterator[ContractManager]:
    instance = make_manager(ctx, on_ready)
    yield instance
    instance.join(REFRESH_JOIN_SECS)


def quiet_paper(ctx: ServiceContext, now: datetime) -> None:
    """A failed paper attempt whose retry is a year away: the manager leaves paper alone."""
    with ctx.transaction() as session:
        row = store.status_row(session, "paper", now)
        row.status = "error"
        row.message = "kept quiet by the test"
        row.failures = 1
        row.retry_at = now + timedelta(days=365)


def status_row(ctx: ServiceContext, broker: str) -> MasterContractStatus:
    with ctx.reading() as session:
        row = session.get(MasterContractStatus, broker)
        assert row is not None
        return row


def move_to(clock: FakeClock, instant: datetime) -> None:
    clock.advance(instant - clock.now())


def tick_and_wait(manager: ContractManager) -> None:
    """One tick, and any refresh it started run to its end."""
    manager.tick()
    manager.join(REFRESH_JOIN_SECS)


def dead_process_owner() -> str:
    """An attempt owner naming this machine and a process that has since exited."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    started = psutil.Process(process.pid).create_time()  # a zombie until waited for
    process.wait()
    return f"{socket.gethostname()}:{process.pid}:{started:.3f}"


# ----- the watchdog -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("broker", "source", "retried"),
    [
        ("paper", Source("paper", "paper"), True),
        # Never loaded from that URL: not a source the host refreshes, so not retried by it.
        ("zerodha", Source("url", "zerodha", "http://127.0.0.1:9/instruments"), False),
        ("zerodha", Source("file", "zerodha", "/nowhere/instruments.csv"), False),
    ],
    ids=["paper", "url", "file"],
)
def test_a_download_past_its_deadline_is_abandoned(
    ctx: ServiceContext,
    clock: FakeClock,
    manager: ContractManager,
    broker: str,
    source: Source,
    retried: bool,
) -> None:
    if broker != "paper":
        quiet_paper(ctx, clock.now())
    with ctx.transaction() as session:
        store.begin_attempt(session, broker, source, clock.now(), 600)

    clock.advance(599)
    tick_and_wait(manager)
    assert status_row(ctx, broker).status == "downloading"

    clock.advance(2)
    tick_and_wait(manager)
    row = status_row(ctx, broker)
    assert row.status == "error"
    assert "did not finish by its deadline (Mon 2026-11-23 10:10 IST)" in (row.message or "")
    assert row.failures == 1
    assert row.attempt_id is None
    if retried:
        assert row.retry_at == clock.now() + timedelta(seconds=60)
    else:
        assert row.retry_at is None  # a file is only ever loaded by the trader
    # Nothing started again at once: a retry waits for retry_at.
    assert row.generation == 0
    assert manager.book(broker) is None
    assert contracts.status(ctx, broker).waiting_reason is not None


def test_a_dead_owner_is_abandoned_at_once_and_paper_retries(
    ctx: ServiceContext,
    clock: FakeClock,
    manager: ContractManager,
    on_ready: ReadyCalls,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # This test is about the watchdog: a three-row paper contract keeps the retry quick.
    monkeypatch.setattr(paper, "generate", lambda *_: list(SMALL_PAPER))
    with ctx.transaction() as session:
        store.begin_attempt(session, "paper", Source("paper", "paper"), clock.now(), 600)

    # Owned by this (living) process, or by another machine's: only the deadline can tell.
    tick_and_wait(manager)
    assert status_row(ctx, "paper").status == "downloading"
    with ctx.transaction() as session:
        store.status_row(session, "paper", clock.now()).attempt_owner = "elsewhere:1:1.000"
    tick_and_wait(manager)
    assert status_row(ctx, "paper").status == "downloading"

    with ctx.transaction() as session:
        store.status_row(session, "paper", clock.now()).attempt_owner = dead_process_owner()
    with caplog.at_level(logging.ERROR, logger="algovisor.contracts"):
        tick_and_wait(manager)  # long before the deadline
    assert "the process running the download died before it finished" in caplog.text
    # No backoff after a death: the same tick started the retry, and it loaded.
    assert status_row(ctx, "paper").status == "success"

    view = contracts.status(ctx, "paper")
    assert view.status == "success", view.message
    assert view.is_ready
    assert view.trading_day == MONDAY
    assert view.total_symbols == len(SMALL_PAPER)
    book = manager.book("paper")
    assert book is not None
    # The dead attempt's number is never reused: the retry loaded the next one.
    assert book.generation == generation(ctx, "paper") == 2
    assert on_ready.count == 1


def cli_environment(settings: Settings) -> dict[str, str]:
    environment = {
        key: value for key, value in os.environ.items() if not key.startswith("ALGOVISOR_")
    }
    environment.update(
        ALGOVISOR_DATA_DIR=str(settings.data_dir),
        ALGOVISOR_DATABASE_URL=settings.resolved_database_url,
    )
    return environment


def test_a_cli_download_killed_mid_load_is_abandoned_and_the_contract_stays(
    ctx: ServiceContext, tmp_path: Path
) -> None:
    """A real `algovisor contracts download`, kill -9'd while loading a large file."""
    # The real clock: the CLI process runs on it, and its owner must be judged dead, not late.
    ctx.clock = SystemClock()
    quiet_paper(ctx, ctx.clock.now())
    previous = [equity(738561, "RELIANCE"), equity(779521, "SBIN"), equity(408065, "INFY")]
    load_file(ctx, "zerodha", write(tmp_path / "previous.csv", zerodha_csv(previous)))
    manager = make_manager(ctx, ReadyCalls())
    big = write(tmp_path / "big.csv", zerodha_csv(many_equities(100_000)))

    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "algovisor", "contracts", "download"),
            *("--broker", "zerodha", "--file", str(big), "--format", "zerodha"),
        ],
        env=cli_environment(ctx.settings),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_until(
            lambda: (
                status_row(ctx, "zerodha").status == "downloading" or process.poll() is not None
            ),
            timeout_secs=30,
            message="the CLI to claim the zerodha contract",
        )
        assert process.poll() is None, "the CLI finished before it could be killed"
    finally:
        process.kill()
        _, errors = process.communicate(timeout=10)
    assert status_row(ctx, "zerodha").status == "downloading"

    manager.tick()
    manager.join(REFRESH_JOIN_SECS)
    view = contracts.status(ctx, "zerodha")
    assert view.status == "error", errors.decode(errors="replace")
    assert "died before it finished" in (view.message or "")
    assert view.is_ready
    assert view.total_symbols == 3
    assert generation(ctx, "zerodha") == 1
    assert contracts.lookup(ctx, "zerodha", "INFY", "NSE").token == "408065"
    book = manager.book("zerodha")
    assert book is not None
    assert book.generation == 1
    assert len(book) == 3

    # Whatever the killed load left in the table goes with the next good load.
    view = load_file(ctx, "zerodha", write(tmp_path / "next.csv", zerodha_csv(previous[:2])))
    assert view.status == "success"
    assert rows_by_generation(ctx, "zerodha") == {generation(ctx, "zerodha"): 2}


# ----- automatic refresh ------------------------------------------------------------------


def test_paper_refreshes_itself_each_trading_day_at_the_refresh_time(
    ctx: ServiceContext, clock: FakeClock, manager: ContractManager, on_ready: ReadyCalls
) -> None:
    assert not contracts.status(ctx, "paper").is_ready  # Monday 10:00 IST, none loaded yet
    tick_and_wait(manager)
    view = contracts.status(ctx, "paper")
    assert view.status == "success", view.message
    assert view.is_ready
    assert view.trading_day == MONDAY
    book = manager.book("paper")
    assert book is not None
    assert book.generation == 1
    assert on_ready.count == 1

    # A holiday, and the next trading day before 08:00: Monday's contract still serves.
    for instant in (
        datetime(2026, 11, 24, 9, 0, tzinfo=IST),
        datetime(2026, 11, 25, 7, 59, tzinfo=IST),
    ):
        move_to(clock, instant)
        tick_and_wait(manager)
        assert contracts.status(ctx, "paper").is_ready, instant
        assert generation(ctx, "paper") == 1, instant
    assert on_ready.count == 1

    move_to(clock, datetime(2026, 11, 25, 8, 0, tzinfo=IST))
    stale = contracts.status(ctx, "paper")
    assert not stale.is_ready
    assert stale.current_trading_day == WEDNESDAY
    tick_and_wait(manager)
    view = contracts.status(ctx, "paper")
    assert view.status == "success", view.message
    assert view.is_ready
    assert view.trading_day == WEDNESDAY
    assert generation(ctx, "paper") == 2
    assert list(rows_by_generation(ctx, "paper")) == [2]
    book = manager.book("paper")
    assert book is not None
    assert book.generation == 2
    assert book.trading_day == WEDNESDAY
    assert on_ready.count == 2


def test_a_url_that_stops_answering_is_retried_with_backoff(
    ctx: ServiceContext, clock: FakeClock, manager: ContractManager
) -> None:
    quiet_paper(ctx, clock.now())
    server = ContractServer()
    try:
        server.routes["/instruments"] = send(zerodha_csv(FIRST))
        url = server.url("/instruments")
        contracts.download(ctx, "zerodha", contracts.choose_source("zerodha", url=url))
        assert contracts.status(ctx, "zerodha").is_ready
    finally:
        server.close()  # the broker's server goes away

    # Wednesday 08:00 IST (Tuesday is a holiday): the host refreshes the URL it remembers.
    move_to(clock, datetime.combine(WEDNESDAY, time(8, 0), tzinfo=IST))
    tick_and_wait(manager)
    expected_retry = clock.now() + timedelta(seconds=60)
    for failures, delay_secs in ((1, 60), (2, 120), (3, 240)):
        row = status_row(ctx, "zerodha")
        assert row.status == "error"
        assert "download failed" in (row.message or "")
        assert "stays in force" in (row.message or "")
        assert row.failures == failures
        assert row.retry_at == expected_retry
        # Up to the second before the retry, ticks start nothing.
        move_to(clock, expected_retry - timedelta(seconds=1))
        tick_and_wait(manager)
        assert status_row(ctx, "zerodha").failures == failures
        clock.advance(1)
        tick_and_wait(manager)
        expected_retry = clock.now() + timedelta(seconds=delay_secs * 2)
    assert status_row(ctx, "zerodha").failures == 4


def test_a_url_that_never_worked_is_not_retried_by_the_host(
    ctx: ServiceContext, clock: FakeClock, manager: ContractManager
) -> None:
    quiet_paper(ctx, clock.now())
    closed = f"http://127.0.0.1:{free_port()}/instruments"
    with pytest.raises(ContractSourceError):
        contracts.download(ctx, "zerodha", contracts.choose_source("zerodha", url=closed))
    clock.advance(3600)
    tick_and_wait(manager)
    row = status_row(ctx, "zerodha")
    assert row.failures == 1  # the trader fixes the URL; the host has nothing to retry
    assert row.source_kind is None


def test_a_contract_loaded_by_the_cli_reaches_the_host(
    ctx: ServiceContext,
    clock: FakeClock,
    manager: ContractManager,
    on_ready: ReadyCalls,
    tmp_path: Path,
) -> None:
    quiet_paper(ctx, clock.now())
    manager.tick()
    assert manager.book("zerodha") is None

    load_file(ctx, "zerodha", write(tmp_path / "first.csv", zerodha_csv(FIRST)))
    manager.tick()
    book = manager.book("zerodha")
    assert book is not None
    assert book.generation == 1
    assert book.token("RELIANCE", "NSE") == "738561"
    assert on_ready.count == 1
    manager.tick()
    assert on_ready.count == 1  # nothing new, no wake-up

    load_file(ctx, "zerodha", write(tmp_path / "second.csv", zerodha_csv(SECOND)))
    manager.tick()
    book = manager.book("zerodha")
    assert book is not None
    assert book.generation == 2
    assert book.token("INFY", "NSE") == "408065"
    assert on_ready.count == 2

    # A file is the trader's to load: Wednesday's cut-off leaves it stale, not refreshed.
    with pytest.raises(InvalidInputError, match="loaded from a file"):
        manager.refresh_now("zerodha")
    move_to(clock, datetime(2026, 11, 25, 8, 0, tzinfo=IST))
    tick_and_wait(manager)
    view = contracts.status(ctx, "zerodha")
    assert view.status == "pending"  # shown stale; nothing was re-read
    assert status_row(ctx, "zerodha").status == "success"
    assert view.trading_day == MONDAY
    assert not view.is_ready
    assert "--file" in (view.waiting_reason or "")
    assert generation(ctx, "zerodha") == 2


def test_a_paper_contract_loaded_from_a_file_is_never_refreshed_by_the_host(
    ctx: ServiceContext, clock: FakeClock, manager: ContractManager, tmp_path: Path
) -> None:
    """The host cannot know the next file: re-reading the old one would pass it off as today's."""
    path = write(tmp_path / "paper.csv", zerodha_csv(FIRST))
    load_file(ctx, "paper", path, "zerodha")
    move_to(clock, datetime.combine(WEDNESDAY, time(8, 0), tzinfo=IST))
    for _ in range(3):
        tick_and_wait(manager)
    row = status_row(ctx, "paper")
    assert row.status == "success"
    assert row.trading_day == MONDAY  # still Monday's, and stale
    assert row.failures == 0
    assert row.is_ready is False  # the seed's column follows readiness
    assert generation(ctx, "paper") == 1
    reason = contracts.status(ctx, "paper").waiting_reason or ""
    assert "load today's file with `algovisor contracts download --broker paper" in reason
