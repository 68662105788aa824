"""50 strategies from `stopped` to `running` (issue 2 target: <= 2 s).

A host is running with 50 stopped strategies. The benchmark asks the API to start
each of them, one request after another as a script or the web UI would, and
measures from the first request until the database shows all 50 `running`. It also
reports when every script actually reached its first line (each drops a marker
file), which is what a trader's strategy cares about. Then it stops them all and
repeats.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as `python benchmarks/bench_start_many.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from algovisor.supervisor.states import Intent
from benchmarks.common import (
    BenchEnvironment,
    Figure,
    active_runs,
    add_strategies,
    base_parser,
    bench_environment,
    count_in_state,
    post,
    print_figures,
    ready_run_ids,
    remove_ready_markers,
    run_main,
    say,
    wait_until,
)

TARGET_SECS = 2.0
TIMEOUT_SECS = 60.0


def all_scripts_ready(environment: BenchEnvironment, count: int) -> bool:
    runs = active_runs(environment)
    ready = ready_run_ids(environment)
    return len(runs) == count and all(run.run_id in ready for run in runs.values())


def main() -> int:
    parser = base_parser(__doc__ or "", repetitions=5)
    parser.add_argument("--strategies", type=int, default=50, help="default 50")
    arguments = parser.parse_args()
    count = arguments.strategies
    to_running = Figure(f"{count} strategies stopped -> running", "s", [], TARGET_SECS)
    requests = Figure(f"{count} start requests answered", "s")
    to_ready = Figure(f"{count} scripts reached their first line", "s")
    noop_requests = Figure(f"{count} start requests to running strategies (API cost alone)", "s")
    with bench_environment(arguments.database_url, arguments.keep) as environment:
        say(environment.describe())
        ids = add_strategies(environment, count, Intent.STOP)
        host = environment.host()
        host.start()
        with host.client() as client:
            for repetition in range(arguments.repetitions):
                remove_ready_markers(environment)
                running_at: float | None = None
                started = time.monotonic()
                for strategy_id in ids:
                    post(client, f"/api/strategies/{strategy_id}/start")
                answered = time.monotonic()
                while True:
                    now = time.monotonic()
                    if running_at is None and count_in_state(environment, "running") == count:
                        running_at = now
                    if running_at is not None and all_scripts_ready(environment, count):
                        break
                    if now - started > TIMEOUT_SECS:
                        raise TimeoutError(f"{count} strategies did not all start")
                    time.sleep(0.01)
                ready_at = time.monotonic()
                to_running.add(running_at - started)
                requests.add(answered - started)
                to_ready.add(ready_at - started)
                say(
                    f"round {repetition + 1}: all running after {running_at - started:.3f} s, "
                    f"scripts ready after {ready_at - started:.3f} s "
                    f"(requests took {answered - started:.3f} s)"
                )
                # The same requests again while all run: the API's share of the time.
                noop_started = time.monotonic()
                for strategy_id in ids:
                    post(client, f"/api/strategies/{strategy_id}/start")
                noop_requests.add(time.monotonic() - noop_started)
                for strategy_id in ids:
                    post(client, f"/api/strategies/{strategy_id}/stop")
                wait_until(
                    lambda: (
                        not active_runs(environment)
                        and count_in_state(environment, "stopped") == count
                    ),
                    TIMEOUT_SECS,
                    "all strategies to stop",
                    poll_secs=0.05,
                )
    return print_figures(
        f"{count} strategies from stopped to running",
        [to_running, requests, to_ready, noop_requests],
        [f"one start request per strategy to a real host; {arguments.repetitions} rounds"],
    )


if __name__ == "__main__":
    run_main(main)
