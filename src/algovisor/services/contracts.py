"""Master-contract use cases: download, status, lookups, and starting strategies that wait.

The host's `ContractManager` refreshes contracts on its own; these functions
serve the CLI (which loads contracts in its own process) and the API. Lookups
ask the database; the in-memory books are for processes that look up in loops.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import date
from datetime import time as clock_time
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from algovisor.brokers.upstream import BROKER as UPSTREAM
from algovisor.contracts import store
from algovisor.contracts.days import contract_day, opens_for_trading
from algovisor.contracts.pipeline import PipelineSettings, Refresh
from algovisor.contracts.queries import ContractQueries
from algovisor.contracts.readiness import CONTRACT_CALENDAR, readiness
from algovisor.contracts.records import Instrument
from algovisor.contracts.sources import (
    BROKERS,
    DownloadLimits,
    Progress,
    Source,
    check_broker,
    check_format,
    default_source,
    upstream_source,
)
from algovisor.db.models import MasterContractStatus, Strategy
from algovisor.errors import InvalidInputError, NotFoundError
from algovisor.services import broker_accounts
from algovisor.services.context import ServiceContext
from algovisor.services.views import (
    ChainLinkView,
    ContractProgressView,
    ContractStatusView,
    InstrumentView,
)
from algovisor.supervisor.states import StrategyState

CHECK_TIMEOUT_SECS = 5.0


def pipeline_settings(ctx: ServiceContext) -> PipelineSettings:
    settings = ctx.settings
    return PipelineSettings(
        max_rejected_ratio=settings.contract_max_rejected_percent / 100,
        attempt_deadline_secs=settings.contract_attempt_deadline_secs,
        limits=DownloadLimits(total_timeout_secs=settings.contract_download_timeout_secs),
    )


def refresh_time(ctx: ServiceContext) -> clock_time:
    return clock_time.fromisoformat(ctx.settings.contract_refresh_time)


def make_refresh(ctx: ServiceContext) -> Refresh:
    return Refresh(
        ctx.engine,
        ctx.sessions,
        ctx.clock,
        ctx.layout.contracts_dir,
        pipeline_settings(ctx),
        ctx.secrets,
    )


# ----- download -----------------------------------------------------------------------


def configured_sources(ctx: ServiceContext) -> dict[str, Source]:
    """The sources the trader set up, by broker: the OpenAlgo upstream's instrument list.

    They win over a broker's remembered source in the host's refreshes (a new
    key or server takes effect the next day), and are what `contracts download`
    reads with neither --url nor --file.
    """
    account = broker_accounts.upstream(ctx)
    if account is None:
        return {}
    return {UPSTREAM: upstream_source(account.url, account.key)}


def configured_source(ctx: ServiceContext, broker: str) -> Source | None:
    """`broker`'s entry in `configured_sources`; the database is read only for `openalgo`."""
    return configured_sources(ctx).get(broker) if broker == UPSTREAM else None


def choose_source(
    broker: str,
    file: Path | None = None,
    url: str | None = None,
    format_name: str | None = None,
    api_key: str | None = None,
    configured: Source | None = None,
) -> Source:
    """The source a download reads, checked before the broker's status is touched.

    `configured` is the broker's entry in `configured_sources`, used when
    neither a file nor a URL is given.
    """
    info = check_broker(broker)
    if file is not None and url is not None:
        raise InvalidInputError("give --file or --url, not both")
    if api_key is not None and url is None:
        raise InvalidInputError("--api-key goes with --url (an OpenAlgo server's instruments API)")
    chosen_format = check_format(format_name) if format_name else info.format
    if file is None and url is None:
        if format_name and format_name != info.format:
            raise InvalidInputError("--format goes with --file or --url")
        return default_source(broker, configured)
    if chosen_format == "paper":
        raise InvalidInputError(
            "paper contracts are generated, not read; give --format "
            "(zerodha, angel, dhan, upstox or openalgo) to load a file for the paper broker"
        )
    if file is not None:
        path = file.expanduser().resolve()
        if not path.is_file():
            raise InvalidInputError(f"no such file: {path}")
        return Source("file", chosen_format, str(path))
    url = url or ""
    if not url.startswith(("http://", "https://")):
        raise InvalidInputError(f"{url!r} is not an http(s) URL")
    if "@" in url.split("//", 1)[1].split("/", 1)[0]:
        raise InvalidInputError(
            "a user name or password in the URL would be stored and shown; "
            "algovisor takes an OpenAlgo key with --api-key, kept encrypted"
        )
    if "apikey=" in url.lower():
        raise InvalidInputError(
            "give the API key with --api-key (or OPENALGO_API_KEY), not in the URL: "
            "algovisor keeps it encrypted and never shows it"
        )
    return Source("url", chosen_format, url, api_key or None)


