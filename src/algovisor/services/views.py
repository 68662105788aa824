"""What services hand back: plain, serializable views (API responses, CLI --json)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from algovisor.schedule.windows import Schedule, format_days


class VersionView(BaseModel):
    number: int
    filename: str
    sha256: str
    size_bytes: int
    note: str | None
    created_at: datetime
    current: bool


class ScriptView(BaseModel):
    """One version's script text, for the web UI's editor."""

    version: int
    filename: str
    content: str
    current: bool


class EnvVarView(BaseModel):
    key: str
    value: str  # "****" for secrets: their values never leave the host
    secret: bool


class RunView(BaseModel):
    id: str
    version: int | None
    status: str
    pid: int | None
    host: str
    started_at: datetime | None
    ended_at: datetime | None
    uptime_secs: float | None
    exit_code: int | None
    exit_signal: int | None
    end_reason: str | None
    message: str | None
    cpu_percent: float | None
    rss_bytes: int | None


class ScheduleView(BaseModel):
    start: str  # HH:MM in the exchange's time zone (IST)
    stop: str | None  # None: no daily stop
    days: str
    exchange: str
    special_sessions: bool
    description: str

    @classmethod
    def of(cls, schedule: Schedule | None) -> ScheduleView | None:
        if schedule is None:
            return None
        return cls(
            start=f"{schedule.start:%H:%M}",
            stop=f"{schedule.stop:%H:%M}" if schedule.stop else None,
            days=format_days(schedule.days),
            exchange=schedule.exchange,
            special_sessions=schedule.special_sessions,
            description=schedule.describe(),
        )


class StrategyView(BaseModel):
    id: int
    name: str
    broker: str
    intent: str
    state: str
    state_message: str | None
    error_message: str | None
    backoff_until: datetime | None
    restart_count: int
    consecutive_failures: int
    grace_secs: float
    final_exit_codes: list[int]
    memory_limit_mb: int | None
    schedule: ScheduleView | None
    window_skipped_until: datetime | None
    next_start_at: datetime | None  # intent run, outside its window or held: when it starts
    current_version: int | None
    created_at: datetime
    updated_at: datetime
    current_run: RunView | None
    last_run: RunView | None


class StatusRow(BaseModel):
    id: int
    name: str
    state: str
    pid: int | None
    uptime_secs: float | None
    restarts: int
    cpu_percent: float | None
    rss_bytes: int | None
    last_exit: str | None
    message: str | None


class ApiKeyView(BaseModel):
    id: int
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None


class ActionResult(BaseModel):
    """The answer to start/stop/restart/clear-error: the new intent and what happens next."""

    strategy: StrategyView
    message: str


class Explanation(BaseModel):
    """`explain`: the desired state at one instant and every reason behind it."""

    strategy: str
    at: datetime  # in the exchange's time zone
    should_run: bool
    state: str
    reasons: list[str]
    warnings: list[str]
    next_change_at: datetime | None
    schedule: ScheduleView | None
    calendar_problem: str | None
    summary: str


class CalendarDayView(BaseModel):
    date: date
    weekday: str
    kind: str  # holiday | session | trading
    name: str
    opens: str | None = None
    closes: str | None = None


class CalendarView(BaseModel):
    exchange: str
    year: int
    source: str
    coverage: str
    covered_through: date | None
    year_covered: bool
    days: list[CalendarDayView]
    overrides_file: str
    problem: str | None


class ContractProgressView(BaseModel):
    step: str | None
    bytes: int
    total_bytes: int | None
    started_at: datetime | None
    deadline_at: datetime | None


class ContractStatusView(BaseModel):
    """One broker's master contract; the first six fields are the seed's, with its names."""

    broker: str
    status: str  # pending, downloading, success, error
    message: str | None
    is_ready: bool  # loaded for the current trading day
    total_symbols: int
    last_updated: datetime | None
    trading_day: date | None  # the day the loaded contract is for
    current_trading_day: date  # the day a contract must be for now
    waiting_reason: str | None  # what a strategy on this broker shows while waiting
    loaded_at: datetime | None
    exchange_counts: dict[str, int]
    rows_rejected: int
    rejections: dict[str, object]
    step_secs: dict[str, float]
    source: str | None
    progress: ContractProgressView | None
    failures: int
    retry_at: datetime | None


class InstrumentView(BaseModel):
    symbol: str
    broker_symbol: str
    name: str
    exchange: str
    broker_exchange: str
    token: str
    expiry: date | None
    strike: float | None
    lot_size: int
    instrument_type: str
    tick_size: float


class ChainLinkView(BaseModel):
    strike: float
    call: InstrumentView | None
    put: InstrumentView | None


# ----- positions (issue 5) -------------------------------------------------------------


class PositionView(BaseModel):
    """A stored position: what it is, its last stored state, and what happened to it."""

    id: int
    strategy: str
    session_id: int  # the session holding it now (the adopting one after a recovery)
    run_id: str | None  # that session's run, when it ran under the host
    broker: str
    symbol: str
    exchange: str
    product: str
    side: str  # LONG | SHORT
    quantity: int  # still open
    initial_quantity: int
    entry_price: float
    entry_time: datetime
    stop_price: float | None
    target_price: float | None
    current_price: float | None
    leg: str | None
    state: dict[str, Any]  # the strategy's own (trailing) state, as last flushed
    status: str  # ACTIVE | CRASHED | RECOVERED | CLOSED
    exit_price: float | None
    exit_time: datetime | None
    exit_reason: str | None
    realized_pnl: float
    updated_at: datetime
    crashed_at: datetime | None  # its latest crash
    crash_reason: str | None
    recovered_at: datetime | None
    broker_verdict: str | None  # the last known verdict; "unknown" never replaces it
    broker_checked_at: datetime | None


class CrashView(BaseModel):
    """One crash of a session that held a position."""

    session_id: int
    run_id: str | None
    strategy: str
    at: datetime
    reason: str | None
    exception_type: str | None
    has_traceback: bool
    traceback: str | None = None  # filled in by `show` only
    status_before: str | None = None  # ACTIVE or RECOVERED; None on crashes recorded without it


class CrashedPositionView(BaseModel):
    """A position a crash affected, as the crash left it, and its status now.

    `position` has the figures of that crash: side, quantity, stop, target, last
    price and state as they were when it crashed (from the crash's snapshot;
    crashes recorded without one fall back to the position as stored now), with
    status CRASHED and that crash's time and reason. Its exit, P&L, holding
    session and broker verdict are as stored now. `now` is its status now: it
    may since have been resumed (RECOVERED, or ACTIVE again) or closed.
    """

    position: PositionView
    crash: CrashView
    now: str  # ACTIVE | CRASHED | RECOVERED | CLOSED


class PositionSessionView(BaseModel):
    id: int
    strategy: str
    run_id: str | None
    broker: str
    label: str | None
    status: str  # ACTIVE | ENDED | CRASHED
    hostname: str
    pid: int
    started_at: datetime
    ended_at: datetime | None
    crashed_at: datetime | None
    crash_reason: str | None
    exception_type: str | None


class PositionEventView(BaseModel):
    id: int
    kind: str  # ENTRY, STOP_MOVED, PARTIAL_EXIT, EXIT, CRASH, RECOVERY, RECONCILE
    at: datetime
    session_id: int | None
    details: dict[str, Any]


class OrderIntentView(BaseModel):
    client_order_id: str
    session_id: int
    position_id: int | None
    symbol: str
    exchange: str
    action: str
    quantity: int
    price: float | None
    purpose: str | None
    status: str  # PENDING | CONFIRMED | REJECTED | UNCONFIRMED (pending at a crash)
    broker_order_id: str | None
    message: str | None
    created_at: datetime
    confirmed_at: datetime | None


class PositionDetailView(BaseModel):
    position: PositionView
    session: PositionSessionView
    crashes: list[CrashView]  # with tracebacks, oldest first
    events: list[PositionEventView]  # the trail, oldest first
    order_intents: list[OrderIntentView]


class PositionCloseView(BaseModel):
    """An exit an operator recorded by hand (the position was closed at the broker)."""

    position: PositionView  # as stored after the exit
    quantity: int  # closed by this exit
    remaining: int  # still open; 0 when the position is now CLOSED
    price: float
    pnl: float  # of this exit
    message: str


class ReconcileFindingView(BaseModel):
    """A verdict on one (symbol, exchange, product) of one broker account."""

    broker: str
    symbol: str
    exchange: str
    product: str
    verdict: str  # matched | closed_at_broker | quantity_mismatch | orphan | unknown
    expected_quantity: int  # what our open positions net to, signed
    broker_quantity: int | None  # None: the broker could not be asked
    position_ids: list[int]
    strategies: list[str]
    detail: str
    problem: str | None  # why the broker could not be asked


class PurgeView(BaseModel):
    before: date
    cutoff: datetime  # midnight IST starting `before`
    positions: int
    events: int
    order_intents: int
    sessions: int


# ----- the strategy page (issue 7) ----------------------------------------------------


class DiffView(BaseModel):
    """A unified diff between two versions of a script (`from` None: from an empty file)."""

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)

    from_version: int | None = Field(alias="from")
    to_version: int = Field(alias="to")
    lines: list[str]  # unified diff lines: "--- ", "+++ ", "@@ ", "+", "-", " "
    truncated: bool  # cut at MAX_DIFF_LINES


class ResourceSampleView(BaseModel):
    at: datetime
    cpu_percent: float
    rss_bytes: int


class LogLinesView(BaseModel):
    """The last lines of a run's log, or (with `query`) the last lines containing it."""

    lines: list[str]
    query: str | None = None
    scanned_bytes: int | None = None  # a search: how much of the log it read, newest first
    limit_reached: bool = False  # a search stopped at its scan limit: older matches not looked at
