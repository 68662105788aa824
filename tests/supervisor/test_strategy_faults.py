"""Fault tests of strategy processes: kill them, crash them, break them, starve them.

Real processes through the in-process reconciler, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest
from sqlalchemy import select

from algovisor.db.models import Run, Strategy
from algovisor.services import environment, strategies
from algovisor.services.context import ServiceContext
from algovisor.services.views import StrategyView
from algovisor.supervisor.logfiles import run_log_segments, tail_lines
from algovisor.supervisor.reconciler import Reconciler
from algovisor.supervisor.restart_policy import RestartPolicy
from tests.conftest import converge, make_reconciler, wait_until

WriteScript = Callable[[str, str], Path]

LOOPING = """
import time
print("up", flush=True)
while True:
    time.sleep(0.1)
"""


# ----- helpers ------------------------------------------------------------------------


def add_and_start(ctx: ServiceContext, write_script: WriteScript, name: str, body: str) -> int:
    """Add a strategy from `body` and ask for it to run; returns its id."""
    view = strategies.add(ctx, f"{name}.py", write_script(f"{name}.py", body).read_bytes())
    strategies.start(ctx, name)
    return view.id


def update_strategy(ctx: ServiceContext, strategy_id: int, **columns: object) -> None:
    """Set settings the CLI does not expose yet straight in the database."""
    with ctx.transaction() as session:
        strategy = session.get_one(Strategy, strategy_id)
        for column, value in columns.items():
            setattr(strategy, column, value)


def runs_of(ctx: ServiceContext, strategy_id: int) -> list[Run]:
    """Every run of a strategy, oldest first."""
    with ctx.transaction() as session:
        return list(
            session.scalars(
                select(Run).where(Run.strategy_id == strategy_id).order_by(Run.created_at)
            )
        )


def running_view(ctx: ServiceContext, reconciler: Reconciler, name: str) -> StrategyView:
    """Tick until the strategy has a live process, then return its view."""

    def ready() -> StrategyView | None:
        view = strategies.show(ctx, name)
        if view.state == "running" and view.current_run and view.current_run.pid:
            return view
        return None

    found = wait_until(ready, step=converge(reconciler), message=f"{name} running")
    assert isinstance(found, StrategyView)
    return found


def wait_for_state(
    ctx: ServiceContext, reconciler: Reconciler, name: str, state: str, timeout_secs: float = 10.0
) -> StrategyView:
    found = wait_until(
        lambda: (view := strategies.show(ctx, name)).state == state and view,
        timeout_secs,
        step=converge(reconciler),
        message=f"{name} in state {state}",
    )
    assert isinstance(found, StrategyView)
    return found


def keep_ticking(reconciler: Reconciler, secs: float) -> None:
    """Drive the reconciler for a while, for checks that something does NOT happen."""
    deadline = time.monotonic() + secs
    step = converge(reconciler)
    while time.monotonic() < deadline:
        step()


def log_text(ctx: ServiceContext, strategy_id: int, run_id: str) -> str:
    segments = run_log_segments(ctx.layout.log_dir(strategy_id), run_id)
    return b"".join(segment.read_bytes() for segment in segments).decode(errors="replace")


def is_gone(pid: int) -> bool:
    """No such process, or a zombie nobody reaped yet (our container's init may not)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


# ----- kill -9 and crash loops --------------------------------------------------------


def test_strategy_killed_with_sigkill_restarts_after_backoff(
    ctx: ServiceContext, reconciler: Reconciler, write_script: WriteScript
) -> None:
    strategy_id = add_and_start(ctx, write_script, "victim", LOOPING)
    first = running_view(ctx, reconciler, "victim").current_run
    assert first is not None
    assert first.pid is not None

    os.kill(first.pid, signal.SIGKILL)

    backoff = wait_for_state(ctx, reconciler, "victim", "backoff")
    assert backoff.backoff_until is not None
    assert backoff.current_run is None
    ended = backoff.last_run
    assert ended is not None
    assert ended.id == first.id
    assert ended.end_reason == "crashed"
    assert ended.exit_signal == signal.SIGKILL
    assert ended.message is not None
    assert "SIGKILL" in ended.message
    assert ended.ended_at is not None
    # The first delay of the test policy is 0.2 s.
    delay_secs = (backoff.backoff_until - ended.ended_at).total_seconds()
    assert 0.1 <= delay_secs <= 0.5, delay_secs

    second = running_view(ctx, reconciler, "victim")
    assert second.current_run is not None
    assert second.current_run.id != first.id
    assert second.current_run.pid != first.pid
    assert second.restart_count == 1
    assert second.backoff_until is None
    assert psutil.pid_exists(second.current_run.pid)  # type: ignore[arg-type]
    assert len(runs_of(ctx, strategy_id)) == 2


CRASHING = """
raise RuntimeError("broker session expired 42")
"""


def test_crash_loop_ends_in_error_and_clear_error_returns_it_to_stopped(
    ctx: ServiceContext, write_script: WriteScript
) -> None:
    # Shorter delays than the shared fixture so five crashes fit in about a second.
    policy = RestartPolicy(
        initial_delay_secs=0.05, factor=2.0, max_delay_secs=0.2, stable_uptime_secs=30.0
    )
    reconciler = make_reconciler(ctx, policy)
    reconciler.recover()
    try:
        strategy_id = add_and_start(ctx, write_script, "crasher", CRASHING)
        view = wait_for_state(ctx, reconciler, "crasher", "error", timeout_secs=20.0)

        assert view.error_message is not None
        assert "crash loop" in view.error_message
        assert "RuntimeError" in view.error_message
        assert "broker session expired 42" in view.error_message
        assert view.current_run is None
        assert view.consecutive_failures == policy.max_unstable_exits
        assert view.restart_count == policy.max_unstable_exits - 1
        runs = runs_of(ctx, strategy_id)
        assert len(runs) == policy.max_unstable_exits
        assert {run.end_reason for run in runs} == {"crashed"}

        # In error, nothing starts it again on its own.
        keep_ticking(reconciler, 0.5)
        assert len(runs_of(ctx, strategy_id)) == policy.max_unstable_exits
        assert strategies.show(ctx, "crasher").state == "error"

        cleared = strategies.clear_error(ctx, "crasher").strategy
        assert cleared.state == "stopped"
        assert cleared.error_message is None
        keep_ticking(reconciler, 0.3)
        after = strategies.show(ctx, "crasher")
        assert after.state == "stopped"
        assert after.consecutive_failures == 0
        assert len(runs_of(ctx, strategy_id)) == policy.max_unstable_exits
    finally:
        reconciler.close()


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param(
            "import time\n\ndef on_tick(:\n    pass\n",
            ("SyntaxError", "line 3"),
            id="syntax-error",
        ),
        pytest.param(
            "import time\nimport os\nimport no_such_broker_library\n",
            ("ModuleNotFoundError", "no_such_broker_library", "line 3"),
            id="import-error",
        ),
    ],
)
def test_broken_script_goes_to_error_at_once_without_restarting(
    ctx: ServiceContext,
    reconciler: Reconciler,
    write_script: WriteScript,
    body: str,
    expected: tuple[str, ...],
) -> None:
    strategy_id = add_and_start(ctx, write_script, "broken", body)

    view = wait_for_state(ctx, reconciler, "broken", "error")
    assert view.error_message is not None
    for fragment in expected:
        assert fragment in view.error_message
    assert view.last_run is not None
    assert view.last_run.end_reason == "fatal"

    # Restarting cannot fix a broken file: no second run, even after the backoff delay.
    keep_ticking(reconciler, 0.5)
    assert len(runs_of(ctx, strategy_id)) == 1
    assert strategies.show(ctx, "broken").restart_count == 0


