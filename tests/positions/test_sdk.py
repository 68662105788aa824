"""The positions SDK as a strategy uses it, against real SQLite files and PostgreSQL.

Every check reads the database through the test's own connections (`db`): what
it sees was committed, not merely written on the SDK's connection.
"""

from __future__ import annotations

import math
import numbers
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from algovisor.positions import database
from algovisor.positions.database import Connection, Dialect
from algovisor.positions.reconcile import BrokerPosition, Key
from algovisor.positions.records import Crash, DuplicateOrderError
from algovisor.positions.store import PositionStore
from algovisor.positions.validation import check_entry
from algovisor.sdk import (
    PositionClosedError,
    PositionHeldError,
    PositionInputError,
    PositionNotFoundError,
    PositionPersistenceManager,
    StoreUnavailableError,
    WriterStalledError,
)
from tests.conftest import wait_until
from tests.fake_broker import FakePositionBook
from tests.positions.conftest import Db, ManagerFactory, sdk_environment, start_script

SBIN = {"symbol": "SBIN", "exchange": "NSE", "side": "LONG", "quantity": 50, "entry_price": 812.5}


def enter(manager: PositionPersistenceManager, **changes: Any) -> int:
    return manager.save_position_entry(**{**SBIN, **changes})


# ----- entries ------------------------------------------------------------------------


def test_pnl_is_stored_to_the_paisa_without_float_noise(managers: ManagerFactory, db: Db) -> None:
    manager = managers()
    position_id = enter(manager, quantity=10, entry_price=800.87)
    manager.save_position_exit(position_id, 797.34, "trailing stop hit")
    assert db.position(position_id)["realized_pnl"] == -35.3
    assert db.events(position_id, "EXIT")[0]["details"]["pnl"] == -35.3


def test_an_entry_is_committed_with_its_event_before_the_call_returns(
    managers: ManagerFactory, db: Db
) -> None:
    manager = managers(flush_interval_ms=60_000)  # the writer thread will not help
    position_id = manager.save_position_entry(
        "sbin",
        "nse",
        "BUY",
        50,
        812.5,
        product="cnc",
        stop_price=800,
        target_price=850.0,
        leg="main",
        state={"peak": 812.5, "armed": False},
        entry_order_id="B-1",
        client_order_id="C-1",
    )

    row = db.position(position_id)
    assert {
        key: row[key]
        for key in (
            "symbol",
            "exchange",
            "product",
            "side",
            "quantity",
            "initial_quantity",
            "entry_price",
            "stop_price",
            "target_price",
            "leg",
            "state",
            "status",
            "strategy_name",
            "broker",
            "session_id",
            "entry_order_id",
            "client_order_id",
            "update_count",
        )
    } == {
        "symbol": "SBIN",
        "exchange": "NSE",
        "product": "CNC",
        "side": "LONG",
        "quantity": 50,
        "initial_quantity": 50,
        "entry_price": 812.5,
        "stop_price": 800.0,
        "target_price": 850.0,
        "leg": "main",
        "state": {"peak": 812.5, "armed": False},
        "status": "ACTIVE",
        "strategy_name": "trail",
        "broker": "paper",
        "session_id": manager.session_id,
        "entry_order_id": "B-1",
        "client_order_id": "C-1",
        "update_count": 0,
    }
    [event] = db.events(position_id)
    assert event["kind"] == "ENTRY"
    assert event["session_id"] == manager.session_id
    assert event["details"]["quantity"] == 50
    assert event["details"]["price"] == 812.5
    session = db.session(manager.session_id)
    assert session["status"] == "ACTIVE"
    assert session["pid"] == os.getpid()


@pytest.mark.parametrize("kind", ["ENTRY", "EXIT", "PARTIAL_EXIT"])
def test_a_write_and_its_event_are_one_transaction(
    managers: ManagerFactory, db: Db, kind: str
) -> None:
    manager = managers()
    position_id = enter(manager)
    db.refuse_events(kind)  # the event's INSERT now fails inside the database
    before = db.snapshot()
    if kind == "ENTRY":
        with pytest.raises(StoreUnavailableError, match="refused"):
            enter(manager, symbol="INFY")
    else:
        with pytest.raises(StoreUnavailableError, match="refused"):
            manager.save_position_exit(
                position_id, 820.0, "target", quantity=50 if kind == "EXIT" else 10
            )
    assert db.snapshot() == before  # neither the row nor its event


# ----- exits --------------------------------------------------------------------------


def test_partial_and_full_exits_of_a_long(managers: ManagerFactory, db: Db) -> None:
    manager = managers()
    position_id = enter(manager, quantity=100, entry_price=200.0)

    assert manager.save_position_exit(position_id, 210.0, "target 1", quantity=40) == 60
    row = db.position(position_id)
    assert (row["quantity"], row["initial_quantity"], row["status"]) == (60, 100, "ACTIVE")
    assert row["exit_price"] == 210.0
    assert row["realized_pnl"] == pytest.approx(400.0)
    assert row["exit_time"] is None

    assert manager.save_position_exit(position_id, 220.0, "target 2", quantity=30.0) == 30
    row = db.position(position_id)
    assert row["quantity"] == 30
    assert row["exit_price"] == pytest.approx((210 * 40 + 220 * 30) / 70)
    assert row["realized_pnl"] == pytest.approx(400.0 + 600.0)

    assert manager.save_position_exit(position_id, 190.0, "stop hit", exit_order_id="X-9") == 0
    row = db.position(position_id)
    assert (row["quantity"], row["status"]) == (0, "CLOSED")
    assert row["exit_price"] == pytest.approx((210 * 40 + 220 * 30 + 190 * 30) / 100)
    assert row["realized_pnl"] == pytest.approx(1000.0 - 300.0)
    assert row["exit_time"] is not None
    assert (row["exit_reason"], row["exit_order_id"]) == ("stop hit", "X-9")

    events = db.events(position_id)
    assert [event["kind"] for event in events] == ["ENTRY", "PARTIAL_EXIT", "PARTIAL_EXIT", "EXIT"]
    assert [(e["details"]["quantity"], e["details"]["remaining"]) for e in events[1:]] == [
        (40, 60),
        (30, 30),
        (30, 0),
    ]
    assert [e["details"]["pnl"] for e in events[1:]] == pytest.approx([400.0, 600.0, -300.0])


def test_exits_of_a_short_and_a_given_pnl(managers: ManagerFactory, db: Db) -> None:
    manager = managers()
    position_id = enter(manager, side="sell", quantity=10, entry_price=100.0)
    assert manager.save_position_exit(position_id, 90.0, "cover half", quantity=4) == 6
    assert db.position(position_id)["realized_pnl"] == pytest.approx(40.0)  # short gains
    assert manager.save_position_exit(position_id, 110.0, "stop") == 0
    row = db.position(position_id)
    assert row["side"] == "SHORT"
    assert row["realized_pnl"] == pytest.approx(40.0 - 60.0)
    assert row["exit_price"] == pytest.approx((90 * 4 + 110 * 6) / 10)

    other = enter(manager, symbol="INFY", quantity=5)
    manager.save_position_exit(other, 900.0, "manual", pnl=-12.5)  # fees included by caller
    assert db.position(other)["realized_pnl"] == pytest.approx(-12.5)


def test_exit_of_a_closed_or_unknown_position_writes_nothing(
    managers: ManagerFactory, db: Db
) -> None:
    manager = managers()
    closed = enter(manager)
    manager.save_position_exit(closed, 820.0, "target")
    open_one = enter(manager, symbol="INFY", quantity=10)
    before = db.snapshot()

    with pytest.raises(PositionClosedError):
        manager.save_position_exit(closed, 820.0, "again")
    with pytest.raises(PositionClosedError):
        manager.save_position_exit(open_one, 820.0, "too many", quantity=11)
    with pytest.raises(PositionNotFoundError):
        manager.save_position_exit(10_000_000, 820.0, "who")
    assert db.snapshot() == before


