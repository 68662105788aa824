"""`POST /api/strategies` with a schedule, as the web UI's upload form sends it: the strategy
and its schedule are stored together or not at all, and every refusal names the form field
to blame so the page can show it there."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from algovisor.services.context import ServiceContext
from tests.api.conftest import SCRIPT_LIMIT_BYTES
from tests.api.test_strategies_api import LOOPING, state

Json = dict[str, Any]


def upload(
    client: TestClient, filename: str = "momentum.py", body: bytes = LOOPING.encode(), **form: str
) -> httpx.Response:
    return client.post("/api/strategies", files={"file": (filename, body)}, data=form)


def test_a_strategy_is_added_with_its_schedule(client: TestClient) -> None:
    response = upload(
        client, name="nifty open", exchange="nfo", start="09:20", stop="15:20", days="mon,wed,fri"
    )
    assert response.status_code == 201, response.text
    added: Json = response.json()
    assert added["name"] == "nifty open"
    assert added["intent"] == "stop"  # added stopped, scheduled or not
    assert added["schedule"] == {
        "start": "09:20",
        "stop": "15:20",
        "days": "mon,wed,fri",
        "exchange": "NFO",
        "special_sessions": True,
        "description": "09:20-15:20 IST mon,wed,fri on NFO",
    }
    # Stored, not only echoed: the strategy as read back has the same schedule.
    assert client.get("/api/strategies/nifty open").json()["schedule"] == added["schedule"]


def test_days_and_exchange_default_to_weekdays_on_nse_and_no_start_means_on_demand(
    client: TestClient,
) -> None:
    scheduled = upload(client, "opening.py", start="09:15")
    assert scheduled.status_code == 201, scheduled.text
    assert scheduled.json()["schedule"]["description"] == "from 09:15 IST mon-fri on NSE"

    # Empty form fields are absent fields: days still default to mon-fri.
    blank_days = upload(client, "closing.py", start="15:00", days="")
    assert blank_days.status_code == 201, blank_days.text
    assert blank_days.json()["schedule"]["description"] == "from 15:00 IST mon-fri on NSE"

    # What the form sends for a strategy run on demand: the exchange select, nothing else.
    manual = upload(client, "manual.py", broker="paper", exchange="NSE", start="", stop="")
    assert manual.status_code == 201, manual.text
    assert manual.json()["schedule"] is None


BAD_FIELDS = [
    pytest.param({"filename": "notes.txt"}, 400, "file", "not a Python file", id="not-py"),
    pytest.param(
        {"body": b"#" * (SCRIPT_LIMIT_BYTES + 1)}, 400, "file", "byte limit", id="too-large"
    ),
    pytest.param({"body": b"  \n"}, 400, "file", "is empty", id="empty"),
    pytest.param({"body": b"x = '\xff'\n"}, 400, "file", "not UTF-8", id="not-utf8"),
    pytest.param({"name": "bad/name"}, 400, "name", "path separator", id="name-slash"),
    pytest.param({"name": "12345"}, 400, "name", "only digits", id="name-digits"),
    pytest.param({"name": "-dash"}, 400, "name", "invalid strategy name", id="name-pattern"),
    pytest.param({"name": "taken"}, 409, "name", "already exists", id="name-taken"),
    pytest.param({"broker": "robinhood"}, 400, "broker", "unknown broker", id="broker"),
    pytest.param({"exchange": "NYSE", "start": "09:15"}, 400, "exchange", "NYSE", id="exchange"),
    pytest.param({"start": "25:00"}, 400, "start", "'25:00'", id="start"),
    pytest.param({"start": "09:15", "stop": "3pm"}, 400, "stop", "'3pm'", id="stop"),
    pytest.param({"start": "09:15", "stop": "09:15"}, 400, "stop", "empty", id="stop-equal"),
    pytest.param({"start": "09:15", "days": "weekdays"}, 400, "days", "unknown day", id="days"),
    pytest.param(
        {"start": "", "stop": "15:30"}, 400, "start", "no start time", id="stop-without-start"
    ),
    pytest.param(
        {"start": " ", "days": "mon"}, 400, "start", "no start time", id="days-without-start"
    ),
]


@pytest.mark.parametrize(("change", "status", "field", "fragment"), BAD_FIELDS)
def test_each_bad_field_is_named_and_nothing_is_stored(
    client: TestClient,
    ctx: ServiceContext,
    change: dict[str, Any],
    status: int,
    field: str,
    fragment: str,
) -> None:
    assert upload(client, "taken.py").status_code == 201
    before = state(ctx)
    arguments: dict[str, Any] = {"name": "fresh", "exchange": "NSE", "start": "09:15"} | change
    response = upload(client, **arguments)
    assert response.status_code == status, response.text
    body: Json = response.json()
    assert body["field"] == field, body
    assert fragment.lower() in f"{body['error']} {body['detail']}".lower(), body
    assert state(ctx) == before  # no strategy, version or schedule was stored


def test_a_bad_schedule_leaves_no_strategy_behind_even_when_the_rest_is_fine(
    client: TestClient, ctx: ServiceContext
) -> None:
    response = upload(client, "good.py", start="09:15", stop="15:30", days="mon-xyz")
    assert response.status_code == 400, response.text
    assert client.get("/api/strategies").json() == []
    # The same upload with the days fixed goes through: nothing was left half-made.
    fixed = upload(client, "good.py", start="09:15", stop="15:30", days="mon-fri")
    assert fixed.status_code == 201, fixed.text
    assert [item["name"] for item in client.get("/api/strategies").json()] == ["good"]


def test_the_form_options_list_the_brokers_and_exchanges_the_host_checks_against(
    client: TestClient,
) -> None:
    options: Json = client.get("/api/strategy-options").json()
    assert options["default_broker"] == "paper"
    assert options["default_exchange"] == "NSE"
    assert options["max_script_bytes"] == SCRIPT_LIMIT_BYTES
    assert {"paper", "zerodha", "openalgo"} <= set(options["brokers"])
    assert {"NSE", "BSE", "NFO", "MCX", "CDS"} <= set(options["exchanges"])
    # Everything offered is accepted.
    for number, (broker, exchange) in enumerate(
        zip(options["brokers"], options["exchanges"], strict=False)
    ):
        response = upload(
            client, f"offered{number}.py", broker=broker, exchange=exchange, start="10:00"
        )
        assert response.status_code == 201, response.text
