"""Master contracts through the REST API: the seed's status endpoint, the list, lookups,
refresh, and the seed's `/python/check-contracts` and `/python/clear-error` endpoints.

Contracts are loaded through the real pipeline from a tiny Zerodha-format file, on a
clock stopped at Friday 2026-11-20 noon IST, so the trading day is known.
"""

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
from algovisor.contracts.readiness import read_board
from algovisor.contracts.records import ContractFormatError
from algovisor.schedule.calendar import INDIA
from algovisor.services import contracts
from algovisor.services.context import ServiceContext
from algovisor.supervisor.reconciler import Reconciler
from tests.conftest import converge, make_reconciler, small_zerodha_csv, wait_until

Json = dict[str, Any]

LOOPING = """
import time
while True:
    time.sleep(0.1)
"""
SYNTAX_ERROR = "import time\nif True print('never')\n"

FRIDAY_NOON = datetime(2026, 11, 20, 12, 0, tzinfo=INDIA)
MONDAY_CUTOFF = datetime(2026, 11, 23, 8, 0, tzinfo=INDIA)
FRIDAY = "2026-11-20"
KNOWN_BROKERS = "paper, zerodha, angel, dhan, upstox, openalgo"

CALL = {
    "symbol": "NIFTY28DEC2724000CE",
    "broker_symbol": "NIFTY27DEC24000CE",
    "name": "NIFTY",
    "exchange": "NFO",
    "broker_exchange": "NFO",
    "token": "12345858",
    "expiry": "2027-12-28",
    "strike": 24000.0,
    "lot_size": 65,
    "instrument_type": "CE",
    "tick_size": 0.05,
}
PUT = {
    **CALL,
    "symbol": "NIFTY28DEC2724000PE",
    "broker_symbol": "NIFTY27DEC24000PE",
    "token": "12346114",
    "instrument_type": "PE",
}
FUTURE = {
    **CALL,
    "symbol": "NIFTY28DEC27FUT",
    "broker_symbol": "NIFTY27DECFUT",
    "token": "12345602",
    "strike": None,
    "instrument_type": "FUT",
    "tick_size": 0.1,
}
INDEX = {
    "symbol": "NIFTY",
    "broker_symbol": "NIFTY 50",
    "name": "NIFTY",
    "exchange": "NSE_INDEX",
    "broker_exchange": "NSE",
    "token": "256265",
    "expiry": None,
    "strike": None,
    "lot_size": 0,
    "instrument_type": "INDEX",
    "tick_size": 0.0,
}


@pytest.fixture
def clock(ctx: ServiceContext) -> FakeClock:
    ctx.clock = FakeClock(FRIDAY_NOON)
    return ctx.clock


@pytest.fixture
def gated(ctx: ServiceContext, clock: FakeClock) -> Iterator[Reconciler]:
    """A reconciler that, like the host's, starts nothing before its broker's contract is ready."""
    instance = make_reconciler(ctx, clock=clock, contracts=read_board)
    instance.recover()
    yield instance
    instance.close()


@pytest.fixture
def woken(ctx: ServiceContext, api_key: str, gated: Reconciler) -> Iterator[TestClient]:
    """The API wired to the reconciler as the host wires it: a wake-up runs a tick at once."""
    with TestClient(
        create_app(ctx, wake=gated.tick), headers={"X-API-Key": api_key}
    ) as test_client:
        yield test_client


def load(ctx: ServiceContext, tmp_path: Path, broker: str = "paper", name: str = "z.csv") -> Path:
    """Load the tiny Zerodha file as `broker`'s contract, as `contracts download --file` does."""
    path = small_zerodha_csv(tmp_path / name)
    contracts.download(ctx, broker, contracts.choose_source(broker, path, None, "zerodha"))
    return path


def ok(response: httpx.Response) -> Any:
    assert response.status_code == 200, response.text
    return response.json()


def assert_error(response: httpx.Response, status: int, fragment: str) -> Json:
    """A clear JSON error: the status, `error` saying what was wrong, and no traceback."""
    assert response.status_code == status, response.text
    body: Json = response.json()
    assert set(body) == {"error", "detail", "field"}
    assert fragment.lower() in body["error"].lower(), body
    assert "Traceback" not in response.text
    return body


def added(client: TestClient, name: str, broker: str = "paper", body: str = LOOPING) -> Json:
    response = client.post(
        "/api/strategies",
        files={"file": (f"{name}.py", body.encode())},
        data={"name": name, "broker": broker},
    )
    assert response.status_code == 201, response.text
    result: Json = response.json()
    return result


