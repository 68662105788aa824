"""Crashes are always marked: real strategy processes using the positions SDK, killed and crashed.

    kill -9 under the host       the host's sweep marks the session and its positions
                                 CRASHED within 2 s, their state at most one flush old
    an exception                 the runner's hook marks them, with the traceback;
                                 the host's sweep then changes nothing
    restart                      recover() hands them back; trailing resumes from the
                                 stored stop, on RECOVERED positions
    host down at the crash       the next host's start-up sweep marks them
    stop (SIGTERM)               not a crash: the session ENDED, positions ACTIVE,
                                 pending updates flushed
    standalone process killed    the sweep marks its session from its pid

Real processes, the in-process reconciler (or a real host), SQLite and PostgreSQL.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

import psutil
import pytest
from sqlalchemy import select

from algovisor.db.models import PositionEventRow, Run, StrategyPositionRow, StrategySessionRow
from algovisor.positions.records import Crash
from algovisor.services import strategies
from algovisor.services.context import ServiceContext
from algovisor.supervisor.config import SupervisorConfig
from algovisor.supervisor.identity import current_boot_id
from algovisor.supervisor.lease import default_host_name
from algovisor.supervisor.logfiles import RetentionLimits
from algovisor.supervisor.reconciler import Reconciler
from algovisor.supervisor.states import Intent
from tests.conftest import (
    FAST_POLICY,
    HostProcess,
    contracts_always_ready,
    converge,
    wait_until,
)

FLUSH_INTERVAL_SECS = 0.1
# What a loaded test machine may add to a flush: the writer thread's wake-up, the commit.
STALENESS_MARGIN_SECS = 0.3
MARKED_WITHIN_SECS = 2.0
STOP_STEP = 0.01

# Opens three positions (or, after a crash, resumes the ones recover() hands back)
# and trails them: every 10 ms each gets a new price, stop and counter. After each
# round it publishes what it last queued, atomically, for the test to compare.
TRAILER = """
import json
import os
import time

from algovisor.sdk import PositionPersistenceManager

STEP = 0.01
run = os.environ["ALGOVISOR_RUN_ID"]


def publish(name, payload):
    with open(name + ".tmp", "w") as handle:
        handle.write(json.dumps(payload))
    os.replace(name + ".tmp", name)


manager = PositionPersistenceManager(flush_interval_ms=100)
recovered = manager.recover()
if recovered:
    for record in recovered:
        manager.mark_position_recovered(record.id, notes="resumed after restart")
    publish(
        "resumed.json",
        {
            "run": run,
            "positions": [
                {
                    "id": record.id,
                    "status": record.status,
                    "stop": record.stop_price,
                    "counter": record.state.get("counter"),
                }
                for record in recovered
            ],
        },
    )
    stops = {record.id: record.stop_price for record in recovered}
    # The first move from the resumed stop is made durable at once.
    for position_id, stop in stops.items():
        stops[position_id] = round(stop + STEP, 4)
        manager.queue_position_update(
            position_id,
            stop_price=stops[position_id],
            state={"run": run, "counter": 0},
            force_immediate=True,
        )
else:
    stops = {
        manager.save_position_entry(
            symbol, "NSE", "BUY", 10, 100.0, stop_price=90.0, state={"counter": 0}
        ): 90.0
        for symbol in ("SBIN", "INFY", "TCS")
    }

counter = 0
while True:
    counter += 1
    now = time.time()
    for position_id in stops:
        stops[position_id] = round(stops[position_id] + STEP, 4)
        manager.queue_position_update(
            position_id,
            current_price=100.0 + counter / 100,
            stop_price=stops[position_id],
            state={"counter": counter, "at": now, "run": run},
        )
    publish("progress.json", {"run": run, "counter": counter, "at": now})
    time.sleep(0.01)
"""

RAISER = """
from algovisor.sdk import PositionPersistenceManager


class FeedBrokenError(RuntimeError):
    pass


