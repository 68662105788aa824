"""What services hand back: plain, serializable views (API responses, CLI --json)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel


class VersionView(BaseModel):
    number: int
    filename: str
    sha256: str
    size_bytes: int
    note: str | None
    created_at: datetime
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
