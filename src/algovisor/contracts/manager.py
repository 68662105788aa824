"""The host's contract keeper: refreshes what is due, declares stuck downloads, holds the books.

It ticks on its own thread, beside the reconciler. Each tick it
  - marks `error` any download past its deadline (a hung thread or a dead CLI),
  - starts a refresh for every broker whose contract is not ready for the
    trading day once the refresh time has passed, retrying failures with backoff,
  - rebuilds the lookup book of any broker whose generation changed (a load by
    the CLI), and wakes the reconciler when a contract becomes ready.
Refreshes run on worker threads so a slow download never delays the watchdog.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from datetime import date, datetime, time

from sqlalchemy.orm import Session, sessionmaker

from algovisor.clock import Clock
from algovisor.contracts import store
from algovisor.contracts.book import ContractBook
from algovisor.contracts.days import contract_day, opens_for_trading
from algovisor.contracts.lookup import load_book
from algovisor.contracts.pipeline import PipelineSettings, Refresh
from algovisor.contracts.readiness import CONTRACT_CALENDAR, readiness
from algovisor.contracts.sources import BROKERS, Source, check_broker, default_source
from algovisor.db.models import MasterContractStatus
from algovisor.errors import AlgovisorError, InvalidInputError
from algovisor.schedule.calendar import CalendarBook, ExchangeCalendar
from algovisor.schedule.windows import format_local

logger = logging.getLogger(__name__)

# How often the status table is read: a contract loaded by the CLI wakes the
# reconciler within this, and a dead download's process is noticed as fast.
POLL_SECS = 0.5


def _configured_only(broker: str) -> bool:
    """Whether the broker's contract comes only from what the trader set up (`openalgo`)."""
    info = BROKERS.get(broker)
    return info is not None and info.configured


