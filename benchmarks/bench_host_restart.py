"""Host restart with 100 running strategies (issue 2 target: all re-adopted <= 2 s, 0 restarted).

100 sleeping strategies run under a host. Each round kills the host (`kill -9` by
default, `--stop-signal term` for a clean stop) and starts a new `algovisor serve`,
timing from the moment the new process is started until its log says all 100 runs
were re-adopted ("re-adopted run ..." once per run, written as each one is proven).
Then it checks that nothing was restarted: the same run ids and pids, all
processes alive, no new runs, all strategies shown `running`.
"""

from __future__ import annotations

import re
import signal
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as `python benchmarks/bench_host_restart.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psutil

from algovisor.supervisor.identity import start_time_since_boot
from algovisor.supervisor.states import Intent
from benchmarks.common import (
    ActiveRun,
    BenchEnvironment,
    Figure,
    active_runs,
    add_strategies,
    base_parser,
    bench_environment,
    count_in_state,
    count_runs,
    print_figures,
    run_main,
    say,
    wait_all_running_and_ready,
)

TARGET_SECS = 2.0
TIMEOUT_SECS = 60.0
READOPTED = re.compile(rb"re-adopted run ([0-9a-f]+)")
# Long enough for the new host to finish a few ticks, so a wrong restart would show.
VERIFY_AFTER_SECS = 3.0


class LogWatcher:
    """Reads what the host appended to its log since a given moment."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = path.stat().st_size if path.exists() else 0
        self.buffer = b""

    def new_text(self) -> bytes:
        if not self.path.exists():
            return b""
        with self.path.open("rb") as handle:
            handle.seek(self.offset)
            chunk = handle.read()
        self.offset += len(chunk)
        self.buffer += chunk
        return chunk


def check_nothing_restarted(
    environment: BenchEnvironment, before: dict[int, ActiveRun], runs_before: int
) -> list[str]:
    """What differs from before the restart, as a trader would notice it."""
    problems = []
    after = active_runs(environment)
    if after != before:
        changed = [key for key in before if after.get(key) != before[key]]
        problems.append(f"{len(changed)} strategies have a different run or pid")
    if count_runs(environment) != runs_before:
        problems.append(f"{count_runs(environment) - runs_before} new runs were recorded")
    dead = [
        run.pid
        for run in before.values()
        if run.pid is None
        or not psutil.pid_exists(run.pid)
        or abs(start_time_since_boot(run.pid) - (run.process_start_time or 0)) > 0.01
    ]
    if dead:
        problems.append(f"{len(dead)} original processes are gone")
    running = count_in_state(environment, "running")
    if running != len(before):
        problems.append(f"only {running} of {len(before)} strategies are shown running")
    return problems


def main() -> int:
    parser = base_parser(__doc__ or "", repetitions=5)
    parser.add_argument("--strategies", type=int, default=100, help="default 100")
    parser.add_argument(
        "--stop-signal",
        choices=("kill", "term"),
        default="kill",
        help="how the old host ends: kill -9 (default) or a clean SIGTERM",
    )
    arguments = parser.parse_args()
    count = arguments.strategies
    stop_signal = signal.SIGKILL if arguments.stop_signal == "kill" else signal.SIGTERM
    readopted = Figure(f"new host started -> {count} runs re-adopted", "s", [], TARGET_SECS)
    first_readopted = Figure("new host started -> first run re-adopted", "s")
    healthy = Figure("new host started -> API answers", "s")
    restarted = Figure("runs restarted or lost by the restart", "runs", [], 0)
    with bench_environment(arguments.database_url, arguments.keep) as environment:
        say(environment.describe())
        add_strategies(environment, count, Intent.RUN)
        host = environment.host()
        host.start()
        before = wait_all_running_and_ready(environment, count, TIMEOUT_SECS)
        runs_before = count_runs(environment)
        say(f"{count} strategies running under host pid {host.pid}")
        for repetition in range(arguments.repetitions):
            host.kill(stop_signal)
            watcher = LogWatcher(host.log_path)
            adopted: set[bytes] = set()
            first_at: float | None = None
            healthy_at: float | None = None
            started = host.launch()
            while len(adopted) < count:
                if watcher.new_text():
                    adopted = set(READOPTED.findall(watcher.buffer))
                    if adopted and first_at is None:
                        first_at = time.monotonic()
                if time.monotonic() - started > TIMEOUT_SECS:
                    raise TimeoutError(f"only {len(adopted)} of {count} runs were re-adopted")
                if host.process is not None and host.process.poll() is not None:
                    raise RuntimeError(f"the new host exited; see {host.stdout_path}")
                time.sleep(0.005)
            done = time.monotonic()
            host.wait_healthy()
            healthy_at = time.monotonic()
            assert first_at is not None
            readopted.add(done - started)
            first_readopted.add(first_at - started)
            healthy.add(healthy_at - started)
            time.sleep(VERIFY_AFTER_SECS)
            problems = check_nothing_restarted(environment, before, runs_before)
            after = active_runs(environment)
            restarted.add(sum(1 for key, run in before.items() if after.get(key) != run))
            say(
                f"restart {repetition + 1}: {count} re-adopted after {done - started:.3f} s "
                f"(first at {first_at - started:.3f} s, API up at {healthy_at - started:.3f} s)"
                + (f"; PROBLEMS: {'; '.join(problems)}" if problems else "; nothing restarted")
            )
    return print_figures(
        f"host restart with {count} running strategies",
        [readopted, first_readopted, healthy, restarted],
        [
            f"old host ended with SIG{stop_signal.name.removeprefix('SIG')}; "
            f"{arguments.repetitions} restarts"
        ],
    )


if __name__ == "__main__":
    run_main(main)