# ----- bad input ----------------------------------------------------------------------

BAD_ENTRIES: dict[str, dict[str, Any]] = {
    "zero quantity": {"quantity": 0},
    "negative quantity": {"quantity": -5},
    "fractional quantity": {"quantity": 2.5},
    "boolean quantity": {"quantity": True},
    "text quantity": {"quantity": "10"},
    "NaN price": {"entry_price": math.nan},
    "infinite price": {"entry_price": math.inf},
    "negative price": {"entry_price": -1.0},
    "zero price": {"entry_price": 0},
    "NaN stop": {"stop_price": math.nan},
    "negative target": {"target_price": -3.0},
    "unknown side": {"side": "FLAT"},
    "unknown exchange": {"exchange": "LSE"},
    "unknown product": {"product": "BTST"},
    "empty symbol": {"symbol": "  "},
    "a set in state": {"state": {"legs": {1, 2}}},
    "NaN in state": {"state": {"peak": math.nan}},
    "an object in state": {"state": {"when": object()}},
    "state not a dict": {"state": [1, 2]},
    "order id too long": {"entry_order_id": "x" * 65},
}


def refused(name: str, call: Callable[[], object]) -> None:
    try:
        call()
    except PositionInputError:
        return
    pytest.fail(f"{name}: accepted")


def test_a_bad_entry_is_refused_and_nothing_is_written(managers: ManagerFactory, db: Db) -> None:
    manager = managers()
    enter(manager)
    before = db.snapshot()
    for name, bad in BAD_ENTRIES.items():
        refused(name, lambda bad=bad: enter(manager, **bad))
        fresh = managers()  # no session yet: none is opened for a refused entry either
        refused(f"{name} (fresh manager)", lambda bad=bad, fresh=fresh: enter(fresh, **bad))
        assert db.snapshot() == before, name


BAD_EXITS: dict[str, tuple[Any, Any, dict[str, Any]]] = {
    "NaN price": (math.nan, "stop", {}),
    "infinite price": (math.inf, "stop", {}),
    "negative price": (-5.0, "stop", {}),
    "text price": ("800", "stop", {}),
    "no reason": (800.0, " ", {}),
    "zero quantity": (800.0, "stop", {"quantity": 0}),
    "negative quantity": (800.0, "stop", {"quantity": -1}),
    "fractional quantity": (800.0, "stop", {"quantity": 1.5}),
    "NaN pnl": (800.0, "stop", {"pnl": math.nan}),
}


def test_a_bad_exit_is_refused_and_nothing_is_written(managers: ManagerFactory, db: Db) -> None:
    manager = managers()
    position_id = enter(manager)
    before = db.snapshot()
    for name, (price, reason, options) in BAD_EXITS.items():
        refused(
            name,
            lambda price=price, reason=reason, options=options: manager.save_position_exit(
                position_id, price, reason, **options
            ),
        )
        assert db.snapshot() == before, name


BAD_UPDATES: dict[str, dict[str, Any]] = {
    "NaN price": {"current_price": math.nan},
    "infinite stop": {"stop_price": -math.inf},
    "negative target": {"target_price": -1.0},
    "zero stop": {"stop_price": 0},
    "text price": {"current_price": "101"},
    "state not a dict": {"state": "peak=3"},
}


def test_a_bad_update_is_refused_at_the_call(managers: ManagerFactory, db: Db) -> None:
    manager = managers()
    position_id = enter(manager, stop_price=800.0)
    before = db.snapshot()
    for name, bad in BAD_UPDATES.items():
        refused(
            name,
            lambda bad=bad: manager.queue_position_update(position_id, force_immediate=True, **bad),
        )
        manager.flush()
        assert db.snapshot() == before, name


# ----- queued updates -----------------------------------------------------------------


def test_updates_inside_one_interval_are_coalesced_never_discarded(
    managers: ManagerFactory, db: Db
) -> None:
    manager = managers(flush_interval_ms=60_000)
    position_id = enter(manager, stop_price=800.0, state={"armed": False})
    for tick in range(1, 101):
        manager.queue_position_update(
            position_id,
            current_price=812.5 + tick / 10,
            state={"tick": tick, f"key{tick % 7}": tick},
        )
    manager.queue_position_update(position_id, target_price=900.0)
    assert db.position(position_id)["update_count"] == 0  # nothing written yet

    manager.flush()

    row = db.position(position_id)
    assert row["update_count"] == 1  # one write for the hundred updates
    assert row["current_price"] == pytest.approx(822.5)
    assert row["target_price"] == 900.0
    assert row["stop_price"] == 800.0
    expected_state: dict[str, Any] = {"armed": False, "tick": 100}
    for tick in range(1, 101):
        expected_state[f"key{tick % 7}"] = tick
    assert row["state"] == expected_state


def test_the_writer_thread_commits_queued_updates_on_its_own(
    managers: ManagerFactory, db: Db
) -> None:
    manager = managers(flush_interval_ms=20)
    first = enter(manager)
    second = enter(manager, symbol="INFY")
    for tick in range(50):
        manager.queue_position_update(first, current_price=800 + tick, state={"n": tick})
        manager.queue_position_update(second, current_price=1500 + tick)
    wait_until(
        lambda: (
            db.position(first)["current_price"] == 849
            and db.position(second)["current_price"] == 1549
        ),
        5,
        message="the writer thread to commit the last values",
    )
    assert db.position(first)["state"] == {"n": 49}


def test_force_immediate_is_committed_before_the_call_returns(
    managers: ManagerFactory, db: Db
) -> None:
    manager = managers(flush_interval_ms=60_000)
    position_id = enter(manager, stop_price=800.0)
    manager.queue_position_update(position_id, current_price=815.0, state={"peak": 815.0})
    manager.queue_position_update(position_id, stop_price=805.0, force_immediate=True)
    row = db.position(position_id)
    assert (row["current_price"], row["stop_price"], row["state"]) == (
        815.0,
        805.0,
        {"peak": 815.0},
    )
    assert row["update_count"] == 1


def test_stop_moved_events_only_when_the_stop_changes(managers: ManagerFactory, db: Db) -> None:
    manager = managers(flush_interval_ms=60_000)
    position_id = enter(manager, stop_price=800.0)
    manager.queue_position_update(position_id, stop_price=800.0, force_immediate=True)
    manager.queue_position_update(position_id, current_price=820.0, force_immediate=True)
    manager.queue_position_update(position_id, stop_price=805.0, force_immediate=True)
    manager.queue_position_update(
        position_id, stop_price=805.0, current_price=821.0, force_immediate=True
    )
    manager.queue_position_update(position_id, stop_price=810.0, force_immediate=True)
    moves = db.events(position_id, "STOP_MOVED")
    assert [(move["details"]["from"], move["details"]["to"]) for move in moves] == [
        (800.0, 805.0),
        (805.0, 810.0),
    ]
    assert all(move["session_id"] == manager.session_id for move in moves)
    assert db.position(position_id)["stop_price"] == 810.0


def test_stop_moves_coalesced_in_one_interval_are_one_true_move(
    managers: ManagerFactory, db: Db
) -> None:
    manager = managers(flush_interval_ms=60_000)
    position_id = enter(manager, stop_price=800.0)
    manager.queue_position_update(position_id, stop_price=805.0)
    manager.queue_position_update(position_id, stop_price=810.0)
    manager.flush()
    back = enter(manager, symbol="INFY", stop_price=800.0)
    manager.queue_position_update(back, stop_price=805.0)
    manager.queue_position_update(back, stop_price=800.0)
    manager.flush()
    moves = db.events(position_id, "STOP_MOVED")
    assert [(move["details"]["from"], move["details"]["to"]) for move in moves] == [(800.0, 810.0)]
    assert db.events(back, "STOP_MOVED") == []


