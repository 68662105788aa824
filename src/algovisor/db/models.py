"""Tables. Every timestamp is stored as timezone-aware UTC."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from algovisor.db.types import UTCDateTime, byte_order_text


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON,
        list[int]: JSON,
    }


class Strategy(Base):
    """A user's script plus its settings, its intent and its observed state."""

    __tablename__ = "strategies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    broker: Mapped[str] = mapped_column(String(32), default="paper")
    # What the user asked for: "run" or "stop". Only users (CLI, API) write it.
    intent: Mapped[str] = mapped_column(String(8), default="stop")
    # Bumped by `restart`; a run started under an older generation is replaced.
    restart_generation: Mapped[int] = mapped_column(Integer, default=0)
    grace_secs: Mapped[float] = mapped_column(Float, default=10.0)
    final_exit_codes: Mapped[list[int]] = mapped_column(default=list)
    memory_limit_mb: Mapped[int | None] = mapped_column(Integer)
    # The schedule, in the exchange's wall-clock time; no start time: manual only.
    schedule_start: Mapped[str | None] = mapped_column(String(5))  # "HH:MM"
    schedule_stop: Mapped[str | None] = mapped_column(String(5))  # None: no daily stop
    schedule_days: Mapped[str | None] = mapped_column(String(32))  # "mon,tue,wed"
    schedule_exchange: Mapped[str | None] = mapped_column(String(8))
    schedule_special_sessions: Mapped[bool] = mapped_column(Boolean, default=True)
    # Stopped for the rest of the current window (user's choice, or a clean exit).
    window_skipped_until: Mapped[datetime | None] = mapped_column()

    # Observed state, written only by the reconciler.
    state: Mapped[str] = mapped_column(String(16), default="stopped")
    state_message: Mapped[str | None] = mapped_column(Text)
    error_message: Mapped[str | None] = mapped_column(Text)
    # Why the intent is 'stop' (user stop, clean exit...), shown while stopped.
    stop_message: Mapped[str | None] = mapped_column(Text)
    backoff_until: Mapped[datetime | None] = mapped_column()
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    restart_count: Mapped[int] = mapped_column(Integer, default=0)

    created_at: Mapped[datetime] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column()

    versions: Mapped[list[StrategyVersion]] = relationship(
        back_populates="strategy",
        cascade="all, delete-orphan",
        foreign_keys="StrategyVersion.strategy_id",
        order_by="StrategyVersion.number",
    )
    env_vars: Mapped[list[StrategyEnvVar]] = relationship(
        cascade="all, delete-orphan", order_by="StrategyEnvVar.key"
    )


