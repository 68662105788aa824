"""What the strategy page reads: version diffs, runs history, resource history, log tail
and search on a large log, schedule and environment errors naming their field, and
secrets that never come back."""

from __future__ import annotations

import os
import time
import tracemalloc
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from algovisor.clock import FakeClock
from algovisor.db.models import ResourceSample, Run, Strategy
from algovisor.runner.files import active_log_name, segment_log_name
from algovisor.services import logs
from algovisor.services import strategies as strategy_service
from algovisor.services import versions as version_service
from algovisor.services.context import ServiceContext
from algovisor.supervisor.chores import PeriodicChores
from algovisor.supervisor.config import SupervisorConfig
from algovisor.supervisor.reconciler import Reconciler
from tests.conftest import converge, wait_until

Json = dict[str, Any]

LOOPING = """
import time
print("strategy up", flush=True)
while True:
    time.sleep(0.1)
"""
V1 = "import time\nSYMBOL = 'NIFTY'\nQTY = 50\nwhile True:\n    time.sleep(1)\n"
V2 = V1.replace("QTY = 50", "QTY = 75")
V3 = V2.replace("SYMBOL = 'NIFTY'\n", "SYMBOL = 'BANKNIFTY'\nSTOP = 0.5\n")


def assert_error(response: httpx.Response, status: int, fragment: str) -> Json:
    assert response.status_code == status, response.text
    body: Json = response.json()
    assert set(body) == {"error", "detail", "field"}
    assert fragment.lower() in body["error"].lower(), body
    return body


def bytes_read_by_this_process() -> int:
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    raise AssertionError("no rchar in /proc/self/io")


# ----- versions: diff and rollback ----------------------------------------------------


def test_diff_between_versions_defaults_to_the_current_and_its_predecessor(
    ctx: ServiceContext, client: TestClient
) -> None:
    strategy_service.add(ctx, "sizer.py", V1.encode())
    only = client.get("/api/strategies/sizer/diff").json()
    # One version: the diff is the whole script, added to an empty file.
    assert only["from"] is None
    assert only["to"] == 1
    assert only["lines"][:2] == ["--- (empty)", "+++ version 1"]
    assert "+QTY = 50" in only["lines"]

    version_service.edit(ctx, "sizer", "sizer.py", V2.encode())
    version_service.edit(ctx, "sizer", "sizer.py", V3.encode())
    latest = client.get("/api/strategies/sizer/diff").json()
    assert (latest["from"], latest["to"], latest["truncated"]) == (2, 3, False)
    assert latest["lines"][:2] == ["--- version 2", "+++ version 3"]
    assert latest["lines"][2].startswith("@@ ")
    changed = [line for line in latest["lines"][3:] if line[:1] in "+-"]
    assert changed == ["-SYMBOL = 'NIFTY'", "+SYMBOL = 'BANKNIFTY'", "+STOP = 0.5"]

    wide = client.get("/api/strategies/sizer/diff", params={"from": 1, "to": 3}).json()
    assert {"-QTY = 50", "+QTY = 75", "+STOP = 0.5"} <= set(wide["lines"])
    backwards = client.get("/api/strategies/sizer/diff", params={"from": 3, "to": 1}).json()
    assert "+QTY = 50" in backwards["lines"]
    assert "-QTY = 75" in backwards["lines"]
    same = client.get("/api/strategies/sizer/diff", params={"from": 2, "to": 2}).json()
    assert same["lines"] == []

    # Rolling back makes version 4 (a copy of 1): its diff against 3 undoes 2 and 3.
    rolled = client.post("/api/strategies/sizer/rollback", json={"version": 1})
    assert rolled.json()["number"] == 4
    undo = client.get("/api/strategies/sizer/diff").json()
    assert (undo["from"], undo["to"]) == (3, 4)
    assert {"-QTY = 75", "+QTY = 50", "-STOP = 0.5"} <= set(undo["lines"])
    assert client.get("/api/strategies/sizer/diff", params={"from": 1}).json()["lines"] == []

    assert_error(client.get("/api/strategies/sizer/diff", params={"to": 9}), 404, "no version 9")
    assert_error(client.get("/api/strategies/sizer/diff", params={"from": 0}), 422, "invalid")
    assert_error(client.get("/api/strategies/sizer/diff", params={"to": "x"}), 422, "invalid")


@pytest.mark.parametrize("path", ["diff", "runs", "resources"])
def test_history_of_an_unknown_strategy_is_a_404(client: TestClient, path: str) -> None:
    assert_error(client.get(f"/api/strategies/nope/{path}"), 404, "no strategy")


# ----- runs and resources -------------------------------------------------------------


