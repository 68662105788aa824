"""Start, run and stop real strategy processes through the in-process reconciler."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import psutil

from algovisor.services import strategies
from algovisor.services.context import ServiceContext
from algovisor.supervisor.reconciler import Reconciler
from tests.conftest import converge, wait_until

LOOPING = """
import time
print("up", flush=True)
while True:
    time.sleep(0.1)
"""


def test_start_runs_the_script_and_stop_ends_it(
    ctx: ServiceContext, reconciler: Reconciler, write_script: Callable[[str, str], Path]
) -> None:
    strategies.add(ctx, "loop.py", write_script("loop.py", LOOPING).read_bytes())
    strategies.start(ctx, "loop")

    running = wait_until(
        lambda: strategies.show(ctx, "loop").current_run, step=converge(reconciler), message="run"
    )
    pid = running.pid  # type: ignore[attr-defined]
    assert psutil.pid_exists(pid)
    assert strategies.show(ctx, "loop").state == "running"

    strategies.stop(ctx, "loop")
    wait_until(
        lambda: strategies.show(ctx, "loop").state == "stopped",
        step=converge(reconciler),
        message="stopped",
    )
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    view = strategies.show(ctx, "loop")
    assert view.last_run is not None
    assert view.last_run.end_reason == "stopped"
