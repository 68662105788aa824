"""Positions through the REST API, on a real database: every route needs the key, crashed by
time (IST without an offset, positions as the crash left them), list and status, one position
with its trail, reconcile without broker adapters, closing by hand and purge; bad input is a
4xx, never a 500.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from algovisor.api.app import create_app
from algovisor.schedule.calendar import INDIA
from algovisor.services import positions as position_service
from algovisor.services.context import ServiceContext
from tests.api.test_strategies_api import assert_error
from tests.services.test_positions_service import Book, crash_book

Json = Any


@pytest.fixture
def book(ctx: ServiceContext) -> Iterator[Book]:
    with crash_book(ctx) as positions:
        yield positions


def ok(response: Any) -> Json:
    assert response.status_code == 200, response.text
    return response.json()


def ids(rows: list[Json]) -> list[int]:
    return [row["position"]["id"] if "position" in row else row["id"] for row in rows]


ROUTES = [
    ("GET", "/api/positions", None),
    ("GET", "/api/positions/crashed", None),
    ("GET", "/api/positions/{id}", None),
    ("POST", "/api/positions/reconcile", None),
    ("POST", "/api/positions/{id}/close", {"price": 101.0}),
    ("POST", "/api/positions/purge", {"before": "2025-11-25"}),
]


def test_every_positions_route_needs_a_valid_key(ctx: ServiceContext, book: Book) -> None:
    documented = {
        (method.upper(), path)
        for path, operations in create_app(ctx).openapi()["paths"].items()
        if path.startswith("/api/positions")
        for method in operations
    }
    assert documented == {
        (method, path.replace("{id}", "{position_id}")) for method, path, _ in ROUTES
    }
    before = position_service.list_positions(ctx)
    with TestClient(create_app(ctx)) as anonymous:
        for method, path, body in ROUTES:
            target = path.format(id=book.crashed[0])
            missing = anonymous.request(method, target, json=body)
            assert_error(missing, 401, "missing API key")
            wrong = anonymous.request(
                method, target, json=body, headers={"X-API-Key": "av_" + "x" * 43}
            )
            assert_error(wrong, 401, "invalid API key")
    assert position_service.list_positions(ctx) == before


def test_crashed_in_ist_and_bad_times(client: TestClient, book: Book) -> None:
    window = {"since": "2025-11-28T15:25", "until": "2025-11-28T15:35"}
    rows = ok(client.get("/api/positions/crashed", params=window))
    assert ids(rows) == book.crashed
    assert rows[0]["position"]["state"] == {"trail": 795.5}
    assert rows[0]["position"]["stop_price"] == 790.0
    assert rows[0]["crash"]["at"] == "2025-11-28T10:00:00Z"
    assert rows[0]["crash"]["exception_type"] == "RuntimeError"
    assert rows[0]["crash"]["traceback"] is None
    assert rows[0]["crash"]["status_before"] == "ACTIVE"
    assert rows[0]["now"] == "CRASHED"
    assert ids(ok(client.get("/api/positions/crashed", params={"strategy": "scalper"}))) == [
        book.later
    ]
    utc = {"since": "2025-11-28T10:00:00+00:00", "until": "2025-11-28T10:00:01Z"}
    assert ids(ok(client.get("/api/positions/crashed", params=utc))) == book.crashed

    assert_error(
        client.get("/api/positions/crashed", params={"since": "28/11/2025"}), 400, "not a date"
    )
    assert_error(
        client.get(
            "/api/positions/crashed",
            params={"since": window["until"], "until": window["since"]},
        ),
        400,
        "must be before",
    )


def test_list_by_status(client: TestClient, book: Book) -> None:
    everything = ok(client.get("/api/positions"))
    assert ids(everything) == sorted([*book.crashed, book.later, book.closed, book.active])
    crashed = ok(client.get("/api/positions", params={"status": "CRASHED"}))
    assert ids(crashed) == [*book.crashed, book.later]
    trend = ok(client.get("/api/positions", params={"status": "crashed", "strategy": "trend"}))
    assert ids(trend) == book.crashed
    closed = ok(client.get("/api/positions", params={"status": "CLOSED"}))
    assert closed[0]["exit_reason"] == "target"
    body = assert_error(
        client.get("/api/positions", params={"status": "OPEN"}), 400, "unknown position status"
    )
    assert "ACTIVE, CRASHED, RECOVERED, CLOSED" in body["detail"]


def test_show_and_unknown_ids(client: TestClient, book: Book) -> None:
    detail = ok(client.get(f"/api/positions/{book.crashed[0]}"))
    assert [event["kind"] for event in detail["events"]] == ["ENTRY", "CRASH"]
    assert "RuntimeError: feed died" in detail["crashes"][0]["traceback"]
    assert detail["session"]["status"] == "CRASHED"

    assert_error(client.get("/api/positions/999999"), 404, "no position has id 999999")
    assert_error(client.get("/api/positions/abc"), 422, "invalid request")
    close = {"price": 101.0}
    assert_error(
        client.post("/api/positions/999999/close", json=close), 404, "no position has id 999999"
    )
    # Ids that no INTEGER column can hold are refused before the database is asked.
    for position in ("0", "-1", str(2**31), str(2**40), "9223372036854775808", str(2**70)):
        assert_error(client.get(f"/api/positions/{position}"), 422, "invalid request")
        assert_error(
            client.post(f"/api/positions/{position}/close", json=close), 422, "invalid request"
        )
    assert client.get(f"/api/positions/{2**31 - 1}").status_code == 404


def test_reconcile_asks_the_paper_broker(client: TestClient, book: Book) -> None:
    # The paper account has traded nothing: every position we hold is a ghost there.
    findings = ok(client.post("/api/positions/reconcile"))
    assert {finding["verdict"] for finding in findings} == {"closed_at_broker"}
    assert {finding["broker_quantity"] for finding in findings} == {0}
    assert sorted(i for finding in findings for i in finding["position_ids"]) == sorted(
        [*book.crashed, book.later, book.active]
    )


def test_close_by_hand(client: TestClient, book: Book) -> None:
    sbin, infy = book.crashed
    result = ok(
        client.post(
            f"/api/positions/{sbin}/close",
            json={"price": 104.5, "quantity": None, "reason": "closed at Zerodha"},
        )
    )
    assert (result["quantity"], result["remaining"], result["pnl"]) == (10, 0, 45.0)
    assert result["position"]["status"] == "CLOSED"
    assert result["position"]["exit_reason"] == "closed at Zerodha"
    partial = ok(client.post(f"/api/positions/{infy}/close", json={"price": 1490, "quantity": 2}))
    assert (partial["quantity"], partial["remaining"]) == (2, 3)
    trail = ok(client.get(f"/api/positions/{infy}"))["events"]
    assert (trail[-1]["kind"], trail[-1]["details"]["reason"]) == ("PARTIAL_EXIT", "closed by hand")
    # The crash report still has them as the crash left them.
    crashed = ok(client.get("/api/positions/crashed", params={"strategy": "trend"}))
    assert [(row["position"]["quantity"], row["now"]) for row in crashed] == [
        (10, "CLOSED"),
        (5, "CRASHED"),
    ]

    assert_error(
        client.post(f"/api/positions/{sbin}/close", json={"price": 104.5}), 409, "already closed"
    )
    assert_error(
        client.post(f"/api/positions/{book.active}/close", json={"price": 101}),
        409,
        "held by a live session",
    )
    assert_error(
        client.post(f"/api/positions/{infy}/close", json={"price": 1490, "quantity": 4}),
        409,
        "cannot exit 4",
    )
    for body, status, fragment in (
        ({"price": 0}, 400, "exit price must be a finite number above zero"),
        ({"price": -1}, 400, "exit price"),
        ({"price": 101, "quantity": 0}, 400, "quantity must be above zero"),
        ({"price": 101, "reason": " "}, 400, "the reason must be 1-128 characters"),
        ({"price": 101, "reason": "x" * 129}, 400, "the reason must be 1-128 characters"),
        ({"price": "soon"}, 422, "invalid request"),
        ({"price": 101, "quantity": 2.5}, 422, "invalid request"),
        ({}, 422, "invalid request"),
    ):
        assert_error(client.post(f"/api/positions/{book.later}/close", json=body), status, fragment)
    assert_error(client.post(f"/api/positions/{book.later}/close"), 422, "invalid request")
    detail = ok(client.get(f"/api/positions/{book.later}"))
    assert [event["kind"] for event in detail["events"]] == ["ENTRY", "CRASH"]
    assert ok(client.get(f"/api/positions/{book.active}"))["position"]["status"] == "ACTIVE"


def test_purge_keeps_open_positions_and_refuses_today(client: TestClient, book: Book) -> None:
    today = datetime.now(INDIA).date()
    for bad in (today, today + timedelta(days=3)):
        assert_error(
            client.post("/api/positions/purge", json={"before": bad.isoformat()}),
            400,
            "refusing to purge",
        )
    assert_error(client.post("/api/positions/purge", json={"before": "soon"}), 422, "invalid")
    assert_error(client.post("/api/positions/purge", json={}), 422, "invalid")
    assert len(ok(client.get("/api/positions"))) == 5

    yesterday = (today - timedelta(days=1)).isoformat()
    result = ok(client.post("/api/positions/purge", json={"before": yesterday}))
    assert (result["positions"], result["sessions"], result["before"]) == (1, 1, yesterday)
    assert ids(ok(client.get("/api/positions"))) == sorted([*book.crashed, book.later, book.active])