def download(
    ctx: ServiceContext, broker: str, source: Source, progress: Progress | None = None
) -> ContractStatusView:
    """Fetch, check and swap in a contract for the current trading day, in this process."""
    calendar = ctx.calendars.current()[CONTRACT_CALENDAR]
    day = contract_day(ctx.clock.now(), calendar)
    make_refresh(ctx).run(
        broker, source, day, lambda when: opens_for_trading(calendar, when), progress
    )
    return status(ctx, broker)


# ----- status -------------------------------------------------------------------------


def status(ctx: ServiceContext, broker: str | None = None) -> ContractStatusView:
    name = broker or "paper"
    check_broker(name)
    with ctx.reading() as session:
        row = session.get(MasterContractStatus, name)
    return status_view(ctx, name, row)


def statuses(ctx: ServiceContext) -> list[ContractStatusView]:
    """Every broker with a contract or a strategy, and always the paper broker."""
    with ctx.reading() as session:
        rows = {row.broker: row for row in store.all_statuses(session)}
        used = set(session.scalars(select(Strategy.broker).distinct()))
    names = sorted({"paper"} | set(rows) | (used & set(BROKERS)))
    return [status_view(ctx, name, rows.get(name)) for name in names]


def status_view(
    ctx: ServiceContext, broker: str, row: MasterContractStatus | None
) -> ContractStatusView:
    calendar = ctx.calendars.current()[CONTRACT_CALENDAR]
    answer = readiness(broker, row, ctx.clock.now(), calendar)
    if row is None:
        return ContractStatusView(
            broker=broker,
            status="pending",
            message="not downloaded yet",
            is_ready=False,
            total_symbols=0,
            last_updated=None,
            trading_day=None,
            current_trading_day=answer.trading_day,
            waiting_reason=answer.reason,
            loaded_at=None,
            exchange_counts={},
            rows_rejected=0,
            rejections={},
            step_secs={},
            source=None,
            progress=None,
            failures=0,
            retry_at=None,
        )
    remembered = store.remembered_source(row)
    source = remembered.describe() if remembered else None
    downloading = row.status == "downloading"
    status, message = row.status, row.message
    if status == "success" and not answer.ready:  # a new trading day began: not ready now
        status, message = "pending", answer.reason
    return ContractStatusView(
        broker=broker,
        status=status,
        message=message,
        is_ready=answer.ready,
        total_symbols=row.total_symbols,
        last_updated=row.last_updated,
        trading_day=row.trading_day,
        current_trading_day=answer.trading_day,
        waiting_reason=answer.reason or None,
        loaded_at=row.loaded_at,
        exchange_counts=row.exchange_counts,
        rows_rejected=row.rows_rejected,
        rejections=row.rejections,
        step_secs=row.step_secs,
        source=source,
        progress=ContractProgressView(
            step=row.attempt_step,
            bytes=row.progress_bytes,
            total_bytes=row.progress_total_bytes,
            started_at=row.attempt_started_at,
            deadline_at=row.attempt_deadline_at,
        )
        if downloading
        else None,
        failures=row.failures,
        retry_at=row.retry_at,
    )


# ----- lookups ------------------------------------------------------------------------


def instrument_view(row: Instrument) -> InstrumentView:
    return InstrumentView(**row._asdict())


def lookup(ctx: ServiceContext, broker: str, symbol: str, exchange: str) -> InstrumentView:
    with ctx.reading() as session:
        found = _queries(session, broker).instrument(symbol.strip().upper(), _exchange(exchange))
    return instrument_view(found)


