"""Desired-state evaluation for 1,000 strategies at one instant (the reconciler asks every second).

1,000 scheduled strategies with distinct schedules (start and stop minutes vary,
so no two share a window decision), spread over NSE, NFO, BSE, MCX (windows
crossing midnight) and CRYPTO (24x7), on the real library calendars. Measured:

- every second: `desired_state` for all 1,000 at an instant one second after the
  previous one, as the reconciler asks (window decisions are remembered until
  they can change, so this is the steady state);
- every decision expired: the same with no window decision remembered, as at
  midnight, at host start or when the override file changed (the calendars'
  own per-day answers stay warm, as they do in the host);
- reading facts: `facts_of` over 1,000 strategy rows (schedules parsed from columns);
- a whole reconciler tick with 1,000 idle scheduled strategies in the database
  (SQLite in a temporary data directory, or --database-url), which adds the
  query and the state bookkeeping around the evaluation.

The instants are spread over a trading week so that windows open, close, and
land on weekends and holidays.
"""

from __future__ import annotations

import os
import random
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from algovisor.clock import FakeClock
from algovisor.contracts.readiness import read_board
from algovisor.db.models import Strategy
from algovisor.schedule.calendar import INDIA, CalendarBook
from algovisor.schedule.library import load_library_calendars
from algovisor.schedule.windows import make_schedule
from algovisor.services import schedules as schedule_service
from algovisor.services import strategies as strategy_service
from algovisor.supervisor.config import SupervisorConfig
from algovisor.supervisor.facts import facts_of
from algovisor.supervisor.identity import current_boot_id
from algovisor.supervisor.logfiles import RetentionLimits
from algovisor.supervisor.reconciler import Reconciler
from algovisor.supervisor.states import Intent, StrategyFacts, desired_state
from benchmarks.common import (
    Figure,
    base_parser,
    bench_environment,
    print_figures,
    run_main,
    say,
)

STRATEGIES = 1000
TARGET_MS = 5.0
# Monday 2026-11-23 to Friday 2026-11-27, with Guru Nanak Jayanti (Tuesday) closed.
FIRST_INSTANT = datetime(2026, 11, 23, 8, 0, tzinfo=INDIA)
SPREAD = timedelta(days=5)
SCRIPT = b"import time\nwhile True:\n    time.sleep(60)\n"


def schedules(count: int, seed: int = 7) -> list[tuple[str, str | None, str, str]]:
    """Distinct, realistic schedules: mostly equity hours, some MCX nights and 24x7."""
    chooser = random.Random(seed)
    plans: dict[tuple[str, str | None, str, str], None] = {}
    while len(plans) < count:
        start, stop = chooser.randrange(60), chooser.randrange(60)
        kind = chooser.random()
        if kind < 0.6:
            plan = (_clock(9 * 60 + 15 + start), _clock(14 * 60 + 30 + stop), "mon-fri", "NSE")
        elif kind < 0.75:
            plan = (_clock(9 * 60 + 15 + start), _clock(14 * 60 + 30 + stop), "mon-fri", "NFO")
        elif kind < 0.85:
            plan = (_clock(10 * 60 + start), _clock(13 * 60 + stop), "mon,wed,fri", "BSE")
        elif kind < 0.95:
            plan = (_clock(20 * 60 + start), _clock(60 + stop), "mon-fri", "MCX")
        else:
            plan = (_clock(start), None, "daily", "CRYPTO")
        plans[plan] = None
    return list(plans)


def _clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def instants(count: int, seed: int = 11) -> list[datetime]:
    chooser = random.Random(seed)
    return [FIRST_INSTANT + SPREAD * chooser.random() for _ in range(count)]


def evaluate_all(facts: list[StrategyFacts], now: datetime, book: CalendarBook) -> float:
    started = time.perf_counter()
    for item in facts:
        desired_state(item, now, book)
    return (time.perf_counter() - started) * 1000


def main() -> int:
    parser = base_parser(__doc__ or "", repetitions=20)
    arguments = parser.parse_args()
    every_second = Figure(f"every second: {STRATEGIES} strategies", "ms", [], TARGET_MS)
    first = Figure(f"every decision expired (midnight): {STRATEGIES} strategies", "ms")
    reading = Figure(f"facts_of over {STRATEGIES} rows", "ms")
    tick = Figure(f"whole reconciler tick, {STRATEGIES} idle scheduled strategies", "ms")

    with tempfile.TemporaryDirectory() as scratch:
        cache = Path(scratch) / "library-cache.json"
        load_library_calendars(cache)  # extract once; every book below reads the cache
        facts = [
            StrategyFacts(Intent.RUN, schedule=make_schedule(*plan))
            for plan in schedules(STRATEGIES)
        ]
        book = CalendarBook(load_library_calendars(cache))
        for now in instants(arguments.repetitions):
            for calendar in book.calendars.values():
                calendar.memo.clear()  # every decision expired, as at midnight
            first.add(evaluate_all(facts, now, book))
            every_second.add(evaluate_all(facts, now + timedelta(seconds=1), book))

    with bench_environment(arguments.database_url, arguments.keep) as environment:
        say(environment.describe())
        ctx = environment.ctx
        for number, plan in enumerate(schedules(STRATEGIES)):
            name = f"s{number:04d}"
            strategy_service.add(ctx, f"{name}.py", SCRIPT, intent=Intent.RUN)
            schedule_service.set_schedule(ctx, name, schedule_service.checked_schedule(*plan))
        with ctx.reading() as session:
            rows = list(session.scalars(select(Strategy)))
            board = read_board(session, datetime.now(INDIA), book)
            for _ in range(arguments.repetitions):
                started = time.perf_counter()
                [facts_of(row, board) for row in rows]
                reading.add((time.perf_counter() - started) * 1000)
        # Outside every window (a Sunday), so the tick decides and spawns nothing.
        sunday = FakeClock(datetime(2026, 11, 22, 12, 0, tzinfo=INDIA))
        reconciler = Reconciler(
            ctx.sessions,
            ctx.layout,
            ctx.secrets,
            sunday,
            SupervisorConfig(
                host_name="bench",
                boot_id=current_boot_id(),
                database_url=ctx.settings.resolved_database_url,
                interval_secs=1.0,
                resource_sample_secs=5.0,
                log_max_bytes=ctx.settings.log_max_bytes,
                retention=RetentionLimits(50, 30, 1024**3),
            ),
            os.environ,
            ctx.calendars.current,
            ctx.position_store(),
        )
        reconciler.tick()  # the first tick writes every strategy's state once
        for _ in range(arguments.repetitions):
            sunday.advance(1)
            started = time.perf_counter()
            reconciler.tick()
            tick.add((time.perf_counter() - started) * 1000)
        reconciler.close()

    return print_figures(
        "desired-state evaluation",
        [every_second, first, reading, tick],
        [
            f"{STRATEGIES} distinct schedules on NSE/NFO/BSE/MCX/CRYPTO, library calendars; "
            f"{arguments.repetitions} instants over {FIRST_INSTANT:%Y-%m-%d} + 5 days"
        ],
    )


if __name__ == "__main__":
    run_main(main)
