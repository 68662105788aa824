"""The positions store's own database connections: stdlib sqlite3 or psycopg, no ORM.

Every strategy process that uses the SDK opens one of these, so it must stay
light: SQLAlchemy's import alone costs a strategy ~190 ms and ~28 MB, sqlite3's
~10 ms and ~2 MB. The host hands the store a connection from its own engine
(`Dialect.from_connection`), so one set of SQL serves both.

Values are written exactly as SQLAlchemy's models read them: timestamps as
`YYYY-MM-DD HH:MM:SS.ffffff` UTC text on SQLite and `timestamptz` on
PostgreSQL, JSON as text.
"""

from __future__ import annotations

import contextlib
import json
import re
import sqlite3
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit

from algovisor.errors import InvalidInputError, UnavailableError

BUSY_TIMEOUT_MS = 5000
RETRY_DEADLINE_SECS = 15.0  # a briefly locked database is waited out, up to this long
T = TypeVar("T")
_NAMED = re.compile(r"(?<!:):([a-z_][a-z0-9_]*)")


class StoreUnavailableError(UnavailableError):
    """The positions database is locked, unreachable or refused the write."""


class DatabaseUrlError(InvalidInputError):
    """The database URL given to the SDK cannot be used."""


class Dialect:
    """What differs between SQLite and PostgreSQL for the store's few statements."""

    name = "sqlite"

    def __init__(self, connect: Callable[[], Any]) -> None:
        self._connect = connect

    @staticmethod
    def from_url(url: str) -> Dialect:
        """A dialect that connects to `url` (SQLAlchemy form: sqlite:///path, postgresql+psycopg://)."""
        parts = urlsplit(url)
        scheme = parts.scheme.split("+", 1)[0]
        if scheme == "sqlite":
            path = unquote(url.split(":///", 1)[1]) if ":///" in url else ""
            if not path or path == ":memory:":
                raise DatabaseUrlError(
                    f"the positions store needs a database file, not {url!r}",
                    detail="Use sqlite:///path/to/algovisor.db or a postgresql:// URL.",
                )
            return SqliteDialect(lambda: _sqlite_connect(path))
        if scheme in ("postgresql", "postgres"):
            conninfo = parts._replace(scheme="postgresql").geturl()
            return PostgresDialect(lambda: _postgres_connect(conninfo))
        raise DatabaseUrlError(
            f"unsupported database URL scheme {parts.scheme!r}",
            detail="Use sqlite:///path/to/algovisor.db or postgresql+psycopg://...",
        )

    @staticmethod
    def for_connection(dialect_name: str, connect: Callable[[], Any]) -> Dialect:
        """A dialect over connections someone else makes (the host's engine pool)."""
        return PostgresDialect(connect) if dialect_name == "postgresql" else SqliteDialect(connect)

    def connect(self) -> Any:
        return self._connect()

    def sql(self, statement: str) -> str:
        return statement

    def begin(self, cursor: Any, *, read_only: bool) -> None:
        # IMMEDIATE takes the write lock up front (waiting out the busy timeout);
        # a read begins deferred and, in WAL mode, never waits for a writer.
        cursor.execute("BEGIN" if read_only else "BEGIN IMMEDIATE")

    def commit(self, connection: Any) -> None:
        connection.execute("COMMIT")

    def rollback(self, connection: Any) -> None:
        if connection.in_transaction:
            connection.execute("ROLLBACK")

    def timestamp(self, value: datetime) -> Any:
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")

    def read_timestamp(self, value: Any) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, datetime):
            return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
        return datetime.fromisoformat(value).replace(tzinfo=UTC)

    def read_json(self, value: Any) -> dict[str, Any]:
        if value is None:
            return {}
        return json.loads(value) if isinstance(value, str | bytes) else dict(value)

    def is_transient(self, error: BaseException) -> bool:
        """Locked, busy or disconnected: worth retrying (the data is kept meanwhile)."""
        return isinstance(error, sqlite3.OperationalError) and (
            "locked" in str(error) or "busy" in str(error)
        )

    def is_dbapi_error(self, error: BaseException) -> bool:
        return isinstance(error, sqlite3.Error)


class SqliteDialect(Dialect):
    name = "sqlite"


class PostgresDialect(Dialect):
    name = "postgresql"

    def sql(self, statement: str) -> str:
        return _NAMED.sub(r"%(\1)s", statement.replace("%", "%%"))

    def begin(self, cursor: Any, *, read_only: bool) -> None:
        pass  # psycopg opens a transaction with the first statement

    def commit(self, connection: Any) -> None:
        connection.commit()

    def rollback(self, connection: Any) -> None:
        connection.rollback()

    def timestamp(self, value: datetime) -> Any:
        return value.astimezone(UTC)

    def is_transient(self, error: BaseException) -> bool:
        import psycopg

        return isinstance(
            error,
            psycopg.OperationalError | psycopg.errors.SerializationFailure,
        )

    def is_dbapi_error(self, error: BaseException) -> bool:
        import psycopg

        return isinstance(error, psycopg.Error)


def _sqlite_connect(path: str) -> sqlite3.Connection:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(
        path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
    )
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    connection.execute("PRAGMA foreign_keys=ON")
    connection.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    return connection


