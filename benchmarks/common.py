"""What every benchmark shares: a throwaway data directory and database, a real
`algovisor serve` process, polling of the database, and printing figures against targets.

Every benchmark runs the host as a trader does (a separate `algovisor serve` process with
the product's default intervals), so the figures include everything a trader would wait for.
Whatever a benchmark starts carries the temporary data directory in ALGOVISOR_DATA_DIR;
cleanup kills every process with that marker, so nothing outlives the run.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

import httpx
import psutil
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from algovisor.contracts.records import Instrument
from algovisor.db.models import Run, Strategy
from algovisor.services import api_keys
from algovisor.services import strategies as strategy_service
from algovisor.services.context import ServiceContext
from algovisor.settings import Settings
from algovisor.supervisor.states import ACTIVE_RUN_STATUSES, Intent

# A strategy that does nothing but sleep. It drops a marker file named after its run id
# in its working directory once it reached its sleep, so a benchmark can tell "the
# process exists" from "the script is running". Only `os` and `time`: both are loaded
# by every interpreter anyway, so the script itself adds nothing to memory figures.
SLEEPING_SCRIPT = """\
import os
import time

marker = "ready-" + os.environ.get("ALGOVISOR_RUN_ID", "bare-%d" % os.getpid())
with open(marker, "w") as handle:
    handle.write(str(os.getpid()))
while True:
    time.sleep(3600)
