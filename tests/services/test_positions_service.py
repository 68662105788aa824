"""Operator tools for positions, on a real database: which positions a crash affected (by
time, in IST, as the crash left them), lists and the trail, reconciliation against a broker
(ghost, orphan, mismatch, a broker that fails or hangs, no adapter), closing by hand and
retention.

Positions are written by the real SDK (`PositionPersistenceManager`) and by the store
itself on a stopped clock, so crash times are known to the minute.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from algovisor.brokers.protocol import BrokerError, PositionBook
from algovisor.clock import FakeClock
from algovisor.db.models import PositionEventRow
from algovisor.errors import InvalidInputError, NotFoundError
from algovisor.positions.reconcile import BrokerPosition, Key
from algovisor.positions.records import Crash, PositionClosedError, PositionHeldError
from algovisor.positions.store import PositionStore
from algovisor.positions.validation import check_entry
from algovisor.schedule.calendar import INDIA
from algovisor.sdk import PositionPersistenceManager
from algovisor.services import position_retention as retention
from algovisor.services import positions as service
from algovisor.services.context import ServiceContext
from tests.fake_broker import FakePositionBook

CRASH_AT = datetime(2025, 11, 28, 15, 30, tzinfo=INDIA)
TRACEBACK = (
    'Traceback (most recent call last):\n  File "trend.py", line 9\nRuntimeError: feed died\n'
)


class Desk:
    """Writes positions through the store on a stopped clock, as strategies would."""

    def __init__(self, ctx: ServiceContext, start: datetime) -> None:
        self.clock = FakeClock(start)
        self.ctx = ServiceContext.from_engine(ctx.settings, ctx.engine, self.clock)
        self.store: PositionStore = self.ctx.position_store()

    def at(self, moment: datetime) -> Desk:
        self.clock.advance(moment - self.clock.now())
        return self

    def session(self, strategy: str, broker: str = "paper", run_id: str | None = None) -> int:
        return self.store.sessions.open(
            strategy_id=None,
            strategy_name=strategy,
            run_id=run_id,
            broker=broker,
            label=None,
            hostname="desk",
            pid=4242,
        )

    def enter(
        self,
        session_id: int,
        symbol: str,
        side: str = "LONG",
        quantity: int = 10,
        price: float = 100.0,
        *,
        product: str = "MIS",
        stop: float | None = None,
        state: dict[str, Any] | None = None,
        client_order_id: str | None = None,
    ) -> int:
        entry = check_entry(symbol, "NSE", side, quantity, price, product=product, stop_price=stop)
        return self.store.insert_entry(
            session_id,
            entry,
            leg=None,
            state=state,
            entry_order_id=None,
            client_order_id=client_order_id,
        )

    def crash(self, session_id: int, message: str = "feed died") -> None:
        self.store.sessions.crash(
            session_id, Crash(f"RuntimeError: {message}", "RuntimeError", TRACEBACK)
        )

    def close_position(self, position_id: int, price: float = 105.0) -> None:
        """The strategy holding it exits."""
        self.store.record_exit(
            position_id,
            quantity=None,
            exit_price=price,
            exit_reason="target",
            exit_order_id=None,
            pnl=None,
            session_id=self.store.position(position_id).session_id,
        )

    def close(self) -> None:
        self.store.close()


@pytest.fixture
def desk(ctx: ServiceContext) -> Iterator[Desk]:
    instance = Desk(ctx, datetime(2025, 11, 1, 9, 0, tzinfo=INDIA))
    yield instance
    instance.close()


def ist(text: str) -> datetime | None:
    """What a trader types: a date and time without an offset, read as IST."""
    return service.parse_time(text)


def crash_three(database_url: str, strategy: str = "trend") -> tuple[list[int], int]:
    """A real SDK session: 3 entries, a stop moved, then an exception marks the crash."""
    manager = PositionPersistenceManager(
        strategy_name=strategy, database_url=database_url, flush_interval_ms=10
    )
    try:
        ids = [
            manager.save_position_entry(
                "SBIN", "NSE", "BUY", 10, 800.0, stop_price=790.0, state={"trail": 790.0}
            ),
            manager.save_position_entry("INFY", "NSE", "SELL", 5, 1500.0, stop_price=1520.0),
            manager.save_position_entry(
                "NIFTY25NOV2524000CE", "NFO", "BUY", 75, 120.5, product="NRML", leg="call"
            ),
        ]
        manager.queue_position_update(
            ids[0], stop_price=795.0, state={"high": 806.0}, force_immediate=True
        )
        session_id = manager.session_id
        assert session_id is not None
        try:
            raise RuntimeError("feed died")
        except RuntimeError as error:
            marked = manager.handle_crash(error)
        assert marked == 3
    finally:
        manager.close()
    return ids, session_id


# ----- crashed ----------------------------------------------------------------------------


def test_a_real_crash_lists_every_open_position_with_its_stop_state_and_exception(
    ctx: ServiceContext, database_url: str
) -> None:
    before = datetime.now(INDIA).replace(tzinfo=None) - timedelta(minutes=1)
    ids, session_id = crash_three(database_url)

    # The trader asks in IST wall-clock time, without an offset.
    rows = service.crashed(ctx, since=ist(before.isoformat(timespec="minutes")))

    assert [row.position.id for row in rows] == ids
    sbin = rows[0]
    assert (sbin.position.symbol, sbin.position.side, sbin.position.quantity) == (
        "SBIN",
        "LONG",
        10,
    )
    assert sbin.position.entry_price == 800.0
    assert sbin.position.stop_price == 795.0  # the moved stop, flushed before the crash
    assert sbin.position.state == {"trail": 790.0, "high": 806.0}
    assert sbin.position.status == sbin.now == "CRASHED"
    assert sbin.crash.status_before == "ACTIVE"
    assert sbin.crash.session_id == session_id
    assert sbin.crash.exception_type == "RuntimeError"
    assert sbin.crash.reason == "RuntimeError: feed died"
    assert sbin.crash.has_traceback
    assert sbin.crash.traceback is None  # the list leaves it out; `show` has it
    assert rows[1].position.side == "SHORT"
    assert rows[2].position.product == "NRML"

    detail = service.show(ctx, ids[0])
    assert [crash.exception_type for crash in detail.crashes] == ["RuntimeError"]
    assert "RuntimeError: feed died" in (detail.crashes[0].traceback or "")
    assert [event.kind for event in detail.events] == ["ENTRY", "STOP_MOVED", "CRASH"]
    assert detail.events[1].details == {"from": 790.0, "to": 795.0}


def test_crash_times_are_filtered_in_ist_since_inclusive_until_exclusive(desk: Desk) -> None:
    early = desk.session("trend")
    day_before = desk.enter(early, "TCS")
    desk.at(datetime(2025, 11, 27, 10, 0, tzinfo=INDIA)).crash(early)

    main = desk.session("trend")
    at_1530 = [desk.enter(main, "SBIN"), desk.enter(main, "INFY", "SHORT")]
    other = desk.session("scalper")
    scalper = desk.enter(other, "HDFCBANK")
    desk.at(CRASH_AT).crash(main)
    desk.crash(other, "out of memory")

    late = desk.session("trend")
    at_1610 = desk.enter(late, "WIPRO")
    desk.at(CRASH_AT + timedelta(minutes=40)).crash(late)

    def ids(**query: Any) -> list[int]:
        return [row.position.id for row in service.crashed(desk.ctx, **query)]

    # "Which positions were affected by the crash on 2025-11-28 at 15:30?"
    assert ids(since=ist("2025-11-28T15:25"), until=ist("2025-11-28T15:35")) == [
        *at_1530,
        scalper,
    ]
    assert ids(since=ist("2025-11-28 15:30")) == [*at_1530, scalper, at_1610]  # inclusive
    assert ids(until=ist("2025-11-28T15:30")) == [day_before]  # exclusive
    assert ids(since=ist("2025-11-28"), until=ist("2025-11-29")) == [*at_1530, scalper, at_1610]
    assert ids(since=ist("2025-11-28T15:25"), strategy="trend") == [*at_1530, at_1610]
    assert ids(strategy="nobody") == []
    # An aware instant means what it says: 10:00 UTC is 15:30 IST.
    assert ids(since=datetime(2025, 11, 28, 10, 0, tzinfo=UTC), until=ist("2025-11-28T16:00")) == [
        *at_1530,
        scalper,
    ]
    # Read as UTC, 15:25 would be 20:55 IST and miss everything: the offset is IST's.
    assert service.parse_time("2025-11-28T15:25") == datetime(2025, 11, 28, 9, 55, tzinfo=UTC)

    reasons = {row.position.id: row.crash.reason for row in service.crashed(desk.ctx)}
    assert reasons[scalper] == "RuntimeError: out of memory"


def test_a_position_resumed_trailed_and_closed_is_reported_as_the_crash_left_it(
    ctx: ServiceContext, database_url: str
) -> None:
    ids, crashed_session = crash_three(database_url)
    manager = PositionPersistenceManager(strategy_name="trend", database_url=database_url)
    try:
        assert {record.id for record in manager.recover()} == set(ids)
        manager.mark_position_recovered(ids[0], notes="resumed after restart")
        manager.queue_position_update(
            ids[0],
            current_price=812.0,
            stop_price=805.0,
            target_price=830.0,
            state={"high": 812.0},
            force_immediate=True,
        )
        manager.save_position_exit(ids[0], 810.0, "trailing stop")
        manager.mark_position_recovered(ids[1])
        manager.save_position_exit(ids[1], 1490.0, "partial", quantity=4)
        resumed_session = manager.session_id
    finally:
        manager.close()

    rows = {row.position.id: row for row in service.crashed(ctx)}
    assert set(rows) == set(ids)
    closed = rows[ids[0]]
    # What was open when it crashed, not what the resumed run did with it since.
    assert (closed.position.side, closed.position.quantity) == ("LONG", 10)
    assert closed.position.stop_price == 795.0
    assert closed.position.target_price is None
    assert closed.position.state == {"trail": 790.0, "high": 806.0}
    assert closed.position.status == "CRASHED"
    assert closed.now == "CLOSED"
    assert closed.crash.status_before == "ACTIVE"
    # Exit, P&L and the holding session are as stored now.
    assert closed.position.exit_price == 810.0
    assert closed.position.session_id == resumed_session != crashed_session
    # The crash is the original session's, with its exception, not the adopting session's.
    assert closed.crash.session_id == crashed_session
    assert closed.crash.exception_type == "RuntimeError"
    assert closed.position.crash_reason == "RuntimeError: feed died"
    partial = rows[ids[1]]
    assert (partial.position.quantity, partial.position.stop_price) == (5, 1520.0)
    assert partial.now == "RECOVERED"
    assert rows[ids[2]].now == "CRASHED"

    # `list` and `show` have the position as it is now.
    now = service.show(ctx, ids[0])
    assert (now.position.stop_price, now.position.state) == (805.0, {"trail": 790.0, "high": 812.0})
    assert [event.kind for event in now.events] == [
        "ENTRY",
        "STOP_MOVED",
        "CRASH",
        "RECOVERY",
        "STOP_MOVED",
        "EXIT",
    ]
    assert service.show(ctx, ids[1]).position.quantity == 1


def test_a_crash_recorded_without_a_snapshot_shows_the_position_as_stored(desk: Desk) -> None:
    session = desk.session("trend")
    position = desk.enter(session, "SBIN", stop=790.0, state={"trail": 790.0})
    desk.at(CRASH_AT).crash(session)
    # A crash recorded before the snapshot existed: the reason and the exception only.
    with desk.ctx.transaction() as db:
        event = db.scalars(
            select(PositionEventRow).where(
                PositionEventRow.position_id == position, PositionEventRow.kind == "CRASH"
            )
        ).one()
        event.details = {"reason": "RuntimeError: feed died", "exception_type": "RuntimeError"}

    [row] = service.crashed(desk.ctx)
    assert (row.position.quantity, row.position.stop_price) == (10, 790.0)
    assert row.position.state == {"trail": 790.0}
    assert row.position.status == row.now == "CRASHED"
    assert row.crash.status_before is None
    assert row.crash.reason == "RuntimeError: feed died"


def test_a_position_that_crashed_twice_is_found_by_either_crash(desk: Desk) -> None:
    first = desk.session("trend")
    position = desk.enter(first, "SBIN")
    desk.at(CRASH_AT).crash(first, "first")
    second = desk.session("trend")
    desk.store.mark_recovered(position, session_id=second, notes=None)
    desk.at(CRASH_AT + timedelta(hours=1)).crash(second, "second")
    desk.store.mark_recovered(position, session_id=None, notes=None)

    around_first = service.crashed(desk.ctx, since=CRASH_AT, until=CRASH_AT + timedelta(minutes=1))
    assert [(row.position.id, row.crash.reason) for row in around_first] == [
        (position, "RuntimeError: first")
    ]
    both = service.crashed(desk.ctx)
    assert [row.crash.session_id for row in both] == [first, second]
    assert [row.crash.status_before for row in both] == ["ACTIVE", "RECOVERED"]
    assert [row.position.crashed_at for row in both] == [
        CRASH_AT,
        CRASH_AT + timedelta(hours=1),
    ]
    assert {row.now for row in both} == {"RECOVERED"}
    assert [crash.session_id for crash in service.show(desk.ctx, position).crashes] == [
        first,
        second,
    ]


@pytest.mark.parametrize(
    ("since", "until", "fragment"),
    [
        (CRASH_AT.replace(tzinfo=None), None, "has no time zone"),
        (None, CRASH_AT.replace(tzinfo=None), "has no time zone"),
        (CRASH_AT, CRASH_AT, "must be before"),
        (CRASH_AT, CRASH_AT - timedelta(minutes=1), "must be before"),
    ],
)
def test_crashed_refuses_naive_or_empty_ranges(
    ctx: ServiceContext, since: datetime | None, until: datetime | None, fragment: str
) -> None:
    with pytest.raises(InvalidInputError, match=fragment):
        service.crashed(ctx, since=since, until=until)


@pytest.mark.parametrize("text", ["yesterday", "2025-13-01", "28/11/2025 15:30", "15:30"])
def test_unreadable_times_are_invalid_input(text: str) -> None:
    with pytest.raises(InvalidInputError, match="is not a date"):
        service.parse_time(text, "--since")


# ----- list and show --------------------------------------------------------------------


def test_list_filters_by_status_and_strategy_and_refuses_an_unknown_status(desk: Desk) -> None:
    live = desk.session("trend")
    active = desk.enter(live, "SBIN")
    closed = desk.enter(live, "INFY")
    desk.close_position(closed)
    gone = desk.session("scalper")
    crashed = desk.enter(gone, "TCS")
    recovered = desk.enter(gone, "WIPRO")
    desk.crash(gone)
    desk.store.mark_recovered(recovered, session_id=None, notes=None)

    def ids(status: str | None = None, strategy: str | None = None) -> list[int]:
        return [row.id for row in service.list_positions(desk.ctx, status, strategy)]

    assert ids() == [active, closed, crashed, recovered]
    assert ids("ACTIVE") == [active]
    assert ids("CRASHED") == [crashed]
    assert ids("CLOSED") == [closed]
    assert ids("RECOVERED") == [recovered]
    assert ids(" crashed ") == [crashed]  # as typed
    assert ids(strategy="scalper") == [crashed, recovered]
    assert ids("ACTIVE", "scalper") == []
    for bad in ("OPEN", "flat", ""):
        with pytest.raises(InvalidInputError, match="unknown position status") as raised:
            service.list_positions(desk.ctx, bad)
        assert "ACTIVE, CRASHED, RECOVERED, CLOSED" in (raised.value.detail or "")


def test_show_has_the_trail_in_order_and_the_order_intents(
    ctx: ServiceContext, database_url: str
) -> None:
    with PositionPersistenceManager(
        strategy_name="trend", database_url=database_url, flush_interval_ms=10
    ) as manager:
        entry_order = manager.record_order_intent("SBIN", "NSE", "BUY", 10, purpose="entry")
        position = manager.save_position_entry(
            "SBIN", "NSE", "LONG", 10, 800.0, stop_price=790.0, client_order_id=entry_order
        )
        manager.confirm_order(entry_order, "B-1")
        manager.queue_position_update(position, stop_price=794.0, force_immediate=True)
        exit_order = manager.record_order_intent(
            "SBIN", "NSE", "SELL", 4, position_id=position, purpose="partial"
        )
        manager.save_position_exit(position, 805.0, "partial profit", quantity=4)
        manager.record_order_intent(
            "SBIN", "NSE", "SELL", 6, position_id=position, purpose="exit", client_order_id="x-9"
        )
        session_id = manager.session_id

    detail = service.show(ctx, position)
    assert detail.position.quantity == 6
    assert detail.position.initial_quantity == 10
    assert detail.position.realized_pnl == pytest.approx(20.0)
    assert detail.session.id == session_id
    assert detail.session.status == "ENDED"
    assert [event.kind for event in detail.events] == ["ENTRY", "STOP_MOVED", "PARTIAL_EXIT"]
    times = [(event.at, event.id) for event in detail.events]
    assert times == sorted(times)
    assert detail.crashes == []
    assert [(intent.client_order_id, intent.status) for intent in detail.order_intents] == [
        (entry_order, "CONFIRMED"),
        (exit_order, "PENDING"),
        ("x-9", "PENDING"),
    ]
    assert detail.order_intents[0].broker_order_id == "B-1"


@pytest.mark.parametrize("position_id", [999, 0, -1, 2**31, 2**63])
def test_an_unknown_position_is_not_found(ctx: ServiceContext, position_id: int) -> None:
    with pytest.raises(NotFoundError, match=f"no position has id {position_id}"):
        service.show(ctx, position_id)
    with pytest.raises(NotFoundError, match=f"no position has id {position_id}"):
        service.close_position(ctx, position_id, 100.0, "closed by hand")


# ----- reconcile ------------------------------------------------------------------------


def books(**by_broker: PositionBook | None) -> service.PositionBooks:
    return by_broker.get


def nse(symbol: str, product: str = "MIS") -> Key:
    return Key(symbol, "NSE", product)


@pytest.fixture
def holdings(desk: Desk) -> dict[str, int]:
    """Open positions on two accounts, from two strategies, and one closed position."""
    trend = desk.session("trend")
    hedger = desk.session("hedger")
    angel = desk.session("swing", broker="angel")
    held = {
        "SBIN": desk.enter(trend, "SBIN", quantity=10),
        "INFY-short": desk.enter(trend, "INFY", "SHORT", quantity=5),
        "INFY-long": desk.enter(hedger, "INFY", "LONG", quantity=2),
        "RELIANCE": desk.enter(hedger, "RELIANCE", quantity=1, product="CNC"),
        "TATAMOTORS": desk.enter(angel, "TATAMOTORS", quantity=3),
        "closed": desk.enter(trend, "ITC", quantity=4),
    }
    desk.close_position(held["closed"])
    desk.crash(trend)  # crashed positions are checked like live ones
    return held


def test_reconcile_classifies_ghost_mismatch_match_and_orphan(
    desk: Desk, holdings: dict[str, int]
) -> None:
    paper = FakePositionBook(
        [
            BrokerPosition(nse("INFY"), -5),  # ours net to -3 across two strategies
            BrokerPosition(nse("RELIANCE", "CNC"), 1),
            BrokerPosition(nse("TCS"), 7),  # nobody's
            BrokerPosition(nse("ITC"), 0),  # flat: the closed position is not checked
        ]
    )
    angel = FakePositionBook([BrokerPosition(nse("TATAMOTORS"), 3)])

    findings = service.reconcile(desk.ctx, books(paper=paper, angel=angel), timeout_secs=5)

    by_symbol = {(f.broker, f.symbol): f for f in findings}
    assert set(by_symbol) == {
        ("angel", "TATAMOTORS"),
        ("paper", "INFY"),
        ("paper", "RELIANCE"),
        ("paper", "SBIN"),
        ("paper", "TCS"),
    }
    ghost = by_symbol["paper", "SBIN"]
    assert (ghost.verdict, ghost.expected_quantity, ghost.broker_quantity) == (
        "closed_at_broker",
        10,
        0,
    )
    mismatch = by_symbol["paper", "INFY"]
    assert (mismatch.verdict, mismatch.expected_quantity, mismatch.broker_quantity) == (
        "quantity_mismatch",
        -3,
        -5,
    )
    assert sorted(mismatch.position_ids) == sorted([holdings["INFY-short"], holdings["INFY-long"]])
    assert mismatch.strategies == ["hedger", "trend"]
    assert by_symbol["paper", "RELIANCE"].verdict == "matched"
    orphan = by_symbol["paper", "TCS"]
    assert (orphan.verdict, orphan.position_ids, orphan.broker_quantity) == ("orphan", [], 7)
    assert by_symbol["angel", "TATAMOTORS"].verdict == "matched"
    assert all(finding.problem is None for finding in findings)
    assert paper.asked == angel.asked == 1

    verdicts = {row.id: row.broker_verdict for row in service.list_positions(desk.ctx)}
    assert verdicts[holdings["SBIN"]] == "closed_at_broker"
    assert verdicts[holdings["INFY-long"]] == "quantity_mismatch"
    assert verdicts[holdings["closed"]] is None
    trail = service.show(desk.ctx, holdings["SBIN"]).events
    assert trail[-1].kind == "RECONCILE"
    assert trail[-1].details["verdict"] == "closed_at_broker"
    crashed = service.crashed(desk.ctx)
    assert {row.position.broker_verdict for row in crashed} == {
        "closed_at_broker",
        "quantity_mismatch",
    }


def test_a_failing_broker_gives_unknown_never_flat(desk: Desk, holdings: dict[str, int]) -> None:
    service.reconcile(desk.ctx, books(paper=FakePositionBook([BrokerPosition(nse("SBIN"), 10)])))
    failing = FakePositionBook(error=BrokerError("session expired"))

    findings = service.reconcile(desk.ctx, books(paper=failing, angel=None))

    assert {f.verdict for f in findings} == {"unknown"}
    assert all(f.broker_quantity is None for f in findings)
    paper = [f for f in findings if f.broker == "paper"]
    assert {f.problem for f in paper} == {"the broker query failed: session expired"}
    angel = [f for f in findings if f.broker == "angel"]
    assert {f.problem for f in angel} == {"no broker adapter for 'angel' yet"}
    # "unknown" never replaces what was last known.
    verdict = {row.id: row.broker_verdict for row in service.list_positions(desk.ctx)}
    assert verdict[holdings["SBIN"]] == "matched"
    assert verdict[holdings["TATAMOTORS"]] is None


def test_a_hanging_broker_is_unknown_after_the_timeout(
    desk: Desk, holdings: dict[str, int]
) -> None:
    release = threading.Event()
    try:
        findings = service.reconcile(
            desk.ctx,
            books(paper=FakePositionBook(hang=release), angel=FakePositionBook([])),
            timeout_secs=0.2,
        )
    finally:
        release.set()
    paper = [f for f in findings if f.broker == "paper"]
    assert paper
    assert {f.verdict for f in paper} == {"unknown"}
    assert {f.problem for f in paper} == {"the broker did not answer within 0.2 s"}
    angel = [f for f in findings if f.broker == "angel"]
    assert [(f.symbol, f.verdict) for f in angel] == [("TATAMOTORS", "closed_at_broker")]


def test_without_an_adapter_every_position_is_unknown_with_the_reason_recorded(
    desk: Desk, holdings: dict[str, int]
) -> None:
    findings = service.reconcile(desk.ctx, books())

    open_ids = {key: value for key, value in holdings.items() if key != "closed"}
    assert sorted(i for f in findings for i in f.position_ids) == sorted(open_ids.values())
    assert {f.verdict for f in findings} == {"unknown"}
    assert {f.problem for f in findings} == {
        "no broker adapter for 'paper' yet",
        "no broker adapter for 'angel' yet",
    }
    for position_id in open_ids.values():
        event = service.show(desk.ctx, position_id).events[-1]
        assert event.kind == "RECONCILE"
        assert event.details["verdict"] == "unknown"
        assert event.details["broker_quantity"] is None
        assert event.details["problem"].startswith("no broker adapter for ")
    assert service.show(desk.ctx, holdings["closed"]).events[-1].kind == "EXIT"


def test_reconcile_with_nothing_open_asks_no_broker(desk: Desk) -> None:
    session = desk.session("trend")
    desk.close_position(desk.enter(session, "SBIN"))
    book = FakePositionBook([BrokerPosition(nse("TCS"), 7)])
    assert service.reconcile(desk.ctx, books(paper=book)) == []
    assert book.asked == 0


# ----- closing by hand ---------------------------------------------------------------


def test_close_by_hand_records_the_exit_and_the_next_run_no_longer_resumes_it(
    ctx: ServiceContext, database_url: str
) -> None:
    ids, _ = crash_three(database_url)

    closed = service.close_position(ctx, ids[0], 805.0, "  closed at the broker by hand  ")
    assert (closed.quantity, closed.remaining, closed.price) == (10, 0, 805.0)
    assert closed.pnl == pytest.approx(50.0)  # LONG 10 from 800
    assert closed.position.status == "CLOSED"
    assert closed.position.exit_reason == "closed at the broker by hand"
    assert closed.position.exit_time is not None
    assert closed.message.startswith(f"position {ids[0]} closed: 10 at 805")
    exit_event = service.show(ctx, ids[0]).events[-1]
    assert (exit_event.kind, exit_event.session_id) == ("EXIT", None)
    assert exit_event.details["reason"] == "closed at the broker by hand"
    assert exit_event.details["quantity"] == 10

    partial = service.close_position(ctx, ids[1], 1490.0, "covered 2 by hand", quantity=2)
    assert (partial.quantity, partial.remaining) == (2, 3)
    assert partial.pnl == pytest.approx(20.0)  # SHORT: 10 a unit below the entry
    assert (partial.position.status, partial.position.quantity) == ("CRASHED", 3)
    assert partial.message.endswith("3 still open")
    assert service.show(ctx, ids[1]).events[-1].kind == "PARTIAL_EXIT"

    # The strategy's next run resumes what is still open, not what the operator closed.
    manager = PositionPersistenceManager(strategy_name="trend", database_url=database_url)
    try:
        resumable = {record.id: record.quantity for record in manager.recover()}
    finally:
        manager.close()
    assert resumable == {ids[1]: 3, ids[2]: 75}


def test_close_by_hand_is_refused_while_a_live_session_holds_it_and_once_closed(
    desk: Desk,
) -> None:
    live = desk.session("scalper")
    held = desk.enter(live, "TCS")
    gone = desk.session("trend")
    crashed = desk.enter(gone, "SBIN")
    desk.crash(gone)

    with pytest.raises(PositionHeldError, match="held by a live session"):
        service.close_position(desk.ctx, held, 101.0, "closed by hand")
    # Resumed by a strategy's live session: held too, until that session ends.
    resumer = desk.session("trend")
    desk.store.mark_recovered(crashed, session_id=resumer, notes=None)
    with pytest.raises(PositionHeldError, match="held by a live session"):
        service.close_position(desk.ctx, crashed, 99.0, "closed by hand")
    for position in (held, crashed):
        detail = service.show(desk.ctx, position)
        assert detail.position.quantity == 10
        assert "EXIT" not in [event.kind for event in detail.events]

    desk.store.sessions.end(resumer)  # it ended leaving the position open
    with pytest.raises(PositionClosedError, match="cannot exit 11"):
        service.close_position(desk.ctx, crashed, 99.0, "too many", quantity=11)
    assert service.close_position(desk.ctx, crashed, 99.0, "by hand").position.status == "CLOSED"
    with pytest.raises(PositionClosedError, match="already closed"):
        service.close_position(desk.ctx, crashed, 99.0, "again")
    assert [event.kind for event in service.show(desk.ctx, crashed).events].count("EXIT") == 1


@pytest.mark.parametrize(
    ("price", "reason", "quantity", "fragment"),
    [
        (0.0, "by hand", None, "exit price must be a finite number above zero"),
        (-5.0, "by hand", None, "exit price"),
        (float("nan"), "by hand", None, "exit price"),
        (float("inf"), "by hand", None, "exit price"),
        (100.0, "   ", None, "the reason must be 1-128 characters"),
        (100.0, "x" * 129, None, "the reason must be 1-128 characters, not 129"),
        (100.0, "by hand", 0, "quantity must be above zero"),
        (100.0, "by hand", -3, "quantity must be above zero"),
        (100.0, "by hand", 2.5, "quantity must be a whole number"),
    ],
)
def test_close_by_hand_refuses_bad_input_and_writes_nothing(
    desk: Desk, price: float, reason: str, quantity: Any, fragment: str
) -> None:
    gone = desk.session("trend")
    position = desk.enter(gone, "SBIN")
    desk.crash(gone)
    with pytest.raises(InvalidInputError, match=fragment):
        service.close_position(desk.ctx, position, price, reason, quantity)
    assert [event.kind for event in service.show(desk.ctx, position).events] == ["ENTRY", "CRASH"]


# ----- retention ------------------------------------------------------------------------

TODAY = datetime(2025, 12, 1, 12, 0, tzinfo=INDIA)
CUTOFF_DAY = date(2025, 11, 25)


def test_purge_deletes_what_closed_before_the_date_and_never_an_open_position(
    desk: Desk,
) -> None:
    def day(d: int, hour: int = 10, minute: int = 0) -> datetime:
        return datetime(2025, 11, d, hour, minute, tzinfo=INDIA)

    # An old, ended session with one position closed before the cutoff (and its intent).
    desk.at(day(20))
    old = desk.session("trend")
    old_closed = desk.enter(old, "SBIN", client_order_id="entry-1")
    desk.store.intents.record(
        old,
        client_order_id="exit-1",
        symbol="SBIN",
        exchange="NSE",
        action="SELL",
        quantity=10,
        price=None,
        position_id=old_closed,
        purpose="exit",
    )
    desk.close_position(old_closed)
    late_closed = desk.enter(old, "INFY")
    desk.store.sessions.end(old)
    # Closed at 23:59 IST on the 24th: before midnight IST, so purged.
    desk.at(day(24, 23, 59)).close_position(late_closed)
    # An old, crashed session whose positions are still open: kept, whatever their age.
    crashed = desk.session("trend")
    still_crashed = desk.enter(crashed, "TCS")
    desk.crash(crashed)
    # An old session that crashed; its position was resumed by a newer session.
    adopted_from = desk.session("swing")
    adopted = desk.enter(adopted_from, "WIPRO", state={"trail": 1})
    desk.crash(adopted_from)
    adopter = desk.session("swing")
    desk.store.mark_recovered(adopted, session_id=adopter, notes=None)
    # An old session that never entered anything, and an orphan verdict.
    empty = desk.session("idle")
    desk.store.sessions.end(empty)
    desk.store.intents.record(
        empty,
        client_order_id="never-filled",
        symbol="ITC",
        exchange="NSE",
        action="BUY",
        quantity=1,
        price=None,
        position_id=None,
        purpose="entry",
    )
    service.reconcile(desk.ctx, books(paper=FakePositionBook([BrokerPosition(nse("ZOMATO"), 1)])))
    # Closed after midnight IST starting the 25th (18:40 UTC on the 24th): kept.
    recent = desk.session("trend")
    recent_closed = desk.enter(recent, "HDFCBANK")
    desk.at(day(25, 0, 10)).close_position(recent_closed)
    desk.store.sessions.end(recent)
    live = desk.session("trend")
    active = desk.enter(live, "LT")

    trail_of_adopted = [e.kind for e in service.show(desk.ctx, adopted).events]
    desk.at(TODAY)
    result = retention.purge(desk.ctx, CUTOFF_DAY)

    assert result.cutoff == datetime(2025, 11, 24, 18, 30, tzinfo=UTC)
    assert (result.positions, result.sessions, result.order_intents) == (2, 2, 2)
    # ENTRY and EXIT of each purged position, and the orphan's verdict.
    assert result.events == 5
    remaining = {row.id: row.status for row in service.list_positions(desk.ctx)}
    assert remaining == {
        still_crashed: "CRASHED",
        adopted: "RECOVERED",
        recent_closed: "CLOSED",
        active: "ACTIVE",
    }
    for gone in (old_closed, late_closed):
        with pytest.raises(NotFoundError):
            service.show(desk.ctx, gone)
    # The adopted position keeps its whole trail, crash included, and its crashed session.
    assert [e.kind for e in service.show(desk.ctx, adopted).events] == trail_of_adopted
    assert [c.session_id for c in service.show(desk.ctx, adopted).crashes] == [adopted_from]
    assert service.show(desk.ctx, still_crashed).session.id == crashed

    again = retention.purge(desk.ctx, CUTOFF_DAY)
    assert (again.positions, again.events, again.order_intents, again.sessions) == (0, 0, 0, 0)


def test_purge_refuses_today_and_future_dates(desk: Desk) -> None:
    session = desk.session("trend")
    desk.close_position(desk.enter(session, "SBIN"))
    desk.store.sessions.end(session)
    desk.at(TODAY)
    for bad in (TODAY.date(), TODAY.date() + timedelta(days=1), date(2100, 1, 1)):
        with pytest.raises(InvalidInputError, match="refusing to purge") as raised:
            retention.purge(desk.ctx, bad)
        assert "2025-11-30" in (raised.value.detail or "")
    assert len(service.list_positions(desk.ctx)) == 1
    assert retention.purge(desk.ctx, TODAY.date() - timedelta(days=1)).positions == 1


@dataclass
class Book:
    crashed: list[int]  # crashed at 2025-11-28 15:30 IST
    later: int  # crashed at 16:10 IST, another strategy
    closed: int  # closed on 2025-11-20
    active: int  # held by a live session


@contextlib.contextmanager
def crash_book(ctx: ServiceContext) -> Iterator[Book]:
    """Positions for the operator tools: two crashed by one 15:30 crash, one later, one
    closed, one held by a live session."""
    desk = Desk(ctx, datetime(2025, 11, 20, 10, 0, tzinfo=INDIA))
    try:
        old = desk.session("trend")
        closed = desk.enter(old, "ITC")
        desk.close_position(closed)
        desk.store.sessions.end(old)
        trend = desk.session("trend", run_id="run-7")
        crashed = [
            desk.enter(trend, "SBIN", stop=790.0, state={"trail": 795.5}),
            desk.enter(trend, "INFY", "SHORT", 5, 1500.0, stop=1520.0),
        ]
        scalper = desk.session("scalper")
        later = desk.enter(scalper, "TCS", product="NRML")
        live = desk.session("swing")
        active = desk.enter(live, "WIPRO")
        desk.at(CRASH_AT).crash(trend)
        desk.at(CRASH_AT + timedelta(minutes=40)).crash(scalper, "out of memory")
        yield Book(crashed, later, closed, active)
    finally:
        desk.close()
