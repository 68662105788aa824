"""The positions SDK (issue 5): queueing, entry and exit, staleness, batch flush, import cost.

Measured in this process through `PositionPersistenceManager` and `PositionStore`
(the strategy's side), on SQLite (WAL) in a temporary directory and, with
`--postgres URL`, also on PostgreSQL in a fresh schema, dropped at the end:

- queue: `queue_position_update(id, current_price=..., state={"counter": i})`
  on the caller's thread, 100 open positions, the writer thread flushing every
  100 ms meanwhile; each call timed with `perf_counter_ns` (the timer's own
  cost, measured the same way, is subtracted and printed); p50, p99, p99.9 of
  each 100k-call round. Also the same with `current_price` alone;
- entry and exit: `save_position_entry` and full `save_position_exit`, each
  durable before it returns; p50 and p99 of each round. Also a one-row read in
  its own transaction: the floor of any call that goes to the database;
- staleness: 1,000 open positions, each updated 10 times a second (10,000
  `queue_position_update` calls a second, round robin, `current_price` carrying
  a sequence number, `state` a counter), `flush_interval_ms=100`. A separate
  process polls the table every 2 ms on its own connection and notes when it
  first sees each value. An update's staleness is the time from queueing it
  until the database shows it or a newer value of the same position (the end
  of the poll that saw it: an upper bound, off by at most the poll time); the
  first second is left out as warm-up. Also the writer's batch size and time;
- flush: 1,000 positions with one queued update each (writer thread idle,
  `flush_interval_ms` at its maximum), then `manager.flush()` timed: one
  transaction. In the same run, the same 1,000 changes written one commit per
  position (`store.write_updates({id: fields})` 1,000 times) and the ratio;
- import: fresh `python -c` processes (interleaved, medians): time of
  `from algovisor.sdk import PositionPersistenceManager` inside the process and
  RSS after it, against a bare process reading its RSS at the same point;
  then RSS and time after constructing a manager on an existing database and
  writing one entry; and `import algovisor.db.models` (the host's ORM path) for
  comparison. The original design's manager added 32 MB and 189 ms.

Objects that exist before the first measurement (this process's imports, far more
than a strategy's) are frozen out of the garbage collector (`gc.freeze()`), so
collector pauses reflect what the SDK allocates, not the benchmark's imports.

Every round is repeated (`--repetitions`); figures are medians over the rounds,
with their min and max. Other processes on the machine show in every figure.
"""

from __future__ import annotations

import contextlib
import gc
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

if __package__ in (None, ""):  # run as `python benchmarks/bench_positions.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


from algovisor.db.engine import make_engine
from algovisor.db.migrate import upgrade
from algovisor.positions.database import Connection, Dialect
from algovisor.positions.store import PositionStore
from algovisor.sdk import PositionPersistenceManager
from benchmarks.common import (
    Figure,
    base_parser,
    postgres_schema_url,
    print_figures,
    run_main,
    say,
)

TARGET_QUEUE_P99_US = 5.0
TARGET_ENTRY_EXIT_P50_MS = 0.5  # on SQLite WAL
TARGET_STALENESS_P99_MS = 100.0
TARGET_FLUSH_MS = 20.0
QUEUE_POSITIONS = 100
QUEUE_CALLS = 100_000
ENTRIES = 200
STALE_POSITIONS = 1000
STALE_HZ = 10
STALE_WARMUP_SECS = 1.0
FLUSH_POSITIONS = 1000
MEGABYTE = 1024 * 1024

# Polls the positions of one session and prints, for each sequence number seen
# in current_price, the monotonic time at the end of the poll that first saw it.
# CLOCK_MONOTONIC is the same clock in every process, so the times compare.
READER_SCRIPT = """\
import os, sys, time
kind, where, session_id, stop_file = sys.argv[1:5]
if kind == "sqlite":
    import sqlite3
    connection = sqlite3.connect(where, isolation_level=None)
    query = "SELECT current_price FROM strategy_positions WHERE session_id = ?"
    parameters = (int(session_id),)
else:
    import psycopg
    connection = psycopg.connect(where, autocommit=True)
    query = "SELECT current_price FROM strategy_positions WHERE session_id = %s"
    parameters = (int(session_id),)
seen = {}
polls = []
while not os.path.exists(stop_file):
    started = time.monotonic()
    rows = connection.execute(query, parameters).fetchall()
    ended = time.monotonic()
    polls.append(ended - started)
    for (price,) in rows:
        if price is not None and price not in seen:
            seen[price] = ended
    time.sleep(0.002)
out = sys.stdout
out.write("polls %d %.9f\\n" % (len(polls), sorted(polls)[len(polls) // 2] if polls else 0))
for price, at in seen.items():
    out.write("%d %.9f\\n" % (round(price), at))
"""