def test_runs_history_is_newest_first_with_how_each_ended_and_resources_were_sampled(
    ctx: ServiceContext, client: TestClient, reconciler: Reconciler
) -> None:
    strategy_service.add(ctx, "looper.py", LOOPING.encode())
    assert client.get("/api/strategies/looper/runs").json() == []
    assert client.get("/api/strategies/looper/resources").json() == []

    def run_once() -> str:
        client.post("/api/strategies/looper/start")
        running = wait_until(
            lambda: client.get("/api/strategies/looper").json()["current_run"],
            step=converge(reconciler),
            message="a run",
        )
        assert isinstance(running, dict)
        started = datetime.fromisoformat(running["started_at"])

        def sampled_this_run() -> bool:
            samples = client.get("/api/strategies/looper/resources").json()
            return any(datetime.fromisoformat(sample["at"]) >= started for sample in samples)

        wait_until(sampled_this_run, step=converge(reconciler), message="a sample of this run")
        client.post("/api/strategies/looper/stop")
        wait_until(
            lambda: client.get("/api/strategies/looper").json()["state"] == "stopped",
            step=converge(reconciler),
            message="stopped",
        )
        return str(running["id"])

    first = run_once()
    version_service.edit(ctx, "looper", "looper.py", LOOPING.replace("up", "v2 up").encode())
    second = run_once()

    rows = client.get("/api/strategies/looper/runs").json()
    assert [row["id"] for row in rows] == [second, first]
    assert [row["version"] for row in rows] == [2, 1]
    for row in rows:
        assert row["status"] == "ended"
        assert row["end_reason"] == "stopped"
        assert row["started_at"] < row["ended_at"]
        assert row["uptime_secs"] > 0
    assert client.get("/api/strategies/looper/runs", params={"limit": 1}).json() == rows[:1]
    assert_error(client.get("/api/strategies/looper/runs", params={"limit": 0}), 422, "invalid")

    samples = client.get("/api/strategies/looper/resources").json()
    assert len(samples) >= 2  # one per run at least: the first sample of a run is kept
    assert [sample["at"] for sample in samples] == sorted(sample["at"] for sample in samples)
    assert all(sample["rss_bytes"] > 1024 * 1024 for sample in samples)
    assert client.get("/api/strategies/looper/resources", params={"hours": 24}).json() == samples
    for hours in (0, 25, "x"):
        response = client.get("/api/strategies/looper/resources", params={"hours": hours})
        assert_error(response, 422, "invalid")


@dataclass
class Watched:
    """What the chores need of a live run: its pid (here, this test's own process)."""

    pid: int


def test_history_keeps_one_sample_per_interval_across_restarts_and_prunes_old_ones(
    ctx: ServiceContext, client: TestClient
) -> None:
    added = strategy_service.add(ctx, "sampled.py", LOOPING.encode())
    run_id = uuid.uuid4().hex
    real_now = datetime.now(UTC)
    clock = FakeClock(real_now - timedelta(hours=26))
    with ctx.transaction() as session:
        strategy = session.scalars(select(Strategy).where(Strategy.id == added.id)).one()
        session.add(
            Run(
                id=run_id,
                strategy_id=added.id,
                version_id=strategy.versions[-1].id,
                host="test-host",
                status="running",
                pid=os.getpid(),
                log_path="unused",
                created_at=clock.now(),
            )
        )
    config = SupervisorConfig(
        host_name="test-host",
        boot_id="boot",
        database_url=ctx.settings.resolved_database_url,
        resource_sample_secs=1.0,
        resource_history_secs=60.0,
        resource_history_hours=24.0,
    )

    def tick(chores: PeriodicChores) -> None:
        with ctx.transaction() as session:
            run = session.get(Run, run_id)
            assert run is not None
            chores.sample(session, {added.id: run}, {run_id: Watched(os.getpid())})

    def stored() -> list[datetime]:
        with ctx.reading() as session:
            return list(session.scalars(select(ResourceSample.at).order_by(ResourceSample.at)))

    chores = PeriodicChores(ctx.layout, clock, config)
    for _ in range(26):  # 130 s, a sample every 5 s: history at 0, 60 and 120 s
        tick(chores)
        clock.advance(5)
    start = real_now - timedelta(hours=26)
    assert stored() == [start, start + timedelta(seconds=60), start + timedelta(seconds=120)]

    # A new host (no memory of the last sample) waits out the interval from the database.
    chores = PeriodicChores(ctx.layout, clock, config)
    for _ in range(12):  # 130 s .. 185 s
        tick(chores)
        clock.advance(5)
    assert stored()[-1] == start + timedelta(seconds=180)
    assert len(stored()) == 4

    clock.advance(timedelta(hours=24, minutes=30))  # now: about 1.5 hours before real time
    tick(chores)
    assert stored() == [clock.now()]  # the day-old samples were pruned, a new one kept
    shown = client.get("/api/strategies/sampled/resources", params={"hours": 2}).json()
    assert [datetime.fromisoformat(sample["at"]) for sample in shown] == [clock.now()]
    assert shown[0]["rss_bytes"] > 0
    assert client.get("/api/strategies/sampled/resources", params={"hours": 1}).json() == []

    # Deleting the strategy (its run over) deletes its history.
    with ctx.transaction() as session:
        ended = session.get(Run, run_id)
        assert ended is not None
        ended.status = "ended"
    strategy_service.delete(ctx, "sampled")
    with ctx.reading() as session:
        assert session.scalar(select(func.count()).select_from(ResourceSample)) == 0