def shown(client: TestClient, ref: str | int) -> Json:
    result: Json = ok(client.get(f"/api/strategies/{ref}"))
    return result


def states(client: TestClient, *names: str) -> list[str]:
    return [shown(client, name)["state"] for name in names]


# ----- status ---------------------------------------------------------------------------


def test_the_seed_status_endpoint_before_and_after_a_load(
    ctx: ServiceContext, client: TestClient, clock: FakeClock, tmp_path: Path
) -> None:
    before = ok(client.get("/api/master-contract/status"))
    assert before["broker"] == "paper"
    assert before["status"] == "pending"
    assert before["message"] == "not downloaded yet"
    assert before["is_ready"] is False
    assert before["total_symbols"] == "0"
    assert before["current_trading_day"] == FRIDAY
    assert before["trading_day"] is None
    assert before["waiting_reason"] == "waiting for the paper master contract: not downloaded yet"

    path = load(ctx, tmp_path)
    after = ok(client.get("/api/master-contract/status"))
    # The seed's keys, with the seed's values and types (total_symbols is text there).
    seed = {key: after[key] for key in ("broker", "status", "message", "is_ready", "total_symbols")}
    assert seed == {
        "broker": "paper",
        "status": "success",
        "message": "Master contracts ready",
        "is_ready": True,
        "total_symbols": "5",
    }
    assert datetime.fromisoformat(after["last_updated"]) == clock.now()
    # ...and the rest, beside them.
    assert after["trading_day"] == after["current_trading_day"] == FRIDAY
    assert after["waiting_reason"] is None
    assert after["exchange_counts"] == {"NFO": 3, "NSE": 1, "NSE_INDEX": 1}
    assert after["rows_rejected"] == 0
    assert after["source"] == f"{path} (zerodha)"
    assert after["progress"] is None
    assert after["failures"] == 0
    assert set(after["step_secs"]) >= {"read", "parse", "validate", "load", "swap"}
    assert ok(client.get("/api/master-contract/status", params={"broker": "paper"})) == after

    # Another broker is its own contract: still pending, and says how to load it.
    zerodha = ok(client.get("/api/master-contract/status", params={"broker": "zerodha"}))
    assert (zerodha["broker"], zerodha["status"], zerodha["is_ready"]) == (
        "zerodha",
        "pending",
        False,
    )
    assert zerodha["total_symbols"] == "0"
    assert "run `algovisor contracts download --broker zerodha`" in zerodha["waiting_reason"]


def test_a_failed_load_keeps_the_contract_and_a_stale_one_is_not_ready(
    ctx: ServiceContext, client: TestClient, clock: FakeClock, tmp_path: Path
) -> None:
    load(ctx, tmp_path)
    broken = tmp_path / "broken.csv"
    broken.write_text("this is not an instrument list\n")
    with pytest.raises(ContractFormatError, match="not a Zerodha instruments CSV"):
        contracts.download(ctx, "paper", contracts.choose_source("paper", broken, None, "zerodha"))

    failed = ok(client.get("/api/master-contract/status"))
    # Never reported as success; the loaded contract stays in force and says so.
    assert failed["status"] == "error"
    assert failed["message"].startswith("parse failed: not a Zerodha instruments CSV")
    assert failed["message"].endswith(f"the contract for {FRIDAY} (5 symbols) stays in force")
    assert failed["is_ready"] is True
    assert failed["total_symbols"] == "5"
    assert failed["failures"] == 1
    path = "/api/master-contracts/paper/symbols/NFO/NIFTY28DEC2724000CE"
    assert ok(client.get(path)) == CALL

    # The next good load clears the error.
    load(ctx, tmp_path)
    assert ok(client.get("/api/master-contract/status"))["status"] == "success"

    # Over the weekend, Friday's contract is current until Monday's 08:00 IST cut-off.
    clock.advance(MONDAY_CUTOFF - FRIDAY_NOON - timedelta(seconds=1))
    assert ok(client.get("/api/master-contract/status"))["is_ready"] is True
    clock.advance(timedelta(seconds=1))
    stale = ok(client.get("/api/master-contract/status"))
    assert stale["is_ready"] is False
    assert stale["current_trading_day"] == "2026-11-23"
    assert stale["trading_day"] == FRIDAY
    # Seed clients read `status` and `message`: a stale contract must not say ready.
    assert stale["status"] == "pending"
    assert stale["message"] == stale["waiting_reason"]
    assert stale["waiting_reason"] == (
        f"waiting for the paper master contract: the loaded contract is for {FRIDAY}, not "
        "2026-11-23; a refresh is due; load today's file with `algovisor contracts download "
        "--broker paper --file FILE --format zerodha`"
    )


