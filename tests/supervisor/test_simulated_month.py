"""A simulated month against real strategy processes: every start and stop at the right minute.

The reconciler, the calendars and the restart backoff all read one FakeClock,
which the test moves from 2024-10-28 to 2024-11-28 (IST). That month has a
special session (Muhurat trading, Fri 1 Nov, 18:00-19:00), two NSE holidays
(Fri 15 Nov, Wed 20 Nov), weekends, an MCX holiday added through the override
file, a window crossing midnight, a 24x7 strategy, host restarts in and across
windows, a strategy crash and a SIGKILL.

The expected runs are written out below from plain rules, independently of the
scheduler; the runs the host recorded (start and end on the simulated clock)
must equal them exactly: none missing, none twice, none at the wrong minute.

The host's contract manager runs beside the reconciler, which waits for the
paper contract: it must be fetched once for each trading day the host saw, and
never make a window start late.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from algovisor.clock import FakeClock
from algovisor.contracts import paper
from algovisor.contracts.manager import ContractManager
from algovisor.contracts.readiness import read_board
from algovisor.contracts.records import Instrument
from algovisor.db.models import MasterContractStatus, Run, Strategy
from algovisor.services import contracts as contract_service
from algovisor.services import schedules, strategies
from algovisor.services.context import ServiceContext
from algovisor.supervisor.reconciler import Reconciler
from algovisor.supervisor.states import ACTIVE_RUN_STATUSES
from tests.conftest import make_reconciler

IST = ZoneInfo("Asia/Kolkata")
FIRST_DAY = date(2024, 10, 28)  # a Monday
END = datetime(2024, 11, 28, 0, 0, tzinfo=IST)
NSE_HOLIDAYS = {date(2024, 11, 15), date(2024, 11, 20)}
MUHURAT = date(2024, 11, 1)  # NSE special session 18:00-19:00 (library data)
MCX_HOLIDAY = date(2024, 11, 15)  # from the override file
CRASH_DAY = date(2024, 10, 29)
KILL_AT = datetime(2024, 11, 6, 12, 0, tzinfo=IST)
# (host down from, host back at): mid-window restart, down across a stop, across
# a start, and across a whole window.
OUTAGES = [
    (datetime(2024, 10, 30, 12, 0, tzinfo=IST), datetime(2024, 10, 30, 12, 0, tzinfo=IST)),
    (datetime(2024, 10, 31, 15, 0, tzinfo=IST), datetime(2024, 10, 31, 16, 10, tzinfo=IST)),
    (datetime(2024, 11, 4, 9, 0, tzinfo=IST), datetime(2024, 11, 4, 10, 3, tzinfo=IST)),
    (datetime(2024, 11, 5, 8, 0, tzinfo=IST), datetime(2024, 11, 5, 16, 0, tzinfo=IST)),
]

SMALL_PAPER = (
    Instrument("SBIN", "SBIN", "SBIN", "NSE", "NSE", "3045", None, None, 1, "EQ", 0.05),
    Instrument("TCS", "TCS", "TCS", "NSE", "NSE", "11536", None, None, 1, "EQ", 0.05),
    Instrument("NIFTY", "NIFTY", "NIFTY", "NSE_INDEX", "NSE", "26000", None, None, 0, "INDEX", 0),
)

LOOPING = """
import os, sys, time
if os.path.exists("crash-now"):
    os.remove("crash-now")
    sys.exit(1)
while True:
    time.sleep(1)