manager = PositionPersistenceManager(flush_interval_ms=100)
first = manager.save_position_entry("SBIN", "NSE", "BUY", 10, 800.0, stop_price=790.0)
second = manager.save_position_entry("INFY", "NSE", "SELL", 5, 1500.0, stop_price=1510.0)
manager.queue_position_update(first, current_price=801.25, state={"ticks": 1})


def on_tick(price):
    raise FeedBrokenError(f"no tick after {price}")


on_tick(801.25)
"""

# Queues updates that only an exit flush can write: the interval is a minute.
POLITE = """
import json
import os
import time

from algovisor.sdk import PositionPersistenceManager


def publish(name, payload):
    with open(name + ".tmp", "w") as handle:
        handle.write(json.dumps(payload))
    os.replace(name + ".tmp", name)


manager = PositionPersistenceManager(flush_interval_ms=60_000)
ids = [
    manager.save_position_entry(symbol, "NSE", "BUY", 10, 100.0, stop_price=90.0)
    for symbol in ("SBIN", "INFY")
]
queued = 0
try:
    while True:
        counter = queued + 1
        for position_id in ids:
            manager.queue_position_update(
                position_id, current_price=100.0 + counter / 100, state={"counter": counter}
            )
        queued = counter
        publish("progress.json", {"counter": queued})
        time.sleep(0.01)
finally:
    publish("final.json", {"queued": queued})
"""

STANDALONE = """
import os
import sys
import time

from algovisor.sdk import PositionPersistenceManager

manager = PositionPersistenceManager(strategy_name="desk-standalone", flush_interval_ms=100)
for symbol in ("SBIN", "INFY"):
    manager.save_position_entry(symbol, "NSE", "SELL", 25, 700.0, stop_price=720.0)
with open(sys.argv[1] + ".tmp", "w") as handle:
    handle.write(str(manager.session_id))
os.replace(sys.argv[1] + ".tmp", sys.argv[1])
while True:
    time.sleep(0.1)
"""


# ----- helpers ------------------------------------------------------------------------


def add_strategy(ctx: ServiceContext, name: str, body: str) -> int:
    """Add a strategy asked to run; returns its id."""
    return strategies.add(ctx, f"{name}.py", body.encode(), intent=Intent.RUN).id


def runs_of(ctx: ServiceContext, strategy_id: int) -> list[Run]:
    with ctx.reading() as session:
        return list(
            session.scalars(
                select(Run).where(Run.strategy_id == strategy_id).order_by(Run.created_at)
            )
        )


def running_run(ctx: ServiceContext, strategy_id: int, other_than: str | None = None) -> Run | None:
    """The strategy's live run (with its pid recorded), if any."""
    for run in runs_of(ctx, strategy_id):
        if run.status == "running" and run.pid is not None and run.id != other_than:
            return run
    return None


def sessions_of(ctx: ServiceContext, strategy_name: str) -> list[StrategySessionRow]:
    with ctx.reading() as session:
        return list(
            session.scalars(
                select(StrategySessionRow)
                .where(StrategySessionRow.strategy_name == strategy_name)
                .order_by(StrategySessionRow.id)
            )
        )


def session_row(ctx: ServiceContext, session_id: int) -> StrategySessionRow:
    with ctx.reading() as session:
        return session.get_one(StrategySessionRow, session_id)


def positions_of(ctx: ServiceContext, strategy_name: str) -> list[StrategyPositionRow]:
    with ctx.reading() as session:
        return list(
            session.scalars(
                select(StrategyPositionRow)
                .where(StrategyPositionRow.strategy_name == strategy_name)
                .order_by(StrategyPositionRow.id)
            )
        )


def events_of(ctx: ServiceContext, position_ids: list[int]) -> list[PositionEventRow]:
    with ctx.reading() as session:
        return list(
            session.scalars(
                select(PositionEventRow)
                .where(PositionEventRow.position_id.in_(position_ids))
                .order_by(PositionEventRow.id)
            )
        )


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        value: dict[str, Any] = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    return value


