"""The example strategies, run unmodified under a real host against the paper broker.

    ema_crossover.py    an OpenAlgo-style script: its trades are in the paper trade
                        book and position book, and it stops cleanly on SIGTERM
    option_selling.py   killed with kill -9 after entering both legs, restarted by
                        the host: it resumes them from the stored stops (RECOVERED,
                        broker verdict matched) and sells nothing new

The host's small paper contract lists SBIN and one NIFTY strike (24000, lot 65);
the market is the real simulated one, frozen outside sessions.
"""

from __future__ import annotations

import os
import re
import signal
from pathlib import Path
from typing import Any

from sqlalchemy import select

from algovisor.db.models import PositionEventRow, Run, StrategyPositionRow, StrategySessionRow
from algovisor.services import broker_accounts, environment, logs, strategies
from algovisor.services.context import ServiceContext
from algovisor.supervisor.states import Intent
from tests.conftest import HostProcess, wait_until

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "strategies"
CALL, PUT = "NIFTY28DEC2724000CE", "NIFTY28DEC2724000PE"


def add_example(ctx: ServiceContext, script: str, variables: dict[str, str]) -> str:
    """Add an example exactly as it is on disk, asked to run; returns its name."""
    view = strategies.add(ctx, script, (EXAMPLES / script).read_bytes(), intent=Intent.RUN)
    for key, value in variables.items():
        environment.env_set(ctx, view.name, key, value)
    return view.name


def openalgo_client(ctx: ServiceContext, host: HostProcess) -> Any:
    from openalgo import api

    return api(api_key=broker_accounts.paper_api_key(ctx), host=host.url)


def runs_of(ctx: ServiceContext, name: str) -> list[Run]:
    with ctx.reading() as session:
        strategy_id = strategies.resolve(session, name).id
        query = select(Run).where(Run.strategy_id == strategy_id).order_by(Run.created_at)
        return list(session.scalars(query))


def running(ctx: ServiceContext, name: str, other_than: str | None = None) -> Run | None:
    for run in runs_of(ctx, name):
        if run.status == "running" and run.pid is not None and run.id != other_than:
            return run
    return None


def log_of(ctx: ServiceContext, name: str, run_id: str) -> str:
    return "\n".join(logs.tail(ctx, name, 500, run_id=run_id))


def positions_of(ctx: ServiceContext, name: str) -> list[StrategyPositionRow]:
    with ctx.reading() as session:
        query = select(StrategyPositionRow).where(StrategyPositionRow.strategy_name == name)
        return list(session.scalars(query.order_by(StrategyPositionRow.id)))


def stop_and_wait(ctx: ServiceContext, name: str, run_id: str) -> Run:
    strategies.stop(ctx, name)
    wait_until(
        lambda: next(run for run in runs_of(ctx, name) if run.id == run_id).status == "ended",
        timeout_secs=15.0,
        message=f"{name} ended after its stop",
    )
    return next(run for run in runs_of(ctx, name) if run.id == run_id)


