"""Strategies wait (yellow) for their broker's master contract, and start once it is ready.

The reconciler here reads contract readiness from the database, as the host's does;
contracts are loaded through the real pipeline from a small Zerodha-format file.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path

import psutil
import pytest
from sqlalchemy import delete

from algovisor.clock import FakeClock
from algovisor.contracts.readiness import read_board
from algovisor.contracts.records import ContractFormatError
from algovisor.db.models import MasterContractRow, MasterContractStatus
from algovisor.schedule.calendar import INDIA
from algovisor.services import contracts, schedules, strategies
from algovisor.services.context import ServiceContext
from algovisor.supervisor.reconciler import Reconciler
from tests.conftest import (
    HostProcess,
    converge,
    load_small_contract,
    make_reconciler,
    wait_until,
)

LOOPING = """
import time
while True:
    time.sleep(0.1)
"""
# Friday 2026-11-20, a trading day; Monday 2026-11-23 the next.
FRIDAY_NOON = datetime(2026, 11, 20, 12, 0, tzinfo=INDIA)
MONDAY_CUTOFF = datetime(2026, 11, 23, 8, 0, tzinfo=INDIA)


@pytest.fixture
def clock(ctx: ServiceContext) -> FakeClock:
    ctx.clock = FakeClock(FRIDAY_NOON)
    return ctx.clock


@pytest.fixture
def gated(ctx: ServiceContext, clock: FakeClock) -> Iterator[Reconciler]:
    instance = make_reconciler(ctx, clock=clock, contracts=read_board)
    instance.recover()
    yield instance
    instance.close()


def state(ctx: ServiceContext, name: str) -> tuple[str, str]:
    view = strategies.show(ctx, name)
    return view.state, view.state_message or ""


def test_a_started_strategy_waits_for_the_contract_then_starts_at_once(
    ctx: ServiceContext, gated: Reconciler, tmp_path: Path, write_script: Callable[[str, str], Path]
) -> None:
    strategies.add(ctx, "loop.py", write_script("loop.py", LOOPING).read_bytes())
    strategies.start(ctx, "loop")
    gated.tick()
    status, message = state(ctx, "loop")
    assert status == "waiting"
    assert message == "waiting for the paper master contract: not downloaded yet"
    assert strategies.show(ctx, "loop").current_run is None
    assert strategies.show(ctx, "loop").error_message is None  # waiting is never an error

    load_small_contract(ctx, tmp_path)
    gated.tick()  # the very next tick starts it: no user action
    assert strategies.show(ctx, "loop").current_run is not None
    wait_until(lambda: state(ctx, "loop")[0] == "running", step=converge(gated), message="run")


def test_each_strategy_waits_for_its_own_broker(
    ctx: ServiceContext, gated: Reconciler, tmp_path: Path, write_script: Callable[[str, str], Path]
) -> None:
    script = write_script("loop.py", LOOPING).read_bytes()
    strategies.add(ctx, "loop.py", script, name="on_paper")
    strategies.add(ctx, "loop.py", script, name="on_zerodha", broker="zerodha")
    for name in ("on_paper", "on_zerodha"):
        strategies.start(ctx, name)
    load_small_contract(ctx, tmp_path, "paper")
    gated.tick()
    assert strategies.show(ctx, "on_paper").current_run is not None
    status, message = state(ctx, "on_zerodha")
    assert status == "waiting"
    assert "zerodha master contract: not downloaded yet" in message
    assert "algovisor contracts download --broker zerodha" in message


def test_a_failed_download_is_shown_on_the_waiting_strategy(
    ctx: ServiceContext, gated: Reconciler, tmp_path: Path, write_script: Callable[[str, str], Path]
) -> None:
    strategies.add(ctx, "loop.py", write_script("loop.py", LOOPING).read_bytes())
    strategies.start(ctx, "loop")
    broken = tmp_path / "broken.csv"
    broken.write_text("this is not an instrument list\n")
    source = contracts.choose_source("paper", broken, None, "zerodha")
    with pytest.raises(ContractFormatError, match="Zerodha"):
        contracts.download(ctx, "paper", source)
    gated.tick()
    status, message = state(ctx, "loop")
    assert status == "waiting"
    assert "the last attempt failed: parse failed" in message


def test_the_contract_goes_stale_at_the_next_trading_days_cutoff(
    ctx: ServiceContext,
    gated: Reconciler,
    clock: FakeClock,
    tmp_path: Path,
    write_script: Callable[[str, str], Path],
) -> None:
    script = write_script("loop.py", LOOPING).read_bytes()
    strategies.add(ctx, "loop.py", script, name="running")
    strategies.add(ctx, "loop.py", script, name="later")
    strategies.start(ctx, "running")
    load_small_contract(ctx, tmp_path)  # Friday's contract
    wait_until(lambda: state(ctx, "running")[0] == "running", step=converge(gated), message="run")
    pid = strategies.show(ctx, "running").current_run.pid  # type: ignore[union-attr]

    # Over the weekend, and on Monday until 08:00 IST, Friday's contract is current.
    clock.advance(MONDAY_CUTOFF - FRIDAY_NOON - timedelta(minutes=1))
    assert contracts.status(ctx, "paper").is_ready
    clock.advance(timedelta(minutes=1))
    view = contracts.status(ctx, "paper")
    assert not view.is_ready
    assert view.waiting_reason is not None
    assert "the loaded contract is for 2026-11-20, not 2026-11-23" in view.waiting_reason

    # A stale contract holds new starts back, but never stops a running strategy.
    strategies.start(ctx, "later")
    gated.tick()
    assert state(ctx, "later")[0] == "waiting"
    assert state(ctx, "running")[0] == "running"
    assert psutil.pid_exists(pid)

    load_small_contract(ctx, tmp_path)  # Monday's
    gated.tick()
    assert strategies.show(ctx, "later").current_run is not None
    assert strategies.show(ctx, "running").current_run.pid == pid  # type: ignore[union-attr]


def test_a_scheduled_strategy_outside_its_window_is_scheduled_not_waiting(
    ctx: ServiceContext,
    gated: Reconciler,
    clock: FakeClock,
    write_script: Callable[[str, str], Path],
) -> None:
    strategies.add(ctx, "loop.py", write_script("loop.py", LOOPING).read_bytes())
    schedules.set_schedule(
        ctx, "loop", schedules.checked_schedule("14:00", "15:00", "mon-fri", "NSE", True)
    )
    strategies.start(ctx, "loop")
    gated.tick()
    assert state(ctx, "loop")[0] == "scheduled"
    clock.advance(timedelta(hours=2, minutes=1))  # 14:01, window open, no contract
    gated.tick()
    assert state(ctx, "loop")[0] == "waiting"
    explained = schedules.explain(ctx, "loop")
    assert explained.state == "waiting"
    assert "waiting for the paper master contract" in explained.summary


def test_a_real_host_holds_strategies_until_its_own_paper_contract_is_ready(
    ctx: ServiceContext, host: HostProcess, write_script: Callable[[str, str], Path]
) -> None:
    strategies.add(ctx, "loop.py", write_script("loop.py", LOOPING).read_bytes())
    strategies.start(ctx, "loop")
    with ctx.transaction() as session:  # undo the host fixture's small contract
        session.execute(delete(MasterContractStatus))
        session.execute(delete(MasterContractRow))
    host.start()
    with host.client() as client:
        wait_until(
            lambda: client.get("/api/strategies/loop").json()["state"] == "running",
            timeout_secs=30,
            message="the strategy running",
        )
        status = client.get("/api/master-contract/status").json()
    assert status["status"] == "success"
    assert status["message"] == "Master contracts ready"
    assert status["is_ready"] is True
    assert int(status["total_symbols"]) > 140_000
    # Held back until the contract was in, then started at once (the host wakes on the swap).
    run = strategies.show(ctx, "loop").current_run
    assert run is not None
    assert run.started_at is not None
    ready_at = datetime.fromisoformat(status["loaded_at"])
    assert ready_at <= run.started_at < ready_at + timedelta(seconds=1)
    log = host.output() + (ctx.settings.data_dir / "host.log").read_text()
    assert "contract paper: 1" in log  # "contract paper: 151,792 symbols for ... ready"


LOOKS_UP = """
from algovisor.contracts.lookup import open_book

book = open_book()
instrument = book.instrument("NIFTY28DEC2724000CE", "NFO")
print("token", book.token("NIFTY28DEC2724000CE", "NFO"), "lot", instrument.lot_size, flush=True)
print("expiries", book.expiries("NIFTY", "NFO"), flush=True)
"""


def test_a_strategy_looks_up_its_brokers_contract_in_its_own_process(
    ctx: ServiceContext, gated: Reconciler, tmp_path: Path, write_script: Callable[[str, str], Path]
) -> None:
    load_small_contract(ctx, tmp_path)
    strategies.add(ctx, "lookup.py", write_script("lookup.py", LOOKS_UP).read_bytes())
    strategies.start(ctx, "lookup")
    wait_until(
        lambda: strategies.show(ctx, "lookup").last_run is not None,
        step=converge(gated),
        message="the run to end",
    )
    run = strategies.show(ctx, "lookup").last_run
    assert run is not None
    assert run.exit_code == 0, run.message
    output = (ctx.layout.log_dir(strategies.show(ctx, "lookup").id)).glob("*.log")
    text = "".join(path.read_text() for path in output)
    assert "token 12345858 lot 65" in text
    assert "expiries [datetime.date(2027, 12, 28)]" in text