# Run in a fresh interpreter: <statement> is timed; RSS is read from /proc afterwards.
IMPORT_PROBE = """\
import sys, time
started = time.perf_counter()
{statement}
imported = time.perf_counter()
{after}
done = time.perf_counter()
def memory(field):
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field):
                return int(line.split()[1])
    return 0
print((imported - started) * 1000, (done - imported) * 1000, memory("VmRSS:"),
      memory("VmHWM:"), int("sqlalchemy" in sys.modules), len(sys.modules))
"""
MANAGER_AFTER = """\
manager = PositionPersistenceManager(strategy_name="import-probe", database_url={url!r})
manager.save_position_entry("SBIN", "NSE", "BUY", 1, 100.0, stop_price=99.0)
"""


def now() -> datetime:
    return datetime.now(UTC)


def percentile(ordered: list[float] | list[int], fraction: float) -> float:
    """Nearest-rank percentile of an already sorted list."""
    index = min(len(ordered) - 1, max(0, math.ceil(fraction * len(ordered)) - 1))
    return float(ordered[index])


@dataclass
class Backend:
    name: str
    url: str  # what the SDK takes (SQLAlchemy form)
    reader_kind: str  # "sqlite" or "postgresql"
    reader_where: str  # a file path or a psycopg conninfo

    @property
    def is_sqlite(self) -> bool:
        return self.reader_kind == "sqlite"


def new_manager(backend: Backend, name: str, flush_interval_ms: float = 100) -> Any:
    manager = PositionPersistenceManager(
        strategy_name=name,
        broker="paper",
        flush_interval_ms=flush_interval_ms,
        database_url=backend.url,
    )
    manager.start_session()
    return manager


def enter(manager: Any, count: int, tag: str) -> list[int]:
    return [
        manager.save_position_entry(
            f"{tag}{number}", "NSE", "BUY", 10, 100.0, stop_price=95.0, state={"counter": 0}
        )
        for number in range(count)
    ]


# ----- databases ----------------------------------------------------------------------


def create_schema(url: str) -> None:
    engine = make_engine(url)
    try:
        upgrade(engine)
    finally:
        engine.dispose()


@contextlib.contextmanager
def sqlite_backend(root: Path) -> Iterator[Backend]:
    path = root / "algovisor.db"
    url = f"sqlite:///{path}"
    create_schema(url)
    yield Backend("SQLite", url, "sqlite", str(path))


@contextlib.contextmanager
def postgres_backend(base_url: str) -> Iterator[Backend]:
    """A fresh schema (the URL's search_path), dropped afterwards."""
    with postgres_schema_url(base_url) as url:
        create_schema(url)
        conninfo = urlsplit(url)._replace(scheme="postgresql").geturl()
        yield Backend("PostgreSQL", url, "postgresql", conninfo)


# ----- 1. queue_position_update on the caller's thread ---------------------------------


def timer_overhead_ns(calls: int) -> float:
    clock = time.perf_counter_ns
    durations = [0] * calls
    for index in range(calls):
        started = clock()
        ended = clock()
        durations[index] = ended - started
    return statistics.median(durations)


def queue_round(manager: Any, ids: list[int], with_state: bool) -> list[int]:
    clock = time.perf_counter_ns
    queue = manager.queue_position_update
    count = len(ids)
    prices = [100.0 + step * 0.05 for step in range(50)]
    durations = [0] * QUEUE_CALLS
    if with_state:
        for index in range(QUEUE_CALLS):
            position_id = ids[index % count]
            price = prices[index % 50]
            state = {"counter": index}
            started = clock()
            queue(position_id, current_price=price, state=state)
            ended = clock()
            durations[index] = ended - started
    else:
        for index in range(QUEUE_CALLS):
            position_id = ids[index % count]
            price = prices[index % 50]
            started = clock()
            queue(position_id, current_price=price)
            ended = clock()
            durations[index] = ended - started
    durations.sort()
    return durations