"""

Window = tuple[datetime, datetime | None]


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=IST)


def month_days() -> Iterator[date]:
    day = FIRST_DAY
    while day < END.date():
        yield day
        day += timedelta(days=1)


def expected_runs() -> dict[str, list[Window]]:
    """What a trader expects, from the plain rules of each strategy and the month's events."""
    equity: list[Window] = []
    crasher: list[Window] = []
    mcx_night: list[Window] = []
    for day in month_days():
        weekday = day.weekday() < 5
        if day == MUHURAT:
            equity.append((at(day, 18), at(day, 19)))  # its own window does not meet the session
        elif weekday and day not in NSE_HOLIDAYS:
            equity.append((at(day, 9, 15), at(day, 15, 30)))
            crasher.append((at(day, 10), at(day, 11)))
        if weekday and day != MCX_HOLIDAY:
            closes = at(day + timedelta(days=1), 2)
            mcx_night.append((at(day, 21), closes if closes < END else None))
    # The crash: the first run dies at once, the restart comes after the backoff.
    crashed = crasher.index((at(CRASH_DAY, 10), at(CRASH_DAY, 11)))
    crasher[crashed : crashed + 1] = [
        (at(CRASH_DAY, 10), at(CRASH_DAY, 10)),
        (at(CRASH_DAY, 10, 1), at(CRASH_DAY, 11)),
    ]
    # Host down 15:00-16:10 on 31 Oct: the missed 15:30 stop is enforced at 16:10.
    replace(equity, at(date(2024, 10, 31), 9, 15), (at(date(2024, 10, 31), 9, 15), OUTAGES[1][1]))
    # Host down 09:00-10:03 on 4 Nov: both start the moment it is back.
    replace(equity, at(date(2024, 11, 4), 9, 15), (OUTAGES[2][1], at(date(2024, 11, 4), 15, 30)))
    replace(crasher, at(date(2024, 11, 4), 10), (OUTAGES[2][1], at(date(2024, 11, 4), 11)))
    # Host down all day on 5 Nov: a window that closed while it was down is not run late.
    replace(equity, at(date(2024, 11, 5), 9, 15), None)
    replace(crasher, at(date(2024, 11, 5), 10), None)
    # SIGKILL at 12:00 on 6 Nov: the run ends there, its restart comes a minute later.
    killed = equity.index((at(KILL_AT.date(), 9, 15), at(KILL_AT.date(), 15, 30)))
    equity[killed : killed + 1] = [
        (at(KILL_AT.date(), 9, 15), KILL_AT),
        (KILL_AT + timedelta(minutes=1), at(KILL_AT.date(), 15, 30)),
    ]
    return {
        "equity": equity,
        "crasher": crasher,
        "mcx_night": mcx_night,
        "crypto": [(at(FIRST_DAY, 0), None)],
    }


def replace(runs: list[Window], start: datetime, new: Window | None) -> None:
    index = next(number for number, run in enumerate(runs) if run[0] == start)
    if new is None:
        del runs[index]
    else:
        runs[index] = new


def checkpoints(expected: dict[str, list[Window]]) -> list[datetime]:
    """Every minute around each expected event, every hour, and the month's events."""
    instants = {at(FIRST_DAY, 0) + timedelta(hours=step) for step in range(31 * 24)}
    edges = {moment for runs in expected.values() for run in runs for moment in run if moment}
    edges |= {KILL_AT} | {moment for outage in OUTAGES for moment in outage}
    for edge in edges:
        instants |= {edge + timedelta(minutes=offset) for offset in range(-2, 3)}
    down = [(start, back) for start, back in OUTAGES if back > start]
    return sorted(
        moment
        for moment in instants
        if at(FIRST_DAY, 0) <= moment <= END and not any(s < moment < b for s, b in down)
    )


class Host:
    """An in-process reconciler and contract manager, 'restarted' (new ones) on one clock."""

    def __init__(self, ctx: ServiceContext, clock: FakeClock) -> None:
        self.ctx = ctx
        self.clock = clock
        self.reconciler: Reconciler | None = None
        self.contracts = ContractManager(
            ctx.sessions,
            ctx.read_sessions,
            clock,
            ctx.calendars.current,
            contract_service.make_refresh(ctx),
            contract_service.pipeline_settings(ctx),
            contract_service.refresh_time(ctx),
            on_ready=lambda: None,
        )

    def start(self) -> None:
        # Sampling CPU and memory scans every process on the machine; once a
        # simulated day is plenty here, and keeps the month fast.
        self.reconciler = make_reconciler(
            self.ctx, clock=self.clock, resource_sample_secs=86400, contracts=read_board
        )
        self.reconciler.recover()

    def stop(self) -> None:
        assert self.reconciler is not None
        self.reconciler.close()
        self.reconciler = None

    def converge(self, until: Callable[[], bool] = lambda: True) -> None:
        """Tick until no run is starting or stopping and new runs have had time to crash."""
        assert self.reconciler is not None
        deadline = time.monotonic() + 20
        settle_until = 0.0
        while True:
            self.contracts.tick()
            self.contracts.join(30)
            self.reconciler.wait(0)  # collect process exits, as the host's loop does
            before = self._run_count()
            self.reconciler.tick()
            if self._run_count() != before:
                settle_until = time.monotonic() + 0.2  # a new run: would it die at once?
            settled = time.monotonic() >= settle_until and not self._in_transition()
            if settled and until():
                return
            assert time.monotonic() < deadline, "the host did not converge"
            self.reconciler.wait(0.02)

    def _run_count(self) -> int:
        with self.ctx.reading() as session:
            return len(session.scalars(select(Run.id)).all())

    def _in_transition(self) -> bool:
        with self.ctx.reading() as session:
            statuses = session.scalars(
                select(Run.status).where(Run.status.in_(ACTIVE_RUN_STATUSES))
            ).all()
        return any(status != "running" for status in statuses)


