"""`algovisor import-openalgo`: an OpenAlgo strategies/ folder becomes algovisor strategies.

The sample folder in tests/fixtures/openalgo mirrors what OpenAlgo writes: one
strategy running on a schedule, one stopped by hand, one from an older version
without schedule fields and a Windows path, one OpenAlgo had in error, one whose
script is gone and one entry that is not an object. Imported schedules are
checked by asking `explain` at chosen instants and by running the imported
strategies with a reconciler on a fake clock.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from typer.testing import CliRunner

from algovisor.cli.main import app
from algovisor.clock import FakeClock
from algovisor.errors import InvalidInputError, UnavailableError
from algovisor.schedule.calendar import INDIA
from algovisor.services import environment, logs, openalgo_import, schedules, strategies
from algovisor.services import versions as version_service
from algovisor.services.context import ServiceContext
from algovisor.services.openalgo_import import ImportReport, StrategyImport, sanitize_name
from algovisor.settings import Settings
from algovisor.supervisor.reconciler import Reconciler
from tests.conftest import converge, make_reconciler, wait_until

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "openalgo" / "strategies"
EMA = "ema_cross_20250115091500"
RSI = "rsi_reversal_20250116100000"
LEGACY = "legacy_bot_20240101000000"
GOLD = "gold_mcx_20250120090000"
MISSING = "missing_file_20250201093000"
LOOPING = b"import time\nwhile True:\n    time.sleep(0.1)\n"
TUESDAY_MORNING = datetime(2026, 1, 27, 10, 0, tzinfo=INDIA)  # NSE and MCX open
TUESDAY_EVENING = datetime(2026, 1, 27, 18, 0, tzinfo=INDIA)  # NSE closed, MCX open
WEEKDAYS = ["mon", "tue", "wed", "thu", "fri"]


def by_id(report: ImportReport) -> dict[str, StrategyImport]:
    return {item.openalgo_id: item for item in report.strategies}


def intents(ctx: ServiceContext) -> dict[str, str]:
    return {view.name: view.intent for view in strategies.list_strategies(ctx)}


def make_folder(root: Path, configs: object, scripts: dict[str, bytes]) -> Path:
    """An OpenAlgo strategies/ folder under `root` with these configs and scripts."""
    folder = root / "openalgo" / "strategies"
    (folder / "scripts").mkdir(parents=True)
    (folder / "strategy_configs.json").write_text(json.dumps(configs, indent=2))
    for name, content in scripts.items():
        (folder / "scripts" / name).write_bytes(content)
    return folder


def entry(openalgo_id: str, name: str, **fields: Any) -> dict[str, Any]:
    return {
        "name": name,
        "file_path": f"strategies/scripts/{openalgo_id}.py",
        "file_name": f"{openalgo_id}.py",
        "is_running": False,
        **fields,
    }


def scheduled_entry(
    openalgo_id: str,
    name: str,
    start: str | None,
    stop: str | None,
    days: list[str],
    exchange: str = "NSE",
    **fields: Any,
) -> dict[str, Any]:
    """An entry as OpenAlgo writes a scheduled strategy it is running."""
    defaults = {"is_running": True, "is_scheduled": True}
    return entry(
        openalgo_id,
        name,
        **{
            **defaults,
            "exchange": exchange,
            "schedule_start": start,
            "schedule_stop": stop,
            "schedule_days": days,
            **fields,
        },
    )


def single_import(ctx: ServiceContext, root: Path, config: dict[str, Any]) -> StrategyImport:
    """Import a folder holding just this one entry (id "s"); it must not fail."""
    folder = make_folder(root, {"s": config}, {"s.py": LOOPING})
    [result] = openalgo_import.import_folder(ctx, folder).strategies
    assert result.status == "imported", result.error
    return result


def should_run(ctx: ServiceContext, name: str, at: datetime) -> bool:
    return schedules.explain(ctx, name, at).should_run


def note_about_schedule(result: StrategyImport) -> str:
    [note] = [note for note in result.notes if note.startswith("schedule ")]
    return note


def quoted_commands(note: str) -> list[str]:
    return note.split("`")[1::2]


def run_command(settings: Settings, command: str) -> Result:
    """A command a note tells the trader to run, run as written (in-process)."""
    words = shlex.split(command)
    assert words[0] == "algovisor", command
    return CliRunner().invoke(
        app,
        [
            "--data-dir",
            str(settings.data_dir),
            "--database-url",
            settings.resolved_database_url,
            *words[1:],
        ],
        env={"COLUMNS": "400"},
    )


# ----- the sample folder ----------------------------------------------------------------


def test_sample_folder_imports_names_scripts_variables_and_intent(ctx: ServiceContext) -> None:
    report = openalgo_import.import_folder(ctx, FIXTURE)
    results = by_id(report)

    assert {key: item.status for key, item in results.items()} == {
        EMA: "imported",
        RSI: "imported",
        LEGACY: "imported",
        GOLD: "imported",
        MISSING: "failed",
        "broken_entry": "failed",
    }
    assert report.failed
    # Running in OpenAlgo and not stopped by hand: run. Stopped by hand or idle: stop.
    assert intents(ctx) == {
        "EMA Crossover NIFTY": "run",
        "RSI Reversal": "stop",
        "legacy bot": "run",
        "Gold MCX evening": "stop",
    }
    assert results[EMA].notes[0] == "renamed from 'EMA Crossover (NIFTY)' to fit algovisor's names"
    for openalgo_id in (EMA, RSI, LEGACY, GOLD):
        item = results[openalgo_id]
        stored = version_service.version_content(ctx, item.name or "")
        assert stored == (FIXTURE / "scripts" / f"{openalgo_id}.py").read_bytes()
        assert item.strategy_id == strategies.show(ctx, item.name or "").id

    # A Windows absolute path from another machine: found by its file name in scripts/.
    assert results[LEGACY].script == str(FIXTURE / "scripts" / f"{LEGACY}.py")

    variables = {var.key: var.value for var in environment.env_list(ctx, "EMA Crossover NIFTY")}
    assert variables == {"SYMBOL": "NIFTY", "FAST_PERIOD": "9", "SLOW_PERIOD": "21"}
    assert [var.key for var in environment.env_list(ctx, "RSI Reversal")] == ["SYMBOL"]
    assert environment.env_list(ctx, "legacy bot") == []
    assert any(".secure_env not imported" in note for note in report.notes)

    assert "was in error in OpenAlgo: ModuleNotFoundError: No module named 'talib'" in (
        results[GOLD].notes
    )
    assert "not found" in (results[MISSING].error or "")
    assert "not an object" in (results["broken_entry"].error or "")


def test_enabled_schedules_are_applied_and_their_notes_say_what_to_expect(
    ctx: ServiceContext,
) -> None:
    results = by_id(openalgo_import.import_folder(ctx, FIXTURE))

    ema = results[EMA].schedule
    assert ema is not None
    assert (ema.enabled, ema.start, ema.stop, ema.exchange) == (True, "09:15", "15:30", "NSE")
    assert ema.days == WEEKDAYS
    shown = {
        name: strategies.show(ctx, name).schedule
        for name in ("EMA Crossover NIFTY", "RSI Reversal", "Gold MCX evening", "legacy bot")
    }
    ema_view = shown["EMA Crossover NIFTY"]
    assert ema_view is not None
    assert (ema_view.start, ema_view.stop, ema_view.days, ema_view.exchange) == (
        "09:15",
        "15:30",
        "mon-fri",
        "NSE",
    )
    assert ema_view.special_sessions
    assert results[EMA].applied == ema_view
    rsi_view = shown["RSI Reversal"]
    assert rsi_view is not None  # no stop time: open from 09:20 through its days
    assert (rsi_view.start, rsi_view.stop, rsi_view.days) == ("09:20", None, "mon,wed,fri")
    gold_view = shown["Gold MCX evening"]
    assert gold_view is not None
    assert (gold_view.exchange, gold_view.start, gold_view.stop) == ("MCX", "09:00", "23:30")
    assert shown["legacy bot"] is None  # an older OpenAlgo without schedule fields
    assert results[LEGACY].applied is None

    # Intent as before: armed where OpenAlgo ran it, stopped where it did not.
    assert intents(ctx)["EMA Crossover NIFTY"] == "run"
    assert should_run(ctx, "EMA Crossover NIFTY", TUESDAY_MORNING)
    assert not should_run(ctx, "EMA Crossover NIFTY", TUESDAY_EVENING)
    assert note_about_schedule(results[EMA]) == (
        "schedule applied: 09:15-15:30 IST mon-fri on NSE; armed: it runs only inside its "
        "window and starts when the next one opens (at once if one is open now); "
        "`algovisor explain 'EMA Crossover NIFTY'` says when"
    )
    assert "stopped by hand in OpenAlgo, so it stays stopped; arm it with " in (
        note_about_schedule(results[RSI])
    )
    assert "`algovisor strategy start 'RSI Reversal'`" in note_about_schedule(results[RSI])
    assert "its scheduler would have started it" in note_about_schedule(results[GOLD])
    assert not any("schedule" in note for note in results[LEGACY].notes)
    assert not any("not applied" in note for item in results.values() for note in item.notes)


def test_a_cross_midnight_mcx_schedule_is_applied(ctx: ServiceContext, tmp_path: Path) -> None:
    result = single_import(
        ctx,
        tmp_path,
        scheduled_entry("s", "Crude night", "21:00", "02:00", WEEKDAYS, exchange="mcx"),
    )

    view = strategies.show(ctx, "Crude night")
    assert view.intent == "run"
    assert view.schedule is not None
    assert (view.schedule.start, view.schedule.stop) == ("21:00", "02:00")
    assert (view.schedule.days, view.schedule.exchange) == ("mon-fri", "MCX")
    assert result.applied == view.schedule
    assert "schedule applied: 21:00-02:00 IST mon-fri on MCX; armed" in (
        note_about_schedule(result)
    )
    # Tuesday's window runs into Wednesday morning.
    assert should_run(ctx, "Crude night", TUESDAY_EVENING + timedelta(hours=3, minutes=30))
    assert should_run(ctx, "Crude night", TUESDAY_EVENING + timedelta(hours=7, minutes=59))
    assert not should_run(ctx, "Crude night", TUESDAY_EVENING + timedelta(hours=8))
    assert not should_run(ctx, "Crude night", TUESDAY_MORNING)


def test_a_schedule_without_a_stop_time_is_applied(ctx: ServiceContext, tmp_path: Path) -> None:
    every_day = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
    result = single_import(
        ctx, tmp_path, scheduled_entry("s", "Around the clock", "00:00", None, every_day, "CRYPTO")
    )

    view = strategies.show(ctx, "Around the clock")
    assert view.schedule is not None
    assert (view.schedule.start, view.schedule.stop, view.schedule.days) == ("00:00", None, "daily")
    assert view.schedule.exchange == "CRYPTO"
    assert result.applied == view.schedule
    sunday_night = datetime(2026, 2, 1, 23, 59, tzinfo=INDIA)
    for instant in (TUESDAY_MORNING, TUESDAY_EVENING, sunday_night):
        assert should_run(ctx, "Around the clock", instant)
    assert schedules.explain(ctx, "Around the clock", sunday_night).next_change_at is None


def test_a_disabled_schedule_is_not_applied_and_the_note_says_how_to(
    ctx: ServiceContext, settings: Settings, tmp_path: Path
) -> None:
    config = scheduled_entry("s", "Manual EMA", "09:15", "15:30", WEEKDAYS, is_scheduled=False)
    result = single_import(ctx, tmp_path, config)

    view = strategies.show(ctx, "Manual EMA")
    assert view.schedule is None
    assert result.applied is None
    assert view.intent == "run"  # OpenAlgo ran it by hand: it runs around the clock, as there
    assert should_run(ctx, "Manual EMA", TUESDAY_EVENING)
    command = (
        "algovisor strategy schedule 'Manual EMA' --start 09:15 --stop 15:30 "
        "--days mon,tue,wed,thu,fri --exchange NSE"
    )
    assert note_about_schedule(result) == (
        "schedule 09:15-15:30 mon,tue,wed,thu,fri on NSE (disabled) not applied: it was "
        "disabled in OpenAlgo, so the strategy runs only when started, until stopped; "
        f"to use the schedule, run `{command}`"
    )

    # The command in the note works as written (stopped first: a running one cannot change).
    strategies.stop(ctx, "Manual EMA")
    applied = run_command(settings, command)
    assert applied.exit_code == 0, applied.output
    shown = strategies.show(ctx, "Manual EMA").schedule
    assert shown is not None
    assert shown.description == "09:15-15:30 IST mon-fri on NSE"


@pytest.mark.parametrize(
    ("start", "stop", "days", "exchange", "problem", "command", "filled"),
    [
        (
            "09:15",
            "15:30",
            WEEKDAYS,
            "NYSE",
            "unknown exchange 'NYSE'; use one of NSE, ",
            "--start 09:15 --stop 15:30 --days mon,tue,wed,thu,fri --exchange EXCHANGE",
            {"EXCHANGE": "NSE"},
        ),
        (
            "09:15",
            "09:15",
            WEEKDAYS,
            "NSE",
            "start and stop are both 09:15, so the window would be empty",
            "--start 09:15 --stop HH:MM --days mon,tue,wed,thu,fri --exchange NSE",
            {"HH:MM": "15:30"},
        ),
        (
            "09:15",
            "15:30",
            [],
            "NSE",
            "the schedule has no days",
            "--start 09:15 --stop 15:30 --days DAYS --exchange NSE",
            {"DAYS": "mon-fri"},
        ),
        (
            "9.15am",
            None,
            ["mon"],
            "BSE",
            "it has no start time",
            "--start HH:MM --days mon --exchange BSE",
            {"HH:MM": "09:15"},
        ),
    ],
    ids=["unknown-exchange", "start-equals-stop", "no-days", "unreadable-start"],
)
def test_a_schedule_algovisor_cannot_take_imports_the_strategy_stopped_without_one(
    ctx: ServiceContext,
    settings: Settings,
    tmp_path: Path,
    start: str,
    stop: str | None,
    days: list[str],
    exchange: str,
    problem: str,
    command: str,
    filled: dict[str, str],
) -> None:
    result = single_import(
        ctx, tmp_path, scheduled_entry("s", "Odd one", start, stop, days, exchange)
    )

    view = strategies.show(ctx, "Odd one")
    assert view.schedule is None
    assert result.applied is None
    # OpenAlgo ran it inside a window; around the clock would be a different strategy.
    assert result.intent == view.intent == "stop"
    note = note_about_schedule(result)
    assert problem in note
    assert "imported without a schedule and stopped" in note
    fix, arm = quoted_commands(note)
    assert fix == f"algovisor strategy schedule 'Odd one' {command}"
    assert arm == "algovisor strategy start 'Odd one'"

    # With its placeholders filled in, the command in the note works.
    for placeholder, value in filled.items():
        fix = fix.replace(placeholder, value)
    applied = run_command(settings, fix)
    assert applied.exit_code == 0, applied.output
    assert strategies.show(ctx, "Odd one").schedule is not None


def test_a_bad_schedule_of_a_stopped_strategy_keeps_it_stopped(
    ctx: ServiceContext, tmp_path: Path
) -> None:
    config = scheduled_entry("s", "Idle", "10:00", "10:00", ["fri"], is_running=False)
    result = single_import(ctx, tmp_path, config)

    assert result.intent == "stop"
    note = note_about_schedule(result)
    assert "not applied: start and stop are both 10:00" in note
    assert "; imported without a schedule; fix it with " in note
    assert strategies.show(ctx, "Idle").schedule is None


def test_dry_run_reports_the_same_and_changes_nothing(ctx: ServiceContext) -> None:
    dry = openalgo_import.import_folder(ctx, FIXTURE, dry_run=True)

    assert strategies.list_strategies(ctx) == []
    assert dry.dry_run
    statuses = {item.openalgo_id: item.status for item in dry.strategies}
    assert statuses[EMA] == statuses[LEGACY] == "would_import"
    assert statuses[MISSING] == statuses["broken_entry"] == "failed"
    assert "dry run, nothing changed" in dry.describe()[-1]
    dry_results = by_id(dry)
    assert note_about_schedule(dry_results[EMA]).startswith(
        "schedule would be applied: 09:15-15:30 IST mon-fri on NSE; armed"
    )
    assert "  - schedule would be applied: 09:15-15:30 IST mon-fri on NSE; armed" in (
        "\n".join(dry.describe())
    )

    real = by_id(openalgo_import.import_folder(ctx, FIXTURE))
    assert [item.name for item in real.values()] == [item.name for item in dry.strategies]
    for openalgo_id in (EMA, RSI, GOLD, LEGACY):
        name = real[openalgo_id].name or ""
        assert dry_results[openalgo_id].applied == strategies.show(ctx, name).schedule
        assert dry_results[openalgo_id].intent == real[openalgo_id].intent


def test_dry_run_of_a_bad_schedule_changes_nothing_either(
    ctx: ServiceContext, tmp_path: Path
) -> None:
    folder = make_folder(
        tmp_path,
        {
            "a": scheduled_entry("a", "Fine", "09:15", "15:30", WEEKDAYS),
            "b": scheduled_entry("b", "Odd", "09:15", "15:30", WEEKDAYS, exchange="NYSE"),
        },
        {"a.py": LOOPING, "b.py": LOOPING},
    )

    dry = by_id(openalgo_import.import_folder(ctx, folder, dry_run=True))

    assert strategies.list_strategies(ctx) == []
    assert dry["a"].applied is not None
    assert (dry["a"].status, dry["a"].intent) == ("would_import", "run")
    assert (dry["b"].applied, dry["b"].intent) == (None, "stop")
    assert "unknown exchange 'NYSE'" in note_about_schedule(dry["b"])


def test_importing_again_leaves_what_came_over_alone(ctx: ServiceContext) -> None:
    openalgo_import.import_folder(ctx, FIXTURE)
    strategies.stop(ctx, "EMA Crossover NIFTY")  # the trader changed their mind since

    again = by_id(openalgo_import.import_folder(ctx, FIXTURE))

    assert {again[key].status for key in (EMA, RSI, LEGACY, GOLD)} == {"already_imported"}
    assert len(strategies.list_strategies(ctx)) == 4
    assert intents(ctx)["EMA Crossover NIFTY"] == "stop"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(TUESDAY_MORNING)


@pytest.fixture
def timed_ctx(
    ctx: ServiceContext, settings: Settings, clock: FakeClock
) -> Iterator[ServiceContext]:
    """A second context on the test's database, whose time is `clock`'s."""
    context = ServiceContext.open(settings, clock=clock)
    yield context
    context.close()


@pytest.fixture
def timed_reconciler(timed_ctx: ServiceContext, clock: FakeClock) -> Iterator[Reconciler]:
    instance = make_reconciler(timed_ctx, clock=clock)
    instance.recover()
    yield instance
    instance.close()


def test_imported_running_strategy_starts_with_its_variables_inside_its_window(
    timed_ctx: ServiceContext, timed_reconciler: Reconciler
) -> None:
    ctx = timed_ctx  # Tuesday 10:00 IST: inside the EMA strategy's window
    openalgo_import.import_folder(ctx, FIXTURE)

    wait_until(
        lambda: (
            "ema cross on NIFTY fast=9" in logs.tail(ctx, "EMA Crossover NIFTY")
            if strategies.show(ctx, "EMA Crossover NIFTY").current_run
            else False
        ),
        step=converge(timed_reconciler),
        message="the imported EMA strategy to run and print its symbol",
    )
    wait_until(
        lambda: strategies.show(ctx, "legacy bot").state == "running",
        step=converge(timed_reconciler),
        message="legacy bot running",
    )
    assert strategies.show(ctx, "RSI Reversal").state == "stopped"
    assert strategies.show(ctx, "RSI Reversal").current_run is None


def test_imported_scheduled_strategy_waits_for_its_next_window(
    timed_ctx: ServiceContext, timed_reconciler: Reconciler, clock: FakeClock
) -> None:
    ctx = timed_ctx
    clock.advance(TUESDAY_EVENING - TUESDAY_MORNING)  # after NSE's close
    openalgo_import.import_folder(ctx, FIXTURE)
    step = converge(timed_reconciler)

    wait_until(
        lambda: strategies.show(ctx, "legacy bot").state == "running",
        step=step,
        message="the unscheduled legacy bot running",
    )
    ema = strategies.show(ctx, "EMA Crossover NIFTY")
    assert (ema.intent, ema.state, ema.current_run) == ("run", "scheduled", None)
    assert ema.last_run is None  # it never ran outside its window, not even briefly
    why = schedules.explain(ctx, "EMA Crossover NIFTY")
    assert "next start Wed 2026-01-28 09:15 IST" in why.reasons

    clock.advance(timedelta(hours=15, minutes=15))  # Wednesday 09:15 IST
    wait_until(
        lambda: strategies.show(ctx, "EMA Crossover NIFTY").state == "running",
        step=step,
        message="the EMA strategy running when its window opens",
    )


# ----- names ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("openalgo_name", "openalgo_id", "expected"),
    [
        ("RSI Reversal", "rsi_1", "RSI Reversal"),
        ("EMA Crossover (NIFTY)", "ema_1", "EMA Crossover NIFTY"),
        ("a/b\\c", "x_1", "a b c"),
        ("  --Café crème--  ", "x_1", "Cafe creme"),
        ("tab\there\nnewline", "x_1", "tab here newline"),
        ("निफ्टी", "nifty_20250101", "nifty_20250101"),  # nothing left: the id
        ("12345", "67890", "openalgo-67890"),  # digits alone would read as an id
        ("!!!", "???", "openalgo"),
        ("N" * 100, "x_1", "N" * 64),
    ],
)
def test_names_are_made_valid(openalgo_name: str, openalgo_id: str, expected: str) -> None:
    assert sanitize_name(openalgo_name, openalgo_id) == expected


def test_a_taken_name_gets_the_openalgo_id(ctx: ServiceContext) -> None:
    strategies.add(ctx, "mine.py", LOOPING, name="RSI Reversal")
    long_name = "L" * 100
    folder = make_folder(
        ctx.settings.data_dir.parent,
        {
            "rsi_2": entry("rsi_2", "RSI Reversal"),
            "long_1": entry("long_1", long_name),
            "long_2": entry("long_2", long_name),  # same name twice in one folder
        },
        {
            "rsi_2.py": b"print('rsi')\n",
            "long_1.py": b"print('one')\n",
            "long_2.py": b"print('two')\n",
        },
    )

    results = by_id(openalgo_import.import_folder(ctx, folder))

    assert results["rsi_2"].name == "RSI Reversal-rsi_2"
    assert "'RSI Reversal' is taken; named 'RSI Reversal-rsi_2'" in results["rsi_2"].notes
    assert version_service.version_content(ctx, "RSI Reversal") == LOOPING  # untouched
    assert results["long_1"].name == "L" * 64
    assert results["long_2"].name == "L" * 57 + "-long_2"
    assert version_service.version_content(ctx, "L" * 57 + "-long_2") == b"print('two')\n"


# ----- bad input ------------------------------------------------------------------------


def test_a_missing_folder_or_config_is_refused(ctx: ServiceContext, tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="does not exist"):
        openalgo_import.import_folder(ctx, tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InvalidInputError, match=r"has no strategy_configs\.json"):
        openalgo_import.import_folder(ctx, tmp_path / "empty")


@pytest.mark.parametrize(
    ("file_name", "text", "message"),
    [
        ("strategy_configs.json", '{\n  "a": {"name": "x",}\n}', r"line 2, column 21"),
        ("strategy_configs.json", '["not", "an", "object"]', r"JSON array, expected an object"),
        ("strategy_configs.json", "", r"line 1, column 1"),
        ("strategy_env.json", '{"a": {"K": "v"}', r"strategy_env.json is not valid JSON"),
    ],
    ids=["trailing-comma", "array", "empty", "env-unclosed"],
)
def test_invalid_json_says_where_and_imports_nothing(
    ctx: ServiceContext, tmp_path: Path, file_name: str, text: str, message: str
) -> None:
    folder = make_folder(tmp_path, {"a": entry("a", "A", is_running=True)}, {"a.py": LOOPING})
    (folder / file_name).write_text(text)

    with pytest.raises(InvalidInputError, match=message):
        openalgo_import.import_folder(ctx, folder)
    assert strategies.list_strategies(ctx) == []


def test_bad_strategies_are_reported_and_the_rest_imported(
    ctx: ServiceContext, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "openalgo" / "custom"
    elsewhere.mkdir(parents=True)
    (elsewhere / "moved.py").write_bytes(LOOPING)
    outside = tmp_path / "outside.py"
    outside.write_bytes(LOOPING)
    folder = make_folder(
        tmp_path,
        {
            "good": entry("good", "Good", is_running=True),
            "latin1": entry("latin1", "Latin1"),
            "huge": entry("huge", "Huge"),
            "empty": entry("empty", "Empty"),
            "not_python": {**entry("not_python", "Text"), "file_name": "notes.txt"},
            "fuzzy_flag": entry("fuzzy_flag", "Fuzzy", is_running="yes"),
            "moved": {"name": "Moved", "file_path": "custom/moved.py", "is_running": True},
            "escape": {"name": "Escape", "file_path": "../outside.py"},
            "absolute": {"name": "Absolute", "file_path": str(outside)},
            "no_name": {"file_name": "good.py"},
        },
        {
            "good.py": LOOPING,
            "latin1.py": "print('prix en €')\n".encode("latin-1", errors="replace")
            + b"# caf\xe9\n",
            "huge.py": b"#" * (ctx.settings.max_script_bytes + 1),
            "empty.py": b"\n\n",
            "notes.txt": b"print('hi')\n",
            "fuzzy_flag.py": LOOPING,
        },
    )

    results = by_id(openalgo_import.import_folder(ctx, folder))

    errors = {key: item.error for key, item in results.items() if item.status == "failed"}
    assert set(errors) == {"latin1", "huge", "empty", "not_python", "fuzzy_flag", "escape"}
    assert "not UTF-8" in (errors["latin1"] or "")
    assert "the limit is 1,000,000" in (errors["huge"] or "")
    assert "empty" in (errors["empty"] or "")
    assert "not a Python file" in (errors["not_python"] or "")
    assert "is_running is 'yes', expected true or false" in (errors["fuzzy_flag"] or "")
    assert "not found" in (errors["escape"] or "")  # no climbing out of the OpenAlgo folder
    assert intents(ctx) == {"Good": "run", "Moved": "run", "Absolute": "stop", "no_name": "stop"}
    assert results["moved"].script == str(elsewhere / "moved.py")


def test_bad_variables_fail_only_their_strategy(ctx: ServiceContext, tmp_path: Path) -> None:
    folder = make_folder(
        tmp_path,
        {
            "a": entry("a", "A", is_running=True),
            "b": entry("b", "B", is_running=True),
            "c": entry("c", "C"),
        },
        {"a.py": LOOPING, "b.py": LOOPING, "c.py": LOOPING},
    )
    env = {
        "a": {"1BAD": "x"},
        "b": {"ALGOVISOR_RUN_ID": "forged"},
        "c": {"PERIOD": 14, "RATIO": 1.5},
        "zombie": {"K": "v"},
    }
    (folder / "strategy_env.json").write_text(json.dumps(env))

    report = openalgo_import.import_folder(ctx, folder)
    results = by_id(report)

    assert "invalid environment variable name '1BAD'" in (results["a"].error or "")
    assert "set by algovisor itself" in (results["b"].error or "")
    assert list(intents(ctx)) == ["C"]
    assert {var.key: var.value for var in environment.env_list(ctx, "C")} == {
        "PERIOD": "14",
        "RATIO": "1.5",
    }
    assert any("unknown strategy 'zombie'" in note for note in report.notes)


def test_a_failure_while_writing_leaves_nothing_half_imported(
    ctx: ServiceContext, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = make_folder(
        tmp_path,
        {"a": entry("a", "A", is_running=True), "b": entry("b", "B", is_running=True)},
        {"a.py": LOOPING, "b.py": LOOPING},
    )
    (folder / "strategy_env.json").write_text(
        json.dumps({"a": {"ONE": "1", "TWO": "2"}, "b": {"ONE": "1"}})
    )
    real_env_set = environment.env_set
    calls: list[str] = []

    def env_set_failing_on_second(*args: Any, **kwargs: Any) -> object:
        calls.append(args[2])
        if len(calls) == 2:  # the database goes away in the middle of strategy "a"
            raise UnavailableError("the database is locked")
        return real_env_set(*args, **kwargs)

    monkeypatch.setattr(environment, "env_set", env_set_failing_on_second)

    results = by_id(openalgo_import.import_folder(ctx, folder))

    assert results["a"].status == "failed"
    assert results["a"].strategy_id is None
    assert "the database is locked" in (results["a"].error or "")
    assert intents(ctx) == {"B": "run"}  # no "A" without its TWO, never started


# ----- the command ----------------------------------------------------------------------


def run_cli(ctx: ServiceContext, *arguments: str) -> subprocess.CompletedProcess[str]:
    environment = {key: value for key, value in os.environ.items() if "ALGOVISOR" not in key}
    command = [
        sys.executable,
        "-m",
        "algovisor",
        "--data-dir",
        str(ctx.settings.data_dir),
        "--database-url",
        ctx.settings.resolved_database_url,
        *arguments,
    ]
    return subprocess.run(
        command, capture_output=True, text=True, env=environment, timeout=60, check=False
    )


def test_command_dry_run_prints_the_report_and_changes_nothing(ctx: ServiceContext) -> None:
    dry = run_cli(ctx, "import-openalgo", str(FIXTURE.parent), "--dry-run")
    assert dry.returncode == 1, dry.stderr
    assert "would import: ema_cross_20250115091500 as 'EMA Crossover NIFTY'" in dry.stdout
    assert "schedule would be applied: 09:15-15:30 IST mon-fri on NSE; armed" in dry.stdout
    assert "dry run, nothing changed: 4 would import, 2 failed" in dry.stdout
    assert strategies.list_strategies(ctx) == []


def test_command_prints_json_and_fails_when_a_strategy_failed(ctx: ServiceContext) -> None:
    result = run_cli(ctx, "import-openalgo", str(FIXTURE), "--json")
    assert result.returncode == 1, result.stderr
    payload = json.loads(result.stdout)
    assert [item["status"] for item in payload["strategies"]].count("imported") == 4
    ema = next(item for item in payload["strategies"] if item["openalgo_id"] == EMA)
    assert ema["schedule"]["start"] == "09:15"
    assert ema["applied"]["description"] == "09:15-15:30 IST mon-fri on NSE"
    assert ema["intent"] == "run"


def test_command_succeeds_when_every_strategy_imports(ctx: ServiceContext, tmp_path: Path) -> None:
    good = shutil.copytree(FIXTURE, tmp_path / "good")
    configs = json.loads((good / "strategy_configs.json").read_text())
    del configs[MISSING], configs["broken_entry"]
    (good / "strategy_configs.json").write_text(json.dumps(configs))

    result = run_cli(ctx, "import-openalgo", str(good))

    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 imported" in result.stdout
    assert "no algovisor host is running" in result.stdout  # two of them wait for one
    assert len(strategies.list_strategies(ctx)) == 4


def test_command_reports_invalid_json_with_its_position(
    ctx: ServiceContext, tmp_path: Path
) -> None:
    folder = make_folder(tmp_path, {}, {})
    (folder / "strategy_configs.json").write_text('{\n  "a": {\n    "name": "x"\n  \n')

    result = run_cli(ctx, "import-openalgo", str(folder))

    message = "".join(result.stderr.splitlines())  # rich wraps long lines at 80 columns
    assert result.returncode == 2
    assert "strategy_configs.json is not valid JSON" in message
    assert "line 5, column 1" in message
    assert "Traceback" not in message
