"""Memory the runner adds to a strategy process (issue 2 target: <= 3 MB of RSS).

The same trivial sleeping script is started twice, side by side, with the same
environment, working directory and log handling: once under the runner exactly as
the reconciler starts it (`python -m algovisor.runner ...`), once bare
(`python script.py`). Once each has reached its sleep (it drops a marker file),
RSS, USS and PSS of both are read and the difference is the runner's cost.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

if __package__ in (None, ""):  # run as `python benchmarks/bench_runner_rss.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psutil

from algovisor.supervisor.processes import build_environment, runner_command, spawn
from benchmarks.common import (
    READY_MARKER_PREFIX,
    SLEEPING_SCRIPT,
    Figure,
    base_parser,
    kill_processes_of,
    print_figures,
    run_main,
    say,
    wait_until,
)

TARGET_MB = 3.0
SETTLE_SECS = 0.5  # the runner's maintenance thread has done its first round by then
MEGABYTE = 1024 * 1024


def start_pair(
    root: Path, script: Path, number: int
) -> tuple[subprocess.Popen[bytes], subprocess.Popen[bytes]]:
    """The script under the runner and bare, each in its own directory and log."""
    processes = []
    for kind in ("runner", "bare"):
        run_id = f"{kind}{number:02d}{uuid.uuid4().hex[:8]}"
        work_dir = root / run_id
        run_dir = work_dir / "run"
        run_dir.mkdir(parents=True)
        log_path = work_dir / f"{run_id}.log"
        environment = build_environment(
            os.environ,
            {},
            {},
            {
                "ALGOVISOR_STRATEGY_ID": str(number),
                "ALGOVISOR_STRATEGY_NAME": f"sleeper-{number}",
                "ALGOVISOR_RUN_ID": run_id,
                "ALGOVISOR_BROKER": "paper",
                "ALGOVISOR_DATABASE_URL": f"sqlite:///{root / 'algovisor.db'}",
                "ALGOVISOR_DATA_DIR": str(root),
            },
        )
        command = (
            runner_command(run_dir, log_path, 50 * MEGABYTE, script)
            if kind == "runner"
            else [sys.executable, str(script)]
        )
        popen = spawn(command, environment, work_dir, log_path)
        marker = work_dir / f"{READY_MARKER_PREFIX}{run_id}"
        wait_until(marker.exists, 30, f"{kind} script to reach its sleep")
        processes.append(popen)
    return processes[0], processes[1]


def main() -> int:
    parser = base_parser(__doc__ or "", repetitions=10, database=False)
    arguments = parser.parse_args()
    rss = Figure("RSS overhead of the runner", "MB", [], TARGET_MB)
    uss = Figure("USS overhead (memory private to the process)", "MB")
    pss = Figure("PSS overhead", "MB")
    runner_rss = Figure("RSS under the runner", "MB")
    bare_rss = Figure("RSS of bare `python script.py`", "MB")
    root = Path(tempfile.mkdtemp(prefix="algovisor-bench-")).resolve()
    script = root / "sleeper.py"
    script.write_text(SLEEPING_SCRIPT)
    try:
        for repetition in range(arguments.repetitions):
            runner, bare = start_pair(root, script, repetition)
            time.sleep(SETTLE_SECS)
            under_runner = psutil.Process(runner.pid).memory_full_info()
            alone = psutil.Process(bare.pid).memory_full_info()
            runner_rss.add(under_runner.rss / MEGABYTE)
            bare_rss.add(alone.rss / MEGABYTE)
            rss.add((under_runner.rss - alone.rss) / MEGABYTE)
            uss.add((under_runner.uss - alone.uss) / MEGABYTE)
            pss.add((under_runner.pss - alone.pss) / MEGABYTE)
            say(
                f"pair {repetition + 1}: runner {under_runner.rss / MEGABYTE:.2f} MB, "
                f"bare {alone.rss / MEGABYTE:.2f} MB, "
                f"overhead {(under_runner.rss - alone.rss) / MEGABYTE:.2f} MB RSS, "
                f"{(under_runner.uss - alone.uss) / MEGABYTE:.2f} MB USS"
            )
            for popen in (runner, bare):
                popen.kill()
                popen.wait()
    finally:
        kill_processes_of(root)
        if arguments.keep:
            say(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    return print_figures(
        "runner memory overhead over a bare `python script.py`",
        [rss, uss, pss, runner_rss, bare_rss],
        [f"{sys.executable}; script: {len(SLEEPING_SCRIPT.splitlines())} lines, os and time only"],
    )


if __name__ == "__main__":
    run_main(main)
