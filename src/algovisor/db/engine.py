"""Engines and sessions for SQLite (WAL) and PostgreSQL, with errors translated."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DatabaseError, DBAPIError, IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from algovisor.errors import UnavailableError

SQLITE_BUSY_TIMEOUT_MS = 5000  # also PostgreSQL's lock_timeout


class DatabaseUnavailableError(UnavailableError):
    """The database is locked, unreachable or refused the connection."""


def redact_url(url: str) -> str:
    """The URL without its password, for messages and logs."""
    return make_url(url).render_as_string(hide_password=True)


def make_engine(url: str) -> Engine:
    """An engine configured for this database's dialect."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        # pysqlite's implicit transactions break SAVEPOINT and BEGIN IMMEDIATE;
        # let SQLAlchemy emit BEGIN itself. IMMEDIATE takes the write lock up front
        # (waiting up to the busy timeout): a deferred transaction that read first and
        # writes after another process committed fails at once with "database is
        # locked" (SQLITE_BUSY_SNAPSHOT), e.g. a user's start racing the reconciler.
        # Sessions made for reading only begin deferred: in WAL mode they read a
        # snapshot and never wait for the write lock.
        event.listen(engine, "begin", _begin_sqlite)
        return engine
    engine = create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10)
    event.listen(engine, "connect", _postgresql_timeouts)
    return engine


def _postgresql_timeouts(dbapi_connection: Any, _record: Any) -> None:
    # A row or table lock held elsewhere must give a clear "busy" answer, like
    # SQLite's busy timeout, not hang a request or a reconciler tick forever.
    with dbapi_connection.cursor() as cursor:
        cursor.execute(f"SET lock_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
    dbapi_connection.commit()


READ_ONLY_OPTION = "algovisor_read_only"


def _begin_sqlite(connection: Connection) -> None:
    read_only = connection.get_execution_options().get(READ_ONLY_OPTION, False)
    connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def _sqlite_pragmas(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.close()


def make_session_factory(engine: Engine, *, read_only: bool = False) -> sessionmaker[Session]:
    """Sessions on `engine`; `read_only` ones never take SQLite's write lock."""
    bind = engine.execution_options(**{READ_ONLY_OPTION: True}) if read_only else engine
    return sessionmaker(bind, expire_on_commit=False)


@contextmanager
def translate_database_errors(url: str) -> Iterator[None]:
    """Turn driver errors about locks and connections into `DatabaseUnavailableError`."""
    try:
        yield
    except OperationalError as error:
        raise DatabaseUnavailableError(
            _describe(error, url),
            detail="Retry in a moment; if it persists, check the database server or file.",
        ) from error
    except IntegrityError:
        raise
    except DatabaseError as error:  # e.g. a corrupt file: "file is not a database"
        raise DatabaseUnavailableError(
            _describe(error, url),
            detail="The database file may be damaged; restore it from a backup.",
        ) from error
    except DBAPIError as error:
        if error.connection_invalidated:
            raise DatabaseUnavailableError(_describe(error, url)) from error
        raise


def _describe(error: DBAPIError, url: str) -> str:
    text = str(error.orig).strip().splitlines()[0] if error.orig else str(error)
    if "locked" in text or "busy" in text:
        return f"the database {redact_url(url)} is locked by another process ({text})"
    return f"cannot use the database {redact_url(url)}: {text}"
