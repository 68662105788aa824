"""One host per data directory and database: a file lock plus a lease row with a heartbeat.

The heartbeat also tells the CLI whether a host is there to act on its intents.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO

import psutil
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from algovisor.db.models import HostLease
from algovisor.errors import ConflictError

LEASE_ID = 1
HEARTBEAT_FRESH_SECS = 10.0


class HostAlreadyRunningError(ConflictError):
    """Another host already serves this data directory or database."""


def default_host_name() -> str:
    return socket.gethostname()


class HostLock:
    """An exclusive lock on the data directory, held for the host's lifetime."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._handle: IO[str] | None = None

    def acquire(self) -> None:
        handle = self._path.open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            handle.close()
            raise HostAlreadyRunningError(
                f"another algovisor host (pid {holder}) is already running on {self._path.parent}",
                detail="Stop it first, or use another --data-dir.",
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._handle = handle

    def release(self) -> None:
        if self._handle is not None:
            fcntl.flock(self._handle, fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None


def claim_lease(
    session_factory: sessionmaker[Session], host: str, boot_id: str, api_url: str, now: datetime
) -> None:
    """Take the database's lease, refusing while another live host holds it."""
    with session_factory.begin() as session:
        lease = session.get(HostLease, LEASE_ID, with_for_update=True)
        if lease is not None and _held_by_other(lease, host, boot_id, now):
            raise HostAlreadyRunningError(
                f"host {lease.host} (pid {lease.pid}) already runs strategies from this database "
                f"(last heartbeat {lease.heartbeat_at:%Y-%m-%d %H:%M:%S} UTC)",
                detail="Only one host may reconcile a database; stop the other one first.",
            )
        if lease is None:
            lease = HostLease(id=LEASE_ID)
            session.add(lease)
        lease.host = host
        lease.pid = os.getpid()
        lease.boot_id = boot_id
        lease.api_url = api_url
        lease.started_at = now
        lease.heartbeat_at = now


def _held_by_other(lease: HostLease, host: str, boot_id: str, now: datetime) -> bool:
    if now - lease.heartbeat_at > timedelta(seconds=HEARTBEAT_FRESH_SECS):
        return False
    if lease.host != host:
        return True
    if lease.boot_id != boot_id:
        return False
    # Same machine and boot: a fresh lease is either a host that was killed
    # (its pid is gone) or a live host serving another data directory.
    return lease.pid != os.getpid() and _is_algovisor_host(lease.pid)


def _is_algovisor_host(pid: int) -> bool:
    with contextlib.suppress(psutil.Error):
        command = psutil.Process(pid).cmdline()
        return any("algovisor" in part for part in command) and "serve" in command
    return False


def renew_lease(session: Session, now: datetime) -> None:
    lease = session.get(HostLease, LEASE_ID)
    if lease is not None and lease.pid == os.getpid():
        lease.heartbeat_at = now


def release_lease(session_factory: sessionmaker[Session]) -> None:
    with session_factory.begin() as session:
        lease = session.get(HostLease, LEASE_ID)
        if lease is not None and lease.pid == os.getpid():
            session.delete(lease)


def running_host(session: Session, now: datetime) -> HostLease | None:
    """The host currently reconciling this database, if its heartbeat is fresh."""
    lease = session.scalars(select(HostLease)).first()
    if lease is None or now - lease.heartbeat_at > timedelta(seconds=HEARTBEAT_FRESH_SECS):
        return None
    return lease
