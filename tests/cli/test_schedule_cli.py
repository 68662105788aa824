"""`algovisor strategy schedule/unschedule/stop --until-next-window`, `algovisor explain` and
`algovisor calendar`: on a real database, the real command where the host's time zone matters."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from fastapi.testclient import TestClient

from algovisor.api.app import create_app
from algovisor.schedule.calendar import INDIA
from algovisor.services import api_keys
from algovisor.services import strategies as strategy_service
from algovisor.services.context import ServiceContext
from algovisor.settings import Settings
from algovisor.supervisor.reconciler import Reconciler
from tests.cli.conftest import CliCall
from tests.conftest import converge, wait_until

LOOPING = """
import time
print("strategy up", flush=True)
while True:
    time.sleep(0.1)
"""
ALGOVISOR = str(Path(sys.executable).with_name("algovisor"))
NSE_DAY = ["--start", "09:15", "--stop", "15:30", "--days", "mon-fri", "--exchange", "NSE"]
NSE_DAY_DESCRIPTION = "09:15-15:30 IST mon-fri on NSE"
REPUBLIC_DAY = "2026-01-26T10:00+05:30"
REPUBLIC_DAY_SUMMARY = "paused: NSE holiday Republic Day; next session Tue 2026-01-27 09:15 IST"
BAD_LINE = "NSE,2026-13-01,holiday,,,Not a date\n"

WriteScript = Callable[[str, str], Path]


def flat(text: str) -> str:
    """Output with Rich's line wrapping and table rules undone, for looking up phrases."""
    return " ".join(text.translate(str.maketrans("│┃━╇", "    ")).split())


def ok(result: Result) -> Result:
    assert result.exit_code == 0, f"exit {result.exit_code}\n{result.output}"
    assert not result.stderr, result.stderr
    return result


def json_of(result: Result) -> Any:
    return json.loads(ok(result).stdout)


def failed(result: Result, fragment: str, exit_code: int) -> str:
    """A refusal as a trader sees it: the exit code, `error: ...` on stderr, no traceback."""
    assert result.exit_code == exit_code, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    assert "Traceback" not in result.output
    message = flat(result.stderr)
    assert message.startswith("error:"), message
    assert fragment.lower() in message.lower(), message
    return message


def stored(ctx: ServiceContext) -> list[Any]:
    """Every strategy as stored: what a refused command must leave alone."""
    return [
        view.model_dump(mode="json", exclude={"current_run", "last_run"})
        for view in strategy_service.list_strategies(ctx)
    ]


def added(cli: CliCall, write_script: WriteScript, name: str) -> int:
    view = json_of(cli("strategy", "add", str(write_script(f"{name}.py", LOOPING)), "--json"))
    return int(view["id"])


