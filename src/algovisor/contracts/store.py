"""Contracts in the database: attempts, generations, the atomic swap, and reading rows back.

Readers only ever see the generation the status row names. A load writes the
next generation beside it (its staging rows), and the swap is one update of the
status row in the same transaction that checks the attempt still owns the
broker; old and orphaned generations are deleted afterwards.
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import psutil
from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    and_,
    delete,
    literal_column,
    select,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from algovisor.contracts.records import Instrument
from algovisor.contracts.sources import Source
from algovisor.db.models import MasterContractRow, MasterContractStatus
from algovisor.errors import ConflictError
from algovisor.schedule.calendar import INDIA
from algovisor.security.encryption import SecretBox

ROW_COLUMNS = (
    "symbol",
    "broker_symbol",
    "name",
    "exchange",
    "broker_exchange",
    "token",
    "expiry",
    "strike",
    "lot_size",
    "instrument_type",
    "tick_size",
)


TABLE = MasterContractRow.__tablename__
BULK_CACHE_KIB = 64 * 1024
DELETE_CHUNK_ROWS = 10_000


class ContractBusyError(ConflictError):
    """Another download of this broker's contract is under way."""


class AttemptLostError(ConflictError):
    """This attempt no longer owns the broker: it was declared stuck or replaced."""


def status_row(
    session: Session, broker: str, now: datetime, *, for_update: bool = False
) -> MasterContractStatus:
    row = session.get(MasterContractStatus, broker, with_for_update=for_update)
    if row is None:
        row = MasterContractStatus(
            broker=broker,
            status="pending",
            message="not downloaded yet",
            last_updated=now,
            total_symbols=0,
            is_ready=False,
            generation=0,
            last_generation=0,
            exchange_counts={},
            rows_rejected=0,
            rejections={},
            step_secs={},
            progress_bytes=0,
            failures=0,
        )
        session.add(row)
        try:
            with session.begin_nested():
                session.flush()
        except IntegrityError:  # another process created it this instant
            raise ContractBusyError(
                f"another download of the {broker} contract has just started; try again"
            ) from None
    return row


@dataclass(frozen=True)
class Attempt:
    """One claim on a broker: its id, and the generation number its rows get."""

    id: str
    generation: int


def begin_attempt(
    session: Session, broker: str, source: Source, now: datetime, deadline_secs: float
) -> Attempt:
    """Claim the broker for one download; refuses while another is live.

    The status row is locked while claiming (PostgreSQL: FOR UPDATE; SQLite takes
    the write lock up front), so two claims never both succeed, and the generation
    number comes from a counter on it, so no two attempts ever share one.
    """
    row = status_row(session, broker, now, for_update=True)
    if attempt_in_progress(row, now):
        started = row.attempt_started_at.astimezone(INDIA) if row.attempt_started_at else None
        raise ContractBusyError(
            f"a download of the {broker} contract is already under way "
            f"(step {row.attempt_step}, started {started:%H:%M:%S} IST); "
            "wait for it, or for its deadline"
        )
    attempt = Attempt(uuid.uuid4().hex, row.last_generation + 1)
    row.last_generation = attempt.generation
    row.status = "downloading"
    row.message = f"downloading from {source.describe()}"
    row.last_updated = now
    row.attempt_id = attempt.id
    row.attempt_started_at = now
    row.attempt_deadline_at = now + timedelta(seconds=deadline_secs)
    row.attempt_step = "download"
    row.attempt_owner = this_process()
    row.progress_bytes = 0
    row.progress_total_bytes = None
    return attempt


def remember_source(row: MasterContractStatus, source: Source, secrets: SecretBox) -> None:
    """The source of the contract in force, for the host's refreshes; its key encrypted."""
    row.source_kind, row.source_format = source.kind, source.format
    row.source_location = source.location
    row.source_secret = secrets.encrypt(source.api_key) if source.api_key else None


def refreshed_by_host(broker: str, row: MasterContractStatus | None) -> bool:
    """Whether the host refreshes this broker's contract by itself.

    Yes for one that came from a URL or the generator, and for the paper broker
    until a file is loaded for it; never for a file: only the trader has the next one.
    """
    kind = row.source_kind if row is not None else None
    return kind in ("paper", "url") or (kind is None and broker == "paper")


def loaded_from_file(row: MasterContractStatus | None) -> bool:
    """Whether the contract in force was read from a file the trader gave (never refreshed)."""
    return row is not None and row.source_kind == "file"


