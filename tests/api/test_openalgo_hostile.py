"""Hostile requests to every `/api/v1` endpoint: never a 500, every refusal in OpenAlgo's
shape (`{"status": "error", "message": ...}`).

Each POST endpoint gets a valid body with one field at a time replaced by a hostile
value (deep nesting, numbers too big for a float as JSON numbers and as text, NaN and
infinity, long strings, unicode, NUL, every wrong type), then bodies that are not an
object at all. Oversized bodies are refused with a 413 before they are read: through
FastAPI's client, and through a real host on a real socket, where the answer must come
while the client is still sending.
"""

from __future__ import annotations

import json
import select
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import APIRoute

from algovisor.api.openalgo import MAX_BODY_BYTES
from algovisor.api.routers import openalgo_orders, openalgo_v1
from algovisor.api.routers.openalgo_v1 import MAX_MULTIQUOTES
from algovisor.services import broker_accounts
from algovisor.services.context import ServiceContext
from algovisor.settings import Settings
from tests.api.paper_desk import SBIN, STRATEGY, Desk, open_desk, order_body
from tests.conftest import HostProcess

ORDER = order_body(SBIN, "BUY", 1, pricetype="LIMIT", price="500")  # far below: it rests
HISTORY_DAYS = {"start_date": "2026-11-02", "end_date": "2026-11-20"}

# The fields each endpoint reads (a valid body, the key added): every one is fuzzed.
BODIES: dict[str, dict[str, Any]] = {
    "intervals": {},
    "symbol": {"symbol": "SBIN", "exchange": "NSE"},
    "search": {"query": "SBIN", "exchange": "NSE"},
    "expiry": {"symbol": "NIFTY", "exchange": "NFO", "instrumenttype": "futures"},
    "quotes": {"symbol": "SBIN", "exchange": "NSE"},
    "depth": {"symbol": "SBIN", "exchange": "NSE"},
    "multiquotes": {"symbols": [{"symbol": "SBIN", "exchange": "NSE"}]},
    "history": {"symbol": "SBIN", "exchange": "NSE", "interval": "D", **HISTORY_DAYS},
    "placeorder": {**ORDER, "trigger_price": "0", "disclosed_quantity": "0"},
    "placesmartorder": {**ORDER, "position_size": "1"},
    "basketorder": {"strategy": STRATEGY, "orders": [ORDER]},
    "splitorder": {**ORDER, "quantity": "2", "splitsize": "1"},
    "modifyorder": {**ORDER, "orderid": "RESTING", "price": "510"},
    "cancelorder": {"strategy": STRATEGY, "orderid": "RESTING"},
    "cancelallorder": {"strategy": STRATEGY},
    "closeposition": {"strategy": STRATEGY},
    "orderstatus": {"strategy": STRATEGY, "orderid": "RESTING"},
    "openposition": {"strategy": STRATEGY, "symbol": "SBIN", "exchange": "NSE", "product": "MIS"},
    "orderbook": {},
    "tradebook": {},
    "positionbook": {},
    "holdings": {},
    "funds": {},
    "ping": {},
    "analyzer": {},
}


def nested(depth: int) -> Any:
    value: Any = "SBIN"
    for level in range(depth):
        value = [value] if level % 2 else {"a": value}
    return value


HOSTILE: list[Any] = [
    None,
    "",
    "   ",
    True,
    False,
    0,
    -1,
    1.5,
    2**63,
    -(10**30),
    1e308,
    -1e308,
    float("inf"),  # sent as the token Infinity, which Python's parser (and OpenAlgo's) reads
    float("-inf"),
    float("nan"),
    "1e308",
    "-1e308",
    "1e400",
    "nan",
    "inf",
    "-Infinity",
    "9" * 5000,
    "A" * 100_000,
    "€ü𝕊𝔹𝕀ℕ" * 200,
    "SBIN\x00",
    "\x00",
    "'; DROP TABLE paper_orders; --",
    "%",
    [],
    ["SBIN"],
    {},
    {"$gt": ""},
    nested(200),
]


def describe(value: Any) -> str:
    return repr(value)[:40]


def assert_openalgo_answer(response: Any, case: str) -> None:
    """Not a 500; a refusal is `{"status": "error", "message": str}`, a success says so."""
    assert response.status_code < 500, (case, response.status_code, response.text[:300])
    answer = response.json()
    assert isinstance(answer, dict), (case, answer)
    if response.status_code >= 400:
        assert answer["status"] == "error", (case, answer)
        assert isinstance(answer["message"], str), (case, answer)
    else:
        assert (response.status_code, answer["status"]) == (200, "success"), (case, answer)