def run_cli(
    settings: Settings, *args: str, tz: str | None = None
) -> subprocess.CompletedProcess[str]:
    """The installed `algovisor` command as a separate process, in time zone `tz`."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("ALGOVISOR_")}
    env["COLUMNS"] = "400"
    if tz is not None:
        env["TZ"] = tz
    return subprocess.run(
        [
            ALGOVISOR,
            "--data-dir",
            str(settings.data_dir),
            "--database-url",
            settings.resolved_database_url,
            *args,
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def hh_mm(instant: datetime) -> str:
    return f"{instant.astimezone(INDIA):%H:%M}"


# ----- schedule, show, unschedule -----------------------------------------------------------


def test_schedule_show_and_unschedule(
    ctx: ServiceContext, cli: CliCall, write_script: WriteScript
) -> None:
    strategy_id = added(cli, write_script, "daytime")
    assert "none (manual)" in flat(ok(cli("strategy", "show", "daytime")).stdout)

    said = flat(ok(cli("strategy", "schedule", str(strategy_id), *NSE_DAY)).stdout)
    assert f"daytime: scheduled {NSE_DAY_DESCRIPTION}" in said
    # Scheduling is not starting; it says how to arm it.
    assert "algovisor strategy start daytime" in said
    shown = flat(ok(cli("strategy", "show", "daytime")).stdout)
    assert f"schedule {NSE_DAY_DESCRIPTION}" in shown
    assert json_of(cli("strategy", "show", "daytime", "--json"))["schedule"] == {
        "start": "09:15",
        "stop": "15:30",
        "days": "mon-fri",
        "exchange": "NSE",
        "special_sessions": True,
        "description": NSE_DAY_DESCRIPTION,
    }
    assert strategy_service.show(ctx, "daytime").intent == "stop"

    # Started, it no longer tells you to arm it; options are normalised.
    ok(cli("strategy", "start", "daytime"))
    night = json_of(
        cli(
            "strategy",
            "schedule",
            "daytime",
            "--start",
            "21:00",
            "--stop",
            "02:00",
            "--days",
            "sun-thu",
            "--exchange",
            "mcx",
            "--no-special-sessions",
            "--json",
        )
    )
    assert night["schedule"]["description"] == (
        "21:00-02:00 IST mon,tue,wed,thu,sun on MCX, skips special sessions"
    )
    assert night["intent"] == "run"
    rescheduled = flat(ok(cli("strategy", "schedule", "daytime", *NSE_DAY)).stdout)
    assert "algovisor strategy start" not in rescheduled
    # Defaults: mon-fri on NSE.
    minimal = json_of(cli("strategy", "schedule", "daytime", "--start", "09:30", "--json"))
    assert minimal["schedule"]["description"] == "from 09:30 IST mon-fri on NSE"

    said = flat(ok(cli("strategy", "unschedule", "daytime")).stdout)
    assert "daytime: no schedule; it runs when started" in said
    assert "schedule none (manual)" in flat(ok(cli("strategy", "show", "daytime")).stdout)
    assert strategy_service.show(ctx, "daytime").schedule is None
    assert json_of(cli("strategy", "unschedule", "daytime", "--json"))["schedule"] is None


BAD_COMMANDS = [
    pytest.param(["--exchange", "NYSE"], "unknown exchange 'NYSE'", id="exchange"),
    pytest.param(["--start", "25:00"], "start time '25:00' is not a 24-hour HH:MM", id="hour-25"),
    pytest.param(["--start", "9:5"], "start time '9:5' is not a 24-hour HH:MM", id="short"),
    pytest.param(["--stop", "9:5"], "stop time '9:5' is not a 24-hour HH:MM", id="short-stop"),
    pytest.param(["--days", ""], "has no days", id="no-days"),
    pytest.param(["--days", "mon,fry"], "unknown day 'fry'", id="fry"),
    pytest.param(["--start", "09:15", "--stop", "09:15"], "both 09:15", id="start-is-stop"),
]


@pytest.mark.parametrize(("change", "fragment"), BAD_COMMANDS)
def test_a_bad_schedule_exits_2_and_changes_nothing(
    ctx: ServiceContext,
    cli: CliCall,
    write_script: WriteScript,
    change: list[str],
    fragment: str,
) -> None:
    added(cli, write_script, "kept")
    ok(cli("strategy", "schedule", "kept", "--start", "10:00", "--stop", "11:00", "--days", "tue"))
    added(cli, write_script, "manual")
    before = stored(ctx)

    for ref in ("kept", "manual"):
        # Later options win, so the bad value replaces the good one.
        failed(cli("strategy", "schedule", ref, *NSE_DAY, *change), fragment, exit_code=2)

    assert stored(ctx) == before
    assert "10:00-11:00 IST tue on NSE" in flat(ok(cli("strategy", "show", "kept")).stdout)


def test_unknown_names_and_bad_arguments(
    ctx: ServiceContext, cli: CliCall, write_script: WriteScript
) -> None:
    added(cli, write_script, "manual")
    ok(cli("strategy", "start", "manual"))
    before = stored(ctx)

    for arguments in (
        ["strategy", "schedule", "nope", *NSE_DAY],
        ["strategy", "unschedule", "nope"],
        ["strategy", "stop", "nope", "--until-next-window"],
        ["explain", "nope", "--at", REPUBLIC_DAY],
        ["explain", "999"],
    ):
        message = failed(cli(*arguments), "no strategy", exit_code=1)
        assert "strategy list" in message

    message = failed(
        cli("strategy", "stop", "manual", "--until-next-window"),
        "'manual' has no schedule, so it has no next window",
        exit_code=2,
    )
    assert "algovisor strategy stop manual" in message
    message = failed(cli("explain", "manual", "--at", "garbage"), "is not a date", exit_code=2)
    assert "2026-01-26T10:00+05:30" in message
    message = failed(cli("calendar", "show", "NYSE"), "no calendar for exchange", exit_code=1)
    assert "NSE" in message
    failed(cli("calendar", "show", "NSE", "--year", "99999"), "out of range", exit_code=2)
    assert stored(ctx) == before


# ----- explain ----------------------------------------------------------------------------


def test_explain_prints_the_reason_and_json_matches_the_api(
    ctx: ServiceContext, cli: CliCall, write_script: WriteScript
) -> None:
    strategy_id = added(cli, write_script, "daytime")
    ok(cli("strategy", "schedule", "daytime", *NSE_DAY))
    ok(cli("strategy", "start", "daytime"))

    text = flat(ok(cli("explain", str(strategy_id), "--at", REPUBLIC_DAY)).stdout)
    assert "daytime at Mon 2026-01-26 10:00 IST:" in text
    assert REPUBLIC_DAY_SUMMARY in text
    assert f"schedule: {NSE_DAY_DESCRIPTION}" in text
    assert "warning" not in text

    answer = json_of(cli("explain", "daytime", "--at", REPUBLIC_DAY, "--json"))
    assert answer["state"] == "paused"
    assert answer["summary"] == REPUBLIC_DAY_SUMMARY
    assert "NSE holiday Republic Day" in answer["reasons"]
    assert "next session Tue 2026-01-27 09:15 IST" in answer["reasons"]
    assert datetime.fromisoformat(answer["next_change_at"]) == datetime(
        2026, 1, 27, 9, 15, tzinfo=INDIA
    )
    key, _ = api_keys.create(ctx, "tests")
    with TestClient(create_app(ctx), headers={"X-API-Key": key}) as client:
        from_api = client.get("/api/strategies/daytime/explain", params={"at": REPUBLIC_DAY})
    assert from_api.json() == answer

    running = json_of(cli("explain", "daytime", "--at", "2026-01-27T10:00", "--json"))
    assert running["state"] == "running"
    assert running["should_run"] is True

    beyond = flat(ok(cli("explain", "daytime", "--at", "2027-01-04T10:00+05:30")).stdout)
    assert "warning:" in beyond
    assert "2026-12-31" in beyond

    added(cli, write_script, "manual")
    text = flat(ok(cli("explain", "manual", "--at", REPUBLIC_DAY)).stdout)
    assert "stopped" in text
    assert "schedule: none (manual)" in text
    assert json_of(cli("explain", "manual", "--json"))["state"] == "stopped"


def test_explain_does_not_depend_on_the_hosts_time_zone(
    ctx: ServiceContext, cli: CliCall, write_script: WriteScript
) -> None:
    added(cli, write_script, "daytime")
    ok(cli("strategy", "schedule", "daytime", *NSE_DAY))
    ok(cli("strategy", "start", "daytime"))

    # Naive instants are IST: read as New York time, 09:00 would be after the close (19:30
    # IST); read as UTC, inside the window (14:30 IST).
    for at, state, summary in (
        ("2026-01-27T09:00", "scheduled", "next start Tue 2026-01-27 09:15 IST"),
        ("2026-01-26T10:00", "paused", REPUBLIC_DAY_SUMMARY),
    ):
        answers = {}
        for tz in ("America/New_York", "UTC"):
            result = run_cli(ctx.settings, "explain", "daytime", "--at", at, "--json", tz=tz)
            assert result.returncode == 0, result.stderr
            answers[tz] = json.loads(result.stdout)
        assert answers["America/New_York"] == answers["UTC"]
        answer = answers["UTC"]
        assert answer["state"] == state, answer
        assert summary in answer["summary"], answer
        assert answer["at"] == f"{at}:00+05:30"
        # The same instant with its offset, asked in this process's own time zone.
        assert json_of(cli("explain", "daytime", "--at", f"{at}+05:30", "--json")) == answer

    text = run_cli(ctx.settings, "explain", "daytime", "--at", "2026-01-26T10:00", tz="UTC")
    assert text.returncode == 0, text.stderr
    assert "daytime at Mon 2026-01-26 10:00 IST:" in flat(text.stdout)
    assert REPUBLIC_DAY_SUMMARY in flat(text.stdout)


# ----- calendars --------------------------------------------------------------------------


def test_calendar_show(cli: CliCall) -> None:
    nse = flat(ok(cli("calendar", "show", "NSE", "--year", "2026")).stdout)
    assert "NSE 2026:" in nse
    assert "holiday data through 2026-12-31" in nse
    assert "2026-01-26 Mon holiday Republic Day" in nse
    assert "warning" not in nse
    shown = json_of(cli("calendar", "show", "nse", "--year", "2026", "--json"))
    assert shown["exchange"] == "NSE"
    assert {"date": "2026-01-26", "kind": "holiday", "name": "Republic Day"}.items() <= next(
        day for day in shown["days"] if day["date"] == "2026-01-26"
    ).items()

    mcx = flat(ok(cli("calendar", "show", "MCX", "--year", "2026")).stdout)
    assert "warning: MCX has no complete holiday data for 2026" in mcx
    assert "calendar-overrides.csv" in mcx
    beyond = flat(ok(cli("calendar", "show", "NSE", "--year", "2027")).stdout)
    assert "warning: NSE has no complete holiday data for 2027" in beyond
    crypto = flat(ok(cli("calendar", "show", "CRYPTO", "--year", "2026")).stdout)
    assert "trades every day" in crypto
    assert "warning" not in crypto


def test_calendar_overrides_check_status_and_explain(
    ctx: ServiceContext, cli: CliCall, write_script: WriteScript
) -> None:
    added(cli, write_script, "daytime")
    ok(cli("strategy", "schedule", "daytime", *NSE_DAY))
    ok(cli("strategy", "start", "daytime"))
    overrides = ctx.layout.calendar_overrides
    assert f"{overrides}: OK" in flat(ok(cli("calendar", "check")).stdout)  # no file yet

    overrides.write_text(
        "exchange,date,change,opens,closes,name\nNSE,2026-01-27,holiday,,,Test closure\n"
    )
    assert f"{overrides}: OK" in flat(ok(cli("calendar", "check")).stdout)
    text = flat(ok(cli("explain", "daytime", "--at", "2026-01-27T10:00")).stdout)
    assert "paused: NSE holiday Test closure; next session Wed 2026-01-28 09:15 IST" in text
    shown = flat(ok(cli("calendar", "show", "NSE", "--year", "2026")).stdout)
    assert "2026-01-27 Tue holiday Test closure" in shown

    overrides.write_text(
        "# my corrections\nexchange,date,change,opens,closes,name\n"
        "NSE,2026-01-27,holiday,,,Test closure\n" + BAD_LINE
    )
    message = failed(cli("calendar", "check"), "line 4", exit_code=2)
    assert str(overrides) in message
    assert "2026-13-01" in message
    status = flat(ok(cli("status")).stdout)
    assert "calendar overrides:" in status
    assert "line 4" in status
    # The host keeps the last good overrides meanwhile, and says so.
    assert "last good" in status
    kept = json_of(cli("explain", "daytime", "--at", "2026-01-27T10:00", "--json"))
    assert kept["state"] == "paused"
    assert "line 4" in kept["calendar_problem"]
    assert "line 4" in flat(ok(cli("calendar", "show", "NSE", "--year", "2026")).stdout)

    overrides.write_text("NSE,2026-01-27,trading,,,\n")
    assert f"{overrides}: OK" in flat(ok(cli("calendar", "check")).stdout)
    assert "calendar overrides:" not in flat(ok(cli("status")).stdout)
    opened = json_of(cli("explain", "daytime", "--at", "2026-01-27T10:00", "--json"))
    assert opened["state"] == "running"
    assert opened["calendar_problem"] is None


# ----- a running strategy, stopping for one window ------------------------------------------


def test_the_schedule_of_a_running_strategy_cannot_change(
    ctx: ServiceContext, cli: CliCall, reconciler: Reconciler, write_script: WriteScript
) -> None:
    added(cli, write_script, "live")
    ok(cli("strategy", "start", "live"))
    wait_until(
        lambda: strategy_service.show(ctx, "live").state == "running",
        step=converge(reconciler),
        message="live running",
    )
    pid = strategy_service.show(ctx, "live").current_run.pid  # type: ignore[union-attr]
    before = stored(ctx)

    for arguments in (
        ["strategy", "schedule", "live", *NSE_DAY],
        ["strategy", "unschedule", "live"],
    ):
        message = failed(
            cli(*arguments), "cannot change the schedule of 'live' while it is running", 1
        )
        assert f"pid {pid}" in message
        assert "strategy stop live --wait" in message
    assert stored(ctx) == before


def test_stop_until_the_next_window(
    ctx: ServiceContext, cli: CliCall, reconciler: Reconciler, write_script: WriteScript
) -> None:
    # Windows around the current time on CRYPTO, which trades every day.
    minute = datetime.now(INDIA).replace(second=0, microsecond=0)
    hour = timedelta(hours=1)
    added(cli, write_script, "later")
    later = ["--start", hh_mm(minute + 3 * hour), "--stop", hh_mm(minute + 4 * hour)]
    ok(cli("strategy", "schedule", "later", *later, "--days", "daily", "--exchange", "CRYPTO"))
    answer = json_of(cli("strategy", "stop", "later", "--until-next-window", "--json"))
    assert answer["message"] == "not inside its window; it starts when the next one opens"
    assert answer["strategy"]["intent"] == "run"
    assert answer["strategy"]["window_skipped_until"] is None
    said = flat(ok(cli("strategy", "stop", "later", "--until-next-window")).stdout)
    assert "it starts when the next one opens" in said

    added(cli, write_script, "now")
    current = ["--start", hh_mm(minute - hour), "--stop", hh_mm(minute + 2 * hour)]
    ok(cli("strategy", "schedule", "now", *current, "--days", "daily", "--exchange", "CRYPTO"))
    closes = minute + 2 * hour
    ok(cli("strategy", "start", "now"))
    step = converge(reconciler)
    wait_until(
        lambda: strategy_service.show(ctx, "now").state == "running", step=step, message="running"
    )
    wait_until(
        lambda: strategy_service.show(ctx, "later").state == "scheduled", step=step, message="armed"
    )

    held = json_of(cli("strategy", "stop", "now", "--until-next-window", "--json"))
    assert held["strategy"]["intent"] == "run"
    skipped_until = datetime.fromisoformat(held["strategy"]["window_skipped_until"])
    assert skipped_until == closes
    assert f"this one closes {closes:%a %Y-%m-%d %H:%M} IST" in held["message"]
    wait_until(
        lambda: strategy_service.show(ctx, "now").state == "stopped", step=step, message="stopped"
    )
    assert strategy_service.show(ctx, "now").current_run is None
    why = json_of(cli("explain", "now", "--json"))
    assert why["state"] == "stopped"
    assert datetime.fromisoformat(why["next_change_at"]) == closes
    # The one that was outside its window stays armed, waiting for it.
    assert strategy_service.show(ctx, "later").state == "scheduled"
