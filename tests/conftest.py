"""Shared fixtures: a database per test (SQLite file, and PostgreSQL schema when configured),
a service context, an in-process reconciler, and a real `algovisor serve` process.

PostgreSQL runs when ALGOVISOR_TEST_DATABASE_URL is set (CI sets it); each test
gets its own schema, dropped afterwards.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

# Rich sizes the CLI's console when `algovisor.cli.output` is first imported, which under
# pytest-xdist happens in a worker with no terminal: give every process the width the CLI
# tests read their tables at (tests/cli/conftest.py sets the same for each invocation).
os.environ["COLUMNS"] = "400"

import httpx
import psutil
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from algovisor.clock import Clock, SystemClock
from algovisor.contracts.readiness import Readiness
from algovisor.data_layout import DataLayout
from algovisor.schedule.calendar import CalendarBook
from algovisor.schedule.library import load_library_calendars
from algovisor.services import api_keys
from algovisor.services import contracts as contract_service
from algovisor.services.context import ServiceContext
from algovisor.settings import Settings
from algovisor.supervisor.config import SupervisorConfig
from algovisor.supervisor.identity import current_boot_id
from algovisor.supervisor.logfiles import RetentionLimits
from algovisor.supervisor.reconciler import ContractBoard, Reconciler
from algovisor.supervisor.restart_policy import RestartPolicy

POSTGRES_URL = os.environ.get("ALGOVISOR_TEST_DATABASE_URL")
BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "postgresql: runs against the PostgreSQL test server")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if POSTGRES_URL:
        return
    skip = pytest.mark.skip(reason="ALGOVISOR_TEST_DATABASE_URL is not set")
    for item in items:
        if "postgresql" in item.keywords:
            item.add_marker(skip)


@contextlib.contextmanager
def postgres_schema_url(base_url: str) -> Iterator[str]:
    """A URL whose connections use a fresh schema, dropped afterwards."""
    schema = f"t_{uuid.uuid4().hex[:16]}"
    admin = create_engine(base_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(base_url).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'data' / 'algovisor.db'}"
        return
    assert POSTGRES_URL
    with postgres_schema_url(POSTGRES_URL) as url:
        yield url


@pytest.fixture(scope="session")
def calendar_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The library calendars extracted once per test session (it takes seconds: pandas)."""
    path = tmp_path_factory.mktemp("calendars") / "library-cache.json"
    load_library_calendars(path)
    return path


@pytest.fixture
def data_dir(tmp_path: Path, calendar_cache: Path) -> Path:
    path = tmp_path / "data"
    (path / "calendars").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(calendar_cache, DataLayout(path).calendar_cache)
    return path


@pytest.fixture
def script_limit_bytes() -> int:
    """The script size limit; test folders that check it override this with a small one."""
    return Settings().max_script_bytes


@pytest.fixture
def settings(data_dir: Path, database_url: str, script_limit_bytes: int) -> Settings:
    return Settings(
        data_dir=data_dir,
        database_url=database_url,
        reconcile_interval_secs=0.2,
        resource_sample_secs=1.0,
        max_script_bytes=script_limit_bytes,
    )


@contextlib.contextmanager
def exclusive_lock(database_path: Path) -> Iterator[None]:
    """Another process's exclusive transaction on the SQLite file, as a backup tool would."""
    connection = sqlite3.connect(database_path, isolation_level=None)
    connection.execute("BEGIN EXCLUSIVE")
    try:
        yield
    finally:
        connection.execute("ROLLBACK")
        connection.close()


@pytest.fixture
def ctx(settings: Settings) -> Iterator[ServiceContext]:
    context = ServiceContext.open(settings)
    yield context
    context.close()
    kill_processes_of(settings.data_dir)


def kill_processes_of(data_dir: Path) -> None:
    """Kill every strategy process a test started under `data_dir`."""
    marker = str(data_dir)
    for process in psutil.process_iter():
        with contextlib.suppress(psutil.Error):
            if process.environ().get("ALGOVISOR_DATA_DIR") == marker:
                process.kill()


FAST_POLICY = RestartPolicy(
    initial_delay_secs=0.2, factor=2.0, max_delay_secs=1.0, stable_uptime_secs=30.0
)


def contracts_always_ready(
    session: Session, now: datetime, calendars: CalendarBook
) -> Callable[[str], Readiness]:
    """A contract board for tests about something else: every broker's contract is ready."""
    return lambda _broker: Readiness(True, "", now.date())


def make_reconciler(
    ctx: ServiceContext,
    policy: RestartPolicy = FAST_POLICY,
    clock: Clock | None = None,
    resource_sample_secs: float = 0.5,
    contracts: ContractBoard = contracts_always_ready,
) -> Reconciler:
    config = SupervisorConfig(
        host_name="test-host",
        boot_id=current_boot_id(),
        database_url=ctx.settings.resolved_database_url,
        interval_secs=0.1,
        resource_sample_secs=resource_sample_secs,
        log_max_bytes=ctx.settings.log_max_bytes,
        retention=RetentionLimits(50, 30, 1024**3),
        policy=policy,
    )
    return Reconciler(
        ctx.sessions,
        ctx.layout,
        ctx.secrets,
        clock or SystemClock(),
        config,
        os.environ,
        ctx.calendars.current,
        ctx.position_store(),
        contracts,
    )