# ----- logs: tail and search on a large log -------------------------------------------

LINE = "2026-01-26 10:15:{second:02d} tick {number:09d} NIFTY ltp 24118.35 signal hold\n"
LOG_BYTES = 50 * 1024 * 1024


def write_log(path: Path, size_bytes: int, first_number: int, marker_at: dict[int, str]) -> int:
    """Write about `size_bytes` of log lines, in blocks (never the whole log in memory);
    line numbers in `marker_at` get a marker. Returns the next line number."""
    number = first_number
    with path.open("w") as handle:
        while handle.tell() < size_bytes:
            block = []
            for _ in range(10_000):
                line = LINE.format(second=number % 60, number=number)
                if number in marker_at:
                    line = line.replace("signal hold", marker_at[number])
                block.append(line)
                number += 1
            handle.write("".join(block))
    return number


def test_tail_and_search_answer_from_a_50_mb_log_without_reading_or_holding_it(
    ctx: ServiceContext, client: TestClient
) -> None:
    added = strategy_service.add(ctx, "chatty.py", LOOPING.encode())
    run_id = uuid.uuid4().hex
    log_dir = ctx.layout.log_dir(added.id)
    log_dir.mkdir(parents=True, exist_ok=True)
    # An older rotated piece and the active file: 50 MB of log in all.
    after_old = write_log(
        log_dir / segment_log_name(run_id, 1), LOG_BYTES * 2 // 5, 0, {7: "ORDER REJECTED margin"}
    )
    last = write_log(
        log_dir / active_log_name(run_id), LOG_BYTES * 3 // 5, after_old, {after_old + 5: "x"}
    )
    with (log_dir / active_log_name(run_id)).open("a") as handle:
        handle.write("10:16:00 order rejected: freeze quantity\nlast line\n")
    total = sum(path.stat().st_size for path in log_dir.iterdir())
    assert total > LOG_BYTES
    with ctx.transaction() as session:
        strategy = session.scalars(select(Strategy).where(Strategy.id == added.id)).one()
        session.add(
            Run(
                id=run_id,
                strategy_id=added.id,
                version_id=strategy.versions[-1].id,
                host="test-host",
                status="ended",
                log_path=str(log_dir / active_log_name(run_id)),
                created_at=datetime.now(UTC),
            )
        )

    before = bytes_read_by_this_process()
    tail = client.get("/api/strategies/chatty/logs", params={"lines": 3}).json()
    assert bytes_read_by_this_process() - before < 1024 * 1024
    assert tail["lines"] == [
        LINE.format(second=(last - 1) % 60, number=last - 1).rstrip("\n"),
        "10:16:00 order rejected: freeze quantity",
        "last line",
    ]
    assert tail["query"] is None

    # The newest match is near the end: found after reading a little.
    newest = client.get("/api/strategies/chatty/logs", params={"q": "REJECTED", "lines": 1})
    assert newest.json()["lines"] == ["10:16:00 order rejected: freeze quantity"]
    assert newest.json()["scanned_bytes"] <= 2 * 1024 * 1024

    # Every match means scanning the whole log, newest piece first, one block at a time.
    tracemalloc.start()
    started = time.monotonic()
    try:
        found = client.get("/api/strategies/chatty/logs", params={"q": "rejected", "lines": 10})
        _, peak_bytes = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    elapsed = time.monotonic() - started
    body = found.json()
    assert body["lines"] == [
        LINE.format(second=7, number=7)
        .rstrip("\n")
        .replace("signal hold", "ORDER REJECTED margin"),
        "10:16:00 order rejected: freeze quantity",
    ]
    assert body["query"] == "rejected"
    assert body["scanned_bytes"] == total
    assert body["limit_reached"] is False
    assert peak_bytes < 16 * 1024 * 1024, f"held {peak_bytes:,} bytes of a {total:,} byte log"
    assert elapsed < 20, f"took {elapsed:.1f} s"

    # Past its scan limit a search stops and says so.
    capped = logs.search(ctx, "chatty", "margin", 10, max_scan_bytes=10 * 1024 * 1024)
    assert capped.lines == []
    assert capped.scanned_bytes == 10 * 1024 * 1024
    assert capped.limit_reached is True

    nothing = client.get("/api/strategies/chatty/logs", params={"q": "no such text"}).json()
    assert nothing["lines"] == []
    assert nothing["scanned_bytes"] == total
    line_break = client.get("/api/strategies/chatty/logs", params={"q": "a\nb"})
    assert assert_error(line_break, 400, "line breaks")["field"] == "q"
    too_long = client.get("/api/strategies/chatty/logs", params={"q": "x" * 201})
    assert assert_error(too_long, 422, "invalid")["field"] == "q"


