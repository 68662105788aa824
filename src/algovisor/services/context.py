"""The composition root's product: what every service function needs, built once."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from algovisor.clock import Clock, SystemClock
from algovisor.data_layout import DataLayout
from algovisor.db.engine import make_engine, make_session_factory, translate_database_errors
from algovisor.db.migrate import upgrade
from algovisor.positions.database import Connection, Dialect
from algovisor.positions.store import PositionStore
from algovisor.schedule.store import CalendarStore
from algovisor.security.encryption import SecretBox
from algovisor.settings import Settings


@dataclass
class ServiceContext:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    read_sessions: sessionmaker[Session]
    layout: DataLayout
    secrets: SecretBox
    calendars: CalendarStore
    clock: Clock = field(default_factory=SystemClock)

    @classmethod
    def open(cls, settings: Settings, clock: Clock | None = None) -> ServiceContext:
        """Connect, create the data directory and bring the schema up to date."""
        DataLayout(settings.data_dir).ensure()
        url = settings.resolved_database_url
        engine = make_engine(url)
        with translate_database_errors(url):
            upgrade(engine)
        return cls.from_engine(settings, engine, clock)

    @classmethod
    def from_engine(
        cls, settings: Settings, engine: Engine, clock: Clock | None = None
    ) -> ServiceContext:
        """Wire a context around an engine, touching neither the database nor the disk."""
        layout = DataLayout(settings.data_dir)
        return cls(
            settings=settings,
            engine=engine,
            sessions=make_session_factory(engine),
            read_sessions=make_session_factory(engine, read_only=True),
            layout=layout,
            secrets=SecretBox.in_data_dir(settings.data_dir),
            calendars=CalendarStore(
                layout.calendar_overrides, layout.calendar_last_good, layout.calendar_cache
            ),
            clock=clock or SystemClock(),
        )

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session in one transaction, committed on success, with errors translated."""
        with (
            translate_database_errors(self.settings.resolved_database_url),
            self.sessions.begin() as session,
        ):
            yield session

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A session for reads only: it never waits for a writer (SQLite WAL snapshot)."""
        with (
            translate_database_errors(self.settings.resolved_database_url),
            self.read_sessions() as session,
        ):
            yield session

    def position_store(self) -> PositionStore:
        """The positions store on this context's engine (its own pooled connection)."""
        dialect = Dialect.for_connection(self.engine.dialect.name, self.engine.raw_connection)
        return PositionStore(Connection(dialect), self.clock.now)

    def close(self) -> None:
        self.engine.dispose()
