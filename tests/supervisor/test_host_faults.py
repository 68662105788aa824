"""Fault tests of the host itself: real `algovisor serve` processes killed and restarted.

Strategies must outlive the host, be re-adopted only when provably ours, never
run twice, and a process that merely reuses a recorded pid is left alone.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
from sqlalchemy import select

from algovisor.db.models import Run, Strategy
from algovisor.runner.files import HEARTBEAT
from algovisor.services import hosts, strategies
from algovisor.services.context import ServiceContext
from algovisor.supervisor.identity import (
    ProcessIdentity,
    current_boot_id,
    prove,
    start_time_since_boot,
)
from algovisor.supervisor.lease import default_host_name
from algovisor.supervisor.processes import build_environment, runner_command, spawn
from algovisor.supervisor.states import ACTIVE_RUN_STATUSES, Intent
from tests.conftest import HostProcess, free_port, wait_until

# Prints a numbered beat every 50 ms, so a growing log shows the strategy is alive.
BEATING = """
import itertools
import time

for beat in itertools.count():
    print(f"beat {beat}", flush=True)
    time.sleep(0.05)
"""

IGNORES_SIGTERM = """
import signal
import time

signal.signal(signal.SIGTERM, signal.SIG_IGN)
print("ignoring SIGTERM", flush=True)
while True:
    time.sleep(0.05)
