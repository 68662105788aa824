"""Starting, watching and signalling strategy processes: the edge with the OS."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from algovisor.supervisor.identity import processes_with_marker

# Taken from the host's environment when present; nothing else of it leaks through.
BASE_ENVIRONMENT_KEYS = ("PATH", "HOME", "LANG", "LC_ALL", "TZ")
BASE_ENVIRONMENT_PREFIX = "PYTHON"
DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin"


def build_environment(
    host_environment: Mapping[str, str],
    defaults: Mapping[str, str],
    strategy_variables: Mapping[str, str],
    algovisor_variables: Mapping[str, str],
) -> dict[str, str]:
    """A strategy's environment: a minimal base, defaults it may override, its own, then ours."""
    environment = {
        key: value
        for key, value in host_environment.items()
        if key in BASE_ENVIRONMENT_KEYS or key.startswith(BASE_ENVIRONMENT_PREFIX)
    }
    environment.setdefault("PATH", DEFAULT_PATH)
    environment["PYTHONUNBUFFERED"] = "1"
    environment.update(defaults)
    environment.update(strategy_variables)
    environment.update(algovisor_variables)
    return environment


def runner_command(run_dir: Path, log_path: Path, log_max_bytes: int, script: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "algovisor.runner",
        str(run_dir),
        str(log_path),
        str(log_max_bytes),
        str(script),
    ]


def spawn(
    command: list[str], environment: dict[str, str], cwd: Path, log_path: Path
) -> subprocess.Popen[bytes]:
    """Start a process in its own session, writing to `log_path`, not to a pipe of ours."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
    try:
        return subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log_fd,
            stderr=log_fd,
            cwd=cwd,
            env=environment,
            start_new_session=True,
            close_fds=True,
        )
    finally:
        os.close(log_fd)


def open_pidfd(pid: int) -> int | None:
    """A file descriptor that becomes readable when `pid` exits (Linux >= 5.3)."""
    if not hasattr(os, "pidfd_open"):
        return None
    try:
        return os.pidfd_open(pid)
    except OSError:
        return None


@dataclass
class ProcessTree:
    """The processes of one run, remembered so none escapes the final SIGKILL."""

    leader: psutil.Process
    run_id: str
    members: dict[int, psutil.Process] = field(default_factory=dict)

    def refresh(self) -> None:
        """Remember the leader's descendants as they are now."""
        with contextlib.suppress(psutil.NoSuchProcess, psutil.ZombieProcess):
            for child in self.leader.children(recursive=True):
                self.members[child.pid] = child

    def terminate(self) -> None:
        """SIGTERM the run's process group, and descendants that left it, so all can clean up."""
        self.refresh()
        self._signal_group(signal.SIGTERM)
        for member in self.members.values():
            with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied, ProcessLookupError):
                if os.getpgid(member.pid) != self.leader.pid:
                    member.terminate()  # psutil checks it is still the same process

    def kill(self) -> int:
        """SIGKILL every process of the run, including those that left its group."""
        self.refresh()
        for member in processes_with_marker(self.run_id):
            if member.pid != self.leader.pid:
                self.members.setdefault(member.pid, member)
        self._signal_group(signal.SIGKILL)
        killed = 0
        for process in [self.leader, *self.members.values()]:
            with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                if process.status() == psutil.STATUS_ZOMBIE:
                    continue  # already dead, waiting to be reaped
                # psutil.Process.kill() checks the pid still is the same process.
                process.kill()
                killed += 1
        return killed

    def _signal_group(self, signum: int) -> None:
        # The group id is the leader's pid; once the leader is gone that number
        # may name someone else's group, so signal the group only while it lives.
        if self.leader.is_running():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.leader.pid, signum)


@dataclass
class LiveRun:
    """OS handles for one run we started or adopted."""

    run_id: str
    strategy_id: int
    tree: ProcessTree
    popen: subprocess.Popen[bytes] | None
    pidfd: int | None
    kill_at_monotonic: float | None = None

    @property
    def pid(self) -> int:
        return self.tree.leader.pid

    def has_exited(self, signalled: bool) -> bool:
        """Whether the leader is gone; `signalled`: its pidfd became readable."""
        if self.pidfd is not None and not signalled:
            return False  # the pidfd would have said so: no syscall per run per tick
        if self.popen is not None:
            return self.popen.poll() is not None  # also reaps our own child
        try:
            return self.tree.leader.status() == psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return True
