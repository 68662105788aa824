"""One refresh of one broker's contract, step by step, all or nothing.

    claim the broker -> fetch (generate | download | read file) -> parse -> validate
    -> load the next generation -> build the lookup book -> swap in -> drop the old rows

Every step is timed. Any failure marks the attempt `error` with a message naming
the step and what went wrong; the generation readers see is untouched, and the
rows of a load that never swapped in are deleted.
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from algovisor.clock import Clock
from algovisor.contracts import paper, store
from algovisor.contracts.book import ContractBook
from algovisor.contracts.formats import parse_file
from algovisor.contracts.records import ParseOutcome
from algovisor.contracts.sources import DownloadLimits, Progress, Source, download
from algovisor.contracts.validate import DEFAULT_MAX_REJECTED_RATIO, ValidContract, validate
from algovisor.db.models import MasterContractStatus
from algovisor.errors import AlgovisorError, InvalidInputError
from algovisor.security.encryption import SecretBox

logger = logging.getLogger(__name__)

PROGRESS_WRITE_SECS = 0.5


@dataclass(frozen=True)
class PipelineSettings:
    max_rejected_ratio: float = DEFAULT_MAX_REJECTED_RATIO
    # Past this, anyone may declare the attempt stuck (the host does, every tick).
    attempt_deadline_secs: float = 600.0
    limits: DownloadLimits = field(default_factory=DownloadLimits)
    retry: store.RetryPolicy = field(default_factory=store.RetryPolicy)


@dataclass(frozen=True)
class LoadReport:
    broker: str
    generation: int
    trading_day: date
    contract: ValidContract
    step_secs: dict[str, float]
    book: ContractBook | None  # built only for a caller that serves lookups (the host)


@dataclass(frozen=True)
class Refresh:
    """Runs the steps for one attempt, writing progress to the status row as it goes."""

    engine: Engine
    sessions: sessionmaker[Session]
    clock: Clock
    work_dir: Path  # where downloads land before they are parsed
    settings: PipelineSettings
    secrets: SecretBox  # keeps a source's API key encrypted at rest

    def run(
        self,
        broker: str,
        source: Source,
        trading_day: date,
        is_trading_day: Callable[[date], bool],
        progress: Progress | None = None,
        on_ready: Callable[[ContractBook], None] | None = None,
    ) -> LoadReport:
        """Fetch, check and swap in the contract; raises the failure after recording it.

        `on_ready` gets the new book the moment the swap commits, before the old
        generation is deleted: whoever waits on the contract need not wait for that.
        Without it no book is built: the CLI has no use for one.
        """
        with self.sessions.begin() as session:
            attempt = store.begin_attempt(
                session, broker, source, self.clock.now(), self.settings.attempt_deadline_secs
            )
        logger.info(
            "contract %s: refreshing from %s for %s", broker, source.describe(), trading_day
        )
        attempt_run = _Attempt(self, broker, attempt, progress, on_ready)
        try:
            report = attempt_run.steps(source, trading_day, is_trading_day)
        except AlgovisorError as error:
            said = attempt_run.fail(source, f"{attempt_run.step} failed: {error.message}")
            # Same kind of error (its HTTP status, its exit code), with the whole story.
            raise type(error)(said, detail=error.detail) from error
        except Exception as error:
            attempt_run.fail(source, f"{attempt_run.step} failed unexpectedly: {error!r}")
            raise
        except BaseException:  # Ctrl-C in the CLI: say so rather than leave it "downloading"
            attempt_run.fail(source, f"{attempt_run.step} interrupted")
            raise
        logger.info(
            "contract %s: %s symbols for %s ready (%s)",
            broker,
            f"{len(report.contract.rows):,}",
            trading_day,
            ", ".join(f"{step} {secs:.2f} s" for step, secs in report.step_secs.items()),
        )
        return report


@contextmanager
def _collector_paused() -> Iterator[None]:
    """No cyclic garbage collection while 150,000 rows are made: they hold no cycles.

    Each of Python's full collections walks every live object, and a load creates
    millions of them; pausing it for the seconds a load takes saves about a third
    of its time. Reference counting still frees everything as usual.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class _Attempt:
    def __init__(
        self,
        refresh: Refresh,
        broker: str,
        attempt: store.Attempt,
        progress: Progress | None,
        on_ready: Callable[[ContractBook], None] | None,
    ):
        self.refresh = refresh
        self.broker = broker
        self.attempt_id = attempt.id
        self.generation = attempt.generation
        self.user_progress = progress
        self.on_ready = on_ready
        self.step = "start"
        self.step_secs: dict[str, float] = {}
        self._step_started: float | None = None
        self._last_progress_write = 0.0

    def steps(
        self, source: Source, trading_day: date, is_trading_day: Callable[[date], bool]
    ) -> LoadReport:
        if source.kind == "paper":
            path = None
        else:
            self.enter("download" if source.kind == "url" else "read")
            path = self.fetch(source)
        try:
            with _collector_paused():
                contract, book = self.load(source, path, trading_day, is_trading_day)
        finally:
            if path is not None and source.kind == "url":
                path.unlink(missing_ok=True)
        self.after_swap(book)
        return LoadReport(self.broker, self.generation, trading_day, contract, self.step_secs, book)

    def load(
        self,
        source: Source,
        path: Path | None,
        trading_day: date,
        is_trading_day: Callable[[date], bool],
    ) -> tuple[ValidContract, ContractBook | None]:
        """Parse, check, stage, build the book (for a host) and swap in."""
        if path is None:
            self.enter("generate")
            rows = paper.generate(trading_day, is_trading_day)
            outcome = ParseOutcome(rows=rows, rows_read=len(rows))
        else:
            self.enter("parse")
            outcome = parse_file(path, source.format)
        self.enter("validate")
        contract = validate(outcome, trading_day, self.refresh.settings.max_rejected_ratio)
        self.enter("load")
        store.insert_rows(self.refresh.engine, self.broker, self.generation, contract.rows)
        book = None
        if self.on_ready is not None:  # only a process that serves lookups needs one
            self.enter("cache")
            book = ContractBook.build(self.broker, self.generation, trading_day, contract.rows)
        self.enter("swap")
        summary = {
            "total_symbols": len(contract.rows),
            "exchange_counts": contract.exchange_counts,
            "rows_rejected": contract.rejected_count,
            "rejections": {
                "reasons": dict(contract.rejected),
                "examples": contract.examples,
                "skipped": dict(contract.skipped),
                "rows_read": contract.rows_read,
            },
            "step_secs": dict(self.step_secs),
        }
        with self.refresh.sessions.begin() as session:
            swapped = store.swap_in(
                session,
                self.broker,
                self.attempt_id,
                self.generation,
                trading_day,
                self.refresh.clock.now(),
                summary,
            )
            # Remembered only now: a failed attempt never replaces a source that worked.
            store.remember_source(swapped, source, self.refresh.secrets)
        self.enter("cleanup")
        return contract, book

    def after_swap(self, book: ContractBook | None) -> None:
        """Hand over the book and tidy up. The contract is in force: nothing here undoes that."""
        try:
            if self.on_ready is not None and book is not None:
                self.on_ready(book)
            store.delete_older_generations(self.refresh.engine, self.broker, self.generation)
            self.enter(None)
            with self.refresh.sessions.begin() as session:
                store.record_steps(session, self.broker, self.generation, self.step_secs)
        except Exception:
            logger.exception(
                "contract %s: generation %s is in force, but tidying up after it failed; "
                "the next load removes what was left",
                self.broker,
                self.generation,
            )

    def enter(self, step: str | None) -> None:
        """Close the timing of the current step and, if given, start `step`."""
        now = time.perf_counter()
        if self._step_started is not None:
            self.step_secs[self.step] = round(now - self._step_started, 4)
        self._step_started = now
        if step is None:
            return
        self.step = step
        if step in ("parse", "load"):  # the slow ones worth showing
            with self.refresh.sessions.begin() as session:
                store.report_step(
                    session, self.broker, self.attempt_id, step, self.refresh.clock.now()
                )

    def fetch(self, source: Source) -> Path:
        if source.location is None:
            raise InvalidInputError(f"the {source.kind} source names no location")
        if source.kind == "file":
            path = Path(source.location)
            if not path.is_file():
                raise InvalidInputError(f"no such file: {path}")
            return path
        self.refresh.work_dir.mkdir(parents=True, exist_ok=True)
        # Named per attempt: an abandoned attempt still running must not share the file.
        target = self.refresh.work_dir / f"{self.broker}.{self.attempt_id}.download"
        try:
            download(source, target, self.on_progress, self.refresh.settings.limits)
        except BaseException:
            target.unlink(missing_ok=True)
            raise
        return target

    def on_progress(self, received: int, total: int | None) -> None:
        if self.user_progress is not None:
            self.user_progress(received, total)
        now = time.perf_counter()
        if now - self._last_progress_write >= PROGRESS_WRITE_SECS:
            self._last_progress_write = now
            with self.refresh.sessions.begin() as session:
                store.report_step(
                    session,
                    self.broker,
                    self.attempt_id,
                    "download",
                    self.refresh.clock.now(),
                    (received, total),
                )

    def fail(self, source: Source, message: str) -> str:
        """Record the failure (if the attempt still owns the broker) and drop its own rows.

        Returns what was said. A failure to record it is logged, never raised over
        the error that caused it.
        """
        retry = self.refresh.settings.retry if source.kind != "file" else None
        try:
            with self.refresh.sessions.begin() as session:
                row = session.get(MasterContractStatus, self.broker, with_for_update=True)
                if row is not None and row.generation:
                    message += (
                        f"; the contract for {row.trading_day} ({row.total_symbols:,} symbols) "
                        "stays in force"
                    )
                if row is not None and row.attempt_id == self.attempt_id:
                    store.fail_attempt(session, row, message, self.refresh.clock.now(), retry)
            store.delete_generation(self.refresh.engine, self.broker, self.generation)
        except Exception:
            logger.exception("contract %s: could not record the failure", self.broker)
        logger.error("contract %s: %s", self.broker, message)
        return message