class ContractManager:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        read_sessions: sessionmaker[Session],
        clock: Clock,
        calendars: Callable[[], CalendarBook],
        refresh: Refresh,
        settings: PipelineSettings,
        refresh_time: time,
        on_ready: Callable[[], None],
        configured_sources: Callable[[], Mapping[str, Source]] = dict,
    ) -> None:
        self._sessions = sessions
        self._read_sessions = read_sessions
        self._clock = clock
        self._calendars = calendars
        self._refresh = refresh
        self._settings = settings
        self._refresh_time = refresh_time
        self._on_ready = on_ready
        # What the trader set up per broker (the OpenAlgo upstream): asked each tick, so
        # a new server or key is used from the next refresh on.
        self._configured_sources = configured_sources
        self._configured_problem = ""
        # One reference per broker, replaced whole: readers never see a half-built book.
        self._books: dict[str, ContractBook] = {}
        self._workers: dict[str, threading.Thread] = {}
        self._lock = threading.Lock()

    def book(self, broker: str) -> ContractBook | None:
        return self._books.get(broker)

    def serve_forever(self, stop: threading.Event, interval_secs: float = POLL_SECS) -> None:
        while not stop.is_set():
            try:
                self.tick()
            except Exception:
                logger.exception("contract manager tick failed; retrying")
            stop.wait(interval_secs)

    def tick(self) -> None:
        now = self._clock.now()
        calendar = self._calendars()[CONTRACT_CALENDAR]
        rows = self._statuses()
        if any(row.status == "downloading" for row in rows.values()):
            with self._sessions.begin() as session:
                abandoned = self._abandon_stuck(session, now, calendar)
            if abandoned:
                rows = self._statuses()
        for broker, source, day in self._due(rows, now, calendar):
            self._start(broker, source, day, calendar)
        self._mark_stale(rows, now, calendar)
        changed = [
            row
            for broker, row in rows.items()
            if row.generation
            and broker not in self._workers
            and getattr(self._books.get(broker), "generation", None) != row.generation
        ]
        if changed:
            # Loaded elsewhere (the CLI): readiness is in the database already, so the
            # reconciler is woken before the slower rebuild of the book.
            self._on_ready()
        for row in changed:
            try:
                self._reload_book(row)
            except Exception:  # one broker's trouble must not hold the others back
                logger.exception("contract %s: could not rebuild the lookup book", row.broker)

    def _mark_stale(
        self, rows: dict[str, MasterContractStatus], now: datetime, calendar: ExchangeCalendar
    ) -> None:
        """Keep the seed's `is_ready` column true to readiness: a new day turns it off."""
        stale = [
            broker
            for broker, row in rows.items()
            if row.is_ready and not readiness(broker, row, now, calendar).ready
        ]
        if stale:
            with self._sessions.begin() as session:
                for broker in stale:
                    row = session.get(MasterContractStatus, broker, with_for_update=True)
                    if row is not None and row.status != "downloading":
                        row.is_ready = False

    def _statuses(self) -> dict[str, MasterContractStatus]:
        with self._read_sessions() as session:
            return {row.broker: row for row in store.all_statuses(session)}

    def refresh_now(self, broker: str) -> None:
        """Start a refresh at once (API); refused while one is under way or for file sources."""
        check_broker(broker)
        now = self._clock.now()
        calendar = self._calendars()[CONTRACT_CALENDAR]
        with self._read_sessions() as session:
            row = session.get(MasterContractStatus, broker)
        if broker in self._workers or (row is not None and store.attempt_in_progress(row, now)):
            raise store.ContractBusyError(f"a refresh of the {broker} contract is under way")
        if row is not None and row.source_kind == "file":
            raise InvalidInputError(
                f"the {broker} contract was loaded from a file; load the new file with "
                f"`algovisor contracts download --broker {broker} --file FILE`"
            )
        source = self._source(broker, row, self._configured_sources())
        self._start(broker, source or default_source(broker), contract_day(now, calendar), calendar)

    def join(self, timeout_secs: float) -> None:
        """Wait for refreshes in flight (tests, shutdown)."""
        for worker in list(self._workers.values()):
            worker.join(timeout_secs)

    # ----- watchdog -----------------------------------------------------------------

    def _abandon_stuck(self, session: Session, now: datetime, calendar: ExchangeCalendar) -> bool:
        stuck = store.stuck_attempts(session, now)
        for row in stuck:
            step = row.attempt_step or "download"
            retry: store.RetryPolicy | None = None  # a dead process is no reason to wait
            if store.owner_is_dead(row.attempt_owner):
                message = f"the process running the {step} died before it finished; abandoned"
            else:
                deadline = format_local(row.attempt_deadline_at or now, calendar)
                message = f"the {step} did not finish by its deadline ({deadline}); abandoned"
                if store.refreshed_by_host(row.broker, row):
                    retry = self._settings.retry
            store.fail_attempt(session, row, message, now, retry)
            logger.error("contract %s: %s", row.broker, message)
            with self._lock:
                self._workers.pop(row.broker, None)  # a hung worker no longer blocks a retry
        return bool(stuck)

    # ----- automatic refresh --------------------------------------------------------

    def _due(
        self, rows: dict[str, MasterContractStatus], now: datetime, calendar: ExchangeCalendar
    ) -> list[tuple[str, Source, date]]:
        configured = self._configured()
        candidates = {"paper", *rows, *configured}
        brokers = {
            name
            for name in candidates
            if store.refreshed_by_host(name, rows.get(name))
            or (name in configured and not store.loaded_from_file(rows.get(name)))
        }
        due = []
        for broker in sorted(brokers):
            row = rows.get(broker)
            if broker in self._workers or readiness(broker, row, now, calendar).ready:
                continue
            if row is not None and (
                row.status == "downloading" or (row.retry_at is not None and now < row.retry_at)
            ):
                continue
            day = contract_day(now, calendar)
            local = now.astimezone(calendar.tz)
            if day == local.date() and local.time() < self._refresh_time:
                continue  # today's contract is not due yet; yesterday's would not do either
            source = self._source(broker, row, configured)
            if source is None and _configured_only(broker):
                continue  # no upstream (never set, or removed): nothing to refresh from
            due.append((broker, source or default_source(broker), day))
        return due

    def _source(
        self, broker: str, row: MasterContractStatus | None, configured: Mapping[str, Source]
    ) -> Source | None:
        """Where a refresh reads: what the trader set up, else (unless the broker's contract
        comes only from that, as `openalgo`'s does from its upstream) the source the
        contract in force came from; None for the broker's default."""
        if broker in configured:
            return configured[broker]
        if _configured_only(broker):
            return None  # a removed upstream's remembered URL and key are not used
        return store.remembered_source(row, self._refresh.secrets)

    def _configured(self) -> Mapping[str, Source]:
        """The configured sources; none while they cannot be read (logged once per problem)."""
        problem = ""
        try:
            sources = self._configured_sources()
        except AlgovisorError as error:  # a key that no longer decrypts must not stop paper's
            problem, sources = error.message, {}
        if problem and problem != self._configured_problem:
            logger.error("contracts: the configured sources cannot be read: %s", problem)
        self._configured_problem = problem
        return sources

    def _start(self, broker: str, source: Source, day: date, calendar: ExchangeCalendar) -> None:
        def ready(book: ContractBook) -> None:
            self._books[broker] = book
            self._on_ready()

        def work() -> None:
            try:
                self._refresh.run(
                    broker,
                    source,
                    day,
                    lambda when: opens_for_trading(calendar, when),
                    on_ready=ready,
                )
            except store.ContractBusyError as error:  # another process claimed it first
                logger.info("contract %s: not refreshed: %s", broker, error.message)
            except AlgovisorError:
                pass  # recorded in the status row and logged by the pipeline
            except Exception:
                logger.exception("contract %s: refresh failed unexpectedly", broker)
            finally:
                with self._lock:
                    if self._workers.get(broker) is threading.current_thread():
                        del self._workers[broker]

        worker = threading.Thread(target=work, name=f"contract-{broker}", daemon=True)
        with self._lock:
            self._workers[broker] = worker
        worker.start()

    # ----- books --------------------------------------------------------------------

    def _reload_book(self, row: MasterContractStatus) -> None:
        held = self._books.get(row.broker)
        with self._read_sessions() as session:
            book = load_book(session, row.broker)
        self._books[row.broker] = book
        logger.info(
            "contract %s: lookup book rebuilt for generation %s (%s symbols; held: %s)",
            row.broker,
            book.generation,
            f"{len(book):,}",
            held.generation if held else "none",
        )