"""
READY_MARKER_PREFIX = "ready-"

POLL_SECS = 0.005
HOST_START_TIMEOUT_SECS = 60.0


# ----- command line and figures -------------------------------------------------------


def base_parser(
    description: str, repetitions: int, *, database: bool = True
) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    if database:
        parser.add_argument(
            "--database-url",
            default=None,
            help="run on this database instead of SQLite in a temporary data directory; a "
            "PostgreSQL URL gets a fresh schema, dropped at the end "
            "(e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test)",
        )
    parser.add_argument(
        "--repetitions", type=int, default=repetitions, help=f"default {repetitions}"
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the temporary data directory for inspection"
    )
    return parser


@dataclass
class Figure:
    """One measured quantity over the repetitions, with its target when the issue names one."""

    name: str
    unit: str
    values: list[float] = field(default_factory=list)
    target: float | None = None  # an upper bound: lower is better

    def add(self, value: float) -> None:
        self.values.append(value)

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    @property
    def met(self) -> bool:
        return self.target is None or (bool(self.values) and self.median <= self.target)

    def line(self) -> str:
        if not self.values:
            return f"{self.name}: no measurement"
        text_line = (
            f"{self.name}: median {self.median:.3f} {self.unit} "
            f"(min {min(self.values):.3f}, max {max(self.values):.3f}, n={len(self.values)})"
        )
        if self.target is not None:
            verdict = "met" if self.met else "MISSED"
            text_line += f"  target <= {self.target:g} {self.unit}: {verdict}"
        return text_line


def print_figures(title: str, figures: Sequence[Figure], notes: Sequence[str] = ()) -> int:
    """Print the summary; the exit status is 1 when a target was missed."""
    print()
    print(f"== {title}")
    for note in notes:
        print(f"   {note}")
    for figure in figures:
        print(f"   {figure.line()}")
    return 0 if all(figure.met for figure in figures) else 1


def say(message: str) -> None:
    print(message, flush=True)


def run_main(main: Callable[[], int]) -> None:
    """Run a benchmark so that Ctrl-C and SIGTERM still clean up what it started."""

    def terminate(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, terminate)
    try:
        code = main()
    except KeyboardInterrupt:
        print("interrupted; cleaned up", file=sys.stderr)
        code = 130
    sys.exit(code)


def wait_until(
    predicate: Callable[[], object], timeout_secs: float, message: str, poll_secs: float = POLL_SECS
) -> object:
    deadline = time.monotonic() + timeout_secs
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout_secs:.0f} s waiting for {message}")
        time.sleep(poll_secs)


# ----- the environment: data directory, database, API key -------------------------------


@dataclass
class BenchEnvironment:
    root: Path
    data_dir: Path
    ctx: ServiceContext
    api_key: str
    # Polling reads go through a plain engine: on SQLite the product's sessions take the
    # write lock up front, and a benchmark polling every few milliseconds must not
    # compete with the host for it.
    reader: sessionmaker[Session]
    hosts: list[HostProcess] = field(default_factory=list)

    @property
    def database_url(self) -> str:
        return self.ctx.settings.resolved_database_url

    def describe(self) -> str:
        backend = make_url(self.database_url).get_backend_name()
        return f"database: {backend}; data directory: {self.data_dir}"

    def host(self, extra_environment: dict[str, str] | None = None) -> HostProcess:
        instance = HostProcess(self, extra_environment or {})
        self.hosts.append(instance)
        return instance


@contextlib.contextmanager
def bench_environment(database_url: str | None, keep: bool = False) -> Iterator[BenchEnvironment]:
    """A fresh data directory and database; every process started under it dies at the end."""
    root = Path(tempfile.mkdtemp(prefix="algovisor-bench-")).resolve()
    data_dir = root / "data"
    with contextlib.ExitStack() as stack:
        url = database_url
        if url is not None and make_url(url).get_backend_name() == "postgresql":
            url = stack.enter_context(postgres_schema_url(url))
        settings = Settings(data_dir=data_dir, database_url=url)
        ctx = ServiceContext.open(settings)
        stack.callback(ctx.close)
        key, _ = api_keys.create(ctx, "benchmark")
        reader_engine = create_engine(ctx.settings.resolved_database_url)
        stack.callback(reader_engine.dispose)
        environment = BenchEnvironment(root, data_dir, ctx, key, sessionmaker(reader_engine))
        try:
            yield environment
        finally:
            for host in environment.hosts:
                host.stop()
            kill_processes_of(data_dir)
            if keep:
                say(f"kept {root}")
            else:
                shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def postgres_schema_url(base_url: str) -> Iterator[str]:
    """A URL whose connections use a fresh schema, dropped afterwards."""
    schema = f"bench_{uuid.uuid4().hex[:16]}"
    admin = create_engine(base_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(base_url).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            # Every process using the schema was killed before this; never hang on a straggler.
            connection.execute(text("SET lock_timeout = '10s'"))
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def kill_processes_of(data_dir: Path) -> int:
    """Kill every process started under `data_dir` (strategies, hosts, bare scripts)."""
    marker = str(data_dir)
    killed = []
    for process in psutil.process_iter():
        with contextlib.suppress(psutil.Error):
            if process.environ().get("ALGOVISOR_DATA_DIR") == marker:
                process.kill()
                killed.append(process)
    psutil.wait_procs(killed, timeout=5)
    return len(killed)


# ----- strategies and what the database says about them ----------------------------------


def add_strategies(
    environment: BenchEnvironment,
    count: int,
    intent: Intent,
    script: str = SLEEPING_SCRIPT,
    broker: str = "paper",
) -> list[int]:
    """`count` sleeping strategies, added through the services as the CLI would."""
    ids = []
    for number in range(count):
        view = strategy_service.add(
            environment.ctx,
            "sleeper.py",
            script.encode(),
            name=f"sleeper-{number:03d}",
            intent=intent,
            broker=broker,
        )
        ids.append(view.id)
    return ids


def strategy_states(environment: BenchEnvironment) -> dict[int, str]:
    with environment.reader.begin() as session:
        return dict(session.execute(select(Strategy.id, Strategy.state)).tuples().all())


def count_in_state(environment: BenchEnvironment, state: str) -> int:
    return sum(1 for value in strategy_states(environment).values() if value == state)


@dataclass(frozen=True, slots=True)
class ActiveRun:
    run_id: str
    strategy_id: int
    pid: int | None
    status: str
    process_start_time: float | None


def active_runs(environment: BenchEnvironment) -> dict[int, ActiveRun]:
    """The live run of each strategy, by strategy id."""
    with environment.reader.begin() as session:
        rows = session.execute(
            select(Run.id, Run.strategy_id, Run.pid, Run.status, Run.process_start_time).where(
                Run.status.in_(ACTIVE_RUN_STATUSES)
            )
        ).all()
    return {row.strategy_id: ActiveRun(*row) for row in rows}


def count_runs(environment: BenchEnvironment) -> int:
    with environment.reader.begin() as session:
        return int(session.scalar(select(func.count()).select_from(Run)) or 0)


def ready_run_ids(environment: BenchEnvironment) -> set[str]:
    """Run ids whose script reached its sleep (dropped its marker)."""
    strategies_dir = environment.data_dir / "strategies"
    return {
        marker.name.removeprefix(READY_MARKER_PREFIX)
        for marker in strategies_dir.glob(f"*/work/{READY_MARKER_PREFIX}*")
    }


def remove_ready_markers(environment: BenchEnvironment) -> None:
    for marker in (environment.data_dir / "strategies").glob(f"*/work/{READY_MARKER_PREFIX}*"):
        marker.unlink(missing_ok=True)


def wait_all_running_and_ready(
    environment: BenchEnvironment, count: int, timeout_secs: float
) -> dict[int, ActiveRun]:
    """Wait until `count` strategies are running and every script reached its sleep."""

    def settled() -> dict[int, ActiveRun] | None:
        if count_in_state(environment, "running") < count:
            return None
        runs = active_runs(environment)
        ready = ready_run_ids(environment)
        if len(runs) == count and all(run.run_id in ready for run in runs.values()):
            return runs
        return None

    runs = wait_until(settled, timeout_secs, f"{count} strategies running", poll_secs=0.1)
    assert isinstance(runs, dict)
    return runs


# ----- a real host process ----------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class HostProcess:
    """`algovisor serve` in its own process, with the product's default intervals."""

    def __init__(self, environment: BenchEnvironment, extra_environment: dict[str, str]) -> None:
        self.environment = environment
        self.extra_environment = extra_environment
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.stdout_path = environment.root / "host-stdout.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        """The host's own log file (`host.log` in the data directory)."""
        return self.environment.data_dir / "host.log"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def process_environment(self) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items() if not key.startswith("ALGOVISOR_")}
        env.update(
            ALGOVISOR_DATA_DIR=str(self.environment.data_dir),
            ALGOVISOR_DATABASE_URL=self.environment.database_url,
            ALGOVISOR_PORT=str(self.port),
        )
        env.update(self.extra_environment)
        return env

    def launch(self) -> float:
        """Start the process without waiting; returns the monotonic time it was started."""
        with self.stdout_path.open("ab") as log:
            started = time.monotonic()
            self.process = subprocess.Popen(
                [sys.executable, "-m", "algovisor", "serve"],
                env=self.process_environment(),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return started

    def start(self) -> float:
        """Start and wait until the API answers; returns the monotonic start time."""
        started = self.launch()
        self.wait_healthy()
        return started

    def healthy(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise RuntimeError(
                f"host exited with {self.process.returncode}; see {self.stdout_path}:\n"
                + self.stdout_path.read_text(errors="replace")[-3000:]
            )
        try:
            return httpx.get(f"{self.url}/api/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def wait_healthy(self, timeout_secs: float = HOST_START_TIMEOUT_SECS) -> None:
        wait_until(self.healthy, timeout_secs, f"the host on {self.url}", poll_secs=0.02)

    def kill(self, signum: int = signal.SIGKILL) -> None:
        assert self.process is not None
        self.process.send_signal(signum)
        self.process.wait(timeout=30)
        self.process = None

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it does not go; strategies keep running either way."""
        if self.process is None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    def client(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.url, headers={"X-API-Key": self.environment.api_key}, timeout=30
        )


def host_cpu_secs(pid: int) -> float:
    """User plus system CPU time of a process, all its threads included."""
    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


def post(client: httpx.Client, path: str) -> httpx.Response:
    """POST and fail with the API's own explanation when it refuses."""
    response = client.post(path)
    if response.is_error:
        raise RuntimeError(f"POST {path}: {response.status_code} {response.text}")
    return response


# ----- master contracts ----------------------------------------------------------------

KITE_HEADER = (
    "instrument_token,exchange_token,tradingsymbol,name,last_price,expiry,strike,"
    "tick_size,lot_size,instrument_type,segment,exchange"
)
ZERODHA_SEGMENTS = {
    "NSE": ("NSE", "NSE"),
    "BSE": ("BSE", "BSE"),
    "NSE_INDEX": ("INDICES", "NSE"),
    "BSE_INDEX": ("INDICES", "BSE"),
    "MCX": ("MCX", "MCX"),
}


def write_zerodha_csv(rows: list[Instrument], path: Path) -> None:
    """The paper contract as Kite's instruments CSV (Kite's own tradingsymbols are ours here)."""
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(KITE_HEADER.split(","))
        for row in rows:
            kind = "EQ" if row.instrument_type == "INDEX" else row.instrument_type
            default_segment = f"{row.exchange}-{'FUT' if kind == 'FUT' else 'OPT'}"
            segment, exchange = ZERODHA_SEGMENTS.get(row.exchange, (default_segment, row.exchange))
            writer.writerow(
                [
                    row.token,
                    row.token,
                    row.broker_symbol,
                    row.name,
                    0,
                    row.expiry.isoformat() if row.expiry else "",
                    f"{row.strike:g}" if row.strike is not None else 0,
                    f"{row.tick_size:g}",
                    row.lot_size,
                    kind,
                    segment,
                    exchange,
                ]
            )
