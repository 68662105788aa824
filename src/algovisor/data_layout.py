"""Where things live in the data directory. Paths are built from ids, never from names."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from algovisor.runner.files import active_log_name


@dataclass(frozen=True, slots=True)
class DataLayout:
    root: Path

    def ensure(self) -> None:
        for directory in (
            self.root,
            self.root / "strategies",
            self.root / "logs",
            self.root / "runs",
            self.root / "calendars",
            self.contracts_dir,
        ):
            directory.mkdir(parents=True, exist_ok=True)
        self.root.chmod(0o700)

    def strategy_dir(self, strategy_id: int) -> Path:
        return self.root / "strategies" / str(strategy_id)

    def script_path(self, strategy_id: int, version_number: int, filename: str) -> Path:
        return self.strategy_dir(strategy_id) / "versions" / str(version_number) / filename

    def work_dir(self, strategy_id: int) -> Path:
        """The strategy's working directory, kept across runs and versions."""
        return self.strategy_dir(strategy_id) / "work"

    def log_dir(self, strategy_id: int) -> Path:
        return self.root / "logs" / str(strategy_id)

    def log_path(self, strategy_id: int, run_id: str) -> Path:
        return self.log_dir(strategy_id) / active_log_name(run_id)

    def run_dir(self, run_id: str) -> Path:
        """Control files of a live run: its heartbeat and, at the end, its exit record."""
        return self.root / "runs" / run_id

    @property
    def calendar_overrides(self) -> Path:
        """The trader's holiday and special-session corrections (CSV)."""
        return self.root / "calendar-overrides.csv"

    @property
    def calendar_last_good(self) -> Path:
        return self.root / "calendars" / "overrides.last-good.csv"

    @property
    def calendar_cache(self) -> Path:
        return self.root / "calendars" / "library-cache.json"

    @property
    def contracts_dir(self) -> Path:
        """Downloads in progress (a contract's rows live in the database)."""
        return self.root / "contracts"

    @property
    def host_lock(self) -> Path:
        return self.root / "host.lock"