def test_an_unknown_broker_is_a_400_naming_the_known_ones(client: TestClient) -> None:
    requests = [
        ("GET", "/api/master-contract/status?broker=nosuch"),
        ("GET", "/api/master-contracts/nosuch/search?q=NIFTY"),
        ("GET", "/api/master-contracts/nosuch/symbols/NSE/SBIN"),
        ("GET", "/api/master-contracts/nosuch/tokens/NSE/779521"),
        ("GET", "/api/master-contracts/nosuch/expiries?name=NIFTY"),
        ("GET", "/api/master-contracts/nosuch/option-chain?name=NIFTY&expiry=2027-12-28"),
    ]
    for method, path in requests:
        body = assert_error(client.request(method, path), 400, "unknown broker 'nosuch'")
        assert KNOWN_BROKERS in body["error"], path


def test_the_list_holds_paper_and_every_broker_in_use_or_loaded(
    ctx: ServiceContext, client: TestClient, clock: FakeClock, tmp_path: Path
) -> None:
    only_paper = ok(client.get("/api/master-contracts"))
    assert [view["broker"] for view in only_paper] == ["paper"]
    assert only_paper[0]["status"] == "pending"

    added(client, "on_zerodha", broker="zerodha")
    load(ctx, tmp_path, broker="dhan")  # a Zerodha-format file may stand in for any broker
    views = {view["broker"]: view for view in ok(client.get("/api/master-contracts"))}
    assert sorted(views) == ["dhan", "paper", "zerodha"]
    assert (views["dhan"]["status"], views["dhan"]["is_ready"]) == ("success", True)
    assert views["dhan"]["total_symbols"] == 5  # a number here: this is not the seed's endpoint
    assert (views["zerodha"]["status"], views["zerodha"]["is_ready"]) == ("pending", False)
    assert views["paper"]["is_ready"] is False
    # Each entry is the full status the single-broker endpoint shows.
    single = ok(client.get("/api/master-contract/status", params={"broker": "dhan"}))
    assert {**views["dhan"], "total_symbols": "5"} == single


def test_every_contract_route_needs_an_api_key(ctx: ServiceContext) -> None:
    requests = [
        ("GET", "/api/master-contract/status"),
        ("GET", "/api/master-contracts"),
        ("POST", "/api/master-contracts/paper/refresh"),
        ("GET", "/api/master-contracts/paper/search?q=NIFTY"),
        ("GET", "/api/master-contracts/paper/symbols/NSE/SBIN"),
        ("GET", "/api/master-contracts/paper/tokens/NSE/779521"),
        ("GET", "/api/master-contracts/paper/expiries?name=NIFTY"),
        ("GET", "/api/master-contracts/paper/option-chain?name=NIFTY&expiry=2027-12-28"),
        ("POST", "/python/check-contracts"),
        ("POST", "/python/clear-error/1"),
    ]
    with TestClient(create_app(ctx)) as anonymous:
        for method, path in requests:
            assert_error(anonymous.request(method, path), 401, "missing API key")
    with TestClient(create_app(ctx), headers={"X-API-Key": "av_wrong"}) as wrong:
        for method, path in requests:
            assert wrong.request(method, path).status_code == 401, path


# ----- lookups --------------------------------------------------------------------------


