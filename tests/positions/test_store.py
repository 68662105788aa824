"""`PositionStore` itself: transactions, the crash sweep, locks, the host's connections."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy.orm import Session

from algovisor.db.engine import make_engine
from algovisor.db.models import Run, Strategy, StrategyPositionRow, StrategyVersion
from algovisor.positions import database
from algovisor.positions.database import (
    Connection,
    DatabaseUrlError,
    Dialect,
    StoreUnavailableError,
)
from algovisor.positions.records import (
    Crash,
    PositionClosedError,
    PositionHeldError,
    PositionNotFoundError,
    SessionNotActiveError,
)
from algovisor.positions.store import PositionStore
from algovisor.positions.validation import check_entry
from tests.conftest import POSTGRES_URL, postgres_schema_url
from tests.positions.conftest import Db, migrate

HOST = "test-host"


def now() -> datetime:
    return datetime.now(UTC)


@pytest.fixture
def make_store(url: str) -> Iterator[Callable[[], PositionStore]]:
    """Stores on their own connections, as separate processes would have."""
    made: list[PositionStore] = []

    def make() -> PositionStore:
        store = PositionStore(Connection(Dialect.from_url(url)), now)
        made.append(store)
        return store

    yield make
    for store in made:
        store.close()


@pytest.fixture
def store(make_store: Callable[[], PositionStore]) -> PositionStore:
    return make_store()


def open_session(
    store: PositionStore,
    *,
    name: str = "trail",
    run_id: str | None = None,
    host: str = HOST,
    pid: int = 4242,
) -> int:
    return store.sessions.open(
        strategy_id=None,
        strategy_name=name,
        run_id=run_id,
        broker="paper",
        label=None,
        hostname=host,
        pid=pid,
    )


def enter(store: PositionStore, session_id: int, symbol: str = "SBIN", **options: object) -> int:
    entry = check_entry(symbol, "NSE", "LONG", options.pop("quantity", 50), 100.0, **options)  # type: ignore[arg-type]
    return store.insert_entry(
        session_id, entry, leg=None, state={"n": 0}, entry_order_id=None, client_order_id=None
    )


# ----- URLs ---------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["sqlite:///:memory:", "sqlite://", "mysql://u@h/db", "nonsense"])
def test_unusable_urls_are_refused_clearly(url: str) -> None:
    with pytest.raises(DatabaseUrlError):
        Dialect.from_url(url)


# ----- what SQLAlchemy reads back -------------------------------------------------------


def test_rows_written_by_the_store_read_back_through_the_models(
    store: PositionStore, url: str
) -> None:
    session_id = open_session(store)
    position_id = enter(store, session_id, stop_price=95.0)
    store.write_updates({position_id: {"current_price": 101.5, "state": {"peak": 101.5}}})
    engine = make_engine(url)
    try:
        with Session(engine) as orm:
            row = orm.get(StrategyPositionRow, position_id)
            assert row is not None
            assert row.entry_time.tzinfo is not None
            assert abs((now() - row.entry_time).total_seconds()) < 60
            assert row.updated_at >= row.entry_time
            assert (row.state, row.current_price, row.update_count) == ({"peak": 101.5}, 101.5, 1)
    finally:
        engine.dispose()
    record = store.position(position_id)
    assert record.entry_time.tzinfo is UTC
    assert record.state == {"peak": 101.5}


# ----- batches ------------------------------------------------------------------------


def test_a_batch_is_one_transaction_all_or_nothing(store: PositionStore, db: Db) -> None:
    session_id = open_session(store)
    first = enter(store, session_id, stop_price=90.0)
    second = enter(store, session_id, "INFY", stop_price=90.0)
    db.refuse_events("STOP_MOVED")
    before = db.snapshot()
    batch = {
        first: {"current_price": 101.0, "state": {"n": 1}},
        second: {"current_price": 102.0, "stop_price": 95.0, "stop_from": 90.0},
    }
    with pytest.raises(StoreUnavailableError):
        store.write_updates(batch, session_id)
    assert db.snapshot() == before  # the first position's update went with the failed event


def test_a_batch_skips_closed_positions_and_reports_unstorable_state(
    store: PositionStore, db: Db
) -> None:
    session_id = open_session(store)
    open_one = enter(store, session_id)
    closed = enter(store, session_id, "INFY")
    bad = enter(store, session_id, "TCS")
    store.record_exit(
        closed,
        quantity=None,
        exit_price=110.0,
        exit_reason="target",
        exit_order_id=None,
        pnl=None,
        session_id=session_id,
    )
    closed_before = db.position(closed)
    rejected = store.write_updates(
        {
            open_one: {"current_price": 105.0, "stop_price": 99.0, "stop_from": None},
            closed: {"current_price": 1.0, "state": {"late": True}},
            bad: {
                "current_price": 104.0,
                "stop_price": 98.0,
                "stop_from": None,
                "state": {"when": datetime.now(UTC)},
            },
        },
        session_id,
    )
    assert set(rejected) == {bad}
    assert (db.position(open_one)["current_price"], db.position(open_one)["update_count"]) == (
        105.0,
        1,
    )
    assert db.position(closed) == closed_before
    # Only the state that is not JSON is dropped: the row's prices, stop and move land.
    row = db.position(bad)
    assert (row["current_price"], row["stop_price"], row["state"], row["update_count"]) == (
        104.0,
        98.0,
        {"n": 0},
        1,
    )
    assert len(db.events(open_one, "STOP_MOVED")) == 1
    [move] = db.events(bad, "STOP_MOVED")
    assert (move["details"]["to"], move["session_id"]) == (98.0, session_id)


# ----- exits racing -------------------------------------------------------------------


def test_two_processes_exiting_the_same_position_cannot_exit_it_twice(
    make_store: Callable[[], PositionStore], db: Db
) -> None:
    owner = make_store()
    session_id = open_session(owner)
    position_id = enter(owner, session_id)
    stores = [make_store() for _ in range(6)]
    outcomes: list[object] = []
    start = threading.Barrier(len(stores))

    def exit_some(store: PositionStore) -> None:
        start.wait()
        try:
            outcomes.append(
                store.record_exit(
                    position_id,
                    quantity=20,
                    exit_price=110.0,
                    exit_reason="race",
                    exit_order_id=None,
                    pnl=None,
                    session_id=session_id,  # the session's threads, on their own connections
                )[0]
            )
        except PositionClosedError as error:
            outcomes.append(error)

    threads = [threading.Thread(target=exit_some, args=(store,)) for store in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(outcomes) == len(stores)  # every thread answered
    remaining = sorted(o for o in outcomes if isinstance(o, int))
    assert remaining == [10, 30]  # 50 -> 30 -> 10; the other four were refused
    assert sum(isinstance(o, PositionClosedError) for o in outcomes) == 4
    row = db.position(position_id)
    assert (row["quantity"], row["realized_pnl"]) == (10, pytest.approx(400.0))
    assert db.kinds(position_id).count("PARTIAL_EXIT") == 2


def test_an_exit_is_the_holders_or_once_its_session_is_over_the_operators(
    store: PositionStore, db: Db
) -> None:
    holder = open_session(store)
    other = open_session(store, pid=4243)
    position_id = enter(store, holder)
    closed = enter(store, holder, "INFY")

    def exit_(position: int, session_id: int | None) -> int:
        return store.record_exit(
            position,
            quantity=None,
            exit_price=110.0,
            exit_reason="exit",
            exit_order_id=None,
            pnl=None,
            session_id=session_id,
        )[0]

    assert exit_(closed, holder) == 0
    before = db.snapshot()
    # Checked in order: unknown, closed, then whose it is.
    for session_id in (other, None):
        with pytest.raises(PositionNotFoundError):
            exit_(10_000_000, session_id)
        with pytest.raises(PositionClosedError):
            exit_(closed, session_id)
    with pytest.raises(PositionHeldError, match="not held by this session"):
        exit_(position_id, other)
    with pytest.raises(PositionHeldError, match="live session"):  # the operator, while it runs
        exit_(position_id, None)
    assert db.snapshot() == before

    store.sessions.crash(holder, Crash("gone"))
    with pytest.raises(PositionHeldError):  # crashed, it is still not another session's
        exit_(position_id, other)
    assert exit_(position_id, None) == 0  # the operator's exit, once nothing runs it
    row = db.position(position_id)
    assert (row["status"], row["session_id"]) == ("CLOSED", holder)
    [event] = db.events(position_id, "EXIT")
    assert event["session_id"] is None


def test_a_crashed_or_ended_session_takes_no_new_position(store: PositionStore, db: Db) -> None:
    crashed = open_session(store)
    store.sessions.crash(crashed, Crash("gone"))
    ended = open_session(store)
    store.sessions.end(ended)
    before = db.snapshot()
    for session_id in (crashed, ended, 10_000_000):
        with pytest.raises(SessionNotActiveError):
            enter(store, session_id)
    assert db.snapshot() == before


# ----- crashes ------------------------------------------------------------------------


def test_marking_a_crash_is_idempotent(store: PositionStore, db: Db) -> None:
    session_id = open_session(store)
    enter(store, session_id)
    enter(store, session_id, "INFY")
    assert store.sessions.crash(session_id, Crash("first", "RuntimeError", "tb")) == 2
    after = db.snapshot()
    assert store.sessions.crash(session_id, Crash("second")) is None
    assert store.sessions.sweep_crashed(HOST, lambda _pid, _started: False) == []
    assert store.sessions.end(session_id) is False  # a crash is not turned into an end
    assert db.snapshot() == after
    session = db.session(session_id)
    assert (session["crash_reason"], session["exception_type"], session["traceback"]) == (
        "first",
        "RuntimeError",
        "tb",
    )


def add_run(url: str, run_id: str, status: str, message: str | None = None) -> int:
    engine = make_engine(url)
    try:
        with Session(engine) as orm, orm.begin():
            strategy = orm.query(Strategy).filter_by(name="runner").one_or_none()
            if strategy is None:
                strategy = Strategy(name="runner", created_at=now(), updated_at=now())
                strategy.versions.append(
                    StrategyVersion(
                        number=1,
                        filename="s.py",
                        content=b"",
                        sha256="0" * 64,
                        size_bytes=0,
                        created_at=now(),
                    )
                )
                orm.add(strategy)
                orm.flush()
            orm.add(
                Run(
                    id=run_id,
                    strategy_id=strategy.id,
                    version_id=strategy.versions[0].id,
                    host=HOST,
                    status=status,
                    log_path="/dev/null",
                    created_at=now(),
                    exception_message=message,
                )
            )
            return strategy.id
    finally:
        engine.dispose()


def host_store(url: str) -> tuple[PositionStore, Callable[[], None]]:
    """The store as the host makes it: over its SQLAlchemy engine's pooled connections."""
    engine = make_engine(url)
    dialect = Dialect.for_connection(engine.dialect.name, engine.raw_connection)
    store = PositionStore(Connection(dialect), now)

    def close() -> None:
        store.close()
        engine.dispose()

    return store, close