def test_an_update_of_a_position_not_held_raises(managers: ManagerFactory, db: Db) -> None:
    manager = managers()
    other = managers("other")
    closed = enter(manager)
    manager.save_position_exit(closed, 820.0, "target")
    foreign = enter(other)
    before = db.snapshot()
    for position_id in (closed, foreign, 10_000_000):
        with pytest.raises(PositionNotFoundError):
            manager.queue_position_update(position_id, current_price=820.0, force_immediate=True)
    with pytest.raises(PositionInputError):
        manager.queue_position_update("7", current_price=820.0)  # type: ignore[arg-type]
    manager.flush()
    assert db.snapshot() == before


def test_a_partially_exited_position_still_takes_updates(managers: ManagerFactory, db: Db) -> None:
    manager = managers(flush_interval_ms=60_000)
    position_id = enter(manager, stop_price=800.0)
    manager.queue_position_update(position_id, current_price=815.0)  # queued before the exit
    manager.save_position_exit(position_id, 816.0, "scale out", quantity=20)
    row = db.position(position_id)
    assert (row["current_price"], row["quantity"]) == (815.0, 30)  # the exit flushed it first
    manager.queue_position_update(position_id, current_price=817.0, force_immediate=True)
    assert db.position(position_id)["current_price"] == 817.0


@pytest.mark.parametrize("force", [True, False], ids=["force_immediate", "queued"])
def test_a_state_that_is_not_json_is_reported_on_the_next_call(
    managers: ManagerFactory, db: Db, force: bool
) -> None:
    manager = managers(flush_interval_ms=60_000)
    position_id = enter(manager, stop_price=800.0, state={"peak": 812.5})
    bad = {"legs": {"CE", "PE"}}
    if force:
        with pytest.raises(PositionInputError, match=str(position_id)):
            manager.queue_position_update(
                position_id, current_price=815.0, stop_price=805.0, state=bad, force_immediate=True
            )
    else:
        manager.queue_position_update(position_id, current_price=815.0, stop_price=805.0, state=bad)
        manager.flush()  # the writer finds it out
        with pytest.raises(PositionInputError, match=str(position_id)):
            manager.queue_position_update(position_id, current_price=816.0)
    row = db.position(position_id)
    assert row["state"] == {"peak": 812.5}  # never half-written
    # Only the state was dropped: the stop move of the same update landed, with its event.
    assert (row["current_price"], row["stop_price"]) == (815.0, 805.0)
    [move] = db.events(position_id, "STOP_MOVED")
    assert (move["details"]["from"], move["details"]["to"]) == (800.0, 805.0)
    manager.queue_position_update(position_id, stop_price=805.0, force_immediate=True)
    assert len(db.events(position_id, "STOP_MOVED")) == 1  # the manager knows it moved

    # Told once; the position is usable again, with its last good state.
    manager.queue_position_update(
        position_id, current_price=817.0, state={"trail": True}, force_immediate=True
    )
    row = db.position(position_id)
    assert (row["current_price"], row["state"]) == (817.0, {"peak": 812.5, "trail": True})


# ----- a stalled writer ---------------------------------------------------------------


@pytest.fixture
def short_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    """A locked database is given up on in a fraction of a second, not 15 s."""
    monkeypatch.setattr(database, "BUSY_TIMEOUT_MS", 100)
    monkeypatch.setattr(database, "RETRY_DEADLINE_SECS", 0.3)


@pytest.mark.usefixtures("short_waits")
def test_a_stalled_writer_keeps_updates_tells_the_strategy_and_catches_up(
    managers: ManagerFactory, db: Db
) -> None:
    manager = managers(flush_interval_ms=50, stall_limit_secs=0.5)
    position_id = enter(manager, stop_price=800.0, state={"n": 0})
    queued = 0
    stalled_after = None
    with db.write_locked():
        locked_at = time.monotonic()
        deadline = locked_at + 10
        while time.monotonic() < deadline:
            try:
                manager.queue_position_update(
                    position_id, current_price=800.0 + queued + 1, state={"n": queued + 1}
                )
            except WriterStalledError:
                stalled_after = time.monotonic() - locked_at
                break
            queued += 1
            time.sleep(0.01)
        assert stalled_after is not None, "the strategy was never told the writer stalled"
        assert stalled_after >= 0.5
        with pytest.raises(WriterStalledError):
            enter(manager, symbol="INFY")  # every call says so, entries too
        assert db.position(position_id)["update_count"] == 0  # nothing got through
    wait_until(
        lambda: db.position(position_id)["state"] == {"n": queued},
        10,
        message="the kept updates to be written once the lock is gone",
    )
    assert db.position(position_id)["current_price"] == 800.0 + queued
    manager.queue_position_update(position_id, current_price=900.0, force_immediate=True)
    assert db.position(position_id)["current_price"] == 900.0
    assert queued > 10


@pytest.mark.usefixtures("short_waits")
def test_a_force_immediate_on_a_locked_database_raises_and_keeps_the_update(
    managers: ManagerFactory, db: Db
) -> None:
    manager = managers(flush_interval_ms=60_000)
    position_id = enter(manager, stop_price=800.0)
    with db.write_locked(), pytest.raises(StoreUnavailableError):
        manager.queue_position_update(position_id, stop_price=805.0, force_immediate=True)
    manager.flush()
    assert db.position(position_id)["stop_price"] == 805.0
    assert len(db.events(position_id, "STOP_MOVED")) == 1


def test_a_briefly_locked_database_is_waited_out(managers: ManagerFactory, db: Db) -> None:
    manager = managers()
    enter(manager)
    release = threading.Event()

    def hold() -> None:
        with db.write_locked():
            locked.set()
            release.wait(0.5)

    locked = threading.Event()
    holder = threading.Thread(target=hold)
    holder.start()
    locked.wait(5)
    try:
        position_id = enter(manager, symbol="INFY")  # waits for the lock, then commits
    finally:
        holder.join()
    assert db.position(position_id)["symbol"] == "INFY"


# ----- sessions and crashes -----------------------------------------------------------


def test_leaving_the_block_normally_ends_the_session_and_keeps_positions_open(
    managers: ManagerFactory, db: Db
) -> None:
    with managers(flush_interval_ms=60_000) as manager:
        session_id = manager.session_id
        assert session_id is not None
        position_id = enter(manager)
        manager.queue_position_update(position_id, current_price=830.0)
    session = db.session(session_id)
    assert session["status"] == "ENDED"
    assert session["ended_at"] is not None
    row = db.position(position_id)
    assert (row["status"], row["current_price"]) == ("ACTIVE", 830.0)  # flushed at the end
    with pytest.raises(PositionClosedError):
        enter(manager)  # a closed manager says so


