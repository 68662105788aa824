"""Where run logs live, how to read them without loading them, and how long to keep them."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from algovisor.runner.files import ACTIVE_SUFFIX, active_log_name

TAIL_BLOCK_BYTES = 64 * 1024
FOLLOW_POLL_SECS = 0.25


def run_log_segments(log_dir: Path, run_id: str) -> list[Path]:
    """A run's log pieces, oldest first, the active file last (if it exists)."""
    segments = sorted(log_dir.glob(f"{run_id}.[0-9][0-9][0-9][0-9]{ACTIVE_SUFFIX}"))
    active = log_dir / active_log_name(run_id)
    if active.exists():
        segments.append(active)
    return segments


def tail_lines(paths: list[Path], count: int) -> list[str]:
    """The last `count` lines across `paths`, reading backwards in blocks."""
    collected: list[bytes] = []
    for path in reversed(paths):
        with contextlib.suppress(FileNotFoundError), path.open("rb") as handle:
            collected = _tail_of_file(handle, count - len(collected) + 1) + collected
        if len(collected) > count:
            break
    return [line.decode("utf-8", errors="replace") for line in collected[-count:]] if count else []


def _tail_of_file(handle: BinaryIO, wanted: int) -> list[bytes]:
    end = handle.seek(0, os.SEEK_END)
    position = end
    data = b""
    while position > 0 and data.count(b"\n") <= wanted:
        step = min(TAIL_BLOCK_BYTES, position)
        position -= step
        handle.seek(position)
        data = handle.read(step) + data
    lines = data.splitlines()
    if position > 0 and lines:
        lines = lines[1:]  # the first line is cut in the middle
    return lines


def follow(
    log_dir: Path,
    run_id: str,
    from_end: bool = True,
    should_stop: Callable[[], bool] = lambda: False,
) -> Iterator[str]:
    """Yield new lines of a run's log as they are written, across rotations.

    Stops when `should_stop()` is true or when the run's log is gone for good.
    """
    active = log_dir / active_log_name(run_id)
    handle = None
    inode = None
    pending = b""
    while not should_stop():
        if handle is None:
            try:
                handle = active.open("rb")
            except FileNotFoundError:
                time.sleep(FOLLOW_POLL_SECS)
                continue
            inode = os.fstat(handle.fileno()).st_ino
            if from_end:
                handle.seek(0, os.SEEK_END)
            from_end = False
        chunk = handle.read(TAIL_BLOCK_BYTES)
        if chunk:
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                yield line.decode("utf-8", errors="replace")
            continue
        try:
            rotated = active.stat().st_ino != inode
        except FileNotFoundError:
            rotated = False
        if rotated:
            handle.close()
            handle = None  # the old file is drained; read the new one from its start
            continue
        yield ""  # a heartbeat: lets callers check on their client between lines
        time.sleep(FOLLOW_POLL_SECS)
    if handle is not None:
        handle.close()


@dataclass(frozen=True, slots=True)
class RetentionLimits:
    keep_files: int
    keep_days: int
    keep_total_bytes: int


def apply_retention(log_dir: Path, limits: RetentionLimits, protected: set[str]) -> list[Path]:
    """Delete a strategy's oldest log files beyond the limits; never an active run's file.

    `protected` holds the file names of logs still being written.
    """
    files = []
    for path in log_dir.glob(f"*{ACTIVE_SUFFIX}"):
        with contextlib.suppress(FileNotFoundError):
            stat = path.stat()
            files.append((stat.st_mtime, stat.st_size, path))
    files.sort(reverse=True)  # newest first
    cutoff = time.time() - limits.keep_days * 86400
    removed: list[Path] = []
    kept_files = 0
    kept_bytes = 0
    for mtime, size, path in files:
        over = (
            kept_files >= limits.keep_files
            or mtime < cutoff
            or kept_bytes + size > limits.keep_total_bytes
        )
        if over and path.name not in protected:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed.append(path)
            continue
        kept_files += 1
        kept_bytes += size
    return removed
