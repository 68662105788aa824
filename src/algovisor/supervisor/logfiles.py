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
SEARCH_BLOCK_BYTES = 1024 * 1024
MAX_TAIL_BYTES = 32 * 1024 * 1024  # a tail reads no further back than this
MAX_LINE_BYTES = 1024 * 1024  # longer lines are cut into pieces of this size
FOLLOW_POLL_SECS = 0.25


def run_log_segments(log_dir: Path, run_id: str) -> list[Path]:
    """A run's log pieces, oldest first, the active file last (if it exists)."""
    segments = sorted(log_dir.glob(f"{run_id}.[0-9][0-9][0-9][0-9]{ACTIVE_SUFFIX}"))
    active = log_dir / active_log_name(run_id)
    if active.exists():
        segments.append(active)
    return segments


class BackwardLines:
    """A run's log pieces read as one stream from its end, a block at a time.

    Memory stays at one block plus one line (a line longer than `MAX_LINE_BYTES` is
    cut), however large the logs; reading stops after `max_bytes`, and
    `limit_reached` says whether anything older was left unread. Pieces are read as
    if joined: print() writes a line and its newline separately, so a rotation can
    fall between them and a piece ending mid-line continues in the next piece.
    """

    def __init__(
        self, paths: list[Path], block_bytes: int, max_bytes: int, last_end: int | None = None
    ) -> None:
        self._paths = paths
        self._block_bytes = block_bytes
        self._max_bytes = max_bytes
        self._last_end = last_end  # read the last piece only up to here (None: to its end)
        self.scanned_bytes = 0
        self.limit_reached = False

    def regions(self) -> Iterator[bytes]:
        """Runs of whole lines joined by newlines, the newest run first (oldest line first
        within one). Stop iterating to stop reading."""
        carry = b""  # the end of a line whose start is not read yet
        seen_data = False
        for index, path in enumerate(reversed(self._paths)):
            try:
                handle = path.open("rb")
            except FileNotFoundError:  # rotated away by retention meanwhile
                continue
            with handle:
                position = handle.seek(0, os.SEEK_END)
                if index == 0 and self._last_end is not None:
                    position = min(position, self._last_end)
                while position > 0:
                    budget = self._max_bytes - self.scanned_bytes
                    if budget <= 0:
                        self.limit_reached = True
                        return
                    step = min(self._block_bytes, position, budget)
                    position -= step
                    handle.seek(position)
                    block = handle.read(step)
                    self.scanned_bytes += len(block)
                    if not seen_data:  # the stream's last newline ends its last line
                        seen_data = True
                        block = block.removesuffix(b"\n")
                    data = block + carry
                    cut = data.find(b"\n")
                    if cut == -1:
                        carry = data
                        if len(carry) > MAX_LINE_BYTES:
                            yield carry
                            carry = b""
                        continue
                    carry = data[:cut]
                    yield data[cut + 1 :]
        if seen_data:
            yield carry  # the stream's first line


def tail_lines(
    paths: list[Path], count: int, max_bytes: int = MAX_TAIL_BYTES, last_end: int | None = None
) -> list[str]:
    """The last `count` lines across `paths` (oldest first), reading backwards in blocks;
    with `last_end`, as the last piece was at that size."""
    if count <= 0:
        return []
    newest_first: list[bytes] = []
    for region in BackwardLines(paths, TAIL_BLOCK_BYTES, max_bytes, last_end).regions():
        newest_first.extend(reversed(region.split(b"\n")))
        if len(newest_first) >= count:
            break
    return [line.decode("utf-8", errors="replace") for line in reversed(newest_first[:count])]


@dataclass(frozen=True, slots=True)
class LogSearch:
    lines: list[str]  # oldest first
    scanned_bytes: int
    limit_reached: bool  # stopped at the scan limit with older log left unread


def search_lines(paths: list[Path], text: str, count: int, max_bytes: int) -> LogSearch:
    """The last `count` lines across `paths` containing `text` (ASCII letters in any case).

    Reads backwards in blocks, so memory stays at about one block whatever the size
    of the logs, and stops after `max_bytes`: a search costs bounded time too.
    """
    wanted = text.encode().lower()
    reader = BackwardLines(paths, SEARCH_BLOCK_BYTES, max_bytes)
    found: list[bytes] = []  # newest first
    if count > 0 and wanted:
        for region in reader.regions():
            lowered = region.lower()  # same length and line breaks as `region`
            if wanted not in lowered:
                continue
            pairs = zip(region.split(b"\n"), lowered.split(b"\n"), strict=True)
            for line, folded in reversed(list(pairs)):
                if wanted in folded:
                    found.append(line)
                    if len(found) == count:
                        break
            if len(found) == count:
                break
    return LogSearch(
        lines=[line.decode("utf-8", errors="replace") for line in reversed(found)],
        scanned_bytes=reader.scanned_bytes,
        limit_reached=reader.limit_reached,
    )


def follow(
    log_dir: Path,
    run_id: str,
    from_end: bool = True,
    should_stop: Callable[[], bool] = lambda: False,
    recent_lines: int = 0,
) -> Iterator[str]:
    """Yield new lines of a run's log as they are written, across rotations.

    `from_end`: only lines written from now on (all of them if the log does not
    exist yet), after the last `recent_lines` lines already written: a reader gets
    both without a gap or a line twice. When the file being read is rotated out,
    it is drained, then every piece rotated after it is read in order (a slow
    reader may miss several rotations), then the new active file. Yields "" while
    idle so callers can check on their client; stops when `should_stop()` is true.
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
                    if from_end:  # all the new file will hold is new
                        yield from _recent(log_dir, run_id, recent_lines, None)
                        from_end = False
                    time.sleep(FOLLOW_POLL_SECS)
                continue
            inode = os.fstat(handle.fileno()).st_ino
            if from_end and reading_active:
                start = _last_line_end(handle)
                yield from _recent(log_dir, run_id, recent_lines, start)
                handle.seek(start)
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


def _last_line_end(handle: BinaryIO) -> int:
    """Where the file's last whole line ends (its end, if a line is longer than a block)."""
    end = handle.seek(0, os.SEEK_END)
    start = max(0, end - TAIL_BLOCK_BYTES)
    handle.seek(start)
    newline = handle.read(end - start).rfind(b"\n")
    return start + newline + 1 if newline != -1 else (0 if start == 0 else end)


def _recent(log_dir: Path, run_id: str, count: int, active_end: int | None) -> list[str]:
    """The last `count` lines of the run's log, its active file taken up to `active_end`
    (None: the active file does not exist)."""
    if count <= 0:
        return []
    pieces = run_log_segments(log_dir, run_id)
    if active_end is None and pieces and pieces[-1].name == active_log_name(run_id):
        pieces.pop()
    if active_end is not None and (not pieces or pieces[-1].name != active_log_name(run_id)):
        return []  # the active file went away meanwhile: rotation; the follow reads on
    return tail_lines(pieces, count, last_end=active_end)


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