def recorded_runs(ctx: ServiceContext) -> dict[str, list[Window]]:
    with ctx.reading() as session:
        names = {row.id: row.name for row in session.execute(select(Strategy.id, Strategy.name))}
        runs = session.scalars(select(Run).order_by(Run.created_at, Run.started_at)).all()
        result: dict[str, list[Window]] = {name: [] for name in names.values()}
        for run in runs:
            assert run.started_at is not None, f"run {run.id} never started"
            ended = run.ended_at.astimezone(IST) if run.ended_at else None
            result[names[run.strategy_id]].append((run.started_at.astimezone(IST), ended))
    return result


def state_of(ctx: ServiceContext, name: str) -> tuple[str, str]:
    view = strategies.show(ctx, name)
    return view.state, view.state_message or ""


@pytest.fixture
def month(ctx: ServiceContext, monkeypatch: pytest.MonkeyPatch) -> tuple[ServiceContext, FakeClock]:
    # The month is about days, not about 150,000 rows: a three-row paper contract.
    monkeypatch.setattr(paper, "generate", lambda *_: list(SMALL_PAPER))
    clock = FakeClock(at(FIRST_DAY, 0) - timedelta(minutes=1))
    ctx.clock = clock
    ctx.layout.calendar_overrides.write_text(
        f"exchange,date,change,opens,closes,name\nMCX,{MCX_HOLIDAY},holiday,,,test closure\n"
    )
    return ctx, clock


def test_a_simulated_month_starts_and_stops_every_window_exactly_once(
    month: tuple[ServiceContext, FakeClock], write_script: Callable[[str, str], Path]
) -> None:
    ctx, clock = month
    script = write_script("loop.py", LOOPING).read_bytes()
    plans = {
        "equity": ("09:15", "15:30", "mon-fri", "NSE", True),
        "crasher": ("10:00", "11:00", "mon-fri", "NSE", False),
        "mcx_night": ("21:00", "02:00", "mon-fri", "MCX", True),
        "crypto": ("00:00", None, "daily", "CRYPTO", True),
    }
    for name, plan in plans.items():
        strategies.add(ctx, f"{name}.py", script)
        schedules.set_schedule(ctx, name, schedules.checked_schedule(*plan))
        strategies.start(ctx, name)
    crasher_dir = ctx.layout.work_dir(strategies.show(ctx, "crasher").id)
    crasher_dir.mkdir(parents=True, exist_ok=True)

    expected = expected_runs()
    host = Host(ctx, clock)
    host.start()
    outage_starts = dict(OUTAGES)
    for moment in checkpoints(expected):
        clock.advance(moment - clock.now())
        if moment == at(CRASH_DAY, 9, 58):
            (crasher_dir / "crash-now").write_text("")
        if moment in outage_starts:
            host.stop()
            back = outage_starts[moment]
            clock.advance(back - clock.now())
            host.start()
        host.converge()
        if moment == KILL_AT:
            pid = strategies.show(ctx, "equity").current_run.pid  # type: ignore[union-attr]
            os.kill(pid, signal.SIGKILL)
            host.converge(until=lambda: strategies.show(ctx, "equity").state == "backoff")
        if moment == at(date(2024, 11, 15), 10):
            state, message = state_of(ctx, "equity")
            assert state == "paused"
            assert "NSE holiday Guru Nanak Jayanti" in message
            assert "next session Mon 2024-11-18 09:15 IST" in message
        if moment == at(date(2024, 11, 2), 10):
            assert state_of(ctx, "equity")[0] == "paused"  # Saturday
        if moment == at(date(2024, 10, 28), 8, 0):
            state, message = state_of(ctx, "equity")
            assert (state, "next start Mon 2024-10-28 09:15 IST" in message) == ("scheduled", True)
    host.stop()

    recorded = recorded_runs(ctx)
    for name, runs in expected.items():
        assert recorded[name] == runs, f"{name}: recorded runs differ from the expected ones"
    with ctx.reading() as session:
        reasons = {
            (run.end_reason, run.stop_reason)
            for run in session.scalars(select(Run).where(Run.ended_at.is_not(None)))
        }
    assert reasons == {("stopped", "window closed"), ("crashed", None)}
    # One paper contract per trading day, from Friday 25 October's (current when the
    # month began) to Wednesday 27 November's, each fetched once and none failed.
    with ctx.reading() as session:
        paper_status = session.get_one(MasterContractStatus, "paper")
    trading_days = [date(2024, 10, 25)] + [
        day
        for day in (FIRST_DAY + timedelta(days=offset) for offset in range(31))
        if day.weekday() < 5 and day not in NSE_HOLIDAYS
    ]
    assert paper_status.trading_day == trading_days[-1]
    assert paper_status.last_generation == len(trading_days) == 22
    assert paper_status.failures == 0