def is_gone(pid: int) -> bool:
    """No such process, or a zombie nobody reaped yet (our container's init may not)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def keep_ticking(reconciler: Reconciler, secs: float) -> None:
    """Drive the reconciler for a while, for checks that something does NOT happen."""
    deadline = time.monotonic() + secs
    step = converge(reconciler)
    while time.monotonic() < deadline:
        step()


def wait_trading(
    ctx: ServiceContext,
    strategy_id: int,
    name: str,
    step: Callable[[], None] | None,
    count: int,
    run_id: str | None = None,
) -> Run:
    """Wait until the strategy's run is live, has its positions and has flushed updates."""
    progress_path = ctx.layout.work_dir(strategy_id) / "progress.json"

    def trading() -> Run | None:
        run = running_run(ctx, strategy_id)
        if run is None or (run_id is not None and run.id != run_id):
            return None
        progress = read_json(progress_path)
        if progress is None or progress.get("run", run.id) != run.id:
            return None
        positions = positions_of(ctx, name)
        if progress["counter"] < 20 or len(positions) != count:
            return None
        # Several flushes of the 100 ms writer have landed.
        return run if all(position.update_count >= 2 for position in positions) else None

    found = wait_until(trading, timeout_secs=10.0, step=step, message=f"{name} trading")
    assert isinstance(found, Run)
    return found


def kill_while_trading(
    ctx: ServiceContext, reconciler: Reconciler, strategy_id: int, name: str
) -> tuple[Run, float, dict[str, Any], float]:
    """kill -9 the trailer once it trades.

    Returns the run, the kill's wall-clock time, what the strategy last published,
    and how long after the kill its positions were all CRASHED.
    """
    run = wait_trading(ctx, strategy_id, name, converge(reconciler), 3)
    assert run.pid is not None
    killed_at = time.time()
    killed_monotonic = time.monotonic()
    os.kill(run.pid, signal.SIGKILL)
    # Read at once, before any restart of the strategy overwrites it.
    last = read_json(ctx.layout.work_dir(strategy_id) / "progress.json")
    assert last is not None
    assert last["run"] == run.id

    step = converge(reconciler)

    def all_crashed() -> bool:
        step()
        return all(position.status == "CRASHED" for position in positions_of(ctx, name))

    wait_until(all_crashed, timeout_secs=5.0, message="positions CRASHED after kill -9")
    return run, killed_at, last, time.monotonic() - killed_monotonic


def local_reconciler(ctx: ServiceContext) -> tuple[Reconciler, Any]:
    """A reconciler named as this machine, as a real host is by default; and its store."""
    store = ctx.position_store()
    config = SupervisorConfig(
        host_name=default_host_name(),
        boot_id=current_boot_id(),
        database_url=ctx.settings.resolved_database_url,
        interval_secs=0.1,
        resource_sample_secs=0.5,
        log_max_bytes=ctx.settings.log_max_bytes,
        retention=RetentionLimits(50, 30, 1024**3),
        policy=FAST_POLICY,
    )
    reconciler = Reconciler(
        ctx.sessions,
        ctx.layout,
        ctx.secrets,
        ctx.clock,
        config,
        os.environ,
        ctx.calendars.current,
        store,
        contracts_always_ready,
    )
    return reconciler, store


@pytest.fixture
def sweeper(ctx: ServiceContext) -> Iterator[Reconciler]:
    """An in-process reconciler (positions store closed afterwards)."""
    reconciler, store = local_reconciler(ctx)
    reconciler.recover()
    yield reconciler
    reconciler.close()
    store.close()


# ----- kill -9 ------------------------------------------------------------------------


