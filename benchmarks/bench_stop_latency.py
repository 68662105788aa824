"""Stop latency of a strategy that honours SIGTERM (issue 2 target: <= 0.5 s).

Measured from the moment the stop request is sent to a running host's API until the
database records the run as ended and the strategy as `stopped`: what a trader waits
for between clicking stop and seeing it stopped.
"""

from __future__ import annotations

import sys
import time
from functools import partial
from pathlib import Path

if __package__ in (None, ""):  # run as `python benchmarks/bench_stop_latency.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import select

from algovisor.db.models import Run, Strategy
from algovisor.supervisor.states import Intent
from benchmarks.common import (
    BenchEnvironment,
    Figure,
    HostProcess,
    active_runs,
    add_strategies,
    base_parser,
    bench_environment,
    post,
    print_figures,
    ready_run_ids,
    run_main,
    say,
    wait_until,
)

TARGET_SECS = 0.5
SETTLE_SECS = 0.3  # let the host's tick that started the run finish before stopping it


def stopped_and_ended(
    environment: BenchEnvironment, strategy_id: int, run_id: str
) -> tuple[float, float] | None:
    """(stop requested, ended) as recorded by the host, once both are there."""
    with environment.reader.begin() as session:
        state = session.scalar(select(Strategy.state).where(Strategy.id == strategy_id))
        run = session.get(Run, run_id)
        if run is None or run.ended_at is None or state != "stopped":
            return None
        requested = run.stop_requested_at or run.ended_at
        return requested.timestamp(), run.ended_at.timestamp()


def start_and_wait_ready(environment: BenchEnvironment, host: HostProcess, strategy_id: int) -> str:
    with host.client() as client:
        post(client, f"/api/strategies/{strategy_id}/start")

    def ready_run() -> str | None:
        run = active_runs(environment).get(strategy_id)
        if run is not None and run.status == "running" and run.run_id in ready_run_ids(environment):
            return run.run_id
        return None

    run_id = wait_until(ready_run, 30, "the strategy to run")
    assert isinstance(run_id, str)
    return run_id


def main() -> int:
    parser = base_parser(__doc__ or "", repetitions=15)
    arguments = parser.parse_args()
    client_latency = Figure(
        "stop latency (request sent -> ended and stopped)", "s", [], TARGET_SECS
    )
    response_time = Figure("API answer to the stop request", "s")
    recorded = Figure("host-recorded stop_requested_at -> ended_at", "s")
    with bench_environment(arguments.database_url, arguments.keep) as environment:
        say(environment.describe())
        [strategy_id] = add_strategies(environment, 1, Intent.STOP)
        host = environment.host()
        host.start()
        with host.client() as client:
            for repetition in range(arguments.repetitions):
                run_id = start_and_wait_ready(environment, host, strategy_id)
                time.sleep(SETTLE_SECS)
                sent = time.monotonic()
                post(client, f"/api/strategies/{strategy_id}/stop")
                answered = time.monotonic()
                times = wait_until(
                    partial(stopped_and_ended, environment, strategy_id, run_id),
                    30,
                    "the run to end",
                    poll_secs=0.002,
                )
                done = time.monotonic()
                assert isinstance(times, tuple)
                client_latency.add(done - sent)
                response_time.add(answered - sent)
                recorded.add(times[1] - times[0])
                say(
                    f"stop {repetition + 1}: {done - sent:.3f} s "
                    f"(API answered in {answered - sent:.3f} s)"
                )
    return print_figures(
        "stop latency of a strategy that honours SIGTERM",
        [client_latency, response_time, recorded],
        [f"{arguments.repetitions} stops of one sleeping strategy under a real host"],
    )


if __name__ == "__main__":
    run_main(main)
