"""The reconciler's housekeeping, each on its own interval: samples, lease, log retention."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from algovisor.clock import Clock
from algovisor.data_layout import DataLayout
from algovisor.db.models import Run, Strategy
from algovisor.supervisor.config import SupervisorConfig
from algovisor.supervisor.lease import renew_lease
from algovisor.supervisor.logfiles import apply_retention
from algovisor.supervisor.processes import LiveRun
from algovisor.supervisor.resources import ResourceSampler

LEASE_RENEW_SECS = 2.0
RETENTION_EVERY_SECS = 60.0


class PeriodicChores:
    def __init__(self, layout: DataLayout, clock: Clock, config: SupervisorConfig) -> None:
        self._layout = layout
        self._clock = clock
        self._config = config
        self._sampler = ResourceSampler()
        self._next_sample = 0.0
        self._next_lease = 0.0
        self._next_retention = 0.0

    def sample(
        self, session: Session, active: Mapping[int, Run], live: Mapping[str, LiveRun]
    ) -> None:
        """Record CPU and memory of watched runs, and count memory-limit breaches."""
        monotonic = self._clock.monotonic()
        if monotonic < self._next_sample:
            return
        self._next_sample = monotonic + self._config.resource_sample_secs
        runs = {run.id: run for run in active.values() if run.id in live}
        usage = self._sampler.sample({run_id: live[run_id].pid for run_id in runs})
        now = self._clock.now()
        limits = {
            strategy.id: strategy.memory_limit_mb
            for strategy in session.scalars(
                select(Strategy).where(Strategy.memory_limit_mb.is_not(None))
            )
        }
        for run_id, measured in usage.items():
            run = runs[run_id]
            run.cpu_percent = round(measured.cpu_percent, 1)
            run.rss_bytes = measured.rss_bytes
            run.sampled_at = now
            limit_mb = limits.get(run.strategy_id)
            if limit_mb:
                over = measured.rss_bytes > limit_mb * 1024 * 1024
                run.memory_breaches = run.memory_breaches + 1 if over else 0

    def renew_lease(self, session: Session, now: datetime) -> None:
        monotonic = self._clock.monotonic()
        if monotonic >= self._next_lease:
            self._next_lease = monotonic + LEASE_RENEW_SECS
            renew_lease(session, now)

    def apply_retention(self, live: Iterable[LiveRun]) -> None:
        """Prune old logs of every strategy, never the file a live run writes to."""
        monotonic = self._clock.monotonic()
        if monotonic < self._next_retention:
            return
        self._next_retention = monotonic + RETENTION_EVERY_SECS
        protected = {self._layout.log_path(run.strategy_id, run.run_id).name for run in live}
        logs_root = self._layout.root / "logs"
        for log_dir in logs_root.iterdir() if logs_root.exists() else ():
            if log_dir.is_dir():
                apply_retention(log_dir, self._config.retention, protected)
