"""Host idle CPU with 100 running strategies (issue 2 target: <= 2% of one core).

100 sleeping strategies run under a host with the product's default intervals
(a reconcile tick each second, resource sampling every 5 s). Once everything has
settled, the host process's CPU time (all threads: API, reconciler) is read at
the start and end of each window; the difference over the window's length is the
percentage of one core. It is measured twice: with the strategies the host
started itself, then after a `kill -9` and restart of the host, with the same
strategies re-adopted (the host watches those through /proc rather than as its
own children). The strategies' own idle cost (the runner's maintenance thread)
is reported alongside for information.
"""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as `python benchmarks/bench_idle_cpu.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psutil

from algovisor.supervisor.states import Intent
from benchmarks.common import (
    Figure,
    active_runs,
    add_strategies,
    base_parser,
    bench_environment,
    host_cpu_secs,
    print_figures,
    run_main,
    say,
    wait_all_running_and_ready,
)

TARGET_PERCENT = 2.0
TIMEOUT_SECS = 60.0


def processes_cpu_secs(processes: list[psutil.Process]) -> float:
    total = 0.0
    for process in processes:
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def main() -> int:
    parser = base_parser(__doc__ or "", repetitions=3)
    parser.add_argument("--strategies", type=int, default=100, help="default 100")
    parser.add_argument(
        "--window-secs", type=float, default=20.0, help="length of one sample (default 20)"
    )
    parser.add_argument(
        "--settle-secs",
        type=float,
        default=10.0,
        help="wait after all strategies run before sampling (default 10)",
    )
    arguments = parser.parse_args()
    count = arguments.strategies
    own = Figure(
        f"host CPU, {count} idle strategies it started", "% of one core", [], TARGET_PERCENT
    )
    adopted = Figure(
        f"host CPU, {count} idle strategies re-adopted after a restart",
        "% of one core",
        [],
        TARGET_PERCENT,
    )
    strategy_cpu = Figure("CPU of one idle strategy process (runner + script)", "% of one core")
    with bench_environment(arguments.database_url, arguments.keep) as environment:
        say(environment.describe())
        add_strategies(environment, count, Intent.RUN)
        host = environment.host()
        host.start()
        runs = wait_all_running_and_ready(environment, count, TIMEOUT_SECS)
        strategies = [psutil.Process(run.pid) for run in runs.values() if run.pid is not None]
        for figure in (own, adopted):
            if figure is adopted:
                host.kill(signal.SIGKILL)
                host.start()
            say(f"{figure.name}: settling for {arguments.settle_secs:g} s")
            time.sleep(arguments.settle_secs)
            for repetition in range(arguments.repetitions):
                host_before = host_cpu_secs(host.pid)
                strategies_before = processes_cpu_secs(strategies)
                started = time.monotonic()
                time.sleep(arguments.window_secs)
                elapsed = time.monotonic() - started
                host_percent = 100 * (host_cpu_secs(host.pid) - host_before) / elapsed
                per_strategy = (
                    100 * (processes_cpu_secs(strategies) - strategies_before) / elapsed / count
                )
                figure.add(host_percent)
                strategy_cpu.add(per_strategy)
                say(
                    f"window {repetition + 1} ({elapsed:.1f} s): host {host_percent:.2f}% "
                    f"of a core, each strategy {per_strategy:.3f}%"
                )
        if active_runs(environment) != runs:
            raise RuntimeError("strategies were restarted during the benchmark")
    return print_figures(
        f"host idle CPU with {count} running strategies",
        [own, adopted, strategy_cpu],
        [
            f"{arguments.repetitions} windows of {arguments.window_secs:g} s per case after "
            f"{arguments.settle_secs:g} s settling; default reconcile and sampling intervals"
        ],
    )


if __name__ == "__main__":
    run_main(main)