def test_the_sweep_marks_sessions_whose_process_is_gone(
    store: PositionStore, url: str, db: Db
) -> None:
    add_run(url, "run-ended", "ended", "KeyError: 'ltp'")
    add_run(url, "run-live", "running")
    sessions = {
        "run ended": open_session(store, run_id="run-ended"),
        "run live": open_session(store, run_id="run-live"),
        "run deleted": open_session(store, run_id="run-gone"),
        "dead pid": open_session(store, pid=1111),
        "live pid": open_session(store, pid=2222),
        "other host": open_session(store, pid=1111, host="elsewhere"),
    }
    positions = {name: enter(store, session_id) for name, session_id in sessions.items()}
    ended = open_session(store, pid=1111)
    store.sessions.end(ended)

    asked: list[tuple[int, datetime]] = []

    def is_alive(pid: int, started: datetime) -> bool:
        asked.append((pid, started))
        return pid == 2222

    sweeper, close = host_store(url)
    try:
        marked = dict(sweeper.sessions.sweep_crashed(HOST, is_alive))
        assert marked == {
            sessions["run ended"]: 1,
            sessions["run deleted"]: 1,
            sessions["dead pid"]: 1,
        }
        # Once only:
        assert sweeper.sessions.sweep_crashed(HOST, lambda pid, _started: pid == 2222) == []
    finally:
        close()
    # Only this host's standalone sessions are asked about, with when they started.
    assert sorted(pid for pid, _ in asked) == [1111, 2222]
    for _, started in asked:
        assert started.tzinfo is not None
        assert abs((now() - started).total_seconds()) < 60

    status = {name: db.session(session_id)["status"] for name, session_id in sessions.items()}
    assert status == {
        "run ended": "CRASHED",
        "run live": "ACTIVE",
        "run deleted": "CRASHED",
        "dead pid": "CRASHED",
        "live pid": "ACTIVE",
        "other host": "ACTIVE",
    }
    assert db.session(ended)["status"] == "ENDED"
    assert "KeyError: 'ltp'" in db.session(sessions["run ended"])["crash_reason"]
    assert "deleted" in db.session(sessions["run deleted"])["crash_reason"]
    assert "1111" in db.session(sessions["dead pid"])["crash_reason"]
    for name, position_id in positions.items():
        expected = "CRASHED" if status[name] == "CRASHED" else "ACTIVE"
        assert db.position(position_id)["status"] == expected, name
        assert len(db.events(position_id, "CRASH")) == (expected == "CRASHED"), name