def measure_queue(backend: Backend, repetitions: int) -> list[Figure]:
    target = TARGET_QUEUE_P99_US
    p50 = Figure("queue_position_update p50 (current_price + state)", "µs")
    p99 = Figure("queue_position_update p99 (current_price + state)", "µs", target=target)
    p999 = Figure("queue_position_update p99.9 (current_price + state)", "µs")
    price_p50 = Figure("queue_position_update p50 (current_price only)", "µs")
    price_p99 = Figure("queue_position_update p99 (current_price only)", "µs", target=target)
    overhead = Figure("perf_counter_ns pair (subtracted above)", "µs")
    manager = new_manager(backend, "bench-queue", flush_interval_ms=100)
    try:
        ids = enter(manager, QUEUE_POSITIONS, "Q")
        queue_round(manager, ids, with_state=True)  # warm-up
        for repetition in range(repetitions):
            timer = timer_overhead_ns(QUEUE_CALLS)
            overhead.add(timer / 1000)
            durations = queue_round(manager, ids, with_state=True)
            p50.add((percentile(durations, 0.50) - timer) / 1000)
            p99.add((percentile(durations, 0.99) - timer) / 1000)
            p999.add((percentile(durations, 0.999) - timer) / 1000)
            plain = queue_round(manager, ids, with_state=False)
            price_p50.add((percentile(plain, 0.50) - timer) / 1000)
            price_p99.add((percentile(plain, 0.99) - timer) / 1000)
            say(
                f"  queue round {repetition + 1}: p50 {p50.values[-1]:.2f} µs, "
                f"p99 {p99.values[-1]:.2f} µs, p99.9 {p999.values[-1]:.2f} µs, "
                f"max {(durations[-1] - timer) / 1000:.0f} µs; price only p99 "
                f"{price_p99.values[-1]:.2f} µs (timer {timer:.0f} ns)"
            )
        manager.flush()
    finally:
        manager.close()
    return [p50, p99, p999, price_p50, price_p99, overhead]


# ----- 2. entries and exits --------------------------------------------------------------


def measure_entry_exit(backend: Backend, repetitions: int) -> list[Figure]:
    target = TARGET_ENTRY_EXIT_P50_MS if backend.is_sqlite else None
    entry_p50 = Figure("save_position_entry p50", "ms", target=target)
    entry_p99 = Figure("save_position_entry p99", "ms")
    exit_p50 = Figure("save_position_exit p50", "ms", target=target)
    exit_p99 = Figure("save_position_exit p99", "ms")
    read_p50 = Figure(
        "one-row read in its own transaction p50 (the floor of a database call)", "ms"
    )
    clock = time.perf_counter
    manager = new_manager(backend, "bench-entry-exit")
    store = PositionStore(Connection(Dialect.from_url(backend.url)), now)
    try:
        session_id = manager.session_id
        enter(manager, 20, "W")  # warm-up
        for repetition in range(repetitions):
            entries, exits, reads, ids = [], [], [], []
            for number in range(ENTRIES):
                started = clock()
                position_id = manager.save_position_entry(
                    f"E{number}",
                    "NFO",
                    "SELL",
                    50,
                    210.5,
                    product="NRML",
                    stop_price=230.0,
                    target_price=150.0,
                    leg="short-call",
                    state={"high_water": 210.5, "trail": 0.004},
                    client_order_id=f"r{repetition}-{number}-{uuid.uuid4().hex[:8]}",
                )
                entries.append(clock() - started)
                ids.append(position_id)
            for position_id in ids:
                started = clock()
                manager.save_position_exit(position_id, 200.25, "target hit")
                exits.append(clock() - started)
            for _ in range(ENTRIES):
                started = clock()
                store.sessions.status(session_id)
                reads.append(clock() - started)
            for values in (entries, exits, reads):
                values.sort()
            entry_p50.add(percentile(entries, 0.5) * 1000)
            entry_p99.add(percentile(entries, 0.99) * 1000)
            exit_p50.add(percentile(exits, 0.5) * 1000)
            exit_p99.add(percentile(exits, 0.99) * 1000)
            read_p50.add(percentile(reads, 0.5) * 1000)
            say(
                f"  entry/exit round {repetition + 1}: entry p50 {entry_p50.values[-1]:.3f} ms "
                f"p99 {entry_p99.values[-1]:.3f} ms; exit p50 {exit_p50.values[-1]:.3f} ms "
                f"p99 {exit_p99.values[-1]:.3f} ms; one-row read {read_p50.values[-1]:.3f} ms"
            )
    finally:
        store.close()
        manager.close()
    return [entry_p50, entry_p99, exit_p50, exit_p99, read_p50]