def test_an_exception_leaving_the_block_marks_the_crash(managers: ManagerFactory, db: Db) -> None:
    sessions: list[int | None] = []

    def trade(manager: PositionPersistenceManager) -> tuple[int, int, int]:
        sessions.append(manager.session_id)
        closed = enter(manager, symbol="TCS")
        manager.save_position_exit(closed, 4000.0, "target")
        first = enter(manager, stop_price=800.0, state={"peak": 812.5})
        enter(manager, symbol="INFY", side="SHORT", quantity=10)
        manager.queue_position_update(first, current_price=820.0, state={"peak": 820.0})
        raise ZeroDivisionError("division by zero in the trailing logic")

    manager = managers(flush_interval_ms=60_000)
    with pytest.raises(ZeroDivisionError), manager:
        trade(manager)

    assert manager.session_id is None  # let go of at the crash
    [session_id] = sessions
    assert session_id is not None
    session = db.session(session_id)
    assert session["status"] == "CRASHED"
    assert session["exception_type"] == "ZeroDivisionError"
    assert "division by zero in the trailing logic" in session["crash_reason"]
    assert "in trade" in session["traceback"]
    assert "ZeroDivisionError" in session["traceback"]
    crashed = db.rows(
        "SELECT * FROM strategy_positions WHERE session_id = :id ORDER BY id",
        id=session["id"],
    )
    assert [(row["symbol"], row["status"]) for row in crashed] == [
        ("TCS", "CLOSED"),
        ("SBIN", "CRASHED"),
        ("INFY", "CRASHED"),
    ]
    assert crashed[0]["crashed_at"] is None
    assert crashed[1]["state"] == {"peak": 820.0}  # the pending update was flushed first
    assert crashed[1]["current_price"] == 820.0
    assert all("ZeroDivisionError" in row["crash_reason"] for row in crashed[1:])
    assert [len(db.events(row["id"], "CRASH")) for row in crashed] == [0, 1, 1]


@pytest.mark.parametrize(
    ("code", "status"),
    [(None, "ENDED"), (0, "ENDED"), (143, "ENDED"), (1, "CRASHED"), ("fatal: no feed", "CRASHED")],
)
def test_system_exit_with_a_failure_code_is_a_crash(
    managers: ManagerFactory, db: Db, code: object, status: str
) -> None:
    """sys.exit(1) (or with a message) is a crash; a clean exit or SIGTERM's 143 is not."""
    manager = managers()
    position_id = enter(manager)
    session_id = manager.session_id
    assert session_id is not None

    def strategy() -> None:
        with manager:
            raise SystemExit(code)

    with pytest.raises(SystemExit) as raised:
        strategy()
    assert raised.value.code == code  # passed on unchanged
    session = db.session(session_id)
    assert session["status"] == status
    assert db.position(position_id)["status"] == ("ACTIVE" if status == "ENDED" else "CRASHED")
    if status == "CRASHED":
        assert session["crash_reason"] == f"SystemExit: {code}"
        assert session["exception_type"] == "SystemExit"
    else:
        assert session["crash_reason"] is None


def test_marking_a_crash_twice_changes_nothing(managers: ManagerFactory, db: Db) -> None:
    manager = managers()
    position_id = enter(manager)
    enter(manager, symbol="INFY")
    assert manager.handle_crash(RuntimeError("feed died")) == 2
    after_first = db.snapshot()
    assert db.position(position_id)["status"] == "CRASHED"

    assert manager.handle_crash(RuntimeError("feed died again")) == 0
    # Another process (the host's sweep, the runner) marking the same session: nothing either.
    store = PositionStore(Connection(Dialect.from_url(db.url)), lambda: datetime.now(UTC))
    try:
        assert store.sessions.crash(manager.session_id or 0, Crash("swept")) is None
    finally:
        store.close()
    manager.close()
    assert db.snapshot() == after_first


# ----- standalone strategy processes ---------------------------------------------------

STANDALONE_PRELUDE = """
    import sys, time
    from algovisor.sdk import PositionPersistenceManager

    manager = PositionPersistenceManager("standalone", flush_interval_ms=60_000)
    first = manager.save_position_entry("SBIN", "NSE", "LONG", 50, 812.5, stop_price=800.0)
    second = manager.save_position_entry("INFY", "NSE", "SHORT", 10, 1500.0)
    for tick in range(1, 201):
        manager.queue_position_update(first, current_price=812.5 + tick / 10, state={"n": tick})
    manager.queue_position_update(first, stop_price=820.0)
"""


def standalone_positions(db: Db) -> list[dict[str, Any]]:
    return db.rows(
        "SELECT * FROM strategy_positions WHERE strategy_name = 'standalone' ORDER BY id"
    )


def test_a_standalone_script_that_raises_is_marked_crashed_with_its_traceback(
    script: Callable[[str, str], Path], url: str, db: Db
) -> None:
    path = script(
        "raises.py",
        STANDALONE_PRELUDE
        + """
    def on_tick():
        raise KeyError("missing option chain")

    on_tick()
    """,
    )
    process = start_script(path, sdk_environment(ALGOVISOR_DATABASE_URL=url))
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 1
    assert "KeyError" in stderr  # the previous excepthook still prints it
    session = db.one("SELECT * FROM strategy_sessions WHERE strategy_name = 'standalone'")
    assert session["status"] == "CRASHED"
    assert session["exception_type"] == "KeyError"
    assert "missing option chain" in session["crash_reason"]
    assert "in on_tick" in session["traceback"]
    rows = standalone_positions(db)
    assert [row["status"] for row in rows] == ["CRASHED", "CRASHED"]
    assert rows[0]["state"] == {"n": 200}  # queued updates flushed before the mark
    assert rows[0]["stop_price"] == 820.0


def test_a_standalone_script_flushes_and_ends_its_session_on_sigterm(
    script: Callable[[str, str], Path], url: str, db: Db
) -> None:
    path = script(
        "looping.py",
        STANDALONE_PRELUDE
        + """
    print("ready", flush=True)
    tick = 0
    while True:
        tick += 1
        time.sleep(0.01)
    """,
    )
    process = start_script(path, sdk_environment(ALGOVISOR_DATABASE_URL=url))
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "ready"
        time.sleep(0.1)
        assert standalone_positions(db)[0]["update_count"] == 0  # all still queued
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 128 + signal.SIGTERM
    session = db.one("SELECT * FROM strategy_sessions WHERE strategy_name = 'standalone'")
    assert session["status"] == "ENDED"
    assert session["crashed_at"] is None
    rows = standalone_positions(db)
    assert [row["status"] for row in rows] == ["ACTIVE", "ACTIVE"]
    assert (rows[0]["state"], rows[0]["stop_price"]) == ({"n": 200}, 820.0)
    assert rows[0]["current_price"] == pytest.approx(832.5)


def test_a_standalone_script_that_ends_is_flushed_at_exit(
    script: Callable[[str, str], Path], tmp_path: Path, db: Db, url: str
) -> None:
    path = script("ends.py", STANDALONE_PRELUDE + "\n    print('done')\n")
    process = start_script(path, sdk_environment(ALGOVISOR_DATABASE_URL=url))
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    session = db.one("SELECT * FROM strategy_sessions WHERE strategy_name = 'standalone'")
    assert session["status"] == "ENDED"
    rows = standalone_positions(db)
    assert [row["status"] for row in rows] == ["ACTIVE", "ACTIVE"]
    assert (rows[0]["state"], rows[0]["stop_price"]) == ({"n": 200}, 820.0)
    assert rows[0]["update_count"] == 1


def test_a_standalone_strategy_on_a_fresh_data_dir_creates_its_database(
    script: Callable[[str, str], Path], tmp_path: Path
) -> None:
    data_dir = tmp_path / "fresh-data"
    path = script("ends.py", STANDALONE_PRELUDE)
    process = start_script(path, sdk_environment(ALGOVISOR_DATA_DIR=str(data_dir)))
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    reader = Db(f"sqlite:///{data_dir / 'algovisor.db'}")
    try:
        rows = standalone_positions(reader)
        assert [row["symbol"] for row in rows] == ["SBIN", "INFY"]
        assert rows[0]["state"] == {"n": 200}
    finally:
        reader.close()