def test_kill_9_marks_all_three_positions_crashed_with_their_last_flushed_state(
    ctx: ServiceContext, sweeper: Reconciler
) -> None:
    strategy_id = add_strategy(ctx, "trailer", TRAILER)

    run, killed_at, last, marked_after_secs = kill_while_trading(
        ctx, sweeper, strategy_id, "trailer"
    )
    strategies.stop(ctx, "trailer")

    assert marked_after_secs <= MARKED_WITHIN_SECS, marked_after_secs
    (session,) = sessions_of(ctx, "trailer")
    assert session.run_id == run.id
    assert session.pid == run.pid
    assert session.status == "CRASHED"
    assert session.crashed_at is not None
    # Marked by the host's sweep, which names how the run ended; no exception to show.
    assert session.crash_reason is not None
    assert "the run ended without ending its session" in session.crash_reason
    assert "SIGKILL" in session.crash_reason
    assert session.exception_type is None
    assert session.traceback is None

    positions = positions_of(ctx, "trailer")
    assert len(positions) == 3
    for position in positions:
        assert position.status == "CRASHED"
        assert position.session_id == session.id
        assert position.crash_reason == session.crash_reason
        assert position.crashed_at is not None
        stored = position.state
        # The last flushed state is at most one flush interval (plus the kill) old.
        staleness_secs = killed_at - stored["at"]
        assert staleness_secs <= FLUSH_INTERVAL_SECS + STALENESS_MARGIN_SECS, (
            position.id,
            staleness_secs,
        )
        assert last["at"] - stored["at"] <= FLUSH_INTERVAL_SECS + STALENESS_MARGIN_SECS
        # Never newer than what the process queued (it may have queued one round
        # after publishing), and written as one: price and stop of the same round.
        assert 1 <= stored["counter"] <= last["counter"] + 1
        assert stored["run"] == run.id
        assert position.current_price == pytest.approx(100.0 + stored["counter"] / 100)
        assert position.stop_price == pytest.approx(90.0 + stored["counter"] * STOP_STEP)
    crash_events = [
        event for event in events_of(ctx, [p.id for p in positions]) if event.kind == "CRASH"
    ]
    assert sorted(event.position_id or 0 for event in crash_events) == [p.id for p in positions]

    # Run ended (the runs table agrees with the reason the session carries).
    ended = next(r for r in runs_of(ctx, strategy_id) if r.id == run.id)
    assert ended.status == "ended"
    assert ended.exit_signal == signal.SIGKILL


def test_restart_after_kill_9_recovers_and_resumes_trailing_from_the_stored_stop(
    ctx: ServiceContext, sweeper: Reconciler
) -> None:
    strategy_id = add_strategy(ctx, "trailer", TRAILER)
    first, _, _, _ = kill_while_trading(ctx, sweeper, strategy_id, "trailer")
    crashed = {position.id: position for position in positions_of(ctx, "trailer")}
    assert {position.status for position in crashed.values()} == {"CRASHED"}
    resumed_path = ctx.layout.work_dir(strategy_id) / "resumed.json"
    assert not resumed_path.exists()

    # The restart policy starts it again after its backoff (0.2 s).
    def resumed_run() -> Run | None:
        run = running_run(ctx, strategy_id, other_than=first.id)
        return run if run is not None and resumed_path.exists() else None

    found = wait_until(resumed_run, step=converge(sweeper), message="the restarted run to resume")
    assert isinstance(found, Run)
    resumed = read_json(resumed_path)
    assert resumed is not None
    assert resumed["run"] == found.id
    by_id = {entry["id"]: entry for entry in resumed["positions"]}
    # recover() returned exactly the crashed positions, as they were stored.
    assert sorted(by_id) == sorted(crashed)
    for position_id, position in crashed.items():
        assert by_id[position_id]["status"] == "CRASHED"
        assert by_id[position_id]["stop"] == position.stop_price
        assert by_id[position_id]["counter"] == position.state["counter"]

    # Later updates land on the RECOVERED positions, adopted by the new session.
    def trailing_again() -> list[StrategyPositionRow] | None:
        sweeper.tick()
        positions = positions_of(ctx, "trailer")
        if all(
            position.state.get("run") == found.id and position.state.get("counter", 0) >= 10
            for position in positions
        ):
            return positions
        return None

    later = wait_until(trailing_again, message="updates of the resumed run stored")
    assert isinstance(later, list)
    sessions = sessions_of(ctx, "trailer")
    assert [session.status for session in sessions] == ["CRASHED", "ACTIVE"]
    assert sessions[1].run_id == found.id
    for position in later:
        stored_stop = crashed[position.id].stop_price
        assert stored_stop is not None
        assert position.status == "RECOVERED"
        assert position.session_id == sessions[1].id
        assert position.stop_price is not None
        assert position.stop_price > stored_stop
        # It trailed from the stored stop, one step per round (its first move included).
        rounds = position.state["counter"] + 1
        assert position.stop_price == pytest.approx(stored_stop + rounds * STOP_STEP)
    # The trail shows the recovery, then the first move starting from the stored stop.
    for position_id, position in crashed.items():
        events = [
            event for event in events_of(ctx, [position_id]) if event.session_id == sessions[1].id
        ]
        assert events[0].kind == "RECOVERY"
        assert events[0].details["from_status"] == "CRASHED"
        assert events[1].kind == "STOP_MOVED"
        stored_stop = position.stop_price
        assert stored_stop is not None
        assert events[1].details["from"] == stored_stop
        assert events[1].details["to"] == pytest.approx(stored_stop + STOP_STEP)
    strategies.stop(ctx, "trailer")