# ----- 3. staleness in the database ------------------------------------------------------


def timed_writes(manager: Any) -> tuple[list[float], list[int]]:
    """Wrap the writer's batch write to note each batch's time and size (instrumentation)."""
    writer = manager._writer
    inner: Callable[[dict[int, Any]], None] = writer._write
    durations: list[float] = []
    sizes: list[int] = []

    def write(batch: dict[int, Any]) -> None:
        started = time.perf_counter()
        inner(batch)
        durations.append(time.perf_counter() - started)
        sizes.append(len(batch))

    writer._write = write
    return durations, sizes


def drive(manager: Any, ids: list[int], seconds: float) -> tuple[list[float], float]:
    """Queue STALE_HZ updates a second per position, round robin; returns queue times by seq."""
    rate = len(ids) * STALE_HZ
    total = int(seconds * rate)
    queued_at = [0.0] * total
    queue = manager.queue_position_update
    monotonic = time.monotonic
    count = len(ids)
    sequence = 0
    worst_lag = 0.0
    start = monotonic()
    while sequence < total:
        due = min(total, int((monotonic() - start) * rate) + 1)
        worst_lag = max(worst_lag, (due - sequence) / rate)
        while sequence < due:
            queued_at[sequence] = monotonic()
            # current_price carries the sequence number (+1: prices are positive).
            queue(
                ids[sequence % count], current_price=float(sequence + 1), state={"tick": sequence}
            )
            sequence += 1
        time.sleep(0.001)
    return queued_at, worst_lag