@pytest.fixture
def desk(settings: Settings, tmp_path: Path) -> Iterator[Desk]:
    """An account with a position and a resting order (for the endpoints that need one)."""
    instance = open_desk(settings, tmp_path)
    instance.place(SBIN, "BUY", 10)
    yield instance
    instance.close()


def post(desk: Desk, endpoint: str, body: dict[str, Any]) -> Any:
    content = json.dumps(body)  # allow_nan: NaN and Infinity as their JS tokens
    return desk.client.post(
        f"/api/v1/{endpoint}", content=content, headers={"Content-Type": "application/json"}
    )


def test_every_post_endpoint_is_fuzzed() -> None:
    routes = {
        route.path.removeprefix("/api/v1/")
        for router in (openalgo_v1.router, openalgo_orders.router)
        for route in router.routes
        if isinstance(route, APIRoute) and not route.path.endswith("/") and "POST" in route.methods
    }
    assert routes == set(BODIES)


@pytest.mark.parametrize("endpoint", sorted(BODIES))
def test_hostile_values_in_every_field_are_never_a_500(desk: Desk, endpoint: str) -> None:
    resting = desk.place(SBIN, "BUY", 1, pricetype="LIMIT", price="500")
    base = {
        "apikey": desk.key,
        **{
            name: resting if value == "RESTING" else value
            for name, value in BODIES[endpoint].items()
        },
    }
    assert_openalgo_answer(post(desk, endpoint, base), f"{endpoint} valid")
    fields = ["apikey", *BODIES[endpoint]]
    for name in fields:
        for value in HOSTILE:
            case = f"{endpoint} {name}={describe(value)}"
            assert_openalgo_answer(post(desk, endpoint, {**base, name: value}), case)
    # Inside the lists of objects, too.
    for name in ("symbols", "orders"):
        if name in base:
            item = base[name][0]
            for key in item:
                for value in HOSTILE:
                    body = {**base, name: [{**item, key: value}]}
                    case = f"{endpoint} {name}[0].{key}={describe(value)}"
                    assert_openalgo_answer(post(desk, endpoint, body), case)
            for value in HOSTILE:
                case = f"{endpoint} {name}[0]={describe(value)}"
                assert_openalgo_answer(post(desk, endpoint, {**base, name: [value]}), case)


def test_hostile_query_parameters_of_instruments_are_never_a_500(desk: Desk) -> None:
    base = {"apikey": desk.key, "exchange": "NSE", "format": "json"}
    texts = [value for value in HOSTILE if isinstance(value, str) and len(value) <= 5000]
    for name in base:
        for value in [*texts, "csv", "NSE_INDEX", "json\r\nX-Injected: 1"]:
            response = desk.client.get("/api/v1/instruments", params={**base, name: value})
            case = f"instruments {name}={describe(value)}"
            assert response.status_code < 500, (case, response.status_code, response.text[:300])
            if response.status_code >= 400:
                assert response.json()["status"] == "error", case


NOT_AN_OBJECT: list[bytes] = [
    b"",
    b"null",
    b"[]",
    b"{}",
    b'"placeorder"',
    b"1e400",
    b"NaN",
    b"[" * 100_000,
    b'{"apikey": ' + b"[" * 100_000 + b"}",
    b'{"a": ' * 50_000 + b"1" + b"}" * 50_000,
    b"\x00\x01\x02",
    b"\xff\xfe{}",
    b'{"apikey": "x", ',
    b'{"quantity": ' + b"9" * 5000 + b"}",
]


@pytest.mark.parametrize("endpoint", sorted(BODIES))
def test_bodies_that_are_not_an_object_are_a_400(desk: Desk, endpoint: str) -> None:
    for content in NOT_AN_OBJECT:
        response = desk.client.post(f"/api/v1/{endpoint}", content=content)
        case = f"{endpoint} {content[:30]!r}"
        assert response.status_code == 400, (case, response.status_code, response.text[:200])
        assert_openalgo_answer(response, case)


def test_deep_nesting_is_an_invalid_json_body(desk: Desk) -> None:
    response = desk.client.post("/api/v1/funds", content=b"[" * 100_000)
    assert (response.status_code, response.json()) == (
        400,
        {"status": "error", "message": "Invalid JSON body: nested too deeply"},
    )


# ----- size limits ---------------------------------------------------------------------


TOO_LARGE = {
    "status": "error",
    "message": f"Request body too large: at most {MAX_BODY_BYTES:,} bytes (1 MiB) are read",
}


def padded(desk: Desk, size: int) -> bytes:
    """A valid `funds` body of exactly `size` bytes."""
    start = json.dumps({"apikey": desk.key, "pad": ""}).encode()
    return start[:-2] + b"x" * (size - len(start)) + b'"}'