@pytest.mark.parametrize("ending", ["raises", "exit(1)", "SIGTERM"])
def test_under_the_runner_a_crash_is_marked_and_a_stop_ends_the_session(
    script: Callable[[str, str], Path], tmp_path: Path, url: str, db: Db, ending: str
) -> None:
    """As the host runs it: `python -m algovisor.runner`, ALGOVISOR_RUN_ID set, no excepthook."""
    body = STANDALONE_PRELUDE + (
        """
    print("ready", flush=True)
    def on_tick():
        raise KeyError("missing option chain")

    import os
    time.sleep(float(os.environ["DELAY_SECS"]))
    if os.environ["ENDING"] == "exit(1)":
        sys.exit(1)  # no with-block: only the runner sees it
    on_tick()
    """
    )
    path = script("strategy.py", body.replace('"standalone", ', ""))
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    log = tmp_path / "run.log"
    environment = sdk_environment(
        ALGOVISOR_DATABASE_URL=url,
        ALGOVISOR_RUN_ID="run0123456789",
        ALGOVISOR_STRATEGY_NAME="standalone",
        DELAY_SECS="60" if ending == "SIGTERM" else "0",
        ENDING=ending,
    )
    with log.open("w") as output:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "algovisor.runner",
                str(run_dir),
                str(log),
                "1000000",
                str(path),
            ],
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until(
            lambda: "ready" in log.read_text() or process.poll() is not None,
            30,
            message="the strategy to start",
        )
        if ending == "SIGTERM":
            process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    session = db.one("SELECT * FROM strategy_sessions WHERE strategy_name = 'standalone'")
    assert session["run_id"] == "run0123456789"
    rows = standalone_positions(db)
    assert (rows[0]["state"], rows[0]["stop_price"]) == ({"n": 200}, 820.0), log.read_text()
    if ending == "raises":
        assert process.returncode == 1
        assert session["status"] == "CRASHED"
        assert session["exception_type"] == "KeyError"
        assert "in on_tick" in session["traceback"]
        assert [row["status"] for row in rows] == ["CRASHED", "CRASHED"]
    elif ending == "exit(1)":
        assert process.returncode == 1
        assert (session["status"], session["crash_reason"]) == ("CRASHED", "SystemExit: 1")
        assert session["exception_type"] == "SystemExit"
        assert [row["status"] for row in rows] == ["CRASHED", "CRASHED"]
        assert all(row["crash_reason"] == "SystemExit: 1" for row in rows)
    else:
        assert process.returncode == 128 + signal.SIGTERM
        assert session["status"] == "ENDED"
        assert [row["status"] for row in rows] == ["ACTIVE", "ACTIVE"]


def test_a_manager_on_a_fresh_database_migrates_it(database_url: str) -> None:
    """No host, no CLI: a new SQLite file, or an empty PostgreSQL schema."""
    manager = PositionPersistenceManager("fresh", database_url=database_url)
    try:
        position_id = enter(manager)
    finally:
        manager.close()
    reader = Db(database_url)
    try:
        assert reader.position(position_id)["symbol"] == "SBIN"
        assert reader.one("SELECT version_num FROM alembic_version")["version_num"]
    finally:
        reader.close()


# ----- recovery -----------------------------------------------------------------------


def crash_with_positions(managers: ManagerFactory) -> tuple[int, int, int]:
    """A session that opened three positions, closed one, updated one, then crashed."""
    manager = managers(flush_interval_ms=60_000)
    trailing = enter(manager, stop_price=800.0, state={"peak": 812.5})
    short = enter(manager, symbol="INFY", side="SHORT", quantity=10, entry_price=1500.0)
    closed = enter(manager, symbol="TCS", quantity=5, entry_price=4000.0)
    manager.save_position_exit(closed, 4100.0, "target")
    manager.queue_position_update(
        trailing, current_price=830.0, stop_price=815.0, state={"peak": 830.0, "armed": True}
    )
    manager.handle_crash(RuntimeError("websocket closed"))
    manager.close()
    return trailing, short, closed


def test_a_new_session_recovers_the_crashed_positions_and_resumes_trailing(
    managers: ManagerFactory, db: Db
) -> None:
    trailing, short, closed = crash_with_positions(managers)

    manager = managers(flush_interval_ms=60_000)
    found = manager.recover()
    assert [record.id for record in found] == [trailing, short]
    resumed = found[0]
    assert resumed.status == "CRASHED"
    assert resumed.stop_price == 815.0
    assert resumed.state == {"peak": 830.0, "armed": True}
    assert resumed.current_price == 830.0
    assert resumed.crash_reason is not None
    assert "websocket closed" in resumed.crash_reason
    assert resumed.signed_quantity == 50
    assert found[1].signed_quantity == -10
    assert [r.id for r in manager.get_crashed_positions()] == [trailing, short]
    assert [r.id for r in manager.get_crashed_positions("trail")] == [trailing, short]
    assert manager.get_crashed_positions("someone-else") == []

    with pytest.raises(PositionNotFoundError):
        manager.queue_position_update(trailing, current_price=831.0)  # not resumed yet
    for record in found:
        manager.mark_position_recovered(record.id, notes="resumed after restart")
    with pytest.raises(PositionClosedError):
        manager.mark_position_recovered(closed)
    session_id = manager.session_id
    for position_id in (trailing, short):
        row = db.position(position_id)
        assert (row["status"], row["session_id"]) == ("RECOVERED", session_id)
        assert row["recovered_at"] is not None
        [recovery] = db.events(position_id, "RECOVERY")
        assert recovery["details"]["from_status"] == "CRASHED"
        assert recovery["details"]["notes"] == "resumed after restart"
    assert manager.get_crashed_positions() == []
    assert manager.recover() == []  # this session holds them now

    # Trailing resumes from the stored stop: an unchanged stop is no move.
    [before] = db.events(trailing, "STOP_MOVED")  # the crashed session's 800 -> 815
    assert (before["details"]["from"], before["details"]["to"]) == (800.0, 815.0)
    manager.queue_position_update(trailing, stop_price=815.0, force_immediate=True)
    assert len(db.events(trailing, "STOP_MOVED")) == 1
    manager.queue_position_update(
        trailing, current_price=840.0, stop_price=825.0, state={"peak": 840.0}, force_immediate=True
    )
    row = db.position(trailing)
    assert (row["current_price"], row["stop_price"]) == (840.0, 825.0)
    assert row["state"] == {"peak": 840.0, "armed": True}
    [_, move] = db.events(trailing, "STOP_MOVED")
    assert (move["details"]["from"], move["details"]["to"]) == (815.0, 825.0)
    assert move["session_id"] == session_id

    # A second crash of the new session marks them again.
    assert manager.handle_crash(ValueError("again")) == 2
    assert [db.position(p)["status"] for p in (trailing, short, closed)] == [
        "CRASHED",
        "CRASHED",
        "CLOSED",
    ]
    assert len(db.events(trailing, "CRASH")) == 2


def test_positions_left_open_by_an_ended_session_are_resumable(
    managers: ManagerFactory, db: Db
) -> None:
    with managers() as first:
        position_id = enter(first)
    manager = managers()
    [record] = manager.recover()
    assert (record.id, record.status) == (position_id, "ACTIVE")
    manager.mark_position_recovered(position_id)
    assert db.position(position_id)["status"] == "RECOVERED"
    [recovery] = db.events(position_id, "RECOVERY")
    assert recovery["details"]["from_status"] == "ACTIVE"


def test_positions_of_a_live_session_are_not_offered_for_recovery(
    managers: ManagerFactory,
) -> None:
    crashed = managers()
    crashed_id = enter(crashed, symbol="INFY")
    crashed.handle_crash(RuntimeError("feed died"))
    live = managers()
    enter(live)
    # Another strategy gets neither this strategy's live nor its crashed positions.
    assert managers("other").recover() == []
    # Its own next session gets the crashed one only, never the live session's.
    assert [record.id for record in managers().recover()] == [crashed_id]


# ----- reconciliation with the broker -------------------------------------------------