def staleness_round(
    backend: Backend, seconds: float, flush_interval_ms: float, root: Path
) -> dict[str, float]:
    manager = new_manager(backend, "bench-staleness", flush_interval_ms=flush_interval_ms)
    stop_file = root / f"stop-{uuid.uuid4().hex[:8]}"
    reader = None
    try:
        ids = enter(manager, STALE_POSITIONS, "S")
        manager.flush()
        durations, sizes = timed_writes(manager)
        reader = subprocess.Popen(
            [
                sys.executable,
                "-c",
                READER_SCRIPT,
                backend.reader_kind,
                backend.reader_where,
                str(manager.session_id),
                str(stop_file),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        time.sleep(0.5)  # the reader is connected and polling
        queued_at, worst_lag = drive(manager, ids, seconds)
        time.sleep(0.5)  # the last batch is written and seen
        stop_file.touch()
        output, _ = reader.communicate(timeout=60)
    finally:
        if reader is not None and reader.poll() is None:
            reader.kill()
            reader.wait()
        stop_file.unlink(missing_ok=True)
        manager.close()
    lines = output.splitlines()
    _, polls, poll_median = lines[0].split()
    seen = {}
    for line in lines[1:]:
        price, at = line.split()
        seen[int(price) - 1] = float(at)
    count = len(ids)
    warm_until = queued_at[0] + STALE_WARMUP_SECS
    staleness = []
    unresolved = 0
    for first in range(count):
        # This position's updates newest first: each is visible once it, or a later
        # value of the same position, was seen (a coalesced update counts until then).
        visible = math.inf
        for sequence in range(first + ((len(queued_at) - 1 - first) // count) * count, -1, -count):
            visible = min(visible, seen.get(sequence, math.inf))
            if queued_at[sequence] < warm_until:
                break
            if visible == math.inf:
                unresolved += 1
            else:
                staleness.append(visible - queued_at[sequence])
    staleness.sort()
    batch_times = sorted(durations)
    return {
        "p50": percentile(staleness, 0.5) * 1000,
        "p99": percentile(staleness, 0.99) * 1000,
        "max": staleness[-1] * 1000,
        "updates": len(staleness),
        "unresolved": unresolved,
        "batch_p50": percentile(batch_times, 0.5) * 1000,
        "batch_p99": percentile(batch_times, 0.99) * 1000,
        "batch_size": statistics.median(sizes),
        "batches_per_sec": len(durations) / seconds,
        "driver_lag": worst_lag * 1000,
        "polls": float(polls),
        "poll_ms": float(poll_median) * 1000,
    }


def measure_staleness(
    backend: Backend, runs: int, seconds: float, flush_interval_ms: float, root: Path
) -> list[Figure]:
    what = f"1,000 positions x 10 updates/s, flush every {flush_interval_ms:g} ms"
    p50 = Figure(f"staleness p50, {what}", "ms")
    # The target is for the default interval.
    target = TARGET_STALENESS_P99_MS if flush_interval_ms == 100 else None
    p99 = Figure(f"staleness p99, {what}", "ms", target=target)
    worst = Figure("staleness max", "ms")
    batch = Figure("writer batch (~1,000 positions) write time p50", "ms")
    batch99 = Figure("writer batch write time p99", "ms")
    for run in range(runs):
        result = staleness_round(backend, seconds, flush_interval_ms, root)
        p50.add(result["p50"])
        p99.add(result["p99"])
        worst.add(result["max"])
        batch.add(result["batch_p50"])
        batch99.add(result["batch_p99"])
        say(
            f"  staleness run {run + 1}: p50 {result['p50']:.1f} ms, p99 {result['p99']:.1f} ms, "
            f"max {result['max']:.1f} ms over {result['updates']:.0f} updates "
            f"({result['unresolved']:.0f} never seen); writer: {result['batches_per_sec']:.1f} "
            f"batches/s of {result['batch_size']:.0f} positions, {result['batch_p50']:.1f} ms "
            f"(p99 {result['batch_p99']:.1f} ms); driver behind schedule at most "
            f"{result['driver_lag']:.1f} ms; reader {result['polls']:.0f} polls, "
            f"{result['poll_ms']:.2f} ms each"
        )
    return [p50, p99, worst, batch, batch99]


# ----- 4. flushing 1,000 changed positions -----------------------------------------------


def measure_flush(backend: Backend, repetitions: int, naive_repetitions: int) -> list[Figure]:
    batched = Figure("manager.flush(), 1,000 changed positions, one transaction", "ms")
    batched.target = TARGET_FLUSH_MS
    naive = Figure("same 1,000 changes, one commit per position", "ms")
    ratio = Figure("one commit per position / one transaction", "x")
    clock = time.perf_counter
    # The writer thread sleeps a minute between rounds: flush() alone writes.
    manager = new_manager(backend, "bench-flush", flush_interval_ms=60_000)
    store = PositionStore(Connection(Dialect.from_url(backend.url)), now)
    try:
        ids = enter(manager, FLUSH_POSITIONS, "F")
        manager.flush()
        for repetition in range(max(repetitions, naive_repetitions)):
            price = 100.0 + repetition
            if repetition < repetitions:
                for position_id in ids:
                    manager.queue_position_update(
                        position_id, current_price=price, state={"counter": repetition}
                    )
                started = clock()
                manager.flush()
                batched.add((clock() - started) * 1000)
            if repetition < naive_repetitions:
                started = clock()
                for position_id in ids:
                    store.write_updates(
                        {position_id: {"current_price": price + 0.5, "state": {"counter": 1}}}
                    )
                naive.add((clock() - started) * 1000)
            if batched.values and naive.values and repetition < min(repetitions, naive_repetitions):
                ratio.add(naive.values[-1] / batched.values[-1])
            parts = []
            if repetition < repetitions:
                parts.append(f"one transaction {batched.values[-1]:.2f} ms")
            if repetition < naive_repetitions:
                parts.append(f"one commit per position {naive.values[-1]:.1f} ms")
            say(f"  flush round {repetition + 1}: " + "; ".join(parts))
    finally:
        store.close()
        manager.close()
    return [batched, naive, ratio]


# ----- 5. import cost in a fresh process ---------------------------------------------------


def probe(statement: str, after: str, cwd: Path) -> tuple[float, list[float]]:
    environment = {
        key: value for key, value in os.environ.items() if not key.startswith("ALGOVISOR_")
    }
    started = time.perf_counter()
    finished = subprocess.run(
        [sys.executable, "-c", IMPORT_PROBE.format(statement=statement, after=after)],
        capture_output=True,
        text=True,
        env=environment,
        cwd=cwd,
        check=False,
    )
    wall = time.perf_counter() - started
    if finished.returncode != 0:
        raise RuntimeError(f"probe {statement!r} failed:\n{finished.stderr}")
    return wall, [float(value) for value in finished.stdout.split()]


def measure_import(
    backends: list[Backend], runs: int, root: Path
) -> tuple[list[Figure], list[str]]:
    sdk = "from algovisor.sdk import PositionPersistenceManager"
    variants: dict[str, tuple[str, str]] = {
        "bare": ("pass", ""),
        "sdk": (sdk, ""),
        "orm": ("import algovisor.db.models", ""),
    }
    for backend in backends:
        variants[f"manager {backend.name}"] = (sdk, MANAGER_AFTER.format(url=backend.url))
    results: dict[str, list[tuple[float, list[float]]]] = {name: [] for name in variants}
    for _ in range(runs):
        for name, (statement, after) in variants.items():
            results[name].append(probe(statement, after, root))

    def median_of(name: str, index: int) -> float:
        return statistics.median(values[index] for _, values in results[name])

    bare_rss = [values[2] / 1024 for _, values in results["bare"]]
    bare_wall = [wall * 1000 for wall, _ in results["bare"]]
    figures = []
    sdk_time = Figure("`from algovisor.sdk import PositionPersistenceManager`, in process", "ms")
    sdk_rss = Figure("RSS added by that import (vs bare process)", "MB")
    sdk_wall = Figure("process wall time added by that import (vs `python -c pass`)", "ms")
    for run, (wall, values) in enumerate(results["sdk"]):
        sdk_time.add(values[0])
        sdk_rss.add(values[2] / 1024 - bare_rss[run])
        sdk_wall.add(wall * 1000 - bare_wall[run])
    figures += [sdk_time, sdk_rss, sdk_wall]
    for backend in backends:
        name = f"manager {backend.name}"
        rss = Figure(f"RSS added: import + manager + one entry ({backend.name})", "MB")
        spent = Figure(f"time: import + manager + one entry ({backend.name})", "ms")
        for run, (_, values) in enumerate(results[name]):
            rss.add(values[2] / 1024 - bare_rss[run])
            spent.add(values[0] + values[1])
        figures += [rss, spent]
    orm_time = Figure("`import algovisor.db.models` (the host's ORM path), in process", "ms")
    orm_rss = Figure("RSS added by the ORM import (vs bare process)", "MB")
    for run, (_, values) in enumerate(results["orm"]):
        orm_time.add(values[0])
        orm_rss.add(values[2] / 1024 - bare_rss[run])
    figures += [orm_time, orm_rss]
    notes = [
        f"bare `python -c`: RSS {statistics.median(bare_rss):.1f} MB, "
        f"wall {statistics.median(bare_wall):.1f} ms, {median_of('bare', 5):.0f} modules",
        f"after the SDK import: {median_of('sdk', 5):.0f} modules, sqlalchemy loaded: "
        f"{'yes' if median_of('sdk', 4) else 'no'}",
    ]
    for backend in backends:
        name = f"manager {backend.name}"
        notes.append(
            f"manager + entry on {backend.name}: {median_of(name, 5):.0f} modules, sqlalchemy "
            f"loaded: {'yes' if median_of(name, 4) else 'no'}, peak RSS "
            f"{median_of(name, 3) / 1024:.1f} MB"
        )
    notes.append(
        f"ORM import: {median_of('orm', 5):.0f} modules, RSS {median_of('orm', 2) / 1024:.1f} MB"
    )
    return figures, notes


# ----- the run ------------------------------------------------------------------------------


SECTIONS = ("queue", "entry", "staleness", "flush", "import")


def main() -> int:
    parser = base_parser(__doc__ or "", repetitions=5, database=False)
    parser.add_argument(
        "--postgres",
        "--database-url",
        dest="postgres",
        default=None,
        metavar="URL",
        help="also run on PostgreSQL, in a fresh schema dropped at the end "
        "(e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test)",
    )
    parser.add_argument(
        "--staleness-runs", type=int, default=3, help="staleness runs per database (default 3)"
    )
    parser.add_argument(
        "--staleness-secs", type=float, default=10.0, help="length of each (default 10 s)"
    )
    parser.add_argument(
        "--flush-interval-ms",
        type=float,
        default=100.0,
        help="the staleness runs' flush_interval_ms (default 100, the target's)",
    )
    parser.add_argument(
        "--naive-repetitions",
        type=int,
        default=3,
        help="rounds of the one-commit-per-position loop (default 3)",
    )
    parser.add_argument(
        "--import-runs", type=int, default=10, help="fresh processes per variant (default 10)"
    )
    parser.add_argument(
        "--only",
        default=",".join(SECTIONS),
        help=f"comma-separated subset of {', '.join(SECTIONS)} (default all)",
    )
    arguments = parser.parse_args()
    sections = {part.strip() for part in arguments.only.split(",") if part.strip()}
    unknown = sections - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections: {', '.join(sorted(unknown))}")
    # This process imports far more than a strategy does (SQLAlchemy, the services,
    # httpx): left in the collector's view, each full collection (tens of ms, the
    # GIL held) would stall the writer and the caller for the benchmark's own sake.
    gc.collect()
    gc.freeze()
    root = Path(tempfile.mkdtemp(prefix="algovisor-bench-")).resolve()
    status = 0
    table: dict[str, dict[str, Figure]] = {}
    try:
        with contextlib.ExitStack() as stack:
            backends = [stack.enter_context(sqlite_backend(root))]
            if arguments.postgres:
                backends.append(stack.enter_context(postgres_backend(arguments.postgres)))
            for backend in backends:
                figures: list[Figure] = []
                say(f"== {backend.name}")
                if "queue" in sections:
                    figures += measure_queue(backend, arguments.repetitions)
                if "entry" in sections:
                    figures += measure_entry_exit(backend, arguments.repetitions)
                if "flush" in sections:
                    figures += measure_flush(
                        backend, arguments.repetitions, arguments.naive_repetitions
                    )
                if "staleness" in sections:
                    figures += measure_staleness(
                        backend,
                        arguments.staleness_runs,
                        arguments.staleness_secs,
                        arguments.flush_interval_ms,
                        root,
                    )
                gc.collect()
                status |= print_figures(f"positions SDK on {backend.name}", figures)
                for figure in figures:
                    table.setdefault(figure.name, {})[backend.name] = figure
            if "import" in sections:
                say("== import cost (fresh processes)")
                figures, notes = measure_import(backends, arguments.import_runs, root)
                status |= print_figures("the SDK in a fresh strategy process", figures, notes)
                for figure in figures:
                    # "... (PostgreSQL)" goes to that column, one row per measure.
                    row, _, column = figure.name.rpartition(" (")
                    if column.rstrip(")") in {backend.name for backend in backends}:
                        table.setdefault(row, {})[column.rstrip(")")] = figure
                    else:
                        table.setdefault(figure.name, {})["any"] = figure
    finally:
        if arguments.keep:
            say(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    print_table(table, [backend.name for backend in backends])
    return status


def print_table(table: dict[str, dict[str, Figure]], names: list[str]) -> None:
    """Medians as a Markdown table, ready for benchmarks/README.md."""
    print()
    print("| figure | " + " | ".join(names) + " | target |")
    print("|---" * (len(names) + 2) + "|")
    for figure_name, by_backend in table.items():
        cells = []
        target = "none"
        for name in names:
            # Figures that are not per database (imports): in the first column.
            figure = by_backend.get(name) or (by_backend.get("any") if name == names[0] else None)
            if figure is None or not figure.values:
                cells.append("")
                continue
            if figure.target is not None:
                target = f"≤ {figure.target:g} {figure.unit}"
            cells.append(f"{figure.median:.3g} {figure.unit}")
        print(f"| {figure_name} | " + " | ".join(cells) + f" | {target} |")


if __name__ == "__main__":
    run_main(main)
