"""prove(): a recorded pid is adopted only if it is still the very process we started.

Real child processes; nothing about the OS is faked.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator

import psutil
import pytest

from algovisor.supervisor.identity import (
    RUN_ID_VARIABLE,
    ProcessIdentity,
    current_boot_id,
    find_by_marker,
    identify,
    processes_with_marker,
    prove,
)
from tests.conftest import wait_until

SLEEPER = [sys.executable, "-c", "import time; time.sleep(60)"]
Spawn = Callable[..., subprocess.Popen[bytes]]


@pytest.fixture
def spawn() -> Iterator[Spawn]:
    """Start a sleeping child, with a run-id marker unless `run_id` is None; all killed after."""
    children: list[subprocess.Popen[bytes]] = []

    def start(run_id: str | None) -> subprocess.Popen[bytes]:
        environment = {key: value for key, value in os.environ.items() if key != RUN_ID_VARIABLE}
        if run_id is not None:
            environment[RUN_ID_VARIABLE] = run_id
        child = subprocess.Popen(SLEEPER, env=environment)
        children.append(child)
        return child

    yield start
    for child in children:
        if child.poll() is None:
            child.kill()
        child.wait(timeout=10)


def new_run_id() -> str:
    return f"run-{uuid.uuid4().hex}"


def recorded(child: subprocess.Popen[bytes]) -> ProcessIdentity:
    identity = identify(child.pid, current_boot_id())
    assert identity is not None
    return identity


def test_our_live_process_is_proven(spawn: Spawn) -> None:
    run_id = new_run_id()
    child = spawn(run_id)
    proof = prove(run_id, recorded(child), current_boot_id())
    assert proof.proven, proof.reason
    assert proof.reason == "pid, start time, boot id and run id match"


def test_a_different_start_time_means_pid_reuse(spawn: Spawn) -> None:
    run_id = new_run_id()
    identity = recorded(spawn(run_id))
    # What we recorded was a process that started a little earlier with this pid.
    earlier = ProcessIdentity(identity.pid, identity.start_time - 0.5, identity.boot_id)
    proof = prove(run_id, earlier, current_boot_id())
    assert not proof.proven
    assert proof.reason == f"pid {identity.pid} now belongs to another process"


def test_one_clock_tick_of_difference_is_already_another_process(spawn: Spawn) -> None:
    run_id = new_run_id()
    identity = recorded(spawn(run_id))
    tick_secs = 1 / os.sysconf("SC_CLK_TCK")
    later = ProcessIdentity(identity.pid, identity.start_time + tick_secs, identity.boot_id)
    assert not prove(run_id, later, current_boot_id()).proven


@pytest.mark.parametrize("marker", ["run-someone-else", None], ids=["other-run", "no-marker"])
def test_a_process_without_our_marker_is_not_ours(spawn: Spawn, marker: str | None) -> None:
    child = spawn(marker)
    run_id = new_run_id()
    proof = prove(run_id, recorded(child), current_boot_id())
    assert not proof.proven
    assert proof.reason == f"pid {child.pid} does not carry run id {run_id}"


def test_a_dead_and_reaped_process_has_exited(spawn: Spawn) -> None:
    run_id = new_run_id()
    child = spawn(run_id)
    identity = recorded(child)
    child.kill()
    child.wait(timeout=10)
    proof = prove(run_id, identity, current_boot_id())
    assert not proof.proven
    assert proof.reason == f"pid {child.pid} has exited"


def test_a_zombie_has_exited(spawn: Spawn) -> None:
    run_id = new_run_id()
    child = spawn(run_id)
    identity = recorded(child)
    child.kill()
    # Not reaped until we wait for it: the pid still exists, as a zombie.
    wait_until(
        lambda: psutil.Process(child.pid).status() == psutil.STATUS_ZOMBIE,
        timeout_secs=5,
        message="the child to become a zombie",
    )
    proof = prove(run_id, identity, current_boot_id())
    assert not proof.proven
    assert proof.reason == f"pid {child.pid} has exited"


def test_a_run_recorded_before_a_reboot_is_never_ours(spawn: Spawn) -> None:
    run_id = new_run_id()
    identity = recorded(spawn(run_id))
    before_reboot = ProcessIdentity(identity.pid, identity.start_time, "another-boot-id")
    proof = prove(run_id, before_reboot, current_boot_id())
    assert not proof.proven
    assert proof.reason == "the machine rebooted since the run was recorded"


def test_identify_a_missing_pid_is_none(spawn: Spawn) -> None:
    child = spawn(None)
    child.kill()
    child.wait(timeout=10)
    assert identify(child.pid, current_boot_id()) is None


def test_the_boot_id_is_stable() -> None:
    assert current_boot_id() == current_boot_id()
    assert current_boot_id()


def test_processes_are_found_by_their_marker(spawn: Spawn) -> None:
    run_id, other = new_run_id(), new_run_id()
    first = spawn(run_id)
    time.sleep(0.05)  # start times have clock-tick resolution: make the order certain
    second = spawn(run_id)  # e.g. a grandchild that left the process group
    unrelated = spawn(other)

    members = {process.pid for process in processes_with_marker(run_id)}
    found = find_by_marker({run_id, new_run_id()})

    assert members == {first.pid, second.pid}
    assert unrelated.pid not in members
    assert set(found) == {run_id}
    assert found[run_id].pid == first.pid  # the oldest process of the run leads it