"""

StrategyJson = dict[str, Any]


# ----- helpers ------------------------------------------------------------------------


def add_strategy(ctx: ServiceContext, name: str, body: str, intent: Intent = Intent.RUN) -> int:
    """Add a strategy straight through the services (no host needed); return its id."""
    return strategies.add(ctx, f"{name}.py", body.encode(), intent=intent).id


def show(client: httpx.Client, name: str) -> StrategyJson:
    response = client.get(f"/api/strategies/{name}")
    assert response.status_code == 200, response.text
    result: StrategyJson = response.json()
    return result


def act(client: httpx.Client, name: str, action: str) -> None:
    response = client.post(f"/api/strategies/{name}/{action}")
    assert response.status_code == 200, response.text


def running_pid(client: httpx.Client, name: str) -> int | None:
    """The pid the API reports for a running strategy, else None."""
    view = show(client, name)
    run = view["current_run"]
    if view["state"] != "running" or run is None or run["status"] != "running":
        return None
    return int(run["pid"])


def wait_running(client: httpx.Client, name: str, timeout_secs: float = 10.0) -> int:
    pid = wait_until(
        lambda: running_pid(client, name), timeout_secs, message=f"{name} to be running"
    )
    assert isinstance(pid, int)
    return pid


def strategy_processes(data_dir: Path, strategy_id: int) -> list[psutil.Process]:
    """Live processes carrying this strategy's id in their environment.

    Filtered by data directory too: other tests on this machine have strategies
    with the same small ids.
    """
    found = []
    for process in psutil.process_iter():
        with contextlib.suppress(psutil.Error):
            environment = process.environ()
            if (
                environment.get("ALGOVISOR_DATA_DIR") == str(data_dir)
                and environment.get("ALGOVISOR_STRATEGY_ID") == str(strategy_id)
                and process.status() != psutil.STATUS_ZOMBIE
            ):
                found.append(process)
    return found


def is_alive(pid: int) -> bool:
    with contextlib.suppress(psutil.NoSuchProcess):
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    return False


def runs_of(ctx: ServiceContext, strategy_id: int) -> list[Run]:
    with ctx.transaction() as session:
        rows = session.scalars(
            select(Run).where(Run.strategy_id == strategy_id).order_by(Run.created_at)
        ).all()
        session.expunge_all()
        return list(rows)


def active_runs_of(ctx: ServiceContext, strategy_id: int) -> list[Run]:
    return [run for run in runs_of(ctx, strategy_id) if run.status in ACTIVE_RUN_STATUSES]


def last_beat(client: httpx.Client, name: str) -> int:
    response = client.get(f"/api/strategies/{name}/logs", params={"lines": 1})
    assert response.status_code == 200, response.text
    lines = response.json()["lines"]
    return int(lines[-1].split()[-1]) if lines and lines[-1].startswith("beat ") else -1


def prove_a_full_pass(client: httpx.Client, canary: str) -> None:
    """Start the canary and wait until it runs.

    The reconciler spawns everything it means to spawn in one pass and records
    the pids in one commit, so once the canary shows up running, any duplicate
    the restarted host was going to start would show up too. This replaces a
    blind sleep when asserting that something did not happen.
    """
    act(client, canary, "start")
    wait_running(client, canary)


def record_intent(ctx: ServiceContext, strategy_id: int, **recorded: Any) -> str:
    """Write a run row as the reconciler does before spawning; return its id."""
    run_id = uuid.uuid4().hex
    with ctx.transaction() as session:
        strategy = session.get_one(Strategy, strategy_id)
        version = strategies.current_version(session, strategy_id)
        assert version is not None
        fields: dict[str, Any] = {
            "status": "spawning",
            "pid": None,
            "process_start_time": None,
            "boot_id": None,
            "started_at": None,
            **recorded,
        }
        session.add(
            Run(
                id=run_id,
                strategy_id=strategy_id,
                version_id=version.id,
                restart_generation=strategy.restart_generation,
                host=default_host_name(),
                log_path=str(ctx.layout.log_path(strategy_id, run_id)),
                created_at=ctx.clock.now(),
                memory_breaches=0,
                **fields,
            )
        )
    return run_id


def spawn_runner_as_reconciler_would(
    ctx: ServiceContext, host: HostProcess, strategy_id: int, run_id: str
) -> subprocess.Popen[bytes]:
    """Start the runner exactly as `Reconciler._spawn_one` does, marker included."""
    with ctx.transaction() as session:
        strategy = session.get_one(Strategy, strategy_id)
        version = strategies.current_version(session, strategy_id)
        assert version is not None
        name, broker = strategy.name, strategy.broker
        number, filename, content = version.number, version.filename, version.content
    script = ctx.layout.script_path(strategy_id, number, filename)
    script.parent.mkdir(parents=True, exist_ok=True)
    script.write_bytes(content)
    run_dir = ctx.layout.run_dir(run_id)
    run_dir.mkdir(parents=True, exist_ok=True)
    work_dir = ctx.layout.work_dir(strategy_id)
    work_dir.mkdir(parents=True, exist_ok=True)
    environment = build_environment(
        host.environment(),
        {},
        {},
        {
            "ALGOVISOR_STRATEGY_ID": str(strategy_id),
            "ALGOVISOR_STRATEGY_NAME": name,
            "ALGOVISOR_RUN_ID": run_id,
            "ALGOVISOR_BROKER": broker,
            "ALGOVISOR_DATABASE_URL": ctx.settings.resolved_database_url,
            "ALGOVISOR_DATA_DIR": str(ctx.layout.root),
        },
    )
    log_path = ctx.layout.log_path(strategy_id, run_id)
    command = runner_command(run_dir, log_path, ctx.settings.log_max_bytes, script)
    return spawn(command, environment, work_dir, log_path)


@pytest.fixture
def unrelated_processes() -> Iterator[Callable[[], subprocess.Popen[bytes]]]:
    """Start `sleep 600` processes that have nothing to do with algovisor; killed afterwards."""
    started: list[subprocess.Popen[bytes]] = []

    def start() -> subprocess.Popen[bytes]:
        environment = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        # Its own session, so a wrongful killpg(pid) by the host would reach it too.
        process = subprocess.Popen(["sleep", "600"], env=environment, start_new_session=True)
        started.append(process)
        # Popen returns while exec is still setting up the new image, when
        # /proc/PID/environ can still read empty; wait until it is all there.
        wait_until(
            lambda: psutil.Process(process.pid).environ() == environment,
            message="sleep to finish starting",
        )
        return process

    yield start
    for process in started:
        process.kill()
        process.wait(timeout=5)


# ----- the tests ----------------------------------------------------------------------


def test_kill_9_host_then_restart_readopts_the_same_processes(
    ctx: ServiceContext, host: HostProcess
) -> None:
    names = ["alpha", "beta", "gamma"]
    ids = {name: add_strategy(ctx, name, BEATING) for name in names}
    add_strategy(ctx, "canary", BEATING, Intent.STOP)
    host.start()
    with host.client() as client:
        before = {name: wait_running(client, name) for name in names}
        run_ids = {name: show(client, name)["current_run"]["id"] for name in names}

    host.kill(signal.SIGKILL)
    assert all(is_alive(pid) for pid in before.values()), "strategies died with the host"

    host.start()
    with host.client() as client:
        prove_a_full_pass(client, "canary")
        for name in names:
            view = show(client, name)
            assert view["state"] == "running", view
            assert view["current_run"]["pid"] == before[name], f"{name} was not re-adopted"
            assert view["current_run"]["id"] == run_ids[name]
            assert view["restart_count"] == 0
            processes = strategy_processes(ctx.settings.data_dir, ids[name])
            assert [process.pid for process in processes] == [before[name]], (
                f"{name} runs {len(processes)} processes"
            )
            assert [run.id for run in active_runs_of(ctx, ids[name])] == [run_ids[name]]
            assert len(runs_of(ctx, ids[name])) == 1, f"{name} got a second run"
        # The strategies kept writing through the host's death and keep writing now.
        beats = {name: last_beat(client, name) for name in names}
        assert all(beat >= 0 for beat in beats.values()), beats
        wait_until(
            lambda: all(last_beat(client, name) > beats[name] for name in names),
            message="every strategy's log to grow",
        )


def test_intent_recorded_and_process_started_before_the_crash_is_adopted_by_its_marker(
    ctx: ServiceContext, host: HostProcess
) -> None:
    # The host died after writing the run's intent and spawning, before recording the pid.
    strategy_id = add_strategy(ctx, "orphan", BEATING)
    add_strategy(ctx, "canary", BEATING, Intent.STOP)
    run_id = record_intent(ctx, strategy_id)
    runner = spawn_runner_as_reconciler_would(ctx, host, strategy_id, run_id)
    try:
        # The runner touches its heartbeat once it is up, as it was when the host died.
        wait_until((ctx.layout.run_dir(run_id) / HEARTBEAT).exists, message="runner heartbeat")

        host.start()
        with host.client() as client:
            prove_a_full_pass(client, "canary")
            assert wait_running(client, "orphan") == runner.pid
            view = show(client, "orphan")
            assert view["current_run"]["id"] == run_id
            assert view["restart_count"] == 0
            assert runner.poll() is None, "the adopted runner was stopped"
            processes = strategy_processes(ctx.settings.data_dir, strategy_id)
            assert [process.pid for process in processes] == [runner.pid]
            runs = runs_of(ctx, strategy_id)
            assert [(run.id, run.status, run.pid) for run in runs] == [
                (run_id, "running", runner.pid)
            ]
            # What the host recorded on adoption proves the process to the next host.
            recorded = ProcessIdentity(
                runner.pid, runs[0].process_start_time or 0.0, runs[0].boot_id or ""
            )
            assert prove(run_id, recorded, current_boot_id()).proven

            # Adopted means supervised: a stop through the API reaches this process.
            act(client, "orphan", "stop")
            wait_until(lambda: runner.poll() is not None, message="adopted runner to stop")
            wait_until(lambda: show(client, "orphan")["state"] == "stopped", message="stopped")
            assert show(client, "orphan")["last_run"]["end_reason"] == "stopped"
    finally:
        if runner.poll() is None:
            runner.kill()
        runner.wait(timeout=5)


def test_intent_recorded_without_any_process_is_declared_lost_and_started_once(
    ctx: ServiceContext, host: HostProcess
) -> None:
    # The host died after writing the run's intent, before spawning anything.
    strategy_id = add_strategy(ctx, "unborn", BEATING)
    add_strategy(ctx, "canary", BEATING, Intent.STOP)
    lost_run_id = record_intent(ctx, strategy_id)

    host.start()
    with host.client() as client:
        pid = wait_running(client, "unborn")
        prove_a_full_pass(client, "canary")
        view = show(client, "unborn")
        assert view["current_run"]["pid"] == pid
        assert view["current_run"]["id"] != lost_run_id
        assert [
            process.pid for process in strategy_processes(ctx.settings.data_dir, strategy_id)
        ] == [pid]
        runs = {run.id: run for run in runs_of(ctx, strategy_id)}
        assert len(runs) == 2, "started more than once"
        assert runs[lost_run_id].status == "ended"
        assert runs[lost_run_id].end_reason == "lost"
        assert len(active_runs_of(ctx, strategy_id)) == 1
        # Losing an intent is not the strategy's fault: no error, no crash counted.
        assert view["error_message"] is None
        assert view["consecutive_failures"] == 0


def test_a_recorded_pid_now_owned_by_another_process_is_neither_adopted_nor_signalled(
    ctx: ServiceContext,
    host: HostProcess,
    unrelated_processes: Callable[[], subprocess.Popen[bytes]],
) -> None:
    # Two ways a pid gets reused: same pid, other start time; or same pid and start
    # time as far as we recorded, but without our run-id marker.
    wrong_start_id = add_strategy(ctx, "wrong-start", BEATING)
    no_marker_id = add_strategy(ctx, "no-marker", BEATING)
    impostors = {"wrong-start": unrelated_processes(), "no-marker": unrelated_processes()}
    real_start = {name: start_time_since_boot(process.pid) for name, process in impostors.items()}
    recorded_runs = {
        "wrong-start": record_intent(
            ctx,
            wrong_start_id,
            status="running",
            pid=impostors["wrong-start"].pid,
            process_start_time=real_start["wrong-start"] - 3600.0,
            boot_id=current_boot_id(),
            started_at=ctx.clock.now(),
        ),
        "no-marker": record_intent(
            ctx,
            no_marker_id,
            status="running",
            pid=impostors["no-marker"].pid,
            process_start_time=real_start["no-marker"],
            boot_id=current_boot_id(),
            started_at=ctx.clock.now(),
        ),
    }
    ids = {"wrong-start": wrong_start_id, "no-marker": no_marker_id}

    host.start()
    with host.client() as client:
        for name, impostor in impostors.items():
            pid = wait_running(client, name)
            assert pid != impostor.pid
            assert show(client, name)["current_run"]["id"] != recorded_runs[name]
            assert [
                process.pid for process in strategy_processes(ctx.settings.data_dir, ids[name])
            ] == [pid]
            recorded = {run.id: run for run in runs_of(ctx, ids[name])}[recorded_runs[name]]
            assert recorded.status == "ended", f"{name}: the impostor was adopted"
            assert len(active_runs_of(ctx, ids[name])) == 1
    for name, impostor in impostors.items():
        assert impostor.poll() is None, f"{name}: the unrelated process was killed"
        assert psutil.Process(impostor.pid).status() != psutil.STATUS_STOPPED


def test_sigterm_to_the_host_leaves_strategies_running_for_the_next_host(
    ctx: ServiceContext, host: HostProcess
) -> None:
    names = ["keeper", "second"]
    ids = {name: add_strategy(ctx, name, BEATING) for name in names}
    host.start()
    with host.client() as client:
        before = {name: wait_running(client, name) for name in names}

    stopped_host = host.process
    assert stopped_host is not None
    host.kill(signal.SIGTERM)
    assert stopped_host.returncode == 0, host.output()
    # The CLI must not go on reporting a host that is gone.
    assert hosts.host_running(ctx) is None
    for name in names:
        assert is_alive(before[name]), f"{name} stopped with the host"
        assert [run.status for run in runs_of(ctx, ids[name])] == ["running"]

    host.start()
    with host.client() as client:
        for name in names:
            assert wait_running(client, name) == before[name], f"{name} was not re-adopted"
        # The new host really holds them: stopping one ends that very process, and only it.
        act(client, "keeper", "stop")
        wait_until(lambda: not is_alive(before["keeper"]), message="keeper's process to end")
        wait_until(lambda: show(client, "keeper")["state"] == "stopped", message="stopped")
        assert show(client, "keeper")["last_run"]["end_reason"] == "stopped"
        assert running_pid(client, "second") == before["second"]
        for name in names:
            assert len(runs_of(ctx, ids[name])) == 1


def test_a_second_host_is_refused_and_the_first_keeps_working(
    ctx: ServiceContext, host: HostProcess, tmp_path: Path
) -> None:
    add_strategy(ctx, "late", BEATING, Intent.STOP)
    host.start()

    def second_host(**overrides: str) -> subprocess.CompletedProcess[str]:
        environment = host.environment() | {"ALGOVISOR_PORT": str(free_port())} | overrides
        try:
            return subprocess.run(
                [sys.executable, "-m", "algovisor", "serve"],
                env=environment,
                capture_output=True,
                text=True,
                timeout=15,
                check=False,
            )
        except subprocess.TimeoutExpired:
            pytest.fail("a second host started serving the same strategies")

    same_data_dir = second_host()
    assert same_data_dir.returncode != 0
    message = " ".join(same_data_dir.stderr.split())
    assert "already running" in message, same_data_dir.stderr
    assert host.process is not None
    assert f"pid {host.process.pid}" in message, "the refusal does not name the running host"
    assert "Traceback" not in same_data_dir.stderr + same_data_dir.stdout

    # Another data directory on the same database is refused by the lease.
    same_database = second_host(ALGOVISOR_DATA_DIR=str(tmp_path / "other-data"))
    assert same_database.returncode != 0
    message = " ".join(same_database.stderr.split())
    assert "already runs strategies from this database" in message, same_database.stderr
    assert "Traceback" not in same_database.stderr + same_database.stdout

    with host.client() as client:
        act(client, "late", "start")
        wait_running(client, "late")
    assert host.process is not None
    assert host.process.poll() is None, "the first host died"


def test_a_manual_stop_survives_kill_9_of_the_host(ctx: ServiceContext, host: HostProcess) -> None:
    steady_id = add_strategy(ctx, "steady", BEATING)
    stubborn_id = add_strategy(ctx, "stubborn", IGNORES_SIGTERM)
    add_strategy(ctx, "canary", BEATING, Intent.STOP)
    with ctx.transaction() as session:
        # No API sets the grace period yet; a short one keeps the test fast.
        session.get_one(Strategy, stubborn_id).grace_secs = 1.0
    host.start()
    with host.client() as client:
        steady_pid = wait_running(client, "steady")
        stubborn_pid = wait_running(client, "stubborn")
        act(client, "steady", "stop")
        wait_until(lambda: show(client, "steady")["state"] == "stopped", message="steady stopped")
        assert not is_alive(steady_pid)
        # Stop the stubborn one and kill the host before its grace period runs out.
        act(client, "stubborn", "stop")
        wait_until(
            lambda: show(client, "stubborn")["state"] == "stopping", message="stubborn stopping"
        )
    host.kill(signal.SIGKILL)
    assert is_alive(stubborn_pid), "the grace period ended before the host was killed"

    host.start()
    with host.client() as client:
        prove_a_full_pass(client, "canary")
        # The new host finishes the interrupted stop: SIGKILL once the grace period is over.
        wait_until(lambda: not is_alive(stubborn_pid), message="stubborn killed after grace")
        wait_until(
            lambda: show(client, "stubborn")["state"] == "stopped", message="stubborn stopped"
        )
        for name, strategy_id in (("steady", steady_id), ("stubborn", stubborn_id)):
            view = show(client, name)
            assert view["intent"] == "stop"
            assert view["current_run"] is None
            assert view["last_run"]["end_reason"] == "stopped"
            assert strategy_processes(ctx.settings.data_dir, strategy_id) == []
            assert active_runs_of(ctx, strategy_id) == []
            assert len(runs_of(ctx, strategy_id)) == 1, f"{name} was started again"