RAISING = """
import time

def on_tick(price):
    raise ValueError(f"bad price {price}")

print("warming up", flush=True)
on_tick(101.5)
"""


def test_exception_in_script_is_recorded_with_its_traceback(
    ctx: ServiceContext, reconciler: Reconciler, write_script: WriteScript
) -> None:
    strategy_id = add_and_start(ctx, write_script, "raiser", RAISING)

    ended = wait_until(
        lambda: [run for run in runs_of(ctx, strategy_id) if run.end_reason],
        step=converge(reconciler),
        message="first run ended",
    )
    strategies.stop(ctx, "raiser")  # it would crash again after the backoff
    assert isinstance(ended, list)
    run = ended[0]
    assert run.end_reason == "crashed"
    assert run.exception_type == "ValueError"
    assert run.exception_message is not None
    assert "bad price 101.5" in run.exception_message
    assert "line 5" in run.exception_message  # where it was raised
    assert run.exit_code == 1
    assert run.traceback is not None
    assert run.traceback.startswith("Traceback (most recent call last):")
    assert 'raise ValueError(f"bad price {price}")' in run.traceback
    assert "on_tick(101.5)" in run.traceback
    assert run.traceback.rstrip().endswith("ValueError: bad price 101.5")
    # The runner's own frames are noise to the trader.
    assert "runpy.py" not in run.traceback
    assert "algovisor/runner" not in run.traceback

    log = log_text(ctx, strategy_id, run.id)
    assert "warming up" in log
    assert run.traceback in log