def test_the_host_store_writes_on_the_engine_connections(url: str, db: Db) -> None:
    store, close = host_store(url)
    try:
        session_id = open_session(store, host=socket.gethostname())
        position_id = enter(store, session_id)
        store.write_updates({position_id: {"current_price": 101.0}})
        with pytest.raises(PositionHeldError):  # its session lives: nothing to recover
            store.mark_recovered(position_id, session_id=None, notes="operator")
        store.sessions.crash(session_id, Crash("feed died"))
        assert store.mark_recovered(position_id, session_id=None, notes="operator") is True
        assert store.mark_recovered(position_id, session_id=None, notes="operator") is False
    finally:
        close()
    assert db.position(position_id)["status"] == "RECOVERED"
    assert db.kinds(position_id) == ["ENTRY", "CRASH", "RECOVERY"]


def test_only_its_own_strategy_resumes_a_crashed_position(store: PositionStore, db: Db) -> None:
    crashed = open_session(store)
    position_id = enter(store, crashed)
    store.sessions.crash(crashed, Crash("feed died"))
    other = open_session(store, name="someone-else", pid=4243)
    with pytest.raises(PositionHeldError, match="belongs to strategy"):
        store.mark_recovered(position_id, session_id=other, notes=None)
    assert db.position(position_id)["status"] == "CRASHED"
    assert db.kinds(position_id) == ["ENTRY", "CRASH"]