def test_a_body_over_one_mebibyte_is_a_413(desk: Desk) -> None:
    at_limit = padded(desk, MAX_BODY_BYTES)
    assert len(at_limit) == MAX_BODY_BYTES
    assert desk.client.post("/api/v1/funds", content=at_limit).status_code == 200
    over = padded(desk, MAX_BODY_BYTES + 1)
    response = desk.client.post("/api/v1/funds", content=over)
    assert (response.status_code, response.json()) == (413, TOO_LARGE)

    def chunks() -> Iterator[bytes]:  # no Content-Length: sent chunked
        yield over[: len(over) // 2]
        yield over[len(over) // 2 :]

    response = desk.client.post("/api/v1/funds", content=chunks())
    assert (response.status_code, response.json()) == (413, TOO_LARGE)


def test_multiquotes_takes_at_most_500_symbols(desk: Desk) -> None:
    assert MAX_MULTIQUOTES == 500
    symbol = {"symbol": "SBIN", "exchange": "NSE"}
    status, answer = desk.post("multiquotes", symbols=[symbol] * MAX_MULTIQUOTES)
    assert (status, len(answer["results"])) == (200, MAX_MULTIQUOTES)
    assert desk.post("multiquotes", symbols=[symbol] * (MAX_MULTIQUOTES + 1)) == (
        400,
        {"status": "error", "message": "{'symbols': ['Longer than maximum length 500.']}"},
    )


def test_history_outside_the_markets_days_is_a_400(desk: Desk) -> None:
    base = {"symbol": "SBIN", "exchange": "NSE", "interval": "D"}
    for start, end in (
        ("0001-01-01", "0001-01-05"),
        ("1999-12-31", "2000-01-05"),
        ("2026-11-02", "9999-12-31"),
        ("2101-01-01", "2101-01-05"),
    ):
        status, answer = desk.post("history", {**base, "start_date": start, "end_date": end})
        assert (status, answer) == (
            400,
            {
                "status": "error",
                "message": f"history from {start} to {end} is outside the days the paper "
                "market has: ask for dates from 2000-01-01 to 2100-12-31",
            },
        )
    status, answer = desk.post(
        "history", {**base, "start_date": "2000-01-01", "end_date": "2000-01-10"}
    )
    assert (status, len(answer["data"])) == (200, 6)  # the first sessions of 2000 (NSE)


# ----- the limit on a real socket -------------------------------------------------------


def raw_request(host: HostProcess, head: str) -> socket.socket:
    connection = socket.create_connection(("127.0.0.1", host.port), timeout=10)
    connection.sendall(head.encode())
    return connection


def read_answer(connection: socket.socket) -> tuple[int, dict[str, Any]]:
    """The status and JSON body of one HTTP/1.1 answer (read until the connection closes
    or the Content-Length is in)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = connection.recv(65536)
        assert chunk, data
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    lines = head.decode().split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines[1:])
    while len(body) < int(headers["content-length"]):
        chunk = connection.recv(65536)
        assert chunk, body
        body += chunk
    return int(lines[0].split()[1]), json.loads(body)


def test_a_host_answers_413_before_reading_a_large_body(
    host: HostProcess, ctx: ServiceContext
) -> None:
    host.start()
    key = broker_accounts.paper_api_key(ctx)
    start = f'{{"apikey": "{key}", "pad": "'.encode()

    # Content-Length says 1 GiB: the answer comes at once, with 100 bytes of it sent.
    with raw_request(
        host,
        "POST /api/v1/funds HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {2**30}\r\n\r\n",
    ) as connection:
        connection.sendall(start + b"x" * 100)
        assert read_answer(connection) == (413, TOO_LARGE)

    # Chunked, without end: the answer comes once a little over 1 MiB is read.
    with raw_request(
        host,
        "POST /api/v1/funds HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\n\r\n",
    ) as connection:
        connection.setblocking(False)
        chunk = b"x" * 65536
        framed = f"{len(start):x}\r\n".encode() + start + b"\r\n"
        sent, limit = 0, 64 * MAX_BODY_BYTES
        pending = framed
        deadline = time.monotonic() + 20
        while True:
            readable, writable, _ = select.select([connection], [connection], [], 1)
            if readable:
                break
            assert sent < limit, f"no answer after {sent:,} bytes: the body is being read whole"
            assert time.monotonic() < deadline, f"no answer after {sent:,} bytes"
            if writable:
                if not pending:
                    pending = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
                written = connection.send(pending)
                sent, pending = sent + written, pending[written:]
        connection.setblocking(True)
        assert read_answer(connection) == (413, TOO_LARGE)
    assert sent > MAX_BODY_BYTES
