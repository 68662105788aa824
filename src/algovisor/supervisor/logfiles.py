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
            older = _tail_of_file(handle, count - len(collected) + 1)
            # print() writes a line and its newline separately, so a rotation can fall
            # between them: a piece ending mid-line continues in the next piece.
            if older and collected and not _ends_with_newline(handle):
                older[-1] += collected.pop(0)
            collected = older + collected
        if len(collected) > count:
            break
    return [line.decode("utf-8", errors="replace") for line in collected[-count:]] if count else []


def _ends_with_newline(handle: BinaryIO) -> bool:
    if handle.seek(0, os.SEEK_END) == 0:
        return True
    handle.seek(-1, os.SEEK_END)
    return handle.read(1) == b"\n"


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

    When the file being read is rotated out, it is drained, then every piece
    rotated after it is read in order (a slow reader may miss several
    rotations), then the new active file. Yields "" while idle so callers can
    check on their client; stops when `should_stop()` is true.
    """
    active = log_dir / active_log_name(run_id)
    handle: BinaryIO | None = None
    reading_active = False
    inode = 0
    backlog: list[Path] = []  # rotated pieces still to read, oldest first
    pending = b""
    while not should_stop():
        if handle is None:
            path = backlog.pop(0) if backlog else active
            reading_active = path == active
            try:
                handle = path.open("rb")
            except FileNotFoundError:  # not created yet, or removed by retention
                if reading_active:
                    time.sleep(FOLLOW_POLL_SECS)
                continue
            inode = os.fstat(handle.fileno()).st_ino
            if from_end and reading_active:
                handle.seek(0, os.SEEK_END)
            from_end = False
        chunk = handle.read(TAIL_BLOCK_BYTES)
        if chunk:
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                yield line.decode("utf-8", errors="replace")
            continue
        if reading_active:
            try:
                rotated = active.stat().st_ino != inode
            except FileNotFoundError:
                rotated = False
            if not rotated:
                yield ""
                time.sleep(FOLLOW_POLL_SECS)
                continue
            # A write may land between the rename and the switch to the new file.
            handle.seek(0, os.SEEK_CUR)
            if handle.read(1):
                handle.seek(-1, os.SEEK_CUR)
                continue
            backlog = _pieces_after(log_dir, run_id, inode)
        handle.close()
        handle = None
    if handle is not None:
        handle.close()


def _pieces_after(log_dir: Path, run_id: str, inode: int) -> list[Path]:
    """The rotated pieces written after the piece with `inode`, oldest first."""
    pieces = run_log_segments(log_dir, run_id)
    if pieces and pieces[-1].name == active_log_name(run_id):
        pieces.pop()
    for index, piece in enumerate(pieces):
        with contextlib.suppress(FileNotFoundError):
            if piece.stat().st_ino == inode:
                return pieces[index + 1 :]
    return []


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