def remembered_source(
    row: MasterContractStatus | None, secrets: SecretBox | None = None
) -> Source | None:
    """The source the broker's contract was last fetched from; its key only given `secrets`."""
    if row is None or not row.source_kind:
        return None
    key = secrets.decrypt(row.source_secret) if secrets and row.source_secret else None
    return Source(row.source_kind, row.source_format or "", row.source_location, key)


def owned(session: Session, broker: str, attempt_id: str) -> MasterContractStatus:
    """The status row, locked, if this attempt still owns the broker."""
    row = session.get(MasterContractStatus, broker, with_for_update=True)
    if row is None or row.attempt_id != attempt_id or row.status != "downloading":
        raise AttemptLostError(
            f"the {broker} download was declared stuck or replaced by another; "
            "its rows were discarded"
        )
    return row


def report_step(
    session: Session,
    broker: str,
    attempt_id: str,
    step: str,
    now: datetime,
    progress: tuple[int, int | None] | None = None,
) -> None:
    row = owned(session, broker, attempt_id)
    row.attempt_step = step
    row.last_updated = now
    if progress is not None:
        row.progress_bytes, row.progress_total_bytes = progress


def insert_rows(engine: Engine, broker: str, generation: int, rows: list[Instrument]) -> None:
    """Write one generation's rows, in (exchange, token) order, in one transaction."""
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            _copy_rows(connection, broker, generation, rows)
        else:
            _executemany_rows(connection, broker, generation, rows)


def _executemany_rows(
    connection: Connection, broker: str, generation: int, rows: list[Instrument]
) -> None:
    columns = ("broker", "generation", *ROW_COLUMNS)
    statement = (
        f"INSERT INTO {TABLE} ({', '.join(columns)}) "  # noqa: S608 (fixed names)
        f"VALUES ({', '.join('?' for _ in columns)})"
    )
    with _bulk_cache(connection):
        _driver(connection).executemany(
            statement,
            ((broker, generation, *row[:6], _iso(row.expiry), *row[7:]) for row in rows),
        )


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day else None


@contextmanager
def _bulk_cache(connection: Connection) -> Iterator[None]:
    """A larger SQLite page cache for one bulk statement.

    The default 2 MB cache thrashes on the token index of a 150,000-row load or
    delete, doubling its time.
    """
    if connection.dialect.name != "sqlite":
        yield
        return
    driver = _driver(connection)
    default_cache = int(driver.execute("PRAGMA cache_size").fetchone()[0])
    driver.execute(f"PRAGMA cache_size={-BULK_CACHE_KIB}")
    try:
        yield
    finally:
        driver.execute(f"PRAGMA cache_size={default_cache}")


def _copy_rows(
    connection: Connection, broker: str, generation: int, rows: list[Instrument]
) -> None:
    columns = ", ".join(("broker", "generation", *ROW_COLUMNS))
    with (
        _driver(connection).cursor() as cursor,
        cursor.copy(f"COPY {TABLE} ({columns}) FROM STDIN") as copy,
    ):
        for row in rows:
            copy.write_row((broker, generation, *row))


def _driver(connection: Connection) -> Any:
    """The DB-API connection under SQLAlchemy's, for bulk paths SQLAlchemy has no API for."""
    raw = connection.connection.driver_connection
    if raw is None:
        raise RuntimeError("the database connection is closed")
    return raw


def swap_in(
    session: Session,
    broker: str,
    attempt_id: str,
    generation: int,
    trading_day: date,
    now: datetime,
    summary: dict[str, Any],
) -> MasterContractStatus:
    """Make `generation` the one readers see; fails if the attempt lost the broker."""
    row = owned(session, broker, attempt_id)
    row.generation = generation
    row.trading_day = trading_day
    row.loaded_at = now
    row.status = "success"
    row.message = "Master contracts ready"
    row.is_ready = True
    row.total_symbols = summary["total_symbols"]
    row.exchange_counts = summary["exchange_counts"]
    row.rows_rejected = summary["rows_rejected"]
    row.rejections = summary["rejections"]
    row.step_secs = summary["step_secs"]
    _end_attempt(row, now)
    row.failures = 0
    row.retry_at = None
    return row


def record_steps(
    session: Session, broker: str, generation: int, step_secs: dict[str, float]
) -> None:
    """Add the timings of the steps after the swap (swap, cleanup) to the loaded contract."""
    row = session.get(MasterContractStatus, broker)
    if row is not None and row.generation == generation:
        row.step_secs = dict(step_secs)