@pytest.fixture
def reconciler(ctx: ServiceContext) -> Iterator[Reconciler]:
    """An in-process reconciler; tests drive it with `converge()`."""
    instance = make_reconciler(ctx)
    instance.recover()
    yield instance
    instance.close()


def wait_until(
    predicate: Callable[[], object],
    timeout_secs: float = 10.0,
    step: Callable[[], None] | None = None,
    message: str = "condition",
) -> object:
    """Poll `predicate` (running `step` between polls) until it is truthy."""
    deadline = time.monotonic() + timeout_secs
    while True:
        if step is not None:
            step()
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_secs} s waiting for {message}")
        time.sleep(0.05)


def converge(reconciler: Reconciler) -> Callable[[], None]:
    """A `step` for wait_until that ticks the reconciler once."""

    def step() -> None:
        reconciler.tick()
        reconciler.wait(0.05)

    return step


@pytest.fixture
def write_script(tmp_path: Path) -> Callable[[str, str], Path]:
    """Write a strategy script into the test's folder and return its path."""

    def write(name: str, body: str) -> Path:
        path = tmp_path / "scripts" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(body)
        return path

    return write


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class HostProcess:
    """A real `algovisor serve` in its own process, as a trader runs it."""

    def __init__(self, settings: Settings, api_key: str) -> None:
        self.settings = settings
        self.api_key = api_key
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = settings.data_dir.parent / "host-stdout.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def environment(self) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items() if not key.startswith("ALGOVISOR_")}
        env.update(
            ALGOVISOR_DATA_DIR=str(self.settings.data_dir),
            ALGOVISOR_DATABASE_URL=self.settings.resolved_database_url,
            ALGOVISOR_PORT=str(self.port),
            ALGOVISOR_RECONCILE_INTERVAL_SECS="0.2",
            ALGOVISOR_RESOURCE_SAMPLE_SECS="1",
            ALGOVISOR_RESOURCE_HISTORY_SECS="1",  # the strategy page's chart fills at once
        )
        return env

    def start(self, timeout_secs: float = 20.0) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "algovisor", "serve"],
                env=self.environment(),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        wait_until(self._healthy, timeout_secs, message=f"host on {self.url}; see {self.log_path}")

    def _healthy(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"host exited with {self.process.returncode}: {self.output()}")
        try:
            return httpx.get(f"{self.url}/api/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def kill(self, signum: int = signal.SIGKILL) -> None:
        assert self.process is not None
        self.process.send_signal(signum)
        self.process.wait(timeout=30)
        self.process = None

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"X-API-Key": self.api_key}, timeout=10)


@pytest.fixture
def host(ctx: ServiceContext, tmp_path: Path) -> Iterator[HostProcess]:
    """A host process (not yet started: call `host.start()`), with an API key ready.

    The paper broker's contract for the trading day is loaded (from a small file)
    first, so the host starts strategies at once instead of generating ~150k rows;
    a test of that generation deletes it.
    """
    load_small_contract(ctx, tmp_path)
    key, _ = api_keys.create(ctx, "tests")
    instance = HostProcess(ctx.settings, key)
    yield instance
    if instance.process is not None:
        instance.kill(signal.SIGTERM)


ZERODHA_HEADER = (
    "instrument_token,exchange_token,tradingsymbol,name,last_price,expiry,strike,"
    "tick_size,lot_size,instrument_type,segment,exchange"
)


def small_zerodha_csv(path: Path, expiry: str = "2027-12-28") -> Path:
    """A tiny but real-format Zerodha instruments file: loads in milliseconds."""
    lines = [
        ZERODHA_HEADER,
        '256265,1001,NIFTY 50,"NIFTY",0,,0,0,0,EQ,INDICES,NSE',
        '779521,3045,SBIN,"STATE BANK OF INDIA",0,,0,0.05,1,EQ,NSE,NSE',
        f'12345602,48225,NIFTY27DECFUT,"NIFTY",0,{expiry},0,0.1,65,FUT,NFO-FUT,NFO',
        f'12345858,48226,NIFTY27DEC24000CE,"NIFTY",0,{expiry},24000,0.05,65,CE,NFO-OPT,NFO',
        f'12346114,48227,NIFTY27DEC24000PE,"NIFTY",0,{expiry},24000,0.05,65,PE,NFO-OPT,NFO',
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def load_small_contract(ctx: ServiceContext, tmp_path: Path, broker: str = "paper") -> None:
    """Make `broker`'s contract ready for the current trading day, in milliseconds."""
    path = small_zerodha_csv(tmp_path / f"{broker}-contract.csv")
    source = contract_service.choose_source(broker, path, None, "zerodha")
    contract_service.download(ctx, broker, source)
