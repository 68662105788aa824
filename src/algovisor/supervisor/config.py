"""How a host's supervisor is tuned: built once from settings by the composition root."""

from __future__ import annotations

from dataclasses import dataclass, field

from algovisor.supervisor.logfiles import RetentionLimits
from algovisor.supervisor.restart_policy import RestartPolicy


@dataclass(frozen=True, slots=True)
class SupervisorConfig:
    host_name: str
    boot_id: str
    database_url: str
    interval_secs: float = 1.0
    resource_sample_secs: float = 5.0
    resource_history_secs: float = 60.0  # at most one stored sample per run this often
    resource_history_hours: float = 24.0  # stored samples older than this are pruned
    log_max_bytes: int = 50 * 1024 * 1024
    retention: RetentionLimits = field(default_factory=lambda: RetentionLimits(50, 30, 2 * 1024**3))
    policy: RestartPolicy = field(default_factory=RestartPolicy)
    # Where strategies reach the paper broker's OpenAlgo API (None: no API served).
    api_url: str | None = None