def _postgres_connect(conninfo: str) -> Any:
    import psycopg
    from psycopg.conninfo import conninfo_to_dict

    # Added to the URL's own options (e.g. -csearch_path=...), never replacing them.
    given = conninfo_to_dict(conninfo).get("options")
    timeout = f"-c lock_timeout={BUSY_TIMEOUT_MS}"
    return psycopg.connect(conninfo, options=f"{given} {timeout}" if given else timeout)


class Connection:
    """One connection, shared by the strategy's thread and the writer's, one transaction at a time.

    `run(work)` calls `work(cursor)` inside a transaction and commits. Transient
    failures (a lock held too long, a dropped connection) roll back and run it
    again on a fresh connection until `RETRY_DEADLINE_SECS`; then the caller gets
    `StoreUnavailableError`, and nothing of the transaction is kept.
    """

    def __init__(self, dialect: Dialect, *, describe: str = "the positions database") -> None:
        self.dialect = dialect
        self._describe = describe
        self._connection: Any = None
        self._lock = threading.Lock()

    def run(self, work: Callable[[Cursor], T], *, read_only: bool = False) -> T:
        with self._lock:
            deadline = time.monotonic() + RETRY_DEADLINE_SECS
            delay = 0.05
            while True:
                try:
                    return self._attempt(work, read_only)
                except _TransientError as transient:
                    if time.monotonic() + delay > deadline:
                        raise StoreUnavailableError(
                            f"cannot write to {self._describe}: {transient.error}",
                            detail="Nothing of this call was written; retry when the database "
                            "is reachable.",
                        ) from transient.error
                    time.sleep(delay)
                    delay = min(delay * 2, 1.0)

    def _attempt(self, work: Callable[[Cursor], T], read_only: bool) -> T:
        dialect = self.dialect
        if self._connection is None:
            try:
                self._connection = dialect.connect()
            except Exception as error:
                if dialect.is_dbapi_error(error):
                    raise _TransientError(error) from error
                raise
        connection = self._connection
        cursor = Cursor(dialect, connection.cursor())
        try:
            dialect.begin(cursor.raw, read_only=read_only)
            result = work(cursor)
        except BaseException as error:
            self._abandon(connection, error)
            if dialect.is_transient(error):
                raise _TransientError(error) from error
            if dialect.is_dbapi_error(error):
                raise StoreUnavailableError(
                    f"{self._describe} refused the write: {error}"
                ) from error
            raise
        finally:
            cursor.raw.close()
        try:
            dialect.commit(connection)
        except Exception as error:
            # Never retried: a commit whose answer was lost may have landed, and
            # running an entry or a partial exit again would count it twice.
            self._abandon(connection, error)
            raise StoreUnavailableError(
                f"{self._describe} did not confirm the commit: {error}",
                detail="It may or may not have been written; check before repeating it.",
            ) from error
        return result

    def _abandon(self, connection: Any, error: BaseException) -> None:
        try:
            self.dialect.rollback(connection)
        except Exception:  # noqa: BLE001 - the connection is broken; start afresh
            self.close()
            return
        if self.dialect.name == "postgresql" and self.dialect.is_transient(error):
            self.close()  # a dropped server connection does not come back

    def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):
                connection.close()


class _TransientError(Exception):
    def __init__(self, error: BaseException) -> None:
        super().__init__(str(error))
        self.error = error


class Cursor:
    """A DBAPI cursor that speaks `:name` parameters on both databases."""

    def __init__(self, dialect: Dialect, raw: Any) -> None:
        self.dialect = dialect
        self.raw = raw

    def execute(self, statement: str, parameters: dict[str, Any] | None = None) -> Cursor:
        self.raw.execute(self.dialect.sql(statement), parameters or {})
        return self

    def executemany(self, statement: str, rows: list[dict[str, Any]]) -> None:
        if rows:
            self.raw.executemany(self.dialect.sql(statement), rows)

    def one(self) -> tuple[Any, ...] | None:
        row = self.raw.fetchone()
        return None if row is None else tuple(row)

    def all(self) -> list[tuple[Any, ...]]:
        return [tuple(row) for row in self.raw.fetchall()]

    @property
    def rowcount(self) -> int:
        return int(self.raw.rowcount)


def default_database_url(data_dir: str) -> str:
    return f"sqlite:///{Path(data_dir).resolve() / 'algovisor.db'}"


def ensure_schema(url: str, dialect: Dialect) -> None:
    """Standalone on a fresh database: create the tables (the host and CLI do this otherwise)."""
    # Asked of the catalog on a working connection: an unreachable database is an
    # error to report (StoreUnavailableError), never a reason to migrate.
    query = (
        "SELECT to_regclass('order_intents') IS NOT NULL"
        if dialect.name == "postgresql"
        else "SELECT COUNT(*) > 0 FROM sqlite_master "
        "WHERE type = 'table' AND name = 'order_intents'"
    )
    connection = Connection(dialect)
    try:
        row = connection.run(lambda cursor: cursor.execute(query).one(), read_only=True)
    finally:
        connection.close()
    if not (row and row[0]):
        from algovisor.db.engine import make_engine
        from algovisor.db.migrate import upgrade

        engine = make_engine(url)
        try:
            upgrade(engine)
        finally:
            engine.dispose()