def lookup_token(ctx: ServiceContext, broker: str, token: str, exchange: str) -> InstrumentView:
    with ctx.reading() as session:
        found = _queries(session, broker).by_token(token.strip(), _exchange(exchange))
    return instrument_view(found)


def search(
    ctx: ServiceContext, broker: str, query: str, exchange: str | None = None, limit: int = 50
) -> list[InstrumentView]:
    if not query.strip():
        raise InvalidInputError("give the start of a symbol to search for, e.g. NIFTY28NOV")
    with ctx.reading() as session:
        found = _queries(session, broker).search(
            query, _exchange(exchange) if exchange else None, limit
        )
    return [instrument_view(row) for row in found]


def expiries(
    ctx: ServiceContext, broker: str, name: str, exchange: str, instrument_type: str | None = None
) -> list[date]:
    with ctx.reading() as session:
        return _queries(session, broker).expiries(name, _exchange(exchange), instrument_type)


def option_chain(
    ctx: ServiceContext, broker: str, name: str, expiry: date, exchange: str
) -> list[ChainLinkView]:
    with ctx.reading() as session:
        queries = _queries(session, broker)
        links = queries.option_chain(name, expiry, _exchange(exchange))
        if not links:
            listed = ", ".join(f"{day}" for day in queries.expiries(name, _exchange(exchange)))
            raise NotFoundError(
                f"{name.upper()} has no options expiring {expiry} on {_exchange(exchange)}",
                detail=f"Its expiries: {listed or 'none'}.",
            )
    return [
        ChainLinkView(
            strike=link.strike,
            call=instrument_view(link.call) if link.call else None,
            put=instrument_view(link.put) if link.put else None,
        )
        for link in links
    ]


def _queries(session: Session, broker: str) -> ContractQueries:
    check_broker(broker)
    return ContractQueries(session, broker)


def _exchange(exchange: str) -> str:
    return exchange.strip().upper()


# ----- starting strategies that wait ----------------------------------------------------


def check_and_start(
    ctx: ServiceContext, wake: Callable[[], None], timeout_secs: float = CHECK_TIMEOUT_SECS
) -> tuple[bool, str]:
    """Start every waiting strategy whose contract is ready now; say how many started.

    The reconciler does the starting (it would within a second anyway); this
    wakes it and waits to report what happened, as the seed's endpoint did.
    """
    now = ctx.clock.now()
    calendar = ctx.calendars.current()[CONTRACT_CALENDAR]
    with ctx.reading() as session:
        rows = {row.broker: row for row in store.all_statuses(session)}
        waiting = list(
            session.execute(
                select(Strategy.id, Strategy.broker).where(
                    Strategy.state == StrategyState.WAITING.value
                )
            )
        )
    # With nothing waiting, the seed still answers for its broker's contract.
    brokers = {broker for _, broker in waiting} or {"paper"}
    answers = {broker: readiness(broker, rows.get(broker), now, calendar) for broker in brokers}
    startable = [strategy_id for strategy_id, broker in waiting if answers[broker].ready]
    blocked = sorted(broker for broker, answer in answers.items() if not answer.ready)
    if not startable:
        if blocked:
            reasons = "; ".join(answers[broker].reason for broker in blocked)
            return False, f"Master contracts not ready: {reasons}"
        return True, "Master contracts ready; no strategies were waiting"
    wake()
    started, failed = _await_start(ctx, startable, timeout_secs)
    message = f"Started {started} strategies, {failed} failed"
    if blocked:
        message += f"; still waiting for the {', '.join(blocked)} contract"
    return True, message


def _await_start(ctx: ServiceContext, ids: list[int], timeout_secs: float) -> tuple[int, int]:
    running = {StrategyState.STARTING.value, StrategyState.RUNNING.value}
    deadline = time.monotonic() + timeout_secs
    while True:
        with ctx.reading() as session:
            query = select(Strategy.id, Strategy.state).where(Strategy.id.in_(ids))
            # .all(): a Result has keys(), so dict() would take it for a mapping and fail.
            states = dict(session.execute(query).all())
        started = sum(1 for state in states.values() if state in running)
        pending = sum(1 for state in states.values() if state == StrategyState.WAITING.value)
        if not pending or time.monotonic() > deadline:
            return started, len(states) - started
        time.sleep(0.05)