def test_search_lookup_tokens_expiries_and_the_option_chain(
    ctx: ServiceContext, client: TestClient, clock: FakeClock, tmp_path: Path
) -> None:
    load(ctx, tmp_path)
    base = "/api/master-contracts/paper"

    found = ok(client.get(f"{base}/search", params={"q": "NIFTY", "exchange": "NFO"}))
    assert sorted(found, key=lambda row: row["symbol"]) == [CALL, PUT, FUTURE]
    everywhere = ok(client.get(f"{base}/search", params={"q": "nifty"}))
    assert sorted(row["symbol"] for row in everywhere) == sorted(
        str(row["symbol"]) for row in (CALL, PUT, FUTURE, INDEX)
    )
    assert len(ok(client.get(f"{base}/search", params={"q": "NIFTY", "limit": 2}))) == 2
    assert ok(client.get(f"{base}/search", params={"q": "BANKNIFTY"})) == []

    assert ok(client.get(f"{base}/symbols/NFO/NIFTY28DEC2724000CE")) == CALL
    assert ok(client.get(f"{base}/symbols/nfo/nifty28dec27fut")) == FUTURE  # any case
    assert ok(client.get(f"{base}/symbols/NSE_INDEX/NIFTY")) == INDEX
    assert ok(client.get(f"{base}/tokens/NFO/12346114")) == PUT
    assert ok(client.get(f"{base}/tokens/NSE_INDEX/256265")) == INDEX

    assert ok(client.get(f"{base}/expiries", params={"name": "NIFTY"})) == ["2027-12-28"]
    for kind in ("FUT", "CE", "PE"):
        params = {"name": "NIFTY", "exchange": "NFO", "instrument_type": kind}
        assert ok(client.get(f"{base}/expiries", params=params)) == ["2027-12-28"]
    assert ok(client.get(f"{base}/expiries", params={"name": "SBIN"})) == []

    chain = ok(client.get(f"{base}/option-chain", params={"name": "NIFTY", "expiry": "2027-12-28"}))
    assert chain == [{"strike": 24000.0, "call": CALL, "put": PUT}]


def test_lookups_that_find_nothing_say_what_to_do(
    ctx: ServiceContext, client: TestClient, clock: FakeClock, tmp_path: Path
) -> None:
    # Nothing loaded yet: every lookup says how to load it.
    for broker in ("paper", "zerodha"):
        base = f"/api/master-contracts/{broker}"
        for path in (
            f"{base}/search?q=NIFTY",
            f"{base}/symbols/NSE/SBIN",
            f"{base}/tokens/NSE/779521",
            f"{base}/expiries?name=NIFTY",
            f"{base}/option-chain?name=NIFTY&expiry=2027-12-28",
        ):
            body = assert_error(
                client.get(path), 404, f"the {broker} master contract has not been loaded"
            )
            assert body["detail"] == f"Run `algovisor contracts download --broker {broker}`."

    load(ctx, tmp_path)
    base = "/api/master-contracts/paper"
    body = assert_error(
        client.get(f"{base}/symbols/NFO/NIFTY28DEC2724500CE"),
        404,
        f"NIFTY28DEC2724500CE is not in the paper NFO contract for {FRIDAY}",
    )
    assert "algovisor contracts search" in body["error"]
    # Tokens repeat across exchanges, so a token is only found on its own.
    assert_error(
        client.get(f"{base}/tokens/NSE/12345858"), 404, "token 12345858 is not in the paper NSE"
    )
    assert_error(
        client.get(f"{base}/symbols/NYSE/SBIN"),
        404,
        "the paper contract has no exchange 'NYSE' (it has: NFO, NSE, NSE_INDEX)",
    )
    # The loaded broker answers; one never loaded still says how to load it.
    assert ok(client.get(f"{base}/symbols/NSE/SBIN"))["token"] == "779521"
    assert_error(
        client.get("/api/master-contracts/zerodha/symbols/NSE/SBIN"), 404, "not been loaded"
    )

    # Malformed requests are 422s that name the field.
    for path, field in [
        (f"{base}/search?q=", "q"),
        (f"{base}/search?q=NIFTY&limit=0", "limit"),
        (f"{base}/expiries?name=NIFTY&instrument_type=XX", "instrument_type"),
        (f"{base}/option-chain?name=NIFTY&expiry=28-12-2027", "expiry"),
        (f"{base}/option-chain?name=NIFTY", "expiry"),
    ]:
        body = assert_error(client.get(path), 422, "invalid request")
        assert field in body["detail"], path


# ----- refresh --------------------------------------------------------------------------


def test_refresh_needs_the_hosts_contract_manager(ctx: ServiceContext, client: TestClient) -> None:
    response = client.post("/api/master-contracts/paper/refresh")
    assert_error(
        response,
        503,
        "no contract manager runs in this process; start the host with `algovisor serve`",
    )
    assert response.headers["retry-after"] == "2"
    assert ok(client.get("/api/master-contract/status"))["status"] == "pending"


def test_refresh_asks_the_host_and_answers_with_the_status(
    ctx: ServiceContext, api_key: str
) -> None:
    asked: list[str] = []
    app = create_app(ctx, refresh_contract=asked.append)
    with TestClient(app, headers={"X-API-Key": api_key}) as client:
        response = client.post("/api/master-contracts/zerodha/refresh")
    assert response.status_code == 202, response.text
    assert asked == ["zerodha"]
    assert response.json()["broker"] == "zerodha"
    assert response.json()["status"] == "pending"