def test_the_ema_crossover_example_trades_unmodified_under_the_host(
    ctx: ServiceContext, host: HostProcess
) -> None:
    name = add_example(
        ctx,
        "ema_crossover.py",
        {"FAST": "2", "SLOW": "3", "INTERVAL": "1m", "POLL_SECS": "0.3", "QUANTITY": "3"},
    )
    host.start()
    client = openalgo_client(ctx, host)
    run = wait_until(lambda: running(ctx, name), timeout_secs=10.0, message="a running run")
    assert isinstance(run, Run)

    def logged_trades() -> list[dict[str, Any]] | None:
        """The trade book's SBIN trades, once the strategy's log names every one of them."""
        trades = [row for row in client.tradebook().get("data", []) if row["symbol"] == "SBIN"]
        text = log_of(ctx, name, run.id)
        return trades if trades and all(t["orderid"] in text for t in trades) else None

    trades = wait_until(logged_trades, timeout_secs=15.0, message="SBIN trades in the log")
    assert isinstance(trades, list)
    for trade in trades:
        assert (trade["exchange"], trade["product"], trade["strategy"]) == ("NSE", "MIS", name)
        assert trade["quantity"] in (3, 6)  # an entry, or a reversal on a cross
    text = log_of(ctx, name, run.id)
    assert "EMA 2/3 on NSE:SBIN 1m bars, 3 MIS" in text
    assert "trend at start:" in text
    # The position book holds what the script's last order aimed at.
    last_target = int(re.findall(r"order \d+ \(([+-]\d+)\)", text)[-1])
    (row,) = [row for row in client.positionbook()["data"] if row["symbol"] == "SBIN"]
    assert (row["product"], row["quantity"]) == ("MIS", last_target)
    assert last_target in (3, -3)
    held = client.openposition(symbol="SBIN", exchange="NSE", product="MIS")
    assert int(held["quantity"]) == last_target

    ended = stop_and_wait(ctx, name, run.id)
    assert ended.exit_code == 0
    assert log_of(ctx, name, run.id).endswith("stopped; the position stays as it is")


def test_the_option_seller_killed_with_kill_9_resumes_its_legs_from_the_stored_stops(
    ctx: ServiceContext, host: HostProcess
) -> None:
    name = add_example(ctx, "option_selling.py", {"POLL_SECS": "0.2"})
    host.start()
    client = openalgo_client(ctx, host)
    wait_until(
        lambda: len([p for p in positions_of(ctx, name) if p.status == "ACTIVE"]) == 2,
        timeout_secs=15.0,
        message="both legs entered",
    )
    first = running(ctx, name)
    assert first is not None
    assert first.pid is not None
    entered = {position.id: position.symbol for position in positions_of(ctx, name)}
    assert sorted(entered.values()) == [CALL, PUT]
    assert "straddle 24000 of 28-DEC-27" in log_of(ctx, name, first.id)

    os.kill(first.pid, signal.SIGKILL)
    second = wait_until(
        lambda: running(ctx, name, other_than=first.id), timeout_secs=15.0, message="a restart"
    )
    assert isinstance(second, Run)
    wait_until(
        lambda: log_of(ctx, name, second.id).count("resumed ") == 2,
        timeout_secs=10.0,
        message="both legs resumed",
    )
    text = log_of(ctx, name, second.id)
    assert "sold " not in text  # nothing new was sold
    positions = positions_of(ctx, name)
    assert {position.id: position.symbol for position in positions} == entered
    assert {(p.status, p.broker_verdict, p.quantity) for p in positions} == {
        ("RECOVERED", "matched", 65)
    }
    with ctx.reading() as session:
        crashed = session.scalars(
            select(StrategySessionRow).where(StrategySessionRow.strategy_name == name)
        ).first()
        assert crashed is not None
        assert crashed.status == "CRASHED"
        crash_events = session.scalars(
            select(PositionEventRow).where(
                PositionEventRow.kind == "CRASH", PositionEventRow.position_id.in_(entered)
            )
        ).all()
    assert len(crash_events) == 2
    for event in crash_events:
        symbol = entered[event.position_id or 0]
        stop = event.details["stop_price"]
        # Resumed from the stop the crash left stored, not from a new entry.
        assert re.search(rf"resumed (CE|PE) {symbol}: short 65 from [\d.]+, stop {stop:.2f}", text)

    trades = client.tradebook()["data"]
    assert sorted((t["symbol"], t["action"], t["quantity"]) for t in trades) == [
        (CALL, "SELL", 65),
        (PUT, "SELL", 65),
    ]
    book = {row["symbol"]: row["quantity"] for row in client.positionbook()["data"]}
    assert book == {CALL: -65, PUT: -65}

    ended = stop_and_wait(ctx, name, second.id)
    assert ended.exit_code == 0
    assert log_of(ctx, name, second.id).endswith(
        "stopping: 2 leg(s) stay open; the next run resumes them"
    )
