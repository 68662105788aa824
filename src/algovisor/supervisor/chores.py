"""The reconciler's housekeeping, each on its own interval: samples (and their history),
lease, log retention."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from algovisor.clock import Clock
from algovisor.data_layout import DataLayout
from algovisor.db.models import ResourceSample, Run, Strategy
from algovisor.supervisor.config import SupervisorConfig
from algovisor.supervisor.lease import renew_lease
from algovisor.supervisor.logfiles import apply_retention
from algovisor.supervisor.processes import LiveRun
from algovisor.supervisor.resources import ResourceSampler, Usage

LEASE_RENEW_SECS = 2.0
RETENTION_EVERY_SECS = 60.0
HISTORY_PRUNE_EVERY_SECS = 60.0


class PeriodicChores:
    def __init__(self, layout: DataLayout, clock: Clock, config: SupervisorConfig) -> None:
        self._layout = layout
        self._clock = clock
        self._config = config
        self._sampler = ResourceSampler()
        self._next_sample = 0.0
        self._next_lease = 0.0
        self._next_retention = 0.0
        self._next_history_prune = 0.0
        # Per watched run: the monotonic time its next sample may be stored as history.
        self._next_history: dict[str, float] = {}

    def sample(
        self, session: Session, active: Mapping[int, Run], live: Mapping[str, LiveRun]
    ) -> None:
        """Record CPU and memory of watched runs (on the run, and now and then as history),
        count memory-limit breaches, and prune history past its age."""
        monotonic = self._clock.monotonic()
        self._prune_history(session, monotonic)
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
        self._keep_history(session, runs, usage, now, monotonic)

    def _keep_history(
        self,
        session: Session,
        runs: Mapping[str, Run],
        usage: Mapping[str, Usage],
        now: datetime,
        monotonic: float,
    ) -> None:
        """Store a sample per run at most every `resource_history_secs`, across host restarts."""
        every = self._config.resource_history_secs
        for run_id in set(self._next_history) - set(runs):
            del self._next_history[run_id]  # ended, or no longer ours
        for run_id, measured in usage.items():
            due = self._next_history.get(run_id)
            if due is None:  # first seen by this host: the database knows its last sample
                last = session.scalar(
                    select(func.max(ResourceSample.at)).where(ResourceSample.run_id == run_id)
                )
                waited = (now - last).total_seconds() if last else every
                due = monotonic + max(0.0, every - waited)
            if monotonic < due:
                self._next_history[run_id] = due
                continue
            self._next_history[run_id] = monotonic + every
            session.add(
                ResourceSample(
                    strategy_id=runs[run_id].strategy_id,
                    run_id=run_id,
                    at=now,
                    cpu_percent=round(measured.cpu_percent, 1),
                    rss_bytes=measured.rss_bytes,
                )
            )

    def _prune_history(self, session: Session, monotonic: float) -> None:
        if monotonic < self._next_history_prune:
            return
        self._next_history_prune = monotonic + HISTORY_PRUNE_EVERY_SECS
        cutoff = self._clock.now() - timedelta(hours=self._config.resource_history_hours)
        session.execute(delete(ResourceSample).where(ResourceSample.at < cutoff))

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