# ----- the seed's /python endpoints -----------------------------------------------------


def test_check_contracts_with_nothing_waiting(
    ctx: ServiceContext, client: TestClient, clock: FakeClock, tmp_path: Path
) -> None:
    # Not ready is never reported as ready, even with no strategy waiting.
    answer = ok(client.post("/python/check-contracts"))
    assert answer == {
        "success": False,
        "message": "Master contracts not ready: waiting for the paper master contract: "
        "not downloaded yet",
    }
    load(ctx, tmp_path)
    assert ok(client.post("/python/check-contracts")) == {
        "success": True,
        "message": "Master contracts ready; no strategies were waiting",
    }


def test_check_contracts_starts_the_strategies_that_were_waiting(
    ctx: ServiceContext, woken: TestClient, gated: Reconciler, tmp_path: Path
) -> None:
    client = woken
    for name in ("first", "second"):
        added(client, name)
        ok(client.post(f"/api/strategies/{name}/start"))
    gated.tick()
    assert states(client, "first", "second") == ["waiting", "waiting"]

    assert ok(client.post("/python/check-contracts")) == {
        "success": False,
        "message": "Master contracts not ready: waiting for the paper master contract: "
        "not downloaded yet",
    }
    assert states(client, "first", "second") == ["waiting", "waiting"]

    load(ctx, tmp_path)
    assert ok(client.post("/python/check-contracts")) == {
        "success": True,
        "message": "Started 2 strategies, 0 failed",
    }
    wait_until(
        lambda: states(client, "first", "second") == ["running", "running"],
        step=converge(gated),
        message="both running",
    )
    pids = [shown(client, name)["current_run"]["pid"] for name in ("first", "second")]
    assert all(psutil.pid_exists(pid) for pid in pids)

    # One on a broker whose contract is not loaded waits on, and the answer says why.
    added(client, "third", broker="zerodha")
    ok(client.post("/api/strategies/third/start"))
    gated.tick()
    answer = ok(client.post("/python/check-contracts"))
    assert answer["success"] is False
    assert answer["message"] == (
        "Master contracts not ready: waiting for the zerodha master contract: not downloaded "
        "yet; run `algovisor contracts download --broker zerodha`"
    )
    assert states(client, "first", "second", "third") == ["running", "running", "waiting"]
    load(ctx, tmp_path, broker="zerodha", name="zerodha.csv")
    assert ok(client.post("/python/check-contracts")) == {
        "success": True,
        "message": "Started 1 strategies, 0 failed",
    }
    wait_until(
        lambda: shown(client, "third")["state"] == "running",
        step=converge(gated),
        message="third running",
    )


def test_clear_error_through_the_seed_endpoint(
    ctx: ServiceContext, client: TestClient, gated: Reconciler, tmp_path: Path
) -> None:
    assert_error(client.post("/python/clear-error/999"), 404, "no strategy '999'")
    assert_error(client.post("/python/clear-error/nope"), 404, "no strategy 'nope'")

    load(ctx, tmp_path)
    broken = added(client, "broken", body=SYNTAX_ERROR)
    live = added(client, "live")
    for name in ("broken", "live"):
        ok(client.post(f"/api/strategies/{name}/start"))
    wait_until(
        lambda: states(client, "broken", "live") == ["error", "running"],
        step=converge(gated),
        message="broken in error, live running",
    )
    assert "SyntaxError" in shown(client, "broken")["error_message"]

    pid = shown(client, "live")["current_run"]["pid"]
    body = assert_error(
        client.post(f"/python/clear-error/{live['id']}"),
        409,
        f"cannot clear the error of 'live' while it is running (pid {pid})",
    )
    assert "algovisor strategy stop live" in body["detail"]
    assert shown(client, "live")["state"] == "running"

    answer = ok(client.post(f"/python/clear-error/{broken['id']}"))
    assert answer == {"success": True, "message": "Error state cleared"}
    cleared = shown(client, "broken")
    assert (cleared["state"], cleared["error_message"], cleared["intent"]) == (
        "stopped",
        None,
        "stop",
    )
    gated.tick()  # cleared is stopped, not restarted behind the trader's back
    assert shown(client, "broken")["state"] == "stopped"
    assert shown(client, "broken")["current_run"] is None
