"""Contract ready -> 50 waiting strategies running (issue 4 target: <= 1 s).

A host runs with 50 strategies on one broker. Each round makes that broker's
contract stale, as the next trading day's 08:00 cut-off does, and starts all 50:
they show `waiting`. Then the contract becomes ready, and the benchmark measures
from the moment the swap was recorded (`loaded_at`) until the database shows all
50 `running`. Two ways a contract becomes ready:

- host: the host's own refresh (the paper broker's daily generation, ~150k rows),
  which wakes the reconciler the moment it swaps in;
- cli: a contract loaded by another process (`algovisor contracts download
  --file`), which the host notices by polling the status table (every 0.5 s).
"""

from __future__ import annotations

import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

if __package__ in (None, ""):  # run as `python benchmarks/bench_contract_ready.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import select, update

from algovisor.contracts import paper
from algovisor.db.models import MasterContractStatus, Strategy
from algovisor.services import contracts as contract_service
from algovisor.supervisor.states import Intent
from benchmarks.common import (
    BenchEnvironment,
    Figure,
    add_strategies,
    base_parser,
    bench_environment,
    count_in_state,
    print_figures,
    run_main,
    say,
    wait_until,
    write_zerodha_csv,
)

TARGET_SECS = 1.0
TRADING_DAY = date(2026, 11, 20)
TIMEOUT_SECS = 60.0


def loaded_at(environment: BenchEnvironment, broker: str) -> datetime | None:
    with environment.reader.begin() as session:
        row = session.get(MasterContractStatus, broker)
        return row.loaded_at if row is not None else None


def make_stale_and_start(environment: BenchEnvironment, broker: str) -> None:
    """Last week's contract, and every strategy on `broker` asked to run, in one transaction."""
    with environment.ctx.transaction() as session:
        row = session.get_one(MasterContractStatus, broker)
        assert row.trading_day is not None
        row.trading_day -= timedelta(days=7)
        session.execute(
            update(Strategy).values(intent=Intent.RUN.value, stop_message=None, broker=broker)
        )


def stop_all(environment: BenchEnvironment) -> None:
    with environment.ctx.transaction() as session:
        session.execute(update(Strategy).values(intent=Intent.STOP.value))
    wait_until(
        lambda: count_in_state(environment, "stopped") == len(all_ids(environment)),
        TIMEOUT_SECS,
        "all stopped",
    )


def all_ids(environment: BenchEnvironment) -> list[int]:
    with environment.reader.begin() as session:
        return list(session.scalars(select(Strategy.id)))


def ready_to_running(environment: BenchEnvironment, broker: str, before: datetime | None) -> float:
    """Seconds from the swap to all strategies running, read from the database."""
    count = len(all_ids(environment))
    swapped = wait_until(
        lambda: (value := loaded_at(environment, broker)) != before and value,
        TIMEOUT_SECS,
        f"the {broker} contract ready",
        poll_secs=0.005,
    )
    wait_until(
        lambda: count_in_state(environment, "running") == count,
        TIMEOUT_SECS,
        "all running",
        poll_secs=0.005,
    )
    assert isinstance(swapped, datetime)
    return (datetime.now(UTC) - swapped).total_seconds()


def main() -> int:
    parser = base_parser(__doc__ or "", repetitions=5)
    parser.add_argument("--strategies", type=int, default=50, help="default 50")
    arguments = parser.parse_args()
    count = arguments.strategies
    host_path = Figure(f"host refresh: ready -> {count} running", "s", [], TARGET_SECS)
    cli_path = Figure(f"CLI load: ready -> {count} running", "s", [], TARGET_SECS)
    waiting_seen = Figure(f"strategies seen waiting before ready (of {count})", "")
    with bench_environment(arguments.database_url, arguments.keep) as environment:
        say(environment.describe())
        ctx = environment.ctx
        add_strategies(environment, count, Intent.STOP, broker="paper")
        host = environment.host()
        host.start()
        wait_until(lambda: loaded_at(environment, "paper"), TIMEOUT_SECS, "first paper contract")
        # The CLI rounds use a broker loaded from a file, which the host never refreshes
        # by itself: only the load under measurement makes it ready.
        small = environment.root / "small.csv"
        write_zerodha_csv(paper.generate(TRADING_DAY)[:500], small)
        file_source = contract_service.choose_source("zerodha", small, None, "zerodha")
        contract_service.download(ctx, "zerodha", file_source)
        for number in range(arguments.repetitions):
            for broker, figure in (("paper", host_path), ("zerodha", cli_path)):
                before = loaded_at(environment, broker)
                make_stale_and_start(environment, broker)
                wait_until(
                    lambda: count_in_state(environment, "waiting") == count,
                    TIMEOUT_SECS,
                    "all waiting",
                    poll_secs=0.005,
                )
                waiting_seen.add(count_in_state(environment, "waiting"))
                if broker == "zerodha":
                    contract_service.download(ctx, "zerodha", file_source)
                figure.add(ready_to_running(environment, broker, before))
                say(f"  round {number + 1}, {broker}: {figure.values[-1]:.3f} s")
                stop_all(environment)
    notes = [f"{count} sleeping strategies, broker paper; reconciler tick 1 s (default)"]
    figures = [host_path, cli_path, waiting_seen]
    return print_figures("Contract ready -> waiting strategies running", figures, notes)


if __name__ == "__main__":
    run_main(main)
