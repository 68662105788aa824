"""Schedules, `explain`, exchange calendars and stopping for one window, through the REST API,
on a real database, with strategies run as real processes by an in-process reconciler."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
from fastapi.testclient import TestClient

from algovisor.api.app import create_app
from algovisor.clock import FakeClock
from algovisor.schedule.calendar import INDIA
from algovisor.services import strategies as strategy_service
from algovisor.services.context import ServiceContext
from algovisor.settings import Settings
from algovisor.supervisor.reconciler import Reconciler
from tests.conftest import converge, make_reconciler, wait_until

LOOPING = """
import time
print("strategy up", flush=True)
while True:
    time.sleep(0.1)
"""

Json = dict[str, Any]

NSE_DAY = {"start": "09:15", "stop": "15:30", "days": "mon-fri", "exchange": "NSE"}
NSE_DAY_VIEW = {
    "start": "09:15",
    "stop": "15:30",
    "days": "mon-fri",
    "exchange": "NSE",
    "special_sessions": True,
    "description": "09:15-15:30 IST mon-fri on NSE",
}
REPUBLIC_DAY = "2026-01-26T10:00+05:30"  # a Monday, an NSE holiday
TUESDAY_OPEN = datetime(2026, 1, 27, 9, 15, tzinfo=INDIA)
TUESDAY_CLOSE = datetime(2026, 1, 27, 15, 30, tzinfo=INDIA)


def added(client: TestClient, name: str) -> Json:
    response = client.post(
        "/api/strategies", files={"file": (f"{name}.py", LOOPING.encode())}, data={"name": name}
    )
    assert response.status_code == 201, response.text
    result: Json = response.json()
    return result


def scheduled(client: TestClient, ref: str, **changes: object) -> Json:
    response = client.put(f"/api/strategies/{ref}/schedule", json={**NSE_DAY, **changes})
    assert response.status_code == 200, response.text
    result: Json = response.json()
    return result


def assert_error(response: httpx.Response, status: int, fragment: str) -> Json:
    """A clear JSON error: the status, `error` saying what was wrong, and nothing else."""
    assert response.status_code == status, response.text
    body: Json = response.json()
    assert set(body) == {"error", "detail", "field"}
    assert fragment.lower() in body["error"].lower(), body
    assert "Traceback" not in response.text
    return body


def stored(ctx: ServiceContext) -> list[Json]:
    """Every strategy as stored: what a refused request must leave alone."""
    return [
        view.model_dump(mode="json", exclude={"current_run", "last_run"})
        for view in strategy_service.list_strategies(ctx)
    ]


def explained(client: TestClient, ref: str, at: str) -> Json:
    response = client.get(f"/api/strategies/{ref}/explain", params={"at": at})
    assert response.status_code == 200, response.text
    result: Json = response.json()
    return result


def instant(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text is not None else None


def write_overrides(ctx: ServiceContext, text: str) -> Path:
    path = ctx.layout.calendar_overrides
    path.write_text(text)
    return path


# ----- setting and clearing a schedule ----------------------------------------------------


def test_set_show_and_clear_a_schedule(ctx: ServiceContext, client: TestClient) -> None:
    created = added(client, "daytime")
    assert created["schedule"] is None

    answer = scheduled(client, "daytime")
    assert answer["schedule"] == NSE_DAY_VIEW
    shown = client.get("/api/strategies/daytime").json()
    assert shown["schedule"] == NSE_DAY_VIEW
    assert client.get(f"/api/strategies/{created['id']}").json()["schedule"] == NSE_DAY_VIEW
    # Setting a schedule is not starting: the intent is the user's alone.
    assert shown["intent"] == "stop"

    # Words are normalised; a schedule is replaced whole.
    night = scheduled(
        client,
        "daytime",
        start="21:00",
        stop="02:00",
        days="Fri,mon,WED",
        exchange="mcx",
        special_sessions=False,
    )
    assert night["schedule"] == {
        "start": "21:00",
        "stop": "02:00",
        "days": "mon,wed,fri",
        "exchange": "MCX",
        "special_sessions": False,
        "description": "21:00-02:00 IST mon,wed,fri on MCX, skips special sessions",
    }
    around_the_clock = scheduled(client, "daytime", stop=None, days="daily", exchange="CRYPTO")
    assert around_the_clock["schedule"]["stop"] is None
    assert around_the_clock["schedule"]["description"] == "from 09:15 IST daily on CRYPTO"

    cleared = client.delete("/api/strategies/daytime/schedule")
    assert cleared.status_code == 200, cleared.text
    assert cleared.json()["schedule"] is None
    assert client.get("/api/strategies/daytime").json()["schedule"] is None
    assert strategy_service.show(ctx, "daytime").schedule is None
    # Clearing twice is harmless.
    assert client.delete("/api/strategies/daytime/schedule").json()["schedule"] is None


BAD_SCHEDULES = [
    pytest.param({"exchange": "NYSE"}, "unknown exchange 'NYSE'", id="exchange"),
    pytest.param({"start": "25:00"}, "start time '25:00' is not a 24-hour HH:MM", id="hour-25"),
    pytest.param({"start": "9:5"}, "start time '9:5' is not a 24-hour HH:MM", id="short-time"),
    pytest.param({"stop": "15:60"}, "stop time '15:60' is not a 24-hour HH:MM", id="minute-60"),
    pytest.param({"days": ""}, "has no days", id="no-days"),
    pytest.param({"days": " , "}, "has no days", id="only-commas"),
    pytest.param({"days": "mon,fry"}, "unknown day 'fry'", id="fry"),
    pytest.param({"days": "mon-fry"}, "unknown day 'fry'", id="fry-range"),
    pytest.param({"start": "09:15", "stop": "09:15"}, "both 09:15", id="start-is-stop"),
]


@pytest.mark.parametrize(("change", "fragment"), BAD_SCHEDULES)
def test_a_bad_schedule_is_a_400_and_changes_nothing(
    ctx: ServiceContext, client: TestClient, change: Json, fragment: str
) -> None:
    added(client, "kept")
    scheduled(client, "kept", start="10:00", stop="11:00", days="tue", exchange="BSE")
    added(client, "manual")
    before = stored(ctx)

    for ref in ("kept", "manual"):
        response = client.put(f"/api/strategies/{ref}/schedule", json={**NSE_DAY, **change})
        assert_error(response, 400, fragment)

    assert stored(ctx) == before
    assert client.get("/api/strategies/kept").json()["schedule"]["description"] == (
        "10:00-11:00 IST tue on BSE"
    )
    assert client.get("/api/strategies/manual").json()["schedule"] is None


def test_unknown_strategies_and_missing_keys(ctx: ServiceContext, client: TestClient) -> None:
    added(client, "known")
    scheduled(client, "known")
    before = stored(ctx)
    requests: list[tuple[str, str, Json]] = [
        ("PUT", "/api/strategies/{ref}/schedule", {"json": NSE_DAY}),
        ("DELETE", "/api/strategies/{ref}/schedule", {}),
        ("GET", "/api/strategies/{ref}/explain", {"params": {"at": REPUBLIC_DAY}}),
        ("POST", "/api/strategies/{ref}/stop", {"params": {"until": "next-window"}}),
    ]
    for method, path, extra in requests:
        for ref in ("nope", "999"):
            body = assert_error(client.request(method, path.format(ref=ref), **extra), 404, "no")
            assert "no strategy" in body["error"], (method, path)

    with TestClient(create_app(ctx)) as anonymous:
        for method, path, extra in [
            *requests,
            ("GET", "/api/calendars", {}),
            ("GET", "/api/calendars/NSE", {}),
        ]:
            response = anonymous.request(method, path.format(ref="known"), **extra)
            assert_error(response, 401, "missing API key")
    assert stored(ctx) == before


# ----- explain ----------------------------------------------------------------------------


def test_explain_says_why_and_when(ctx: ServiceContext, client: TestClient) -> None:
    added(client, "daytime")
    scheduled(client, "daytime")
    client.post("/api/strategies/daytime/start")

    holiday = explained(client, "daytime", REPUBLIC_DAY)
    assert holiday["strategy"] == "daytime"
    assert holiday["state"] == "paused"
    assert holiday["should_run"] is False
    assert "NSE holiday Republic Day" in holiday["reasons"]
    assert "next session Tue 2026-01-27 09:15 IST" in holiday["reasons"]
    assert (
        holiday["summary"]
        == "paused: NSE holiday Republic Day; next session Tue 2026-01-27 09:15 IST"
    )
    assert instant(holiday["next_change_at"]) == TUESDAY_OPEN
    assert holiday["next_change_at"].endswith("+05:30")  # shown in the exchange's time
    assert instant(holiday["at"]) == datetime(2026, 1, 26, 10, 0, tzinfo=INDIA)
    assert holiday["warnings"] == []
    assert holiday["schedule"] == NSE_DAY_VIEW
    assert holiday["calendar_problem"] is None

    # No offset means IST, whatever the host's time zone.
    naive = explained(client, "daytime", "2026-01-27T10:00")
    assert naive["state"] == "running"
    assert naive["should_run"] is True
    assert instant(naive["next_change_at"]) == TUESDAY_CLOSE
    # The same instant written in UTC gets the same answer.
    in_utc = explained(client, "daytime", "2026-01-27T04:30+00:00")
    assert in_utc == naive

    saturday = explained(client, "daytime", "2026-01-31T10:00+05:30")
    assert saturday["state"] == "paused"
    assert "NSE is closed for the weekend" in saturday["reasons"]
    assert "next session Mon 2026-02-02 09:15 IST" in saturday["reasons"]
    evening = explained(client, "daytime", "2026-01-27T16:00+05:30")
    assert evening["state"] == "scheduled"
    assert "next start Wed 2026-01-28 09:15 IST" in evening["reasons"]

    # Past the library's holiday data the answer says it is guessing, and until when it knows.
    beyond = explained(client, "daytime", "2027-01-04T10:00+05:30")
    assert beyond["state"] == "running"
    assert beyond["warnings"], beyond
    assert any("2026-12-31" in warning for warning in beyond["warnings"]), beyond["warnings"]
    assert any("Mon 2027-01-04" in warning for warning in beyond["warnings"])

    for garbage in ("garbage", "2026-13-01T10:00", "26/01/2026 10:00", ""):
        body = assert_error(
            client.get("/api/strategies/daytime/explain", params={"at": garbage}),
            400,
            "is not a date and time",
        )
        assert "2026-01-26T10:00+05:30" in body["detail"]

    added(client, "manual")
    stopped = explained(client, "manual", REPUBLIC_DAY)
    assert stopped["state"] == "stopped"
    assert stopped["should_run"] is False
    assert stopped["schedule"] is None
    assert stopped["next_change_at"] is None
    # A manual strategy that was started runs on a holiday too: the calendar is the schedule's.
    client.post("/api/strategies/manual/start")
    assert explained(client, "manual", REPUBLIC_DAY)["state"] == "running"
    # Without `at`, now.
    now = client.get("/api/strategies/manual/explain")
    assert now.status_code == 200, now.text
    assert abs(instant(now.json()["at"]) - datetime.now(INDIA)) < timedelta(minutes=1)  # type: ignore[operator]


# ----- calendars --------------------------------------------------------------------------


def test_calendars_list_and_show(ctx: ServiceContext, client: TestClient) -> None:
    listed = client.get("/api/calendars")
    assert listed.status_code == 200, listed.text
    body = listed.json()
    assert [row["exchange"] for row in body["calendars"]] == [
        "NSE",
        "NFO",
        "CDS",
        "BSE",
        "BFO",
        "MCX",
        "CRYPTO",
    ]
    coverage = {row["exchange"]: row["coverage"] for row in body["calendars"]}
    assert coverage["NSE"] == "holiday data through 2026-12-31"
    assert coverage["BFO"] == "holiday data through 2026-12-31"
    assert "no holiday data" in coverage["MCX"]
    assert "every day" in coverage["CRYPTO"]
    assert body["problem"] is None
    assert body["overrides_file"] == str(ctx.layout.calendar_overrides)

    nse = client.get("/api/calendars/NSE", params={"year": 2026})
    assert nse.status_code == 200, nse.text
    view = nse.json()
    assert view["exchange"] == "NSE"
    assert view["year"] == 2026
    assert view["year_covered"] is True
    assert view["covered_through"] == "2026-12-31"
    days = {day["date"]: day for day in view["days"]}
    assert days["2026-01-26"] == {
        "date": "2026-01-26",
        "weekday": "Mon",
        "kind": "holiday",
        "name": "Republic Day",
        "opens": None,
        "closes": None,
    }
    assert all(day["date"].startswith("2026-") for day in view["days"])
    # Lower case works; a derivatives segment follows its exchange.
    nfo = client.get("/api/calendars/nfo", params={"year": 2026}).json()
    assert nfo["exchange"] == "NFO"
    assert "2026-01-26" in {day["date"] for day in nfo["days"]}

    mcx = client.get("/api/calendars/MCX", params={"year": 2026}).json()
    assert mcx["year_covered"] is False
    assert mcx["days"] == []

    body = assert_error(client.get("/api/calendars/NYSE"), 404, "no calendar for exchange")
    assert "NSE" in body["detail"]
    for year in (99999, 0, -1):
        response = client.get("/api/calendars/NSE", params={"year": year})
        assert response.status_code in (400, 422), response.text
        assert set(response.json()) == {"error", "detail", "field"}


def test_calendar_overrides_apply_and_a_bad_file_is_reported(
    ctx: ServiceContext, client: TestClient
) -> None:
    added(client, "daytime")
    scheduled(client, "daytime")
    client.post("/api/strategies/daytime/start")
    assert explained(client, "daytime", "2026-01-27T10:00")["state"] == "running"

    write_overrides(
        ctx, "exchange,date,change,opens,closes,name\nNSE,2026-01-27,holiday,,,Test closure\n"
    )
    closed = explained(client, "daytime", "2026-01-27T10:00")
    assert closed["state"] == "paused"
    assert "NSE holiday Test closure" in closed["reasons"]
    assert "next session Wed 2026-01-28 09:15 IST" in closed["reasons"]
    shown = client.get("/api/calendars/NSE", params={"year": 2026}).json()
    assert {"date": "2026-01-27", "kind": "holiday", "name": "Test closure"}.items() <= next(
        day for day in shown["days"] if day["date"] == "2026-01-27"
    ).items()
    assert "overrides" in shown["source"]

    # A wrong line rejects the whole file: the last good overrides stay in force, and
    # the problem names the line.
    write_overrides(
        ctx,
        "exchange,date,change,opens,closes,name\n"
        "NSE,2026-01-28,holiday,,,Another closure\n"
        "NSE,2026-13-01,holiday,,,Not a date\n",
    )
    problem = client.get("/api/calendars").json()["problem"]
    assert problem is not None
    assert "line 3" in problem
    assert "2026-13-01" in problem
    assert str(ctx.layout.calendar_overrides) in problem
    assert client.get("/api/calendars/NSE").json()["problem"] == problem
    kept = explained(client, "daytime", "2026-01-27T10:00")
    assert kept["state"] == "paused"
    assert kept["calendar_problem"] == problem
    assert explained(client, "daytime", "2026-01-28T10:00")["state"] == "running"

    write_overrides(ctx, "# nothing to change\n")
    assert client.get("/api/calendars").json()["problem"] is None
    assert explained(client, "daytime", "2026-01-27T10:00")["state"] == "running"


# ----- a running strategy, stopping for one window ------------------------------------------


def test_the_schedule_of_a_running_strategy_cannot_change(
    ctx: ServiceContext, client: TestClient, reconciler: Reconciler
) -> None:
    added(client, "live")
    scheduled(client, "live", start="00:00", stop=None, days="daily", exchange="CRYPTO")
    client.post("/api/strategies/live/start")

    def running() -> Json | None:
        shown: Json = client.get("/api/strategies/live").json()
        return shown if shown["state"] == "running" else None

    shown = wait_until(running, step=converge(reconciler), message="live running")
    assert isinstance(shown, dict)
    pid = shown["current_run"]["pid"]
    before = stored(ctx)

    for attempt in (
        lambda: client.put("/api/strategies/live/schedule", json=NSE_DAY),
        lambda: client.delete("/api/strategies/live/schedule"),
    ):
        body = assert_error(
            attempt(), 409, "cannot change the schedule of 'live' while it is running"
        )
        assert f"pid {pid}" in body["error"]
        assert "strategy stop live" in body["detail"]
    assert stored(ctx) == before
    assert psutil.pid_exists(pid)

    # A window that never closes has no "next" window to wait for.
    body = assert_error(
        client.post("/api/strategies/live/stop", params={"until": "next-window"}),
        400,
        "never closes",
    )
    assert "strategy stop live" in body["detail"]
    assert stored(ctx) == before


def test_stop_until_the_next_window_of_a_manual_strategy_is_refused(
    ctx: ServiceContext, client: TestClient
) -> None:
    added(client, "manual")
    client.post("/api/strategies/manual/start")
    before = stored(ctx)
    body = assert_error(
        client.post("/api/strategies/manual/stop", params={"until": "next-window"}),
        400,
        "'manual' has no schedule, so it has no next window",
    )
    assert "algovisor strategy stop manual" in body["detail"]
    assert stored(ctx) == before
    response = client.post("/api/strategies/manual/stop", params={"until": "tomorrow"})
    assert response.status_code == 422, response.text
    assert stored(ctx) == before


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 1, 27, 10, 0, tzinfo=INDIA))  # a Tuesday, NSE open


@pytest.fixture
def timed_ctx(
    ctx: ServiceContext, settings: Settings, clock: FakeClock
) -> Iterator[ServiceContext]:
    """A second context on the test's database, whose time is `clock`'s."""
    context = ServiceContext.open(settings, clock=clock)
    yield context
    context.close()


@pytest.fixture
def timed_client(timed_ctx: ServiceContext, api_key: str) -> Iterator[TestClient]:
    with TestClient(create_app(timed_ctx), headers={"X-API-Key": api_key}) as test_client:
        yield test_client


@pytest.fixture
def timed_reconciler(timed_ctx: ServiceContext, clock: FakeClock) -> Iterator[Reconciler]:
    instance = make_reconciler(timed_ctx, clock=clock)
    instance.recover()
    yield instance
    instance.close()


def test_stop_until_the_next_window_outside_the_window_arms_it(
    timed_ctx: ServiceContext,
    timed_client: TestClient,
    timed_reconciler: Reconciler,
    clock: FakeClock,
) -> None:
    client = timed_client
    clock.advance(timedelta(hours=8))  # Tue 18:00 IST: after the close
    added(client, "evening")
    scheduled(client, "evening")

    answer = client.post("/api/strategies/evening/stop", params={"until": "next-window"})
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert result["message"] == "not inside its window; it starts when the next one opens"
    assert result["strategy"]["intent"] == "run"
    assert result["strategy"]["window_skipped_until"] is None

    def state_is(wanted: str) -> Json | None:
        shown: Json = client.get("/api/strategies/evening").json()
        return shown if shown["state"] == wanted else None

    waiting = wait_until(
        lambda: state_is("scheduled"), step=converge(timed_reconciler), message="scheduled"
    )
    assert isinstance(waiting, dict)
    assert instant(waiting["next_start_at"]) == TUESDAY_OPEN + timedelta(days=1)
    assert waiting["next_start_at"].endswith("+05:30")  # the web UI's cards show it
    now = client.get("/api/strategies/evening/explain").json()
    assert now["state"] == "scheduled"
    assert instant(now["next_change_at"]) == TUESDAY_OPEN + timedelta(days=1)
    assert "next start Wed 2026-01-28 09:15 IST" in now["reasons"]


def test_stop_until_the_next_window_inside_the_window_holds_until_it_closes(
    timed_ctx: ServiceContext,
    timed_client: TestClient,
    timed_reconciler: Reconciler,
    clock: FakeClock,
) -> None:
    client = timed_client
    added(client, "daytime")
    scheduled(client, "daytime")
    client.post("/api/strategies/daytime/start")

    def state_is(wanted: str) -> Json | None:
        shown: Json = client.get("/api/strategies/daytime").json()
        return shown if shown["state"] == wanted else None

    step = converge(timed_reconciler)
    running = wait_until(lambda: state_is("running"), step=step, message="running")
    assert isinstance(running, dict)
    assert running["next_start_at"] is None  # inside its window: nothing to wait for
    pid = running["current_run"]["pid"]

    answer = client.post("/api/strategies/daytime/stop", params={"until": "next-window"})
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert result["strategy"]["intent"] == "run"
    assert instant(result["strategy"]["window_skipped_until"]) == TUESDAY_CLOSE
    assert "this one closes Tue 2026-01-27 15:30 IST" in result["message"]

    stopped = wait_until(lambda: state_is("stopped"), step=step, message="stopped")
    assert isinstance(stopped, dict)
    assert stopped["current_run"] is None
    assert instant(stopped["window_skipped_until"]) == TUESDAY_CLOSE
    # Held for this window: it starts again when the next one opens.
    assert instant(stopped["next_start_at"]) == TUESDAY_OPEN + timedelta(days=1)
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    why = client.get("/api/strategies/daytime/explain").json()
    assert why["state"] == "stopped"
    assert instant(why["next_change_at"]) == TUESDAY_CLOSE
    assert any("closes at Tue 2026-01-27 15:30 IST" in reason for reason in why["reasons"])

    # Still held later in the same window; the next window starts it again by itself.
    clock.advance(timedelta(hours=5))  # 15:00
    for _ in range(3):
        step()
    assert client.get("/api/strategies/daytime").json()["state"] == "stopped"
    clock.advance(timedelta(hours=18, minutes=20))  # Wed 09:20
    again = wait_until(lambda: state_is("running"), step=step, message="running again")
    assert isinstance(again, dict)
    assert again["current_run"]["pid"] != pid
