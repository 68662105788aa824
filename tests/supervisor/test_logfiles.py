"""Run logs: the last lines without reading a whole file, following across rotations,
and retention that never deletes a log still being written."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from algovisor.runner.files import active_log_name, segment_log_name
from algovisor.supervisor.logfiles import (
    TAIL_BLOCK_BYTES,
    RetentionLimits,
    apply_retention,
    follow,
    run_log_segments,
    tail_lines,
)

RUN = "run-0001"


def bytes_read_by_this_process() -> int:
    """What the kernel counted as read by us (/proc/self/io `rchar`)."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    raise AssertionError("no rchar in /proc/self/io")


def numbered(prefix: str, count: int) -> list[str]:
    # Lengths vary so lines straddle the read blocks at every offset.
    return [f"{prefix}-{number:05d} " + "x" * (number % 97) for number in range(count)]


def write_lines(path: Path, lines: list[str], *, leading_bytes: int = 0) -> None:
    """Write `lines`; with `leading_bytes`, after a sparse run of that many NUL bytes."""
    with path.open("wb") as handle:
        if leading_bytes:
            handle.truncate(leading_bytes)  # a hole: costs no disk, but reads as data
            handle.seek(leading_bytes)
        handle.write("".join(f"{line}\n" for line in lines).encode())


# ----- tail_lines ---------------------------------------------------------------------


def test_tail_across_segments_reads_only_the_end(tmp_path: Path) -> None:
    big_bytes = 256 * 1024 * 1024
    old = numbered("old", 3000)
    new = numbered("new", 4000)
    write_lines(tmp_path / segment_log_name(RUN, 1), old, leading_bytes=big_bytes)
    write_lines(tmp_path / active_log_name(RUN), new)
    assert (tmp_path / active_log_name(RUN)).stat().st_size > 2 * TAIL_BLOCK_BYTES
    segments = run_log_segments(tmp_path, RUN)

    before = bytes_read_by_this_process()
    lines = tail_lines(segments, 5000)
    read_bytes = bytes_read_by_this_process() - before

    assert lines == old[-1000:] + new
    assert read_bytes < 2 * 1024 * 1024  # of 256 MB on disk


@pytest.mark.parametrize("count", [0, 1, 7, 999, 1000, 1001, 4000])
def test_tail_of_one_file_is_exact(tmp_path: Path, count: int) -> None:
    lines = numbered("line", 1000)
    write_lines(tmp_path / active_log_name(RUN), lines)
    got = tail_lines(run_log_segments(tmp_path, RUN), count)
    assert got == (lines[-count:] if count else [])


def test_tail_keeps_a_last_line_without_newline_and_skips_missing_files(tmp_path: Path) -> None:
    active = tmp_path / active_log_name(RUN)
    active.write_bytes(b"first\nsecond\nhalf a line")
    gone = tmp_path / segment_log_name(RUN, 1)  # rotated away by retention meanwhile
    assert tail_lines([gone, active], 2) == ["second", "half a line"]


def test_segments_are_listed_oldest_first_active_last(tmp_path: Path) -> None:
    for sequence in (2, 10, 1):
        (tmp_path / segment_log_name(RUN, sequence)).write_text("x\n")
    (tmp_path / active_log_name(RUN)).write_text("x\n")
    (tmp_path / segment_log_name("run-0002", 1)).write_text("other run\n")
    names = [path.name for path in run_log_segments(tmp_path, RUN)]
    assert names == [
        segment_log_name(RUN, 1),
        segment_log_name(RUN, 2),
        segment_log_name(RUN, 10),
        active_log_name(RUN),
    ]


# ----- follow ---------------------------------------------------------------------------


class Follower:
    """Pulls lines from `follow()` until it has what a test waits for."""

    def __init__(self, log_dir: Path, from_end: bool) -> None:
        self.stopped = False
        self.lines: list[str] = []
        self._iterator: Iterator[str] = follow(
            log_dir, RUN, from_end=from_end, should_stop=lambda: self.stopped
        )

    def pull_until(self, last: str, timeout_secs: float = 5.0) -> list[str]:
        deadline = time.monotonic() + timeout_secs
        while not (self.lines and self.lines[-1] == last):
            if time.monotonic() > deadline:
                raise AssertionError(f"no line {last!r} after {timeout_secs} s")
            line = next(self._iterator)
            if line:  # "" is a heartbeat
                self.lines.append(line)
        return self.lines

    def close(self) -> None:
        self.stopped = True
        for _ in self._iterator:  # lets the generator close its file
            pass


def rotate(log_dir: Path, sequence: int) -> int:
    """Rotate as the runner does; returns a descriptor still writing to the old file."""
    active = log_dir / active_log_name(RUN)
    old_fd = os.open(active, os.O_WRONLY | os.O_APPEND)
    active.replace(log_dir / segment_log_name(RUN, sequence))
    active.touch()
    return old_fd


def append(path: Path, lines: list[str]) -> None:
    with path.open("a") as handle:
        handle.write("".join(f"{line}\n" for line in lines))