# ----- clean and final exits ----------------------------------------------------------


def test_clean_exit_stops_the_strategy_without_restart(
    ctx: ServiceContext, reconciler: Reconciler, write_script: WriteScript
) -> None:
    strategy_id = add_and_start(ctx, write_script, "oneshot", 'print("done for today")\n')

    view = wait_for_state(ctx, reconciler, "oneshot", "stopped")
    assert view.last_run is not None
    assert view.last_run.end_reason == "exited"
    assert view.last_run.exit_code == 0
    assert view.intent == "stop"
    assert view.error_message is None

    keep_ticking(reconciler, 0.5)
    assert len(runs_of(ctx, strategy_id)) == 1
    assert strategies.show(ctx, "oneshot").state == "stopped"


@pytest.mark.parametrize(
    ("final_exit_codes", "restarted"),
    [pytest.param([3], False, id="declared-final"), pytest.param([], True, id="not-final")],
)
def test_exit_code_declared_final_is_not_restarted(
    ctx: ServiceContext,
    reconciler: Reconciler,
    write_script: WriteScript,
    final_exit_codes: list[int],
    restarted: bool,
) -> None:
    view = strategies.add(
        ctx, "quitter.py", write_script("quitter.py", "import sys\nsys.exit(3)\n").read_bytes()
    )
    update_strategy(ctx, view.id, final_exit_codes=final_exit_codes)
    strategies.start(ctx, "quitter")

    wait_until(
        lambda: any(run.end_reason for run in runs_of(ctx, view.id)),
        step=converge(reconciler),
        message="first run ended",
    )
    keep_ticking(reconciler, 0.6)  # longer than the first backoff delay (0.2 s)

    runs = runs_of(ctx, view.id)
    assert runs[0].exit_code == 3
    after = strategies.show(ctx, "quitter")
    if restarted:
        assert runs[0].end_reason == "crashed"
        assert len(runs) >= 2
        strategies.stop(ctx, "quitter")
    else:
        assert runs[0].end_reason == "final_exit"
        assert len(runs) == 1
        assert after.state == "stopped"
        assert after.intent == "stop"
        assert after.restart_count == 0
        assert after.error_message is None


# ----- stopping -----------------------------------------------------------------------

GRANDCHILD_CODE = (
    "import os, signal, sys, time; os.setpgid(0, 0); "
    "signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    "print('grandchild ready', os.getpid(), flush=True); time.sleep(600)"
)

STUBBORN = f"""
import signal, subprocess, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
subprocess.Popen([sys.executable, "-c", {GRANDCHILD_CODE!r}])
while True:
    time.sleep(0.1)
"""


