"""Twenty strategy processes writing positions at once: no lost update, no missing event.

Each process enters three positions, queues hundreds of updates (prices, a
counter and rotating keys in `state`), moves stops with `force_immediate`,
exits partially and fully, then writes what it last wrote to a JSON file. The
database must hold exactly that, on SQLite (one file, WAL) and PostgreSQL.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import wait_until
from tests.positions.conftest import Db, sdk_environment

PROCESSES = 20
TICKS = 400

STRATEGY = """
import json, os, sys, time
from pathlib import Path

from algovisor.sdk import PositionPersistenceManager

index, folder, ticks = int(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
manager = PositionPersistenceManager(f"proc{index:02d}", flush_interval_ms=20)
(folder / f"ready-{index}").touch()
while not (folder / "go").exists():
    time.sleep(0.005)

SIDES = {"LONG": 1, "SHORT": -1}
positions = []
for n, (symbol, side) in enumerate([("SBIN", "LONG"), ("INFY", "SHORT"), ("TCS", "LONG")]):
    entry = 100.0 + index + n
    stop = entry - 10 * SIDES[side]
    position_id = manager.save_position_entry(
        symbol, "NSE", side, 100, entry, stop_price=stop, state={"count": 0, "proc": index}
    )
    positions.append({
        "id": position_id, "side": side, "entry": entry, "quantity": 100, "open": True,
        "current_price": None, "stop_price": stop, "state": {"count": 0, "proc": index},
        "realized": 0.0, "exited": [], "moves": 0, "partials": 0, "exits": 0,
    })

def exit_some(p, quantity, price):
    remaining = manager.save_position_exit(p["id"], price, "scale", quantity=quantity)
    p["quantity"] -= quantity
    assert remaining == p["quantity"], (remaining, p["quantity"])
    p["realized"] += (price - p["entry"]) * quantity * SIDES[p["side"]]
    p["exited"].append([quantity, price])
    if remaining:
        p["partials"] += 1
    else:
        p["exits"] += 1
        p["open"] = False

for tick in range(1, ticks + 1):
    for n, p in enumerate(positions):
        if not p["open"]:
            continue
        price = round(p["entry"] + tick * 0.01 * SIDES[p["side"]], 2)
        change = {"count": tick, f"slot{tick % 4}": tick * 10 + n}
        manager.queue_position_update(p["id"], current_price=price, state=change)
        p["current_price"] = price
        p["state"].update(change)
        if tick % 25 == 0:
            p["stop_price"] = round(p["entry"] - (10 - tick / 100) * SIDES[p["side"]], 2)
            manager.queue_position_update(p["id"], stop_price=p["stop_price"], force_immediate=True)
            p["moves"] += 1
    if tick == ticks // 2:
        exit_some(positions[0], 30, positions[0]["current_price"])
        exit_some(positions[1], 50, positions[1]["current_price"])
    if tick == (3 * ticks) // 4:
        exit_some(positions[0], 20, positions[0]["current_price"])
        exit_some(positions[2], 100, positions[2]["current_price"])
    time.sleep(0.002)

session_id = manager.session_id
manager.close()
expected = {"session_id": session_id, "positions": positions}
(folder / f"expected-{index}.json").write_text(json.dumps(expected))
"""


def run_strategies(url: str, folder: Path) -> list[dict]:
    script = folder / "strategy.py"
    script.write_text(STRATEGY)
    environment = sdk_environment(ALGOVISOR_DATABASE_URL=url)
    logs = [(folder / f"stderr-{index}.txt").open("w") for index in range(PROCESSES)]
    processes = [
        subprocess.Popen(
            [sys.executable, str(script), str(index), str(folder), str(TICKS)],
            env=environment,
            cwd=folder,
            stdout=subprocess.DEVNULL,
            stderr=logs[index],
        )
        for index in range(PROCESSES)
    ]
    try:
        wait_until(
            lambda: (
                all((folder / f"ready-{i}").exists() for i in range(PROCESSES))
                or any(process.poll() is not None for process in processes)
            ),
            60,
            message="every strategy process to start",
        )
        (folder / "go").touch()
        started = time.monotonic()
        for process in processes:
            process.wait(timeout=max(1.0, 90 - (time.monotonic() - started)))
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
        for log in logs:
            log.close()
    print(f"{PROCESSES} processes wrote for {time.monotonic() - started:.1f} s")
    failures = {
        index: (folder / f"stderr-{index}.txt").read_text()[-2000:]
        for index, process in enumerate(processes)
        if process.returncode != 0
    }
    assert not failures, failures
    return [
        json.loads((folder / f"expected-{index}.json").read_text()) for index in range(PROCESSES)
    ]


def test_twenty_processes_writing_at_once_lose_no_update(url: str, db: Db, tmp_path: Path) -> None:
    expected = run_strategies(url, tmp_path)

    assert db.counts()["strategy_positions"] == 3 * PROCESSES
    for index, written in enumerate(expected):
        name = f"proc{index:02d}"
        session = db.session(written["session_id"])
        assert (session["strategy_name"], session["status"]) == (name, "ENDED"), name
        rows = db.rows(
            "SELECT * FROM strategy_positions WHERE strategy_name = :name ORDER BY id", name=name
        )
        assert [row["id"] for row in rows] == [p["id"] for p in written["positions"]], name
        for row, p in zip(rows, written["positions"], strict=True):
            where = f"{name} position {p['id']}"
            assert row["session_id"] == written["session_id"], where
            assert row["current_price"] == p["current_price"], where
            assert row["stop_price"] == p["stop_price"], where
            assert row["state"] == p["state"], where
            assert row["quantity"] == p["quantity"], where
            assert row["status"] == ("ACTIVE" if p["open"] else "CLOSED"), where
            assert row["realized_pnl"] == pytest.approx(p["realized"]), where
            exited = sum(q for q, _ in p["exited"])
            average = sum(q * price for q, price in p["exited"]) / exited
            assert row["exit_price"] == pytest.approx(average), where
            assert row["update_count"] >= 1, where
            kinds = db.kinds(p["id"])
            assert kinds[0] == "ENTRY", where
            assert {kind: kinds.count(kind) for kind in set(kinds)} == {
                kind: count
                for kind, count in {
                    "ENTRY": 1,
                    "STOP_MOVED": p["moves"],
                    "PARTIAL_EXIT": p["partials"],
                    "EXIT": p["exits"],
                }.items()
                if count
            }, where


FRESH = """
import sys, time
from pathlib import Path

from algovisor.sdk import PositionPersistenceManager

folder = Path(sys.argv[2])
(folder / f"ready-{sys.argv[1]}").touch()
while not (folder / "go").exists():
    time.sleep(0.002)
with PositionPersistenceManager(f"fresh{sys.argv[1]}") as manager:
    manager.save_position_entry("SBIN", "NSE", "LONG", 1, 100.0)
"""


def test_strategies_started_together_on_a_fresh_database_all_migrate_it(
    database_url: str, tmp_path: Path
) -> None:
    """No host has created the tables yet: the first process does, the others wait for it."""
    count = 8
    script = tmp_path / "fresh.py"
    script.write_text(FRESH)
    processes = [
        subprocess.Popen(
            [sys.executable, str(script), str(index), str(tmp_path)],
            env=sdk_environment(ALGOVISOR_DATABASE_URL=database_url),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for index in range(count)
    ]
    try:
        wait_until(
            lambda: all((tmp_path / f"ready-{i}").exists() for i in range(count)),
            60,
            message="every process to start",
        )
        (tmp_path / "go").touch()
        errors = [process.communicate(timeout=60)[1] for process in processes]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    assert [process.returncode for process in processes] == [0] * count, errors
    db = Db(database_url)
    try:
        assert db.counts()["strategy_positions"] == count
        assert {row["status"] for row in db.rows("SELECT status FROM strategy_sessions")} == {
            "ENDED"
        }
    finally:
        db.close()