@dataclass(frozen=True)
class RetryPolicy:
    """Capped exponential backoff between failed automatic refreshes."""

    first_delay_secs: float = 60.0
    max_delay_secs: float = 1800.0

    def delay_secs(self, failures: int) -> float:
        return float(min(self.max_delay_secs, self.first_delay_secs * 2 ** max(0, failures - 1)))


def fail_attempt(
    session: Session,
    row: MasterContractStatus,
    message: str,
    now: datetime,
    retry: RetryPolicy | None,
) -> None:
    """Record a failed attempt; the generation readers see stays as it was."""
    row.status = "error"
    row.message = message
    row.failures += 1
    row.retry_at = now + timedelta(seconds=retry.delay_secs(row.failures)) if retry else None
    _end_attempt(row, now)


def _end_attempt(row: MasterContractStatus, now: datetime) -> None:
    row.last_updated = now
    row.attempt_id = None
    row.attempt_deadline_at = None
    row.attempt_step = None
    row.attempt_owner = None


def this_process() -> str:
    me = psutil.Process()
    return f"{socket.gethostname()}:{me.pid}:{me.create_time():.3f}"


def owner_is_dead(owner: str | None) -> bool:
    """True only when the attempt's process provably no longer exists on this machine."""
    if not owner:
        return False
    host, _, rest = owner.partition(":")
    pid_text, _, started = rest.partition(":")
    if host != socket.gethostname() or not pid_text.isdigit():
        return False  # another machine's: only its deadline can tell
    try:
        return f"{psutil.Process(int(pid_text)).create_time():.3f}" != started
    except psutil.NoSuchProcess:
        return True


def stuck_attempts(session: Session, now: datetime) -> list[MasterContractStatus]:
    """Downloads past their deadline, or whose process died: they will never finish."""
    running = session.scalars(
        select(MasterContractStatus)
        .where(MasterContractStatus.status == "downloading")
        .with_for_update()
    )
    return [row for row in running if not attempt_in_progress(row, now)]


def attempt_in_progress(row: MasterContractStatus, now: datetime) -> bool:
    """A download that may still finish: before its deadline, its process alive."""
    return (
        row.status == "downloading"
        and row.attempt_deadline_at is not None
        and now < row.attempt_deadline_at
        and not owner_is_dead(row.attempt_owner)
    )


def delete_generation(engine: Engine, broker: str, generation: int) -> int:
    """Drop the rows of one generation: an attempt's own, when it failed."""
    return _delete_rows(engine, broker, MasterContractRow.generation == generation)


def delete_older_generations(engine: Engine, broker: str, newest: int) -> int:
    """Drop the generations before `newest`: superseded ones, and stale attempts' rows.

    Never a newer one: another attempt may be loading it right now.
    """
    return _delete_rows(engine, broker, MasterContractRow.generation < newest)


def _delete_rows(engine: Engine, broker: str, which: ColumnElement[bool]) -> int:
    """Delete a broker's rows matching `which`.

    On SQLite in chunks, each its own transaction: one 150,000-row delete would hold
    the database's only write lock for half a second, just when the reconciler
    wants it to start the strategies that waited for this very contract.
    PostgreSQL locks rows, not the database, so one statement does.
    """
    matching = and_(MasterContractRow.broker == broker, which)
    if engine.dialect.name != "sqlite":
        with engine.begin() as connection:
            return int(connection.execute(delete(MasterContractRow).where(matching)).rowcount or 0)
    # SQLite: by rowid, a chunk at a time.
    rowid: ColumnElement[int] = literal_column("rowid")
    chunk = select(rowid).select_from(MasterContractRow).where(matching).limit(DELETE_CHUNK_ROWS)
    statement = delete(MasterContractRow).where(rowid.in_(chunk.scalar_subquery()))
    deleted = 0
    while True:
        with engine.begin() as connection, _bulk_cache(connection):
            count = int(connection.execute(statement).rowcount or 0)
        deleted += count
        if count < DELETE_CHUNK_ROWS:
            return deleted


def read_rows(
    session: Session, broker: str, generation: int, exchange: str | None = None
) -> Iterator[Instrument]:
    """One generation's rows as Instruments, streamed."""
    columns = [getattr(MasterContractRow, name) for name in ROW_COLUMNS]
    query = select(*columns).where(
        MasterContractRow.broker == broker, MasterContractRow.generation == generation
    )
    if exchange is not None:
        query = query.where(MasterContractRow.exchange == exchange)
    for values in session.execute(query.execution_options(yield_per=20_000)):
        yield Instrument(*values)


def all_statuses(session: Session) -> list[MasterContractStatus]:
    return list(session.scalars(select(MasterContractStatus).order_by(MasterContractStatus.broker)))
