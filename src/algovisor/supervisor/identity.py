"""Proving that a pid is still the process we started (PID reuse is real).

A run is re-adopted only when pid, process start time, boot id and the run-id
marker in the process environment all match.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import psutil

RUN_ID_VARIABLE = "ALGOVISOR_RUN_ID"
BOOT_ID_PATH = Path("/proc/sys/kernel/random/boot_id")
CLOCK_TICKS_PER_SEC = os.sysconf("SC_CLK_TCK")
# Start times are whole clock ticks since boot: the same process always gives the
# same value, another process started at another tick differs by at least one.
START_TIME_TOLERANCE_SECS = 0.5 / CLOCK_TICKS_PER_SEC


def start_time_since_boot(pid: int) -> float:
    """When `pid` started, in seconds after boot.

    Read from /proc rather than psutil's create_time(), which adds the boot time
    as seen through the wall clock: after an NTP step or a VM resume every live
    run would fail its identity check and be started a second time.
    """
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:  # noqa: PTH123 - a /proc read, no path logic
            data = stat.read()
    except (FileNotFoundError, ProcessLookupError) as error:
        raise psutil.NoSuchProcess(pid) from error
    # Field 22 (starttime); counting resumes at field 3 after the ')' closing the name.
    return int(data[data.rindex(b")") + 2 :].split()[19]) / CLOCK_TICKS_PER_SEC


def current_boot_id() -> str:
    try:
        return BOOT_ID_PATH.read_text().strip()
    except OSError:
        return f"boot-{psutil.boot_time():.0f}"


@dataclass(frozen=True, slots=True)
class ProcessIdentity:
    pid: int
    start_time: float
    boot_id: str


def identify(pid: int, boot_id: str) -> ProcessIdentity | None:
    """The identity of a live process, or None if there is none with that pid."""
    try:
        return ProcessIdentity(pid, start_time_since_boot(pid), boot_id)
    except psutil.NoSuchProcess:
        return None


@dataclass(frozen=True, slots=True)
class Proof:
    proven: bool
    reason: str


def prove(run_id: str, recorded: ProcessIdentity, boot_id: str) -> Proof:
    """Whether the process recorded for `run_id` is alive and is really ours."""
    if recorded.boot_id != boot_id:
        return Proof(False, "the machine rebooted since the run was recorded")
    try:
        process = psutil.Process(recorded.pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return Proof(False, f"pid {recorded.pid} has exited")
        if (
            abs(start_time_since_boot(recorded.pid) - recorded.start_time)
            > START_TIME_TOLERANCE_SECS
        ):
            return Proof(False, f"pid {recorded.pid} now belongs to another process")
        marker = process.environ().get(RUN_ID_VARIABLE)
    except psutil.NoSuchProcess:
        return Proof(False, f"pid {recorded.pid} has exited")
    except psutil.AccessDenied:
        return Proof(False, f"pid {recorded.pid} belongs to another user")
    if marker != run_id:
        return Proof(False, f"pid {recorded.pid} does not carry run id {run_id}")
    return Proof(True, "pid, start time, boot id and run id match")


def find_by_marker(run_ids: set[str]) -> dict[str, psutil.Process]:
    """Processes whose environment carries one of `run_ids`, oldest process per run."""
    found: dict[str, psutil.Process] = {}
    for process in psutil.process_iter():
        try:
            marker = process.environ().get(RUN_ID_VARIABLE)
            if marker in run_ids:
                known = found.get(marker)
                if known is None or process.create_time() < known.create_time():
                    found[marker] = process
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return found


def processes_with_marker(run_id: str) -> list[psutil.Process]:
    """Every live process of a run, however it detached from its parent."""
    members: list[psutil.Process] = []
    for process in psutil.process_iter():
        try:
            if process.environ().get(RUN_ID_VARIABLE) == run_id:
                members.append(process)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return members
