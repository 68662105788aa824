"""Settings, built once by an entry point and passed down (never a global)."""

from __future__ import annotations

import ipaddress
from pathlib import Path

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "::1"}


HHMM = r"^([01]\d|2[0-3]):[0-5]\d$"  # a time of day, 24-hour


class Settings(BaseSettings):
    """Everything the host and the CLI need to find their data and serve it.

    Each field reads `ALGOVISOR_<NAME>` from the environment; entry points pass
    command-line flags as keyword arguments, which win over the environment.
    """

    model_config = SettingsConfigDict(env_prefix="ALGOVISOR_", extra="ignore")

    data_dir: Path = Field(default=Path("./algovisor-data"))
    database_url: str | None = None
    bind_host: str = "127.0.0.1"
    port: int = Field(default=8600, ge=1, le=65535)
    # Serving on a non-loopback address exposes code execution to the network;
    # it must be asked for explicitly.
    allow_remote: bool = False

    max_script_bytes: int = Field(default=1_000_000, gt=0)
    reconcile_interval_secs: float = Field(default=1.0, gt=0)
    resource_sample_secs: float = Field(default=5.0, gt=0)
    # The resource chart's history: at most one sample per run this often, kept this long.
    resource_history_secs: float = Field(default=60.0, gt=0)
    resource_history_hours: float = Field(default=24.0, gt=0, le=24 * 366)
    host_name: str | None = None

    # Master contracts: the daily refresh time (IST, on trading days), how many
    # unreadable rows a file may have, and how long a download may take.
    contract_refresh_time: str = Field(default="08:00", pattern=HHMM)
    contract_max_rejected_percent: float = Field(default=5.0, ge=0, le=100)
    contract_download_timeout_secs: float = Field(default=300.0, gt=0)
    contract_attempt_deadline_secs: float = Field(default=600.0, gt=0)

    # The paper broker: its starting cash, how often working orders are matched, and
    # when (IST, on trading days) MIS positions are squared off, per segment.
    paper_starting_cash: int = Field(default=10_000_000, gt=0, le=10**12)
    paper_match_interval_secs: float = Field(default=0.5, gt=0, le=60)
    paper_squareoff_equity: str = Field(default="15:15", pattern=HHMM)  # NSE BSE NFO BFO
    paper_squareoff_currency: str = Field(default="16:45", pattern=HHMM)  # CDS BCD
    paper_squareoff_commodity: str = Field(default="23:30", pattern=HHMM)  # MCX

    log_max_bytes: int = Field(default=50 * 1024 * 1024, ge=1024)
    log_keep_files: int = Field(default=50, ge=1)
    log_keep_days: int = Field(default=30, ge=1)
    log_keep_total_bytes: int = Field(default=2 * 1024 * 1024 * 1024, ge=1024 * 1024)

    @field_validator("data_dir")
    @classmethod
    def _absolute_data_dir(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @model_validator(mode="after")
    def _refuse_unsafe_bind(self) -> Settings:
        if self.bind_host in LOOPBACK_HOSTS or self.allow_remote:
            return self
        try:
            if ipaddress.ip_address(self.bind_host).is_loopback:
                return self
        except ValueError:
            pass
        raise ValueError(
            f"refusing to bind to {self.bind_host}: strategy upload is code execution. "
            "Bind to 127.0.0.1 behind a reverse proxy, or set ALGOVISOR_ALLOW_REMOTE=true "
            "if you really mean it."
        )

    @model_validator(mode="after")
    def _deadline_after_timeout(self) -> Settings:
        # Past the deadline the host abandons an attempt as hung: it must outlast the
        # download's own timeout, or live downloads would be abandoned.
        if self.contract_attempt_deadline_secs <= self.contract_download_timeout_secs:
            raise ValueError(
                "ALGOVISOR_CONTRACT_ATTEMPT_DEADLINE_SECS "
                f"({self.contract_attempt_deadline_secs:g}) must be longer than "
                "ALGOVISOR_CONTRACT_DOWNLOAD_TIMEOUT_SECS "
                f"({self.contract_download_timeout_secs:g})"
            )
        return self

    @property
    def resolved_database_url(self) -> str:
        """The database URL, defaulting to SQLite in the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'algovisor.db'}"

    @property
    def api_url(self) -> str:
        host = self.bind_host if ":" not in self.bind_host else f"[{self.bind_host}]"
        return f"http://{host}:{self.port}"
