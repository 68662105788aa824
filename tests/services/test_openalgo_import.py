"""`algovisor import-openalgo`: an OpenAlgo strategies/ folder becomes algovisor strategies.

The sample folder in tests/fixtures/openalgo mirrors what OpenAlgo writes: one
strategy running on a schedule, one stopped by hand, one from an older version
without schedule fields and a Windows path, one OpenAlgo had in error, one whose
script is gone and one entry that is not an object.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from algovisor.errors import InvalidInputError, UnavailableError
from algovisor.services import environment, logs, openalgo_import, strategies
from algovisor.services import versions as version_service
from algovisor.services.context import ServiceContext
from algovisor.services.openalgo_import import ImportReport, StrategyImport, sanitize_name
from algovisor.supervisor.reconciler import Reconciler
from tests.conftest import converge, wait_until

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "openalgo" / "strategies"
EMA = "ema_cross_20250115091500"
RSI = "rsi_reversal_20250116100000"
LEGACY = "legacy_bot_20240101000000"
GOLD = "gold_mcx_20250120090000"
MISSING = "missing_file_20250201093000"
LOOPING = b"import time\nwhile True:\n    time.sleep(0.1)\n"


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


def test_schedules_are_kept_for_later_and_reported_as_not_applied(ctx: ServiceContext) -> None:
    results = by_id(openalgo_import.import_folder(ctx, FIXTURE))

    ema = results[EMA].schedule
    assert ema is not None
    assert (ema.enabled, ema.start, ema.stop, ema.exchange) == (True, "09:15", "15:30", "NSE")
    assert ema.days == ["mon", "tue", "wed", "thu", "fri"]
    rsi = results[RSI].schedule
    assert rsi is not None
    assert (rsi.start, rsi.stop, rsi.days) == ("09:20", None, ["mon", "wed", "fri"])
    gold = results[GOLD].schedule
    assert gold is not None
    assert (gold.exchange, gold.start, gold.stop) == ("MCX", "09:00", "23:30")
    assert results[LEGACY].schedule is None  # an older OpenAlgo without schedule fields

    for openalgo_id in (EMA, RSI, GOLD):
        assert any(
            "not applied yet: schedules arrive with the scheduler" in note
            for note in results[openalgo_id].notes
        )
    # A trader must know the 09:15-15:30 window no longer stops it.
    assert any("runs around the clock" in note for note in results[EMA].notes)
    assert not any("schedule" in note for note in results[LEGACY].notes)


def test_dry_run_reports_the_same_and_changes_nothing(ctx: ServiceContext) -> None:
    dry = openalgo_import.import_folder(ctx, FIXTURE, dry_run=True)

    assert strategies.list_strategies(ctx) == []
    assert dry.dry_run
    statuses = {item.openalgo_id: item.status for item in dry.strategies}
    assert statuses[EMA] == statuses[LEGACY] == "would_import"
    assert statuses[MISSING] == statuses["broken_entry"] == "failed"
    assert "dry run, nothing changed" in dry.describe()[-1]

    real = openalgo_import.import_folder(ctx, FIXTURE)
    assert [item.name for item in real.strategies] == [item.name for item in dry.strategies]


def test_importing_again_leaves_what_came_over_alone(ctx: ServiceContext) -> None:
    openalgo_import.import_folder(ctx, FIXTURE)
    strategies.stop(ctx, "EMA Crossover NIFTY")  # the trader changed their mind since

    again = by_id(openalgo_import.import_folder(ctx, FIXTURE))

    assert {again[key].status for key in (EMA, RSI, LEGACY, GOLD)} == {"already_imported"}
    assert len(strategies.list_strategies(ctx)) == 4
    assert intents(ctx)["EMA Crossover NIFTY"] == "stop"


def test_imported_running_strategy_starts_with_its_variables(
    ctx: ServiceContext, reconciler: Reconciler
) -> None:
    openalgo_import.import_folder(ctx, FIXTURE)

    wait_until(
        lambda: (
            "ema cross on NIFTY fast=9" in logs.tail(ctx, "EMA Crossover NIFTY")
            if strategies.show(ctx, "EMA Crossover NIFTY").current_run
            else False
        ),
        step=converge(reconciler),
        message="the imported EMA strategy to run and print its symbol",
    )
    wait_until(
        lambda: strategies.show(ctx, "legacy bot").state == "running",
        step=converge(reconciler),
        message="legacy bot running",
    )
    assert strategies.show(ctx, "RSI Reversal").state == "stopped"
    assert strategies.show(ctx, "RSI Reversal").current_run is None


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
    assert "dry run, nothing changed: 4 would import, 2 failed" in dry.stdout
    assert strategies.list_strategies(ctx) == []


def test_command_prints_json_and_fails_when_a_strategy_failed(ctx: ServiceContext) -> None:
    result = run_cli(ctx, "import-openalgo", str(FIXTURE), "--json")
    assert result.returncode == 1, result.stderr
    payload = json.loads(result.stdout)
    assert [item["status"] for item in payload["strategies"]].count("imported") == 4
    ema = next(item for item in payload["strategies"] if item["openalgo_id"] == EMA)
    assert ema["schedule"]["start"] == "09:15"
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