class StrategyVersion(Base):
    """An immutable copy of a strategy's script; the highest number is the current one."""

    __tablename__ = "strategy_versions"
    __table_args__ = (UniqueConstraint("strategy_id", "number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    strategy_id: Mapped[int] = mapped_column(ForeignKey("strategies.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    filename: Mapped[str] = mapped_column(String(128))
    content: Mapped[bytes] = mapped_column(LargeBinary)
    sha256: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(Integer)
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column()

    strategy: Mapped[Strategy] = relationship(back_populates="versions", foreign_keys=[strategy_id])


class StrategyEnvVar(Base):
    """One environment variable; a secret's value is a Fernet token, never plaintext."""

    __tablename__ = "strategy_env_vars"
    __table_args__ = (UniqueConstraint("strategy_id", "key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    strategy_id: Mapped[int] = mapped_column(ForeignKey("strategies.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(128))
    value: Mapped[str] = mapped_column(Text)
    is_secret: Mapped[bool] = mapped_column(Boolean, default=False)


class Run(Base):
    """One execution of one version: recorded before the process exists."""

    __tablename__ = "runs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    strategy_id: Mapped[int] = mapped_column(
        ForeignKey("strategies.id", ondelete="CASCADE"), index=True
    )
    version_id: Mapped[int] = mapped_column(ForeignKey("strategy_versions.id"))
    restart_generation: Mapped[int] = mapped_column(Integer, default=0)
    host: Mapped[str] = mapped_column(String(255))
    # spawning -> running -> (stopping) -> ended
    status: Mapped[str] = mapped_column(String(16), index=True)
    pid: Mapped[int | None] = mapped_column(Integer)
    process_start_time: Mapped[float | None] = mapped_column(Float)
    boot_id: Mapped[str | None] = mapped_column(String(64))
    log_path: Mapped[str] = mapped_column(Text)

    created_at: Mapped[datetime] = mapped_column()
    started_at: Mapped[datetime | None] = mapped_column()
    stop_requested_at: Mapped[datetime | None] = mapped_column()
    stop_reason: Mapped[str | None] = mapped_column(String(64))
    ended_at: Mapped[datetime | None] = mapped_column()

    exit_code: Mapped[int | None] = mapped_column(Integer)
    exit_signal: Mapped[int | None] = mapped_column(Integer)
    end_reason: Mapped[str | None] = mapped_column(String(32))
    exception_type: Mapped[str | None] = mapped_column(String(128))
    exception_message: Mapped[str | None] = mapped_column(Text)
    traceback: Mapped[str | None] = mapped_column(Text)

    cpu_percent: Mapped[float | None] = mapped_column(Float)
    rss_bytes: Mapped[int | None] = mapped_column(BigInteger)
    memory_breaches: Mapped[int] = mapped_column(Integer, default=0)
    sampled_at: Mapped[datetime | None] = mapped_column()


class ResourceSample(Base):
    """A run's CPU and memory at one instant: the last hours' history, for the chart.

    At most one per run per `resource_history_secs`; older than `resource_history_hours`
    is pruned by the host's chores.
    """

    __tablename__ = "resource_samples"
    __table_args__ = (Index("ix_resource_samples_strategy_at", "strategy_id", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    strategy_id: Mapped[int] = mapped_column(ForeignKey("strategies.id", ondelete="CASCADE"))
    run_id: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(index=True)
    cpu_percent: Mapped[float] = mapped_column(Float)
    rss_bytes: Mapped[int] = mapped_column(BigInteger)


class ApiKey(Base):
    """An API key; only its SHA-256 is stored."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64))
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column()
    last_used_at: Mapped[datetime | None] = mapped_column()


class HostLease(Base):
    """The host that reconciles this database, and when it last said so."""

    __tablename__ = "host_leases"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    boot_id: Mapped[str] = mapped_column(String(64))
    api_url: Mapped[str] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column()
    heartbeat_at: Mapped[datetime] = mapped_column()


class MasterContractStatus(Base):
    """One broker's master contract: which generation readers see, and the latest attempt.

    The seed's columns (broker, status, message, last_updated, total_symbols,
    is_ready) keep their names and meaning; the rest say what was loaded, how,
    and what went wrong.
    """

    __tablename__ = "master_contract_status"

    broker: Mapped[str] = mapped_column(String(32), primary_key=True)
    # pending -> downloading -> success | error
    status: Mapped[str] = mapped_column(String(16), default="pending")
    message: Mapped[str | None] = mapped_column(Text)
    last_updated: Mapped[datetime] = mapped_column()
    total_symbols: Mapped[int] = mapped_column(Integer, default=0)
    # True while the loaded generation is for the current trading day; readers
    # recompute it from `trading_day`, since a day boundary changes it unwritten.
    is_ready: Mapped[bool] = mapped_column(Boolean, default=False)

    # The contract readers see: 0 means none was ever loaded.
    generation: Mapped[int] = mapped_column(Integer, default=0)
    # The last generation number handed to an attempt: each gets its own, ever.
    last_generation: Mapped[int] = mapped_column(Integer, default=0)
    trading_day: Mapped[date | None] = mapped_column(Date)
    loaded_at: Mapped[datetime | None] = mapped_column()
    exchange_counts: Mapped[dict[str, Any]] = mapped_column(default=dict)
    rows_rejected: Mapped[int] = mapped_column(Integer, default=0)
    # {"reasons": {reason: count}, "examples": [...], "skipped": {reason: count}}
    rejections: Mapped[dict[str, Any]] = mapped_column(default=dict)
    step_secs: Mapped[dict[str, Any]] = mapped_column(default=dict)

    # Where the contract comes from; remembered so the host can refresh it.
    source_kind: Mapped[str | None] = mapped_column(String(8))  # paper, url, file
    source_format: Mapped[str | None] = mapped_column(String(16))
    source_location: Mapped[str | None] = mapped_column(Text)
    # A Fernet token of the source's API key (an OpenAlgo server's); never shown.
    source_secret: Mapped[str | None] = mapped_column(Text)

    # The attempt in progress; its deadline lets anyone declare it stuck.
    attempt_id: Mapped[str | None] = mapped_column(String(32))
    attempt_started_at: Mapped[datetime | None] = mapped_column()
    attempt_deadline_at: Mapped[datetime | None] = mapped_column()
    attempt_step: Mapped[str | None] = mapped_column(String(16))
    # "host:pid:start": lets the host see at once that a CLI download died.
    attempt_owner: Mapped[str | None] = mapped_column(String(160))
    progress_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    progress_total_bytes: Mapped[int | None] = mapped_column(BigInteger)
    # Failed attempts in a row, and when the host tries again.
    failures: Mapped[int] = mapped_column(Integer, default=0)
    retry_at: Mapped[datetime | None] = mapped_column()


class MasterContractRow(Base):
    """One instrument of one generation of one broker's contract.

    A load writes generation N+1 beside N (the staging rows, invisible to
    readers), then one update of the status row swaps it in; N is deleted after.
    """

    __tablename__ = "master_contracts"
    __table_args__ = (
        Index(
            "uq_master_contracts_token",
            "broker",
            "generation",
            "exchange",
            "token",
            unique=True,
        ),
    )

    broker: Mapped[str] = mapped_column(String(32), primary_key=True)
    generation: Mapped[int] = mapped_column(Integer, primary_key=True)
    exchange: Mapped[str] = mapped_column(byte_order_text(16), primary_key=True)
    symbol: Mapped[str] = mapped_column(byte_order_text(64), primary_key=True)
    token: Mapped[str] = mapped_column(String(64))
    broker_symbol: Mapped[str] = mapped_column(String(128))
    name: Mapped[str] = mapped_column(String(128))
    broker_exchange: Mapped[str] = mapped_column(String(16))
    expiry: Mapped[date | None] = mapped_column(Date)
    strike: Mapped[float | None] = mapped_column(Float)
    lot_size: Mapped[int] = mapped_column(Integer)
    instrument_type: Mapped[str] = mapped_column(String(8))
    tick_size: Mapped[float] = mapped_column(Float)


class StrategySessionRow(Base):
    """One strategy process's use of the positions SDK: from start_session to its end or crash.

    Written by `algovisor.positions.store` over a plain DBAPI connection (the SDK
    stays light); read here by the services.
    """

    __tablename__ = "strategy_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    strategy_id: Mapped[int | None] = mapped_column(
        ForeignKey("strategies.id", ondelete="SET NULL"), index=True
    )
    strategy_name: Mapped[str] = mapped_column(String(128), index=True)
    run_id: Mapped[str | None] = mapped_column(String(32), index=True)
    broker: Mapped[str] = mapped_column(String(32))
    label: Mapped[str | None] = mapped_column(String(128))
    # ACTIVE -> ENDED | CRASHED
    status: Mapped[str] = mapped_column(String(16), index=True)
    hostname: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column()
    ended_at: Mapped[datetime | None] = mapped_column()
    crashed_at: Mapped[datetime | None] = mapped_column()
    crash_reason: Mapped[str | None] = mapped_column(Text)
    exception_type: Mapped[str | None] = mapped_column(String(128))
    traceback: Mapped[str | None] = mapped_column(Text)


class StrategyPositionRow(Base):
    """A position a strategy opened: typed columns for every trade, JSON for its own state."""

    __tablename__ = "strategy_positions"
    __table_args__ = (
        Index("ix_strategy_positions_strategy_status", "strategy_name", "status"),
        # Updated every flush interval: leave room on each page for heap-only updates.
        {"postgresql_with": {"fillfactor": 70}},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("strategy_sessions.id"), index=True)
    strategy_id: Mapped[int | None] = mapped_column(
        ForeignKey("strategies.id", ondelete="SET NULL"), index=True
    )
    strategy_name: Mapped[str] = mapped_column(String(128))
    broker: Mapped[str] = mapped_column(String(32))
    symbol: Mapped[str] = mapped_column(String(64))
    exchange: Mapped[str] = mapped_column(String(16))
    product: Mapped[str] = mapped_column(String(8))
    side: Mapped[str] = mapped_column(String(8))  # LONG | SHORT
    quantity: Mapped[int] = mapped_column(Integer)  # still open, > 0 until closed
    initial_quantity: Mapped[int] = mapped_column(Integer)
    entry_price: Mapped[float] = mapped_column(Float)
    entry_time: Mapped[datetime] = mapped_column()
    stop_price: Mapped[float | None] = mapped_column(Float)
    target_price: Mapped[float | None] = mapped_column(Float)
    current_price: Mapped[float | None] = mapped_column(Float)
    leg: Mapped[str | None] = mapped_column(String(64))
    state: Mapped[dict[str, Any]] = mapped_column(default=dict)
    entry_order_id: Mapped[str | None] = mapped_column(String(64))
    client_order_id: Mapped[str | None] = mapped_column(String(64))
    # ACTIVE | CRASHED | RECOVERED (open) ; CLOSED
    status: Mapped[str] = mapped_column(String(16), index=True)
    exit_price: Mapped[float | None] = mapped_column(Float)  # quantity-weighted average
    exit_time: Mapped[datetime | None] = mapped_column()
    exit_reason: Mapped[str | None] = mapped_column(String(128))
    exit_order_id: Mapped[str | None] = mapped_column(String(64))
    realized_pnl: Mapped[float] = mapped_column(Float, default=0.0)
    updated_at: Mapped[datetime] = mapped_column()
    update_count: Mapped[int] = mapped_column(Integer, default=0)
    crashed_at: Mapped[datetime | None] = mapped_column()
    crash_reason: Mapped[str | None] = mapped_column(Text)
    recovered_at: Mapped[datetime | None] = mapped_column()
    broker_verdict: Mapped[str | None] = mapped_column(String(24))
    broker_checked_at: Mapped[datetime | None] = mapped_column()


class PositionEventRow(Base):
    """The trail: entry, stop moves, exits, crash, recovery, broker verdicts, orders."""

    __tablename__ = "position_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    position_id: Mapped[int | None] = mapped_column(
        ForeignKey("strategy_positions.id", ondelete="CASCADE"), index=True
    )
    session_id: Mapped[int | None] = mapped_column(
        ForeignKey("strategy_sessions.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(24))
    at: Mapped[datetime] = mapped_column(index=True)
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)


class OrderIntentRow(Base):
    """An order about to be sent, durable first: a crash between send and record shows here."""

    __tablename__ = "order_intents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_order_id: Mapped[str] = mapped_column(String(64), unique=True)
    session_id: Mapped[int] = mapped_column(
        ForeignKey("strategy_sessions.id", ondelete="CASCADE"), index=True
    )
    position_id: Mapped[int | None] = mapped_column(
        ForeignKey("strategy_positions.id", ondelete="CASCADE")
    )
    symbol: Mapped[str] = mapped_column(String(64))
    exchange: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(8))  # BUY | SELL
    quantity: Mapped[int] = mapped_column(Integer)
    price: Mapped[float | None] = mapped_column(Float)
    purpose: Mapped[str | None] = mapped_column(String(64))
    # PENDING -> CONFIRMED | REJECTED ; PENDING at a crash -> UNCONFIRMED
    status: Mapped[str] = mapped_column(String(16), index=True)
    broker_order_id: Mapped[str | None] = mapped_column(String(64))
    message: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column()
    confirmed_at: Mapped[datetime | None] = mapped_column()


class BrokerAccount(Base):
    """A broker algovisor trades through: the paper broker's API key, an upstream's URL and key.

    Keys are Fernet tokens (printable again by `algovisor broker api-key`); the
    SHA-256 of the paper key answers each request without decrypting anything.
    The paper row has the API key; an upstream's row (`openalgo`) has its URL and key.
    """

    __tablename__ = "broker_accounts"

    broker: Mapped[str] = mapped_column(String(32), primary_key=True)
    api_key_secret: Mapped[str | None] = mapped_column(Text)
    api_key_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    upstream_url: Mapped[str | None] = mapped_column(Text)
    upstream_key_secret: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column()


class PaperOrderRow(Base):
    """An order of the paper broker, as `brokers.paper.orders.Order` has it (one row, updated)."""

    __tablename__ = "paper_orders"

    order_id: Mapped[str] = mapped_column(String(16), primary_key=True)  # YYMMDD + 8 digits
    symbol: Mapped[str] = mapped_column(String(64))
    exchange: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(4))
    quantity: Mapped[int] = mapped_column(BigInteger)
    pricetype: Mapped[str] = mapped_column(String(8))
    product: Mapped[str] = mapped_column(String(8))
    price: Mapped[float] = mapped_column(Float)
    trigger_price: Mapped[float] = mapped_column(Float)
    strategy: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16), index=True)
    created_at: Mapped[datetime] = mapped_column(index=True)
    updated_at: Mapped[datetime] = mapped_column()
    filled_quantity: Mapped[int] = mapped_column(BigInteger)
    average_price: Mapped[float] = mapped_column(Float)
    rejection_reason: Mapped[str] = mapped_column(Text)
    margin_per_unit: Mapped[float] = mapped_column(Float)


class PaperTradeRow(Base):
    """A fill of the paper broker: the trade book's row, and what positions and funds fold."""

    __tablename__ = "paper_trades"

    trade_id: Mapped[str] = mapped_column(String(24), primary_key=True)
    order_id: Mapped[str] = mapped_column(
        ForeignKey("paper_orders.order_id", ondelete="CASCADE"), index=True
    )
    symbol: Mapped[str] = mapped_column(String(64))
    exchange: Mapped[str] = mapped_column(String(16))
    product: Mapped[str] = mapped_column(String(8))
    action: Mapped[str] = mapped_column(String(4))
    quantity: Mapped[int] = mapped_column(BigInteger)
    price: Mapped[float] = mapped_column(Float)
    at: Mapped[datetime] = mapped_column(index=True)
    strategy: Mapped[str] = mapped_column(String(128))
    margin_per_unit: Mapped[float] = mapped_column(Float)


class User(Base):
    """A web UI user; the password is kept as an scrypt hash with its parameters."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column()
    password_changed_at: Mapped[datetime] = mapped_column()


class WebSession(Base):
    """A browser's login: keyed by the SHA-256 of the cookie's random token, never the token."""

    __tablename__ = "web_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column()
    expires_at: Mapped[datetime] = mapped_column(index=True)  # the absolute limit
    last_seen_at: Mapped[datetime] = mapped_column()