# ----- exceptions ---------------------------------------------------------------------


def test_exception_marks_positions_crashed_with_its_traceback_and_the_sweep_adds_nothing(
    ctx: ServiceContext, sweeper: Reconciler
) -> None:
    strategy_id = add_strategy(ctx, "raiser", RAISER)

    ended = wait_until(
        lambda: [run for run in runs_of(ctx, strategy_id) if run.status == "ended"],
        step=converge(sweeper),
        message="the run to end",
    )
    strategies.stop(ctx, "raiser")  # it would crash again after its backoff
    run = cast(list[Run], ended)[0]
    assert run.end_reason == "crashed"
    assert run.exception_type == "FeedBrokenError"

    session = next(s for s in sessions_of(ctx, "raiser") if s.run_id == run.id)
    assert session.status == "CRASHED"
    assert session.exception_type == "FeedBrokenError"
    assert session.crash_reason == "FeedBrokenError: no tick after 801.25"
    assert session.traceback is not None
    assert session.traceback.startswith("Traceback (most recent call last):")
    assert 'raise FeedBrokenError(f"no tick after {price}")' in session.traceback
    assert "on_tick(801.25)" in session.traceback
    assert session.traceback.rstrip().endswith("FeedBrokenError: no tick after 801.25")
    assert "algovisor/runner" not in session.traceback  # the runner's record, trimmed

    positions = [p for p in positions_of(ctx, "raiser") if p.session_id == session.id]
    assert [(p.symbol, p.status) for p in positions] == [
        ("SBIN", "CRASHED"),
        ("INFY", "CRASHED"),
    ]
    assert all(p.crash_reason == session.crash_reason for p in positions)
    # The update queued just before the exception was flushed before the marking.
    assert positions[0].current_price == 801.25
    assert positions[0].state == {"ticks": 1}

    def snapshot() -> list[tuple[object, ...]]:
        """Everything a second marking could change: session, positions, events."""
        row = session_row(ctx, session.id)
        rows = [p for p in positions_of(ctx, "raiser") if p.session_id == session.id]
        return [
            (row.status, row.crashed_at, row.crash_reason, row.exception_type, row.traceback),
            *[(p.id, p.status, p.crashed_at, p.crash_reason, p.updated_at) for p in rows],
            *[(e.id, e.kind) for e in events_of(ctx, [p.id for p in rows])],
        ]

    before = snapshot()
    assert [event.kind for event in events_of(ctx, [p.id for p in positions])].count("CRASH") == 2
    # The host saw the run end (several ticks since) and its sweep changed nothing.
    keep_ticking(sweeper, 0.5)
    assert snapshot() == before
    # Marking again, by either path, changes nothing.
    store = ctx.position_store()
    try:
        assert store.sessions.crash(session.id, Crash("marked twice")) is None
        swept = store.sessions.sweep_crashed(default_host_name(), lambda _pid, _started: False)
        assert session.id not in [session_id for session_id, _ in swept]
    finally:
        store.close()
    assert snapshot() == before