def test_sigterm_ignoring_strategy_and_its_detached_grandchild_die_after_grace(
    ctx: ServiceContext, reconciler: Reconciler, write_script: WriteScript
) -> None:
    grace_secs = 0.5
    view = strategies.add(ctx, "stubborn.py", write_script("stubborn.py", STUBBORN).read_bytes())
    update_strategy(ctx, view.id, grace_secs=grace_secs)
    strategies.start(ctx, "stubborn")
    run = running_view(ctx, reconciler, "stubborn").current_run
    assert run is not None
    assert run.pid is not None

    # Wait until the grandchild has left the group and ignores SIGTERM.
    ready = wait_until(
        lambda: [
            line
            for line in log_text(ctx, view.id, run.id).splitlines()
            if "grandchild ready" in line
        ],
        step=converge(reconciler),
        message="grandchild ready",
    )
    assert isinstance(ready, list)
    grandchild_pid = int(ready[0].split()[-1])
    assert os.getpgid(grandchild_pid) != os.getpgid(run.pid)
    pids = [run.pid, grandchild_pid]

    stop_requested = time.monotonic()
    strategies.stop(ctx, "stubborn")
    wait_for_state(ctx, reconciler, "stubborn", "stopping")
    stopped = wait_for_state(ctx, reconciler, "stubborn", "stopped")
    elapsed_secs = time.monotonic() - stop_requested

    assert all(is_gone(pid) for pid in pids), [
        (pid, psutil.Process(pid).status()) for pid in pids if not is_gone(pid)
    ]
    # It took the SIGKILL after the grace period to end it, not the SIGTERM.
    assert elapsed_secs >= grace_secs
    assert elapsed_secs < grace_secs + 2.0
    assert stopped.last_run is not None
    assert stopped.last_run.end_reason == "stopped"
    assert stopped.last_run.exit_signal == signal.SIGKILL


POLITE = """
import time
print("trading", flush=True)
try:
    while True:
        time.sleep(0.1)
finally:
    print("finally: orders cancelled", flush=True)
"""


def test_strategy_that_honours_sigterm_stops_within_grace_and_runs_finally(
    ctx: ServiceContext, reconciler: Reconciler, write_script: WriteScript
) -> None:
    strategy_id = add_and_start(ctx, write_script, "polite", POLITE)
    run = running_view(ctx, reconciler, "polite").current_run
    assert run is not None
    assert run.pid is not None
    wait_until(lambda: "trading" in log_text(ctx, strategy_id, run.id), message="script started")

    stop_requested = time.monotonic()
    strategies.stop(ctx, "polite")
    stopped = wait_for_state(ctx, reconciler, "polite", "stopped")
    elapsed_secs = time.monotonic() - stop_requested

    # The default grace period is 10 s; a polite strategy needs a fraction of a second.
    assert stopped.grace_secs == 10.0
    assert elapsed_secs < 2.0
    assert is_gone(run.pid)
    assert "finally: orders cancelled" in log_text(ctx, strategy_id, run.id)
    assert stopped.last_run is not None
    assert stopped.last_run.end_reason == "stopped"
    assert stopped.last_run.exit_signal is None  # it exited; nobody had to kill it


# ----- logs ---------------------------------------------------------------------------

CHATTY = """
import os, time
log_dir = os.path.join(
    os.environ["ALGOVISOR_DATA_DIR"], "logs", os.environ["ALGOVISOR_STRATEGY_ID"]
)
second_segment = os.path.join(log_dir, os.environ["ALGOVISOR_RUN_ID"] + ".0002.log")
deadline = time.monotonic() + 10
number = 0
extra = 100  # lines after the second rotation, so the active file has some too
while extra and time.monotonic() < deadline:
    print(f"line {number:06d} " + "x" * 40)
    number += 1
    if os.path.exists(second_segment):
        extra -= 1
    time.sleep(0.002)
print(f"total {number}")
"""


def test_log_rotates_while_running_and_segments_keep_every_line_once_in_order(
    ctx: ServiceContext, write_script: WriteScript
) -> None:
    small = dataclasses.replace(
        ctx, settings=ctx.settings.model_copy(update={"log_max_bytes": 2048})
    )
    reconciler = make_reconciler(small)
    reconciler.recover()
    try:
        strategy_id = add_and_start(ctx, write_script, "chatty", CHATTY)
        wait_for_state(ctx, reconciler, "chatty", "stopped", timeout_secs=15.0)
    finally:
        reconciler.close()

    (run,) = runs_of(ctx, strategy_id)
    assert run.end_reason == "exited"
    log_dir = ctx.layout.log_dir(strategy_id)
    segments = run_log_segments(log_dir, run.id)
    rotated = [segment.name for segment in segments[:-1]]
    # The runner checks the size once a second; the script writes until it sees two pieces.
    assert len(rotated) >= 2, [segment.name for segment in segments]
    assert rotated == [f"{run.id}.{number:04d}.log" for number in range(1, len(rotated) + 1)]
    assert segments[-1].name == f"{run.id}.log"

    lines = b"".join(segment.read_bytes() for segment in segments).decode().splitlines()
    assert lines[-1].startswith("total ")
    total = int(lines[-1].split()[1])
    numbers = [int(line.split()[1]) for line in lines[:-1]]
    assert numbers == list(range(total))
    assert total > 100
    # `algovisor strategy logs` reads the same pieces and shows the same lines.
    assert tail_lines(segments, len(lines) + 10) == lines


