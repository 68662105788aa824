"""Fixtures for the positions SDK and store: a migrated database, a separate reader, managers.

`db` reads through its own SQLAlchemy engine (its own connections), so a row it
sees was committed by the SDK, not merely written on the SDK's connection.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text

from algovisor.db.engine import READ_ONLY_OPTION, make_engine
from algovisor.db.migrate import upgrade
from algovisor.sdk import PositionPersistenceManager

TABLES = ("strategy_sessions", "strategy_positions", "position_events", "order_intents")
_JSON_COLUMNS = ("state", "details")


def migrate(url: str) -> None:
    engine = make_engine(url)
    try:
        upgrade(engine)
    finally:
        engine.dispose()


class Db:
    """The test's own view of the database: plain SQL on separate connections."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine: Engine = make_engine(url)
        # Reads begin deferred: they never wait for a writer's lock (a test holds one).
        self.reader = self.engine.execution_options(**{READ_ONLY_OPTION: True})

    @property
    def is_sqlite(self) -> bool:
        return self.url.startswith("sqlite")

    def rows(self, sql: str, **parameters: Any) -> list[dict[str, Any]]:
        with self.reader.connect() as connection:
            result = connection.execute(text(sql), parameters)
            found = [dict(row._mapping) for row in result]
        for row in found:
            for column in _JSON_COLUMNS:
                if isinstance(row.get(column), str):
                    row[column] = json.loads(row[column])
        return found

    def one(self, sql: str, **parameters: Any) -> dict[str, Any]:
        found = self.rows(sql, **parameters)
        assert len(found) == 1, f"expected one row, got {found}"
        return found[0]

    def execute(self, sql: str, **parameters: Any) -> None:
        with self.engine.begin() as connection:
            connection.execute(text(sql), parameters)

    def counts(self) -> dict[str, int]:
        return {
            table: self.one(f"SELECT COUNT(*) AS n FROM {table}")["n"]  # noqa: S608
            for table in TABLES
        }

    def position(self, position_id: int) -> dict[str, Any]:
        return self.one("SELECT * FROM strategy_positions WHERE id = :id", id=position_id)

    def session(self, session_id: int) -> dict[str, Any]:
        return self.one("SELECT * FROM strategy_sessions WHERE id = :id", id=session_id)

    def events(self, position_id: int | None = None, kind: str | None = None) -> list[dict]:
        where = ["1 = 1"]
        if position_id is not None:
            where.append("position_id = :position_id")
        if kind is not None:
            where.append("kind = :kind")
        return self.rows(
            f"SELECT * FROM position_events WHERE {' AND '.join(where)} ORDER BY id",  # noqa: S608
            position_id=position_id,
            kind=kind,
        )

    def kinds(self, position_id: int) -> list[str]:
        return [event["kind"] for event in self.events(position_id)]

    def snapshot(self) -> dict[str, list[dict[str, Any]]]:
        """Every row of every positions table, to show a call changed nothing."""
        return {
            table: self.rows(f"SELECT * FROM {table} ORDER BY id")  # noqa: S608
            for table in TABLES
        }

    @contextlib.contextmanager
    def write_locked(self) -> Iterator[None]:
        """Hold the database's write lock from another connection, as another writer would."""
        if self.is_sqlite:
            path = self.url.split(":///", 1)[1]
            connection = sqlite3.connect(path, isolation_level=None)
            connection.execute("BEGIN IMMEDIATE")
            try:
                yield
            finally:
                connection.execute("ROLLBACK")
                connection.close()
            return
        with self.engine.connect() as connection:
            connection.execute(text("LOCK TABLE strategy_positions IN EXCLUSIVE MODE"))
            try:
                yield
            finally:
                connection.rollback()

    def refuse_events(self, kind: str) -> None:
        """From now on inserting a `kind` event fails inside the database (a trigger)."""
        if self.is_sqlite:
            self.execute(
                "CREATE TRIGGER refuse_event BEFORE INSERT ON position_events "
                f"WHEN NEW.kind = '{kind}' BEGIN SELECT RAISE(ABORT, 'refused'); END"
            )
            return
        self.execute(
            "CREATE FUNCTION refuse_event() RETURNS trigger AS $$ BEGIN "
            f"IF NEW.kind = '{kind}' THEN RAISE EXCEPTION 'refused'; END IF; RETURN NEW; "
            "END $$ LANGUAGE plpgsql"
        )
        self.execute(
            "CREATE TRIGGER refuse_event BEFORE INSERT ON position_events "
            "FOR EACH ROW EXECUTE FUNCTION refuse_event()"
        )

    def close(self) -> None:
        self.engine.dispose()


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, made once; each test gets a copy (migrating takes ~0.3 s)."""
    path = tmp_path_factory.mktemp("template") / "algovisor.db"
    migrate(f"sqlite:///{path}")
    return path


@pytest.fixture
def url(database_url: str, migrated_sqlite: Path) -> str:
    """The test's database, migrated as the host and CLI leave it."""
    if database_url.startswith("sqlite"):
        path = Path(database_url.split(":///", 1)[1])
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(migrated_sqlite, path)
    else:
        migrate(database_url)
    return database_url


@pytest.fixture
def db(url: str) -> Iterator[Db]:
    reader = Db(url)
    yield reader
    reader.close()


ManagerFactory = Callable[..., PositionPersistenceManager]


@pytest.fixture
def managers(url: str) -> Iterator[ManagerFactory]:
    """Make managers on the test's database; whatever a test leaves open is closed after it."""
    made: list[PositionPersistenceManager] = []

    def make(strategy_name: str = "trail", **options: Any) -> PositionPersistenceManager:
        options.setdefault("database_url", url)
        manager = PositionPersistenceManager(strategy_name, **options)
        made.append(manager)
        return manager

    yield make
    for manager in made:
        with contextlib.suppress(Exception):
            manager.close()


def sdk_environment(**extra: str) -> dict[str, str]:
    """A standalone strategy's environment: none of the host's ALGOVISOR_* variables."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("ALGOVISOR_")}
    environment.update(extra)
    return environment


@pytest.fixture
def script(tmp_path: Path) -> Callable[[str, str], Path]:
    """Write a strategy script (dedented) and return its path."""

    def write(name: str, body: str) -> Path:
        path = tmp_path / "scripts" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(body))
        return path

    return write


def start_script(path: Path, environment: dict[str, str], **options: Any) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(path)],
        env=environment,
        cwd=path.parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **options,
    )
