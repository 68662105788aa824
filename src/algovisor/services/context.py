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
from algovisor.security.encryption import SecretBox
from algovisor.settings import Settings


@dataclass
class ServiceContext:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    layout: DataLayout
    secrets: SecretBox
    clock: Clock = field(default_factory=SystemClock)

    @classmethod
    def open(cls, settings: Settings, clock: Clock | None = None) -> ServiceContext:
        """Connect, create the data directory and bring the schema up to date."""
        layout = DataLayout(settings.data_dir)
        layout.ensure()
        url = settings.resolved_database_url
        engine = make_engine(url)
        with translate_database_errors(url):
            upgrade(engine)
        return cls(
            settings=settings,
            engine=engine,
            sessions=make_session_factory(engine),
            layout=layout,
            secrets=SecretBox.in_data_dir(settings.data_dir),
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

    def close(self) -> None:
        self.engine.dispose()