@pytest.mark.parametrize(
    ("older", "newer"),
    [
        pytest.param(b"line 1\nline 2", b"\nline 3\n", id="between-text-and-newline"),
        pytest.param(b"line 1\nline", b" 2\nline 3\n", id="inside-the-text"),
        pytest.param(b"line 1\nline 2\n", b"line 3\n", id="at-a-line-end"),
    ],
)
def test_a_line_cut_by_rotation_reads_back_whole(
    tmp_path: Path, older: bytes, newer: bytes
) -> None:
    # print() writes the text and its newline in two writes; the runner may rotate
    # between them, leaving the line's end in the next piece.
    (tmp_path / "run.0001.log").write_bytes(older)
    (tmp_path / "run.log").write_bytes(newer)
    segments = run_log_segments(tmp_path, "run")
    assert tail_lines(segments, 100) == ["line 1", "line 2", "line 3"]
    assert tail_lines(segments, 2) == ["line 2", "line 3"]


# ----- resources and environment ------------------------------------------------------

HUNGRY = """
import time
ballast = b"\\x01" * (80 * 1024 * 1024)  # touched, so it is resident
print("allocated", flush=True)
while True:
    time.sleep(0.1)
"""


def test_memory_limit_restarts_the_run_without_putting_it_in_error(
    ctx: ServiceContext, reconciler: Reconciler, write_script: WriteScript
) -> None:
    view = strategies.add(ctx, "hungry.py", write_script("hungry.py", HUNGRY).read_bytes())
    update_strategy(ctx, view.id, memory_limit_mb=30)
    strategies.start(ctx, "hungry")
    first = running_view(ctx, reconciler, "hungry").current_run
    assert first is not None

    # Three samples 0.5 s apart over the limit, then a graceful stop and a new run.
    restarted = wait_until(
        lambda: len(runs_of(ctx, view.id)) >= 2 and strategies.show(ctx, "hungry"),
        timeout_secs=15.0,
        step=converge(reconciler),
        message="a second run",
    )
    assert isinstance(restarted, StrategyView)
    ended = runs_of(ctx, view.id)[0]
    assert ended.id == first.id
    assert ended.end_reason == "memory_limit"
    assert ended.rss_bytes is not None
    assert ended.rss_bytes > 30 * 1024 * 1024
    assert ended.memory_breaches >= 3
    assert restarted.error_message is None
    assert restarted.state in ("starting", "running")
    assert restarted.restart_count == 1
    assert restarted.consecutive_failures == 0
    strategies.stop(ctx, "hungry")


ENVIRONMENT_DUMP = """
import json, os
with open("environment.json", "w") as handle:
    json.dump(dict(os.environ), handle)
"""

# Python itself may set LC_CTYPE (PEP 538 locale coercion) in its own environment.
ALLOWED_BASE_KEYS = {"PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TZ"}