# ----- bad input names its field; secrets never come back -----------------------------


@pytest.mark.parametrize(
    ("body", "field", "fragment"),
    [
        ({"start": "9.15", "stop": "15:30"}, "start", "start time '9.15'"),
        ({"start": "", "stop": "15:30"}, "start", "start time"),
        ({"start": "09:15", "stop": "25:00"}, "stop", "stop time '25:00'"),
        ({"start": "09:15", "stop": "09:15"}, "stop", "window would be empty"),
        ({"start": "09:15", "days": "someday"}, "days", "unknown day 'someday'"),
        ({"start": "09:15", "days": " , "}, "days", "no days"),
        ({"start": "09:15", "exchange": "NASDAQ"}, "exchange", "unknown exchange"),
        ({"stop": "15:30"}, "start", "invalid request"),
    ],
)
def test_a_schedule_error_names_its_field_and_saves_nothing(
    ctx: ServiceContext, client: TestClient, body: Json, field: str, fragment: str
) -> None:
    strategy_service.add(ctx, "planned.py", LOOPING.encode())
    good = {"start": "10:00", "stop": "14:00", "days": "mon,wed", "exchange": "NFO"}
    assert client.put("/api/strategies/planned/schedule", json=good).status_code == 200
    before = client.get("/api/strategies/planned").json()["schedule"]
    response = client.put("/api/strategies/planned/schedule", json=body)
    status = 422 if fragment == "invalid request" else 400
    assert assert_error(response, status, fragment)["field"] == field
    assert client.get("/api/strategies/planned").json()["schedule"] == before


def test_environment_errors_name_their_field_and_secrets_never_come_back(
    ctx: ServiceContext, client: TestClient
) -> None:
    strategy_service.add(ctx, "vaulted.py", LOOPING.encode())
    secret = f"tok-{uuid.uuid4().hex}"
    responses = []

    def keep(response: httpx.Response) -> httpx.Response:
        responses.append(response)
        return response

    stored = keep(
        client.put(
            "/api/strategies/vaulted/env/BROKER_TOKEN", json={"value": secret, "secret": True}
        )
    )
    assert stored.json() == {"key": "BROKER_TOKEN", "value": "****", "secret": True}
    keep(client.put("/api/strategies/vaulted/env/SYMBOL", json={"value": "NIFTY"}))
    for key, value, field, fragment in [
        ("1BAD", secret, "key", "invalid environment variable name"),
        ("ALGOVISOR_X", secret, "key", "set by algovisor itself"),
        ("PATH", secret, "key", "set by algovisor itself"),
        ("GOOD", f"{secret}\x00", "value", "NUL"),
        ("GOOD", secret * 1000, "value", "longer than"),
    ]:
        response = keep(
            client.put(f"/api/strategies/vaulted/env/{key}", json={"value": value, "secret": True})
        )
        assert assert_error(response, 400, fragment)["field"] == field
    listed = keep(client.get("/api/strategies/vaulted/env")).json()
    assert listed == [
        {"key": "BROKER_TOKEN", "value": "****", "secret": True},
        {"key": "SYMBOL", "value": "NIFTY", "secret": False},
    ]
    # Replacing a secret by a plain value shows it; making it secret again hides it.
    keep(client.put("/api/strategies/vaulted/env/SYMBOL", json={"value": secret, "secret": True}))
    for path in ("", "/env", "/versions", "/runs", "/resources", "/diff", "/explain"):
        assert keep(client.get(f"/api/strategies/vaulted{path}")).status_code == 200, path
    keep(client.get("/api/strategies"))
    keep(client.get("/api/status"))
    for response in responses:
        assert secret not in response.text, (response.request.url, response.text[:200])