def FakeBook(  # noqa: N802 - reads as the class it builds
    positions: Sequence[tuple[str, str, str, int]] = (),
    *,
    error: Exception | None = None,
    hang: threading.Event | None = None,
) -> FakePositionBook:
    """The broker's book from (symbol, exchange, product, signed quantity) rows."""
    return FakePositionBook(
        [BrokerPosition(Key(s, e, p), q) for s, e, p, q in positions], error=error, hang=hang
    )


@pytest.fixture
def hang() -> Iterator[threading.Event]:
    event = threading.Event()
    yield event
    event.set()  # let the broker thread finish


def crash_book(managers: ManagerFactory) -> dict[str, int]:
    """Strategy `trail` crashed holding four positions; `hedge` is live and short NIFTY."""
    manager = managers()
    ids = {
        "SBIN": enter(manager),  # broker +50: matched
        "INFY": enter(manager, symbol="INFY", quantity=10),  # broker flat: ghost
        "TCS": enter(manager, symbol="TCS", quantity=20),  # broker +10: mismatch
        "NIFTY": enter(manager, symbol="NIFTY25DECFUT", exchange="NFO", product="NRML"),
    }
    manager.handle_crash(RuntimeError("boom"))
    manager.close()
    hedge = managers("hedge")
    ids["HEDGE"] = enter(
        hedge, symbol="NIFTY25DECFUT", exchange="NFO", product="NRML", side="SHORT", quantity=20
    )
    return ids


BROKER = [
    ("SBIN", "NSE", "MIS", 50),
    ("TCS", "NSE", "MIS", 10),
    ("NIFTY25DECFUT", "NFO", "NRML", 30),  # trail +50 and hedge -20, netted
    ("RELIANCE", "NSE", "CNC", 5),  # nobody's
    ("HDFCBANK", "NSE", "MIS", 0),  # flat row: nothing to say
]


def test_recover_classifies_against_the_broker_and_stores_the_verdicts(
    managers: ManagerFactory, db: Db
) -> None:
    ids = crash_book(managers)
    manager = managers()
    book = FakeBook(BROKER)
    found = {record.symbol: record for record in manager.recover(book)}
    assert book.asked == 1
    assert {symbol: record.broker_verdict for symbol, record in found.items()} == {
        "SBIN": "matched",
        "INFY": "closed_at_broker",
        "TCS": "quantity_mismatch",
        "NIFTY25DECFUT": "matched",
    }
    assert found["TCS"].verdict_detail is not None
    assert "+20" in found["TCS"].verdict_detail
    assert "+10" in found["TCS"].verdict_detail

    stored = {
        symbol: db.position(position_id)["broker_verdict"] for symbol, position_id in ids.items()
    }
    assert stored == {
        "SBIN": "matched",
        "INFY": "closed_at_broker",
        "TCS": "quantity_mismatch",
        "NIFTY": "matched",
        "HEDGE": "matched",  # the other strategy's position was judged with it
    }
    events = db.events(kind="RECONCILE")
    by_position = {event["position_id"]: event["details"] for event in events}
    assert set(by_position) == {*ids.values(), None}
    orphan = by_position[None]
    assert (orphan["verdict"], orphan["symbol"], orphan["broker_quantity"]) == (
        "orphan",
        "RELIANCE",
        5,
    )
    netted = by_position[ids["NIFTY"]]
    assert (netted["expected_quantity"], netted["broker_quantity"]) == (30, 30)
    assert netted["strategies"] == ["hedge", "trail"]
    assert len(events) == 6  # no verdict on the flat HDFCBANK row


@pytest.mark.parametrize("failure", ["raises", "hangs"])
def test_a_broker_that_cannot_answer_gives_unknown_never_flat(
    managers: ManagerFactory, db: Db, hang: threading.Event, failure: str
) -> None:
    ids = crash_book(managers)
    db.execute("UPDATE strategy_positions SET broker_verdict = 'matched'")  # an earlier check
    manager = managers()
    book = (
        FakeBook(error=ConnectionError("broker API 502"))
        if failure == "raises"
        else FakeBook(BROKER, hang=hang)
    )
    started = time.monotonic()
    found = manager.recover(book, timeout_secs=0.3)
    assert time.monotonic() - started < 5  # the deadline is kept, not the broker's 30 s
    assert len(found) == 4
    assert {record.broker_verdict for record in found} == {"unknown"}
    detail = found[0].verdict_detail or ""
    assert ("502" in detail) if failure == "raises" else ("did not answer" in detail)
    events = db.events(kind="RECONCILE")
    assert {event["details"]["verdict"] for event in events} == {"unknown"}
    assert {event["position_id"] for event in events} == set(ids.values())
    assert all(event["details"]["broker_quantity"] is None for event in events)
    # An unknown answer never overwrites what was known.
    assert {db.position(p)["broker_verdict"] for p in ids.values()} == {"matched"}


# ----- order intents ------------------------------------------------------------------


def test_an_order_intent_is_durable_before_the_order_is_sent(
    managers: ManagerFactory, db: Db
) -> None:
    manager = managers()
    position_id = enter(manager)
    client_id = manager.record_order_intent(
        "sbin", "nse", "sell", 50, price=830.0, position_id=position_id, purpose="exit"
    )
    intent = db.one("SELECT * FROM order_intents WHERE client_order_id = :c", c=client_id)
    assert {k: intent[k] for k in ("symbol", "exchange", "action", "quantity", "price")} == {
        "symbol": "SBIN",
        "exchange": "NSE",
        "action": "SELL",
        "quantity": 50,
        "price": 830.0,
    }
    assert (intent["status"], intent["position_id"], intent["session_id"]) == (
        "PENDING",
        position_id,
        manager.session_id,
    )

    manager.confirm_order(client_id, "BRK-1")
    intent = db.one("SELECT * FROM order_intents WHERE client_order_id = :c", c=client_id)
    assert (intent["status"], intent["broker_order_id"]) == ("CONFIRMED", "BRK-1")
    assert intent["confirmed_at"] is not None

    refused = manager.record_order_intent("INFY", "NSE", "BUY", 1, client_order_id="mine-1")
    assert refused == "mine-1"
    manager.confirm_order(refused, accepted=False, message="RMS: insufficient margin")
    intent = db.one("SELECT * FROM order_intents WHERE client_order_id = 'mine-1'")
    assert (intent["status"], intent["message"]) == ("REJECTED", "RMS: insufficient margin")


def test_bad_order_intents_are_refused_and_nothing_is_written(
    managers: ManagerFactory, db: Db
) -> None:
    manager = managers()
    manager.record_order_intent("SBIN", "NSE", "BUY", 10, client_order_id="dup")
    before = db.snapshot()
    with pytest.raises(DuplicateOrderError, match="already used"):
        manager.record_order_intent("SBIN", "NSE", "BUY", 10, client_order_id="dup")
    with pytest.raises(PositionNotFoundError):  # not a position this session holds
        manager.record_order_intent("SBIN", "NSE", "SELL", 10, position_id=10_000_000)
    with pytest.raises(PositionInputError):
        manager.record_order_intent("SBIN", "NSE", "SELL", 10, position_id="1")  # type: ignore[arg-type]
    with pytest.raises(PositionInputError):
        manager.record_order_intent("SBIN", "NSE", "HOLD", 10)
    with pytest.raises(PositionInputError):
        manager.record_order_intent("SBIN", "NSE", "BUY", 0)
    with pytest.raises(PositionInputError):
        manager.record_order_intent("SBIN", "NSE", "BUY", 10, price=math.nan)
    with pytest.raises(PositionNotFoundError):
        manager.confirm_order("never-recorded", "BRK-2")
    assert db.snapshot() == before