def test_strategy_gets_only_its_own_environment_not_the_hosts(
    ctx: ServiceContext, write_script: WriteScript, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOME_HOST_SECRET", "x")
    monkeypatch.setenv("ALGOVISOR_TEST_LEAK", "1")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "host-credential")
    reconciler = make_reconciler(ctx)  # takes a copy of the host environment as it is now
    reconciler.recover()
    try:
        view = strategies.add(
            ctx, "envdump.py", write_script("envdump.py", ENVIRONMENT_DUMP).read_bytes()
        )
        environment.env_set(ctx, "envdump", "SYMBOL", "NIFTY")
        environment.env_set(ctx, "envdump", "BROKER_API_KEY", "s3cr3t-value", secret=True)
        strategies.start(ctx, "envdump")
        wait_for_state(ctx, reconciler, "envdump", "stopped")
    finally:
        reconciler.close()

    (run,) = runs_of(ctx, view.id)
    assert run.end_reason == "exited"
    seen = json.loads((ctx.layout.work_dir(view.id) / "environment.json").read_text())

    assert "SOME_HOST_SECRET" not in seen
    assert "ALGOVISOR_TEST_LEAK" not in seen
    assert "AWS_SECRET_ACCESS_KEY" not in seen
    assert seen["SYMBOL"] == "NIFTY"
    assert seen["BROKER_API_KEY"] == "s3cr3t-value"  # decrypted for the strategy only
    assert seen["ALGOVISOR_RUN_ID"] == run.id
    assert seen["ALGOVISOR_STRATEGY_ID"] == str(view.id)
    assert seen["ALGOVISOR_STRATEGY_NAME"] == "envdump"
    assert seen["ALGOVISOR_DATABASE_URL"] == ctx.settings.resolved_database_url
    assert seen["PATH"]
    unexpected = {
        key
        for key in seen
        if key not in ALLOWED_BASE_KEYS
        and not key.startswith(("PYTHON", "ALGOVISOR_"))
        and key not in ("SYMBOL", "BROKER_API_KEY")
    }
    assert not unexpected, unexpected
    expected_algovisor = {
        "ALGOVISOR_STRATEGY_ID",
        "ALGOVISOR_STRATEGY_NAME",
        "ALGOVISOR_RUN_ID",
        "ALGOVISOR_BROKER",
        "ALGOVISOR_DATABASE_URL",
        "ALGOVISOR_DATA_DIR",
    }
    assert {key for key in seen if key.startswith("ALGOVISOR_")} == expected_algovisor


POLITE_WITH_DETACHED_CHILD = f"""
import subprocess, sys, time
subprocess.Popen([sys.executable, "-c", {GRANDCHILD_CODE!r}])
while True:
    time.sleep(0.1)
"""


def test_stop_leaves_no_process_behind_when_the_leader_exits_at_once(
    ctx: ServiceContext, reconciler: Reconciler, write_script: WriteScript
) -> None:
    strategy_id = add_and_start(ctx, write_script, "leaver", POLITE_WITH_DETACHED_CHILD)
    run = running_view(ctx, reconciler, "leaver").current_run
    assert run is not None
    ready = wait_until(
        lambda: [
            line
            for line in log_text(ctx, strategy_id, run.id).splitlines()
            if "grandchild ready" in line
        ],
        step=converge(reconciler),
        message="grandchild ready",
    )
    assert isinstance(ready, list)
    grandchild_pid = int(ready[0].split()[-1])

    strategies.stop(ctx, "leaver")
    wait_for_state(ctx, reconciler, "leaver", "stopped")

    # The runner honoured SIGTERM at once; what it left behind must not outlive the run.
    assert wait_until(lambda: is_gone(grandchild_pid), timeout_secs=3.0, message="grandchild gone")


CRASHING_WITH_HELPER = """
import subprocess, sys
helper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
print("helper", helper.pid, flush=True)
raise RuntimeError("crashed with a helper running")
"""


def test_crashed_run_leaves_no_helper_process_beside_the_next_run(
    ctx: ServiceContext, reconciler: Reconciler, write_script: WriteScript
) -> None:
    strategy_id = add_and_start(ctx, write_script, "helper", CRASHING_WITH_HELPER)
    ended = wait_until(
        lambda: [run for run in runs_of(ctx, strategy_id) if run.end_reason],
        step=converge(reconciler),
        message="first run ended",
    )
    strategies.stop(ctx, "helper")
    assert isinstance(ended, list)
    assert ended[0].end_reason == "crashed"
    helper_lines = [
        line for line in log_text(ctx, strategy_id, ended[0].id).splitlines() if "helper" in line
    ]
    helper_pid = int(helper_lines[0].split()[-1])

    assert wait_until(lambda: is_gone(helper_pid), timeout_secs=1.0, message="helper gone")
