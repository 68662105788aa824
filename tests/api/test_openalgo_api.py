"""The paper broker's OpenAlgo API (`/api/v1/...`): its key, its error shape, its symbol endpoints.

Driven through FastAPI's client for the edge cases, and through the real `openalgo`
package against a real host for what a strategy does.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from algovisor.api.app import create_app
from algovisor.schedule.calendar import INDIA
from algovisor.services import broker_accounts
from algovisor.services.context import ServiceContext
from algovisor.supervisor.launch import openalgo_variables
from algovisor.supervisor.processes import build_environment
from tests.conftest import HostProcess, load_small_contract


@pytest.fixture
def paper(ctx: ServiceContext, tmp_path: Path) -> Iterator[tuple[TestClient, str]]:
    load_small_contract(ctx, tmp_path)
    key = broker_accounts.paper_api_key(ctx)
    with TestClient(create_app(ctx)) as client:
        yield client, key


def post(client: TestClient, endpoint: str, body: Any) -> tuple[int, dict[str, Any]]:
    response = client.post(f"/api/v1/{endpoint}", json=body)
    return response.status_code, response.json()


def test_the_key_is_made_once_and_kept(ctx: ServiceContext) -> None:
    key = broker_accounts.paper_api_key(ctx)
    assert key.startswith("av_")
    assert broker_accounts.paper_api_key(ctx) == key
    assert broker_accounts.is_paper_api_key(ctx, key)
    assert not broker_accounts.is_paper_api_key(ctx, key + "x")


def test_missing_and_wrong_keys_and_bad_bodies_get_openalgo_errors(
    paper: tuple[TestClient, str],
) -> None:
    client, key = paper
    assert post(client, "intervals", {}) == (
        400,
        {"status": "error", "message": "{'apikey': ['Missing data for required field.']}"},
    )
    assert post(client, "intervals", {"apikey": "av_wrong"}) == (
        403,
        {"status": "error", "message": "Invalid openalgo apikey"},
    )
    # An algovisor REST key is not the broker's key.
    assert post(client, "intervals", {"apikey": key[:-1]})[0] == 403
    malformed = client.post("/api/v1/intervals", content=b"{not json")
    assert malformed.status_code == 400
    assert malformed.json()["message"].startswith("Invalid JSON body")
    assert post(client, "intervals", [key]) == (
        400,
        {"status": "error", "message": "{'_schema': ['Invalid input type.']}"},
    )


def test_intervals_and_a_trailing_slash(paper: tuple[TestClient, str]) -> None:
    client, key = paper
    status, answer = post(client, "intervals/", {"apikey": key})
    assert status == 200
    assert answer["data"]["minutes"] == ["1m", "3m", "5m", "10m", "15m", "30m"]
    assert answer["data"]["days"] == ["D"]


def test_symbol_found_and_not_found(paper: tuple[TestClient, str]) -> None:
    client, key = paper
    status, answer = post(
        client, "symbol", {"apikey": key, "symbol": "NIFTY28DEC2724000CE", "exchange": "NFO"}
    )
    assert status == 200
    assert answer["data"] == {
        "symbol": "NIFTY28DEC2724000CE",
        "brsymbol": "NIFTY27DEC24000CE",
        "name": "NIFTY",
        "exchange": "NFO",
        "brexchange": "NFO",
        "token": "12345858",
        "expiry": "28-DEC-27",
        "strike": 24000.0,
        "lotsize": 65,
        "instrumenttype": "CE",
        "tick_size": 0.05,
    }
    assert post(client, "symbol", {"apikey": key, "symbol": "NOPE", "exchange": "NSE"}) == (
        404,
        {"status": "error", "message": "Symbol NOPE not found in exchange NSE"},
    )
    status, answer = post(client, "symbol", {"apikey": key, "symbol": "SBIN", "exchange": "XNSE"})
    assert status == 400
    assert answer["message"].startswith("{'exchange': ['Must be one of: NSE, BSE, NFO")


def test_search_matches_every_word(paper: tuple[TestClient, str]) -> None:
    client, key = paper
    status, answer = post(client, "search", {"apikey": key, "query": "nifty 24000 pe"})
    assert status == 200
    assert [row["symbol"] for row in answer["data"]] == ["NIFTY28DEC2724000PE"]
    assert answer["message"] == "Found 1 matching symbols"
    _, none = post(client, "search", {"apikey": key, "query": "TCS"})
    assert none == {"status": "success", "message": "No matching symbols found", "data": []}
    assert post(client, "search", {"apikey": key, "query": "  "}) == (
        400,
        {"status": "error", "message": "Query parameter is required and cannot be empty"},
    )


def test_expiry_of_options_and_futures(paper: tuple[TestClient, str]) -> None:
    client, key = paper
    body = {"apikey": key, "symbol": "NIFTY", "exchange": "NFO", "instrumenttype": "options"}
    assert post(client, "expiry", body) == (
        200,
        {
            "status": "success",
            "message": "Found 1 expiry dates for NIFTY options in NFO",
            "data": ["28-DEC-27"],
        },
    )
    _, futures = post(client, "expiry", {**body, "instrumenttype": "futures"})
    assert futures["data"] == ["28-DEC-27"]
    _, none = post(client, "expiry", {**body, "symbol": "BANKNIFTY"})
    assert none["data"] == []
    assert none["message"] == "No expiry dates found for BANKNIFTY options in NFO"
    status, bad = post(client, "expiry", {**body, "instrumenttype": "swaps"})
    assert (status, bad["message"]) == (
        400,
        "{'instrumenttype': ['Must be one of: futures, options.']}",
    )


def test_strategies_on_the_paper_broker_find_it_by_openalgo_names(ctx: ServiceContext) -> None:
    key = broker_accounts.paper_api_key(ctx)
    with ctx.reading() as session:
        given = openalgo_variables(session, ctx.secrets, "paper", "http://127.0.0.1:8600/")
        assert openalgo_variables(session, ctx.secrets, "angel", "http://127.0.0.1:8600") == {}
        assert openalgo_variables(session, ctx.secrets, "paper", None) == {}
    assert given == {
        "OPENALGO_API_KEY": key,
        "OPENALGO_APIKEY": key,
        "OPENALGO_HOST": "http://127.0.0.1:8600",
    }
    # Defaults: the strategy's own OPENALGO_HOST (a real server) wins.
    environment = build_environment({}, given, {"OPENALGO_HOST": "http://10.0.0.5:5000"}, {})
    assert environment["OPENALGO_HOST"] == "http://10.0.0.5:5000"
    assert environment["OPENALGO_API_KEY"] == key


def test_the_openalgo_package_talks_to_a_running_host(
    host: HostProcess, ctx: ServiceContext
) -> None:
    from openalgo import api

    host.start()
    key = broker_accounts.paper_api_key(ctx)  # the host made it at start
    client = api(api_key=key, host=host.url)
    assert client.intervals()["data"]["hours"] == ["1h"]
    sbin = client.symbol(symbol="SBIN", exchange="NSE")
    assert (sbin["status"], sbin["data"]["token"]) == ("success", "779521")
    found = client.search(query="NIFTY 24000", exchange="NFO")
    assert sorted(row["symbol"] for row in found["data"]) == [
        "NIFTY28DEC2724000CE",
        "NIFTY28DEC2724000PE",
    ]
    assert client.expiry(symbol="NIFTY", exchange="NFO", instrumenttype="futures")["data"] == [
        "28-DEC-27"
    ]
    assert client.quotes(symbol="SBIN", exchange="NSE")["status"] == "success"
    frame = client.history(
        symbol="SBIN", exchange="NSE", interval="D", start_date="2026-01-01", end_date="2026-01-31"
    )
    assert list(frame.columns) == ["open", "high", "low", "close", "volume", "oi"]
    assert len(frame) >= 19  # January 2026's NSE sessions, one daily bar each
    # A host typed with a trailing slash makes the client ask for //api/v1/...
    slashed = api(api_key=key, host=host.url + "/")
    assert slashed.intervals()["status"] == "success"
    wrong = api(api_key="av_wrong", host=host.url).intervals()
    assert wrong["status"] == "error"
    assert wrong["message"] == 'HTTP 403: {"status":"error","message":"Invalid openalgo apikey"}'


def test_quotes_depth_and_multiquotes_come_from_the_simulated_market(
    paper: tuple[TestClient, str],
) -> None:
    client, key = paper
    status, answer = post(client, "quotes", {"apikey": key, "symbol": "sbin", "exchange": "NSE"})
    assert status == 200
    quote = answer["data"]
    assert set(quote) == {"open", "high", "low", "ltp", "ask", "bid", "prev_close", "volume", "oi"}
    assert quote["low"] <= quote["ltp"] <= quote["high"]
    assert quote["bid"] < quote["ask"]
    assert round(quote["ltp"] / 0.05, 6).is_integer()  # on SBIN's tick
    status, answer = post(client, "depth", {"apikey": key, "symbol": "SBIN", "exchange": "NSE"})
    assert status == 200
    bids, asks = answer["data"]["bids"], answer["data"]["asks"]
    assert len(bids) == len(asks) == 5
    assert [level["price"] for level in bids] == sorted(
        (level["price"] for level in bids), reverse=True
    )
    assert bids[0]["price"] < asks[0]["price"]
    unknown = {"symbol": "TCS", "exchange": "NSE"}
    status, answer = post(
        client,
        "multiquotes",
        {"apikey": key, "symbols": [unknown, {"symbol": "SBIN", "exchange": "NSE"}]},
    )
    assert status == 200
    assert [item["symbol"] for item in answer["results"]] == ["TCS", "SBIN"]
    assert answer["results"][0]["error"].startswith("Symbol 'TCS' not found for exchange 'NSE'")
    assert answer["results"][1]["data"]["ltp"] == quote["ltp"]
    status, answer = post(client, "multiquotes", {"apikey": key, "symbols": [unknown]})
    assert status == 400
    assert answer["invalid_symbols"] == [{**unknown, "error": answer["message"]}]
    assert post(client, "multiquotes", {"apikey": key, "symbols": []})[0] == 400
    status, answer = post(client, "quotes", {"apikey": key, "symbol": "TCS", "exchange": "NSE"})
    assert status == 400
    assert "ensure master contracts are downloaded" in answer["message"]


def test_history_bars_and_bad_requests(paper: tuple[TestClient, str], ctx: ServiceContext) -> None:
    client, key = paper
    today = ctx.clock.now().astimezone(INDIA).date()
    body = {
        "apikey": key,
        "symbol": "NIFTY28DEC2724000CE",
        "exchange": "NFO",
        "interval": "15m",
        "start_date": (today - timedelta(days=7)).isoformat(),
        "end_date": today.isoformat(),
        "source": "api",
    }
    status, answer = post(client, "history", body)
    assert status == 200
    bars = answer["data"]
    assert len(bars) >= 25  # at least one full session of 15-minute bars in a week
    stamps = [bar["timestamp"] for bar in bars]
    assert stamps == sorted(stamps)
    assert all(isinstance(stamp, int) for stamp in stamps)
    assert all(bar["low"] <= min(bar["open"], bar["close"]) for bar in bars)
    status, answer = post(client, "history", {**body, "interval": "2m"})
    assert (status, answer["message"]) == (
        400,
        "Unsupported interval '2m'. Use one of: 1m, 3m, 5m, 10m, 15m, 30m, 1h, D",
    )
    status, answer = post(client, "history", {**body, "start_date": "01-12-2026"})
    assert (status, answer["message"]) == (400, "{'start_date': ['Not a valid date.']}")


def test_unknown_routes_and_methods_answer_in_openalgo_shape(paper: tuple[TestClient, str]) -> None:
    client, key = paper
    assert post(client, "optionchain", {"apikey": key}) == (
        404,
        {"status": "error", "message": "Not Found"},
    )
    response = client.get("/api/v1/placeorder")
    assert (response.status_code, response.json()["status"]) == (405, "error")