# ----- the host was down --------------------------------------------------------------


def test_crash_while_the_host_is_down_is_marked_by_the_next_hosts_startup_sweep(
    ctx: ServiceContext, host: HostProcess
) -> None:
    strategy_id = add_strategy(ctx, "trailer", TRAILER)
    host.start()
    run = wait_trading(ctx, strategy_id, "trailer", None, 3)
    pid = run.pid
    assert pid is not None

    host.kill(signal.SIGKILL)
    assert not is_gone(pid), "the strategy died with the host"
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: is_gone(pid), timeout_secs=5.0, message="strategy gone")
    # Nobody was there to see it.
    (session,) = sessions_of(ctx, "trailer")
    assert session.status == "ACTIVE"
    assert {position.status for position in positions_of(ctx, "trailer")} == {"ACTIVE"}

    host.start()
    wait_until(
        lambda: (
            {position.status for position in positions_of(ctx, "trailer")} == {"CRASHED"} or None
        ),
        timeout_secs=10.0,
        message="positions CRASHED by the restarted host",
    )
    session = session_row(ctx, session.id)
    assert session.status == "CRASHED"
    assert session.crash_reason is not None
    assert "the run ended without ending its session" in session.crash_reason
    assert "without an exit record" in session.crash_reason
    assert len(positions_of(ctx, "trailer")) == 3
    ended = next(r for r in runs_of(ctx, strategy_id) if r.id == run.id)
    assert ended.status == "ended"
    with host.client() as client:
        assert client.post("/api/strategies/trailer/stop").status_code == 200


# ----- a clean stop is not a crash ----------------------------------------------------


def test_stopped_strategy_ends_its_session_keeps_positions_open_and_flushes_updates(
    ctx: ServiceContext, sweeper: Reconciler
) -> None:
    strategy_id = add_strategy(ctx, "polite", POLITE)
    work_dir = ctx.layout.work_dir(strategy_id)

    def queued_a_while() -> bool:
        progress = read_json(work_dir / "progress.json")
        return progress is not None and progress["counter"] >= 10

    wait_until(queued_a_while, step=converge(sweeper), message="polite queueing updates")
    (run,) = runs_of(ctx, strategy_id)
    # Nothing flushed yet: the interval is a minute.
    assert [position.update_count for position in positions_of(ctx, "polite")] == [0, 0]

    strategies.stop(ctx, "polite")
    wait_until(
        lambda: strategies.show(ctx, "polite").state == "stopped",
        step=converge(sweeper),
        message="polite stopped",
    )
    keep_ticking(sweeper, 0.5)  # the sweep runs on every tick; it must leave these alone

    final = read_json(work_dir / "final.json")
    assert final is not None
    queued = final["queued"]
    assert queued >= 10
    (session,) = sessions_of(ctx, "polite")
    assert session.run_id == run.id
    assert session.status == "ENDED"
    assert session.ended_at is not None
    assert session.crashed_at is None
    assert session.crash_reason is None
    positions = positions_of(ctx, "polite")
    assert [position.status for position in positions] == ["ACTIVE", "ACTIVE"]
    for position in positions:
        assert position.crashed_at is None
        # Written once, at exit: everything queued (the SIGTERM may have come in
        # the middle of a round, after this position's update was queued).
        assert position.update_count == 1
        assert queued <= position.state["counter"] <= queued + 1
        assert position.current_price == pytest.approx(100.0 + position.state["counter"] / 100)
    kinds = {event.kind for event in events_of(ctx, [position.id for position in positions])}
    assert "CRASH" not in kinds
    assert runs_of(ctx, strategy_id)[0].end_reason == "stopped"


# ----- standalone ---------------------------------------------------------------------