def test_a_crash_leaves_pending_order_intents_unconfirmed(managers: ManagerFactory, db: Db) -> None:
    manager = managers()
    sent = manager.record_order_intent("SBIN", "NSE", "BUY", 10)
    manager.confirm_order(sent, "BRK-1")
    in_flight = manager.record_order_intent("SBIN", "NSE", "SELL", 10)
    manager.handle_crash(OSError("connection reset"))
    statuses = {
        row["client_order_id"]: row["status"]
        for row in db.rows("SELECT client_order_id, status FROM order_intents")
    }
    assert statuses == {sent: "CONFIRMED", in_flight: "UNCONFIRMED"}


# ----- after a crash, and crashes that cannot be marked --------------------------------


def test_after_handle_crash_a_write_opens_a_new_session_and_the_crashed_positions_resume(
    managers: ManagerFactory, db: Db
) -> None:
    manager = managers(flush_interval_ms=60_000)
    first = enter(manager, stop_price=800.0)
    second = enter(manager, symbol="INFY", side="SHORT", quantity=10, entry_price=1500.0)
    crashed_session = manager.session_id
    assert crashed_session is not None
    assert manager.handle_crash(RuntimeError("feed died")) == 2
    assert manager.session_id is None  # let go of at once
    with pytest.raises(PositionNotFoundError):  # held by no one until resumed
        manager.queue_position_update(first, current_price=820.0)

    fresh = enter(manager, symbol="TCS")  # the same manager trades on
    session_id = manager.session_id
    assert session_id is not None
    assert session_id != crashed_session
    assert (db.session(crashed_session)["status"], db.session(session_id)["status"]) == (
        "CRASHED",
        "ACTIVE",
    )
    row = db.position(fresh)
    assert (row["session_id"], row["status"]) == (session_id, "ACTIVE")

    found = manager.recover()
    assert [(record.id, record.status) for record in found] == [
        (first, "CRASHED"),
        (second, "CRASHED"),
    ]
    for record in found:
        manager.mark_position_recovered(record.id)
    manager.queue_position_update(first, stop_price=805.0, force_immediate=True)
    row = db.position(first)
    assert (row["status"], row["session_id"], row["stop_price"]) == (
        "RECOVERED",
        session_id,
        805.0,
    )
    [move] = db.events(first, "STOP_MOVED")
    assert ((move["details"]["from"], move["details"]["to"]), move["session_id"]) == (
        (800.0, 805.0),
        session_id,
    )
    assert manager.save_position_exit(second, 1490.0, "target") == 0
    manager.close()
    assert (db.session(crashed_session)["status"], db.session(session_id)["status"]) == (
        "CRASHED",
        "ENDED",
    )


def test_a_crash_that_cannot_be_marked_leaves_the_session_active_and_the_error_unchanged(
    managers: ManagerFactory, db: Db, capsys: pytest.CaptureFixture[str]
) -> None:
    manager = managers(flush_interval_ms=60_000)
    position_id = enter(manager, stop_price=800.0)
    manager.queue_position_update(position_id, current_price=815.0)
    session_id = manager.session_id
    assert session_id is not None
    db.refuse_events("CRASH")  # marking the crash now fails inside the database
    error = ZeroDivisionError("in the trailing logic")

    with pytest.raises(ZeroDivisionError) as raised, manager:
        raise error

    assert raised.value is error  # the strategy's own exception, not the store's
    assert "could not mark the crash" in capsys.readouterr().err
    # close() did not end it as if clean: ACTIVE, for the host to mark at run end.
    session = db.session(session_id)
    assert (session["status"], session["ended_at"], session["crashed_at"]) == (
        "ACTIVE",
        None,
        None,
    )
    row = db.position(position_id)
    assert (row["status"], row["current_price"]) == ("ACTIVE", 815.0)  # flushed before
    assert db.events(position_id, "CRASH") == []
    with pytest.raises(PositionClosedError):
        enter(manager)
    # Once the database takes it again, the host's marking works.
    db.execute("DROP TRIGGER refuse_event" + ("" if db.is_sqlite else " ON position_events"))
    store = PositionStore(Connection(Dialect.from_url(db.url)), lambda: datetime.now(UTC))
    try:
        assert store.sessions.crash(session_id, Crash("the run ended")) == 1
    finally:
        store.close()
    assert db.position(position_id)["status"] == "CRASHED"


def test_the_crash_event_keeps_the_position_as_it_was_at_the_crash(
    managers: ManagerFactory, db: Db
) -> None:
    first = managers(flush_interval_ms=60_000)
    position_id = enter(first, stop_price=800.0, target_price=900.0, state={"peak": 812.5})
    first.queue_position_update(
        position_id, current_price=820.0, stop_price=805.0, state={"peak": 820.0}
    )
    first.handle_crash(RuntimeError("feed died"))

    second = managers(flush_interval_ms=60_000)
    second.recover()
    second.mark_position_recovered(position_id)
    second.queue_position_update(position_id, current_price=840.0, stop_price=825.0)
    second.save_position_exit(position_id, 838.0, "scale out", quantity=20)
    second.handle_crash(ValueError("again"))

    third = managers()
    third.recover()
    third.mark_position_recovered(position_id)
    third.queue_position_update(
        position_id, stop_price=835.0, state={"peak": 850.0}, force_immediate=True
    )
    assert third.save_position_exit(position_id, 834.0, "stop hit") == 0

    assert [event["details"] for event in db.events(position_id, "CRASH")] == [
        {
            "reason": "RuntimeError: feed died",
            "exception_type": "RuntimeError",
            "status_before": "ACTIVE",
            "side": "LONG",
            "quantity": 50,
            "stop_price": 805.0,
            "target_price": 900.0,
            "current_price": 820.0,
            "state": {"peak": 820.0},
        },
        {
            "reason": "ValueError: again",
            "exception_type": "ValueError",
            "status_before": "RECOVERED",
            "side": "LONG",
            "quantity": 30,
            "stop_price": 825.0,
            "target_price": 900.0,
            "current_price": 840.0,
            "state": {"peak": 820.0},
        },
    ]
    row = db.position(position_id)
    assert (row["status"], row["stop_price"], row["state"]) == ("CLOSED", 835.0, {"peak": 850.0})


# ----- standalone processes that died with no host watching -----------------------------


def test_a_standalone_strategy_killed_with_no_host_is_marked_by_the_next_recover(
    script: Callable[[str, str], Path], url: str, db: Db, managers: ManagerFactory
) -> None:
    path = script(
        "killed.py",
        STANDALONE_PRELUDE
        + """
    manager.flush()
    print("ready", flush=True)
    while True:
        time.sleep(0.1)
    """,
    )
    process = start_script(path, sdk_environment(ALGOVISOR_DATABASE_URL=url))
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "ready"
    finally:
        process.kill()
        process.wait(timeout=10)  # reaped: not even a zombie is left
    session = db.one("SELECT * FROM strategy_sessions WHERE strategy_name = 'standalone'")
    assert session["status"] == "ACTIVE"  # nobody saw it die

    found = managers("standalone").recover()

    reason = f"process {process.pid} ended without ending its session"
    assert [(record.symbol, record.status, record.crash_reason) for record in found] == [
        ("SBIN", "CRASHED", reason),
        ("INFY", "CRASHED", reason),
    ]
    assert (found[0].state, found[0].stop_price) == ({"n": 200}, 820.0)
    session = db.session(session["id"])
    assert (session["status"], session["crash_reason"]) == ("CRASHED", reason)


