"""Queued position updates: coalesced, never dropped, written in order, failures surfaced."""

from __future__ import annotations

import threading
import time

import pytest

from algovisor.positions.updates import (
    Batch,
    BatchWriter,
    PendingUpdates,
    WriterStalledError,
    merged,
)


class Database:
    """A stand-in for the store: what was written, in order, and when it should fail."""

    def __init__(self) -> None:
        self.rows: dict[int, dict[str, object]] = {}
        self.batches: list[Batch] = []
        self.failing = False

    def write(self, batch: Batch) -> None:
        if self.failing:
            raise OSError("database is locked")
        self.batches.append(batch)
        for position_id, fields in batch.items():
            self.rows[position_id] = merged(self.rows.get(position_id, {}), fields)


def test_updates_inside_an_interval_are_coalesced_not_discarded() -> None:
    pending = PendingUpdates()
    pending.put(1, {"current_price": 101.0, "state": {"peak": 101.0}})
    pending.put(1, {"stop_price": 95.0, "state": {"trail_armed": True}})
    pending.put(1, {"current_price": 103.5, "state": {"peak": 103.5}})
    pending.put(2, {"current_price": 50.0})
    assert pending.take() == {
        1: {
            "current_price": 103.5,
            "stop_price": 95.0,
            "state": {"peak": 103.5, "trail_armed": True},
        },
        2: {"current_price": 50.0},
    }
    assert len(pending) == 0


def test_a_failed_batch_comes_back_under_newer_updates() -> None:
    pending = PendingUpdates()
    pending.put(1, {"current_price": 100.0, "stop_price": 90.0, "state": {"a": 1, "b": 1}})
    batch = pending.take()
    pending.put(1, {"current_price": 105.0, "state": {"b": 2}})  # arrives while writing
    pending.give_back(batch)  # the write failed
    assert pending.take() == {
        1: {"current_price": 105.0, "stop_price": 90.0, "state": {"a": 1, "b": 2}}
    }


def test_the_writer_writes_each_interval_in_one_batch() -> None:
    database, pending = Database(), PendingUpdates()
    writer = BatchWriter(pending, database.write, interval_secs=0.02)
    writer.start()
    try:
        for position_id in range(1000):
            pending.put(position_id, {"current_price": float(position_id + 1)})
        deadline = time.monotonic() + 5
        while len(database.rows) < 1000 and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        writer.stop()
    assert len(database.rows) == 1000
    assert len(database.batches) <= 3  # batches, not one write per position


def test_updates_that_cannot_be_written_are_kept_and_the_strategy_is_told() -> None:
    now = [0.0]
    database, pending = Database(), PendingUpdates()
    writer = BatchWriter(
        pending, database.write, 1.0, stall_limit_secs=30, monotonic=lambda: now[0]
    )
    pending.put(7, {"stop_price": 95.0})
    database.failing = True
    with pytest.raises(OSError, match="locked"):
        writer.flush()
    now[0] = 29.0
    writer.check()  # within the limit: keep going, keep retrying
    now[0] = 31.0
    with pytest.raises(WriterStalledError, match="not been written for 31 s"):
        writer.check()
    database.failing = False
    writer.flush()
    writer.check()
    assert database.rows == {7: {"stop_price": 95.0}}


def test_stop_writes_what_is_left() -> None:
    database, pending = Database(), PendingUpdates()
    writer = BatchWriter(pending, database.write, interval_secs=60)
    writer.start()
    pending.put(3, {"current_price": 42.0})
    writer.stop()
    assert database.rows == {3: {"current_price": 42.0}}


def test_no_update_is_lost_while_threads_put_and_the_writer_writes() -> None:
    database, pending = Database(), PendingUpdates()
    writer = BatchWriter(pending, database.write, interval_secs=0.001)
    writer.start()

    def trade(position_id: int) -> None:
        for tick in range(2000):
            pending.put(
                position_id, {"current_price": float(tick), "state": {f"k{tick % 7}": tick}}
            )

    threads = [threading.Thread(target=trade, args=(position_id,)) for position_id in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    writer.stop()
    last = {f"k{tick % 7}": tick for tick in range(2000)}
    assert database.rows == {
        position_id: {"current_price": 1999.0, "state": last} for position_id in range(8)
    }