@pytest.fixture
def standalone(
    ctx: ServiceContext, tmp_path: Path
) -> Iterator[Callable[[], subprocess.Popen[bytes]]]:
    """Start `python script.py` against the host's database, not under the host."""
    started: list[subprocess.Popen[bytes]] = []

    def start() -> subprocess.Popen[bytes]:
        script = tmp_path / "standalone" / "desk.py"
        script.parent.mkdir(parents=True, exist_ok=True)
        script.write_text(STANDALONE)
        environment = {
            key: value for key, value in os.environ.items() if not key.startswith("ALGOVISOR_")
        }
        environment["ALGOVISOR_DATABASE_URL"] = ctx.settings.resolved_database_url
        process = subprocess.Popen(
            [sys.executable, str(script), str(script.parent / "session")],
            env=environment,
            cwd=script.parent,
        )
        started.append(process)
        return process

    yield start
    for process in started:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        process.wait(timeout=5)


def test_standalone_session_whose_process_died_is_marked_by_the_sweep(
    ctx: ServiceContext,
    sweeper: Reconciler,
    standalone: Callable[[], subprocess.Popen[bytes]],
    tmp_path: Path,
) -> None:
    process = standalone()
    session_file = tmp_path / "standalone" / "session"
    wait_until(session_file.exists, message="standalone strategy's positions open")
    session_id = int(session_file.read_text())

    # Alive: the sweep leaves it alone.
    keep_ticking(sweeper, 0.3)
    session = session_row(ctx, session_id)
    assert session.status == "ACTIVE"
    assert session.run_id is None
    assert session.pid == process.pid
    assert session.hostname == default_host_name()

    process.kill()
    process.wait(timeout=5)  # reaped: a zombie would still count as a live pid
    killed = time.monotonic()
    wait_until(
        lambda: session_row(ctx, session_id).status == "CRASHED",
        timeout_secs=5.0,
        step=converge(sweeper),
        message="standalone session CRASHED",
    )
    assert time.monotonic() - killed <= MARKED_WITHIN_SECS
    session = session_row(ctx, session_id)
    assert session.crash_reason == f"process {process.pid} ended without ending its session"
    positions = positions_of(ctx, "desk-standalone")
    assert [(position.symbol, position.status) for position in positions] == [
        ("SBIN", "CRASHED"),
        ("INFY", "CRASHED"),
    ]


# ----- a failing sweep ---------------------------------------------------------------


def test_a_failing_sweep_is_logged_and_never_stops_recovery_or_spawning(
    ctx: ServiceContext, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    reconciler, store = local_reconciler(ctx)
    sweeps: list[str] = []

    def broken_sweep(hostname: str, is_alive: Callable[[int, Any], bool]) -> list[Any]:
        sweeps.append(hostname)
        raise RuntimeError("positions tables unreadable")

    monkeypatch.setattr(reconciler._positions.sessions, "sweep_crashed", broken_sweep)
    try:
        with caplog.at_level(logging.ERROR, logger="algovisor.supervisor.reconciler"):
            reconciler.recover()  # start-up: the sweep fails, recovery goes on
            strategy_id = add_strategy(
                ctx, "sleeper", "import time\nwhile True:\n    time.sleep(0.1)\n"
            )
            wait_until(
                lambda: running_run(ctx, strategy_id),
                step=converge(reconciler),
                message="the strategy spawned despite the failing sweep",
            )
        assert len(sweeps) >= 2  # at start-up, and tried again on every tick
        failures = [
            record
            for record in caplog.records
            if "marking crashed positions sessions failed" in record.getMessage()
        ]
        assert len(failures) == len(sweeps)
        assert all(record.exc_info is not None for record in failures)  # with the traceback
        strategies.stop(ctx, "sleeper")
        wait_until(
            lambda: strategies.show(ctx, "sleeper").state == "stopped",
            step=converge(reconciler),
            message="sleeper stopped",
        )
    finally:
        reconciler.close()
        store.close()