def test_follow_across_a_rotation_yields_every_line_once(tmp_path: Path) -> None:
    active = tmp_path / active_log_name(RUN)
    append(active, ["before follow"])
    follower = Follower(tmp_path, from_end=True)
    try:
        next(follower._iterator)  # opened at the end: "before follow" is history
        append(active, numbered("a", 50))
        follower.pull_until("a-00049 " + "x" * 49)

        old_fd = rotate(tmp_path, 1)
        # A child still holding the old file writes a little more before it notices.
        os.write(old_fd, b"late line in the old file\n")
        os.close(old_fd)
        append(active, numbered("b", 3000))
        follower.pull_until("b-02999 " + "x" * (2999 % 97))
    finally:
        follower.close()

    expected = [*numbered("a", 50), "late line in the old file", *numbered("b", 3000)]
    assert follower.lines == expected


def test_follow_across_two_rotations_between_reads_loses_nothing(tmp_path: Path) -> None:
    active = tmp_path / active_log_name(RUN)
    append(active, ["one"])
    follower = Follower(tmp_path, from_end=False)
    try:
        follower.pull_until("one")
        os.close(rotate(tmp_path, 1))
        append(active, ["two"])
        os.close(rotate(tmp_path, 2))
        append(active, ["three"])
        follower.pull_until("three", timeout_secs=2.0)
    finally:
        follower.close()
    assert follower.lines == ["one", "two", "three"]


def test_follow_from_the_start_waits_for_the_file(tmp_path: Path) -> None:
    follower = Follower(tmp_path, from_end=False)
    # The run has not written its log yet when someone starts following it.
    writer = threading.Timer(0.3, append, (tmp_path / active_log_name(RUN), ["first", "second"]))
    writer.start()
    try:
        assert follower.pull_until("second") == ["first", "second"]
    finally:
        writer.join()
        follower.close()


def test_follow_stops_when_asked(tmp_path: Path) -> None:
    append(tmp_path / active_log_name(RUN), ["only"])
    follower = Follower(tmp_path, from_end=False)
    follower.pull_until("only")
    follower.stopped = True
    assert list(follower._iterator) == []


# ----- apply_retention ------------------------------------------------------------------

DAY_SECS = 86400
LOTS = 10**12


def make_logs(log_dir: Path, files: list[tuple[str, int, float]]) -> None:
    """(name, size, age in days) for each file."""
    now = time.time()
    for name, size_bytes, age_days in files:
        path = log_dir / name
        path.write_bytes(b"x" * size_bytes)
        moment = now - age_days * DAY_SECS
        os.utime(path, (moment, moment))


# 100 bytes each; r1 is the oldest (4.5 days), r5 the newest (half a day).
FIVE = [(f"r{number}.log", 100, 5.5 - number) for number in range(1, 6)]


@pytest.mark.parametrize(
    ("limits", "protected", "removed"),
    [
        pytest.param(RetentionLimits(10, 30, LOTS), set(), set(), id="within-limits"),
        pytest.param(RetentionLimits(3, 30, LOTS), set(), {"r1.log", "r2.log"}, id="by-count"),
        pytest.param(RetentionLimits(10, 3, LOTS), set(), {"r1.log", "r2.log"}, id="by-age"),
        pytest.param(
            RetentionLimits(10, 30, 250), set(), {"r1.log", "r2.log", "r3.log"}, id="by-size"
        ),
        pytest.param(
            RetentionLimits(1, 1, 100), {"r1.log"}, {"r2.log", "r3.log", "r4.log"}, id="protected"
        ),
        pytest.param(
            RetentionLimits(1, 30, LOTS),
            {"r1.log", "r2.log", "r3.log", "r4.log", "r5.log"},
            set(),
            id="all-protected",
        ),
    ],
)
def test_retention(
    tmp_path: Path, limits: RetentionLimits, protected: set[str], removed: set[str]
) -> None:
    make_logs(tmp_path, FIVE)
    deleted = apply_retention(tmp_path, limits, protected)
    assert {path.name for path in deleted} == removed
    remaining = {path.name for path in tmp_path.iterdir()}
    assert remaining == {name for name, _, _ in FIVE} - removed


def test_retention_touches_only_log_files(tmp_path: Path) -> None:
    make_logs(tmp_path, [("old.log", 10, 400), ("notes.txt", 10, 400), ("exit.json", 10, 400)])
    deleted = apply_retention(tmp_path, RetentionLimits(1, 1, LOTS), set())
    assert [path.name for path in deleted] == ["old.log"]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["exit.json", "notes.txt"]


def test_a_protected_log_counts_toward_the_limits(tmp_path: Path) -> None:
    # The live log is huge; the older, finished ones make way for it.
    make_logs(tmp_path, [("live.log", 1000, 0), ("done-1.log", 10, 1), ("done-2.log", 10, 2)])
    deleted = apply_retention(tmp_path, RetentionLimits(10, 30, 900), {"live.log"})
    assert {path.name for path in deleted} == {"done-1.log", "done-2.log"}
    assert (tmp_path / "live.log").exists()