def test_recovering_an_unknown_position_raises(store: PositionStore) -> None:
    with pytest.raises(PositionNotFoundError):
        store.mark_recovered(10_000_000, session_id=None, notes=None)
    with pytest.raises(PositionNotFoundError):
        store.position(10_000_000)


# ----- locks and lost connections -----------------------------------------------------


def test_a_lock_held_past_the_deadline_fails_the_call_and_writes_nothing(
    store: PositionStore, db: Db, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(database, "BUSY_TIMEOUT_MS", 100)
    monkeypatch.setattr(database, "RETRY_DEADLINE_SECS", 0.3)
    store.close()  # reconnect with the short busy timeout
    session_id = open_session(store)
    before = db.snapshot()
    with db.write_locked(), pytest.raises(StoreUnavailableError, match="cannot write"):
        enter(store, session_id)
    assert db.snapshot() == before
    enter(store, session_id)  # and it works again once the lock is gone
    assert db.counts()["strategy_positions"] == 1


@pytest.mark.postgresql
def test_a_dropped_postgresql_connection_is_replaced() -> None:
    assert POSTGRES_URL
    with postgres_schema_url(POSTGRES_URL) as url:
        migrate(url)
        db = Db(url)
        store = PositionStore(Connection(Dialect.from_url(url)), now)
        try:
            session_id = open_session(store)
            backend = store.connection.run(
                lambda cursor: cursor.execute("SELECT pg_backend_pid()").one()
            )
            assert backend is not None
            db.rows("SELECT pg_terminate_backend(:pid) AS done", pid=backend[0])
            position_id = enter(store, session_id)  # on a fresh connection
            assert db.position(position_id)["session_id"] == session_id
        finally:
            store.close()
            db.close()
