"""Searching a run's log backwards in blocks, and following it after its last lines with
no gap and no line twice (what the strategy page's live log relies on)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from algovisor.runner.files import active_log_name, segment_log_name
from algovisor.supervisor.logfiles import (
    SEARCH_BLOCK_BYTES,
    follow,
    run_log_segments,
    search_lines,
    tail_lines,
)

RUN = "run-0001"


def write(path: Path, text: str) -> None:
    path.write_bytes(text.encode())


def test_search_finds_the_newest_matches_across_pieces_ignoring_ascii_case(
    tmp_path: Path,
) -> None:
    write(tmp_path / segment_log_name(RUN, 1), "order 1 placed\nnoise\nORDER 2 rej")
    # print() wrote "ected" and the newline after the rotation: one line across two pieces.
    write(tmp_path / active_log_name(RUN), "ected\nnoise\nOrder 3 placed\nlast, no newline")
    pieces = run_log_segments(tmp_path, RUN)

    found = search_lines(pieces, "order", 10, max_bytes=10**6)
    assert found.lines == ["order 1 placed", "ORDER 2 rejected", "Order 3 placed"]
    assert found.scanned_bytes == sum(piece.stat().st_size for piece in pieces)
    assert found.limit_reached is False
    assert search_lines(pieces, "REJECTED", 10, 10**6).lines == ["ORDER 2 rejected"]
    assert search_lines(pieces, "order", 2, 10**6).lines == ["ORDER 2 rejected", "Order 3 placed"]
    assert search_lines(pieces, "no newline", 1, 10**6).lines == ["last, no newline"]
    assert search_lines(pieces, "absent", 5, 10**6).lines == []
    # The tail reads the pieces as one stream too.
    assert tail_lines(pieces, 4) == [
        "ORDER 2 rejected",
        "noise",
        "Order 3 placed",
        "last, no newline",
    ]


@pytest.mark.parametrize("count", [1, 3, 10])
def test_search_of_a_log_of_many_blocks_is_exact(tmp_path: Path, count: int) -> None:
    lines = [
        f"line {number:07d} {'hit' if number % 997 == 0 else 'miss'}" for number in range(300_000)
    ]
    write(tmp_path / active_log_name(RUN), "\n".join(lines) + "\n")
    assert (tmp_path / active_log_name(RUN)).stat().st_size > 3 * SEARCH_BLOCK_BYTES
    found = search_lines(run_log_segments(tmp_path, RUN), "hit", count, 10**9)
    assert found.lines == [line for line in lines if line.endswith("hit")][-count:]


def test_search_stops_at_its_byte_limit_and_says_so(tmp_path: Path) -> None:
    write(tmp_path / active_log_name(RUN), "needle early\n" + "hay\n" * 100_000)
    found = search_lines(run_log_segments(tmp_path, RUN), "needle", 5, max_bytes=50_000)
    assert found.lines == []
    assert found.scanned_bytes == 50_000
    assert found.limit_reached is True


def test_a_line_longer_than_the_cap_is_cut_not_held_whole(tmp_path: Path) -> None:
    huge = "x" * (3 * 1024 * 1024)
    write(tmp_path / active_log_name(RUN), f"first\n{huge}needle\nlast\n")
    found = search_lines(run_log_segments(tmp_path, RUN), "needle", 5, 10**8)
    assert len(found.lines) == 1
    assert found.lines[0].endswith("needle")
    assert len(found.lines[0]) <= 2 * 1024 * 1024
    assert tail_lines(run_log_segments(tmp_path, RUN), 1) == ["last"]


def pull(iterator: Iterator[str], wanted: int, timeout_secs: float = 5.0) -> list[str]:
    """The next `wanted` lines (the follower yields "" while idle, so this cannot hang)."""
    deadline = time.monotonic() + timeout_secs
    lines: list[str] = []
    while len(lines) < wanted:
        if time.monotonic() > deadline:
            raise AssertionError(f"only {lines} after {timeout_secs} s")
        line = next(iterator)
        if line:
            lines.append(line)
    return lines


def test_follow_sends_the_last_lines_then_new_ones_without_gap_or_repeat(tmp_path: Path) -> None:
    active = tmp_path / active_log_name(RUN)
    # The last line is half written (print() writes the newline separately).
    write(active, "one\ntwo\nthree\nfou")
    stopped = threading.Event()
    lines = follow(tmp_path, RUN, from_end=True, should_stop=stopped.is_set, recent_lines=2)
    try:
        assert pull(lines, 2) == ["two", "three"]
        with active.open("a") as handle:
            handle.write("r\nfive\n")
        assert pull(lines, 2) == ["four", "five"]
    finally:
        stopped.set()
        list(lines)


def test_follow_of_a_log_not_written_yet_misses_none_of_its_first_lines(tmp_path: Path) -> None:
    stopped = threading.Event()
    lines = follow(tmp_path, RUN, from_end=True, should_stop=stopped.is_set, recent_lines=50)
    writer = threading.Timer(0.3, write, (tmp_path / active_log_name(RUN), "first\nsecond\n"))
    writer.start()
    try:
        assert pull(lines, 2) == ["first", "second"]
    finally:
        writer.join()
        stopped.set()
        list(lines)