def test_a_session_whose_pid_now_belongs_to_a_younger_process_is_marked(
    url: str, db: Db, managers: ManagerFactory
) -> None:
    """pid reuse: this test process has the pid, but started long after the session did."""
    long_ago = datetime(2000, 1, 1, tzinfo=UTC)
    store = PositionStore(Connection(Dialect.from_url(url)), lambda: long_ago)
    try:
        reused = store.sessions.open(
            strategy_id=None,
            strategy_name="trail",
            run_id=None,
            broker="paper",
            label=None,
            hostname=socket.gethostname(),
            pid=os.getpid(),
        )
        position_id = store.insert_entry(
            reused,
            check_entry("SBIN", "NSE", "LONG", 50, 812.5),
            leg=None,
            state={},
            entry_order_id=None,
            client_order_id=None,
        )
    finally:
        store.close()
    live = managers()
    live_position = enter(live, symbol="INFY")  # same pid, a session this process opened

    # get_crashed_positions() sweeps first as well.
    crashed = managers("watcher").get_crashed_positions()
    assert [(record.id, record.status) for record in crashed] == [(position_id, "CRASHED")]
    assert db.session(reused)["status"] == "CRASHED"
    assert db.session(live.session_id or 0)["status"] == "ACTIVE"  # its process is alive
    assert db.position(live_position)["status"] == "ACTIVE"
    assert [record.id for record in managers().recover()] == [position_id]


# ----- whose position it is ------------------------------------------------------------


def test_a_manager_cannot_exit_a_position_it_does_not_hold(
    managers: ManagerFactory, db: Db
) -> None:
    owner = managers()
    position_id = enter(owner)
    closed = enter(owner, symbol="INFY")
    owner.save_position_exit(closed, 1500.0, "target")
    other_strategy = managers("other")
    enter(other_strategy, symbol="TCS")
    same_strategy = managers()  # another live session of the same strategy
    same_strategy.start_session()
    no_session = managers()
    before = db.snapshot()
    for manager in (other_strategy, same_strategy, no_session):
        with pytest.raises(PositionHeldError):
            manager.save_position_exit(position_id, 820.0, "not mine")
        with pytest.raises(PositionHeldError):
            manager.save_position_exit(position_id, 820.0, "not mine either", quantity=10)
        with pytest.raises(PositionClosedError):  # closed is said before whose it is
            manager.save_position_exit(closed, 820.0, "closed")
        with pytest.raises(PositionNotFoundError):
            manager.save_position_exit(10_000_000, 820.0, "nobody's")
    assert no_session.session_id is None  # asking opened no session
    assert db.snapshot() == before

    # Crashed, it is still not theirs until resumed.
    owner.handle_crash(RuntimeError("gone"))
    with pytest.raises(PositionHeldError, match="mark_position_recovered"):
        same_strategy.save_position_exit(position_id, 820.0, "not resumed")
    same_strategy.mark_position_recovered(position_id)
    assert same_strategy.save_position_exit(position_id, 820.0, "resumed") == 0
    assert db.position(position_id)["status"] == "CLOSED"


# ----- numbers ---------------------------------------------------------------------------


@numbers.Integral.register
class Whole:
    """An integer of another library (as numpy's and pandas' are): Integral, not int."""

    def __init__(self, value: int) -> None:
        self.value = value

    def __index__(self) -> int:
        return self.value

    def __repr__(self) -> str:
        return f"Whole({self.value})"


def test_integers_of_other_libraries_are_accepted(managers: ManagerFactory, db: Db) -> None:
    manager = managers()
    position_id = manager.save_position_entry("SBIN", "NSE", "LONG", Whole(50), 812.5)  # type: ignore[arg-type]
    assert db.position(position_id)["quantity"] == 50
    remaining = manager.save_position_exit(Whole(position_id), 820.0, "out", quantity=Whole(20))  # type: ignore[arg-type]
    assert remaining == 30
    client_id = manager.record_order_intent("SBIN", "NSE", "SELL", Whole(30))  # type: ignore[arg-type]
    assert db.one("SELECT quantity FROM order_intents WHERE client_order_id = :c", c=client_id) == {
        "quantity": 30
    }
    manager.handle_crash(RuntimeError("gone"))
    resumed = managers()
    resumed.mark_position_recovered(Whole(position_id))  # type: ignore[arg-type]
    assert db.position(position_id)["status"] == "RECOVERED"


def test_numpy_numbers_are_accepted_everywhere(managers: ManagerFactory, db: Db) -> None:
    numpy = pytest.importorskip("numpy")
    manager = managers(flush_interval_ms=60_000)
    position_id = manager.save_position_entry(
        "SBIN",
        "NSE",
        "LONG",
        numpy.int64(50),
        numpy.float64(812.5),
        stop_price=numpy.float32(800.0),
    )
    numpy_id = numpy.int64(position_id)
    manager.queue_position_update(numpy_id, current_price=numpy.float64(815.0))
    manager.queue_position_update(numpy_id, stop_price=numpy.float64(805.0), force_immediate=True)
    row = db.position(position_id)
    assert (row["quantity"], row["current_price"], row["stop_price"]) == (50, 815.0, 805.0)
    client_id = manager.record_order_intent(
        "SBIN", "NSE", "SELL", numpy.int32(20), price=numpy.float32(816.0), position_id=numpy_id
    )
    intent = db.one("SELECT * FROM order_intents WHERE client_order_id = :c", c=client_id)
    assert (intent["quantity"], intent["price"], intent["position_id"]) == (20, 816.0, position_id)
    assert (
        manager.save_position_exit(numpy_id, numpy.float64(820.0), "out", quantity=numpy.int16(20))
        == 30
    )
    assert db.position(position_id)["realized_pnl"] == pytest.approx(150.0)


def refused_writing_nothing(
    managers: ManagerFactory,
    db: Db,
    manager: PositionPersistenceManager,
    calls: dict[str, Callable[[PositionPersistenceManager], object]],
) -> None:
    """Each call is refused by a manager with a session and by a fresh one; nothing is written."""
    before = db.snapshot()
    for name, call in calls.items():
        if name != "label":  # the session is open already: its label is not asked again
            refused(name, lambda call=call: call(manager))
        fresh = managers()  # no session yet: none is opened for a refused call either
        refused(f"{name} (fresh manager)", lambda call=call, fresh=fresh: call(fresh))
        assert db.snapshot() == before, name


def test_numbers_the_database_cannot_hold_are_refused_and_nothing_is_written(
    managers: ManagerFactory, db: Db
) -> None:
    manager = managers()
    position_id = enter(manager)
    too_big = 2**31
    refused_writing_nothing(
        managers,
        db,
        manager,
        {
            "entry quantity": lambda m: enter(m, quantity=too_big),
            "entry quantity as a float": lambda m: enter(m, quantity=float(too_big)),
            "exit quantity": lambda m: m.save_position_exit(
                position_id, 820.0, "x", quantity=too_big
            ),
            "exit of id 2**31": lambda m: m.save_position_exit(too_big, 820.0, "x"),
            "exit of id 0": lambda m: m.save_position_exit(0, 820.0, "x"),
            "exit of id -1": lambda m: m.save_position_exit(-1, 820.0, "x"),
            "recovery of id 2**31": lambda m: m.mark_position_recovered(too_big),
            "intent quantity": lambda m: m.record_order_intent("SBIN", "NSE", "BUY", too_big),
        },
    )
    biggest = enter(manager, symbol="INFY", quantity=2**31 - 1)
    assert db.position(biggest)["quantity"] == 2**31 - 1


def test_text_too_long_is_refused_and_nothing_is_written(managers: ManagerFactory, db: Db) -> None:
    manager = managers()
    position_id = enter(manager)
    refused_writing_nothing(
        managers,
        db,
        manager,
        {
            "label": lambda m: m.start_session(label="x" * 129),
            "leg": lambda m: enter(m, leg="x" * 65),
            "recovery notes": lambda m: m.mark_position_recovered(position_id, notes="x" * 2001),
            "intent purpose": lambda m: m.record_order_intent(
                "SBIN", "NSE", "BUY", 1, purpose="x" * 65
            ),
        },
    )
    longest = enter(manager, symbol="INFY", leg="x" * 64)
    assert db.position(longest)["leg"] == "x" * 64
