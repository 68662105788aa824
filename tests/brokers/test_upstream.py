"""The upstream adapter against a local server that plays OpenAlgo, and sockets that misbehave.

Every failure is a BrokerError naming the server by its URL, never by its key;
a position book that cannot be read raises (reconciliation then says "unknown"),
it never comes back empty.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Iterator

import pytest

from algovisor.brokers.protocol import BrokerError, PositionBook
from algovisor.brokers.upstream import OpenAlgoUpstream
from algovisor.errors import InvalidInputError, UnavailableError
from algovisor.positions.reconcile import BrokerPosition, Key
from algovisor.positions.verify import ask_broker
from tests.fake_openalgo import (
    KEY,
    FakeOpenAlgo,
    answer,
    closed_port,
    error,
    fake_openalgo,
    full_backlog,
    position_row,
    redirect,
    send,
    silent_server,
    success,
)


@pytest.fixture
def server() -> Iterator[FakeOpenAlgo]:
    with fake_openalgo() as fake:
        yield fake


@pytest.fixture(autouse=True)
def every_record(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Whatever the adapter and httpx log, at any level, must not hold the key."""
    caplog.set_level(logging.DEBUG)
    yield
    for record in caplog.records:
        assert KEY not in record.getMessage(), record.getMessage()


def upstream(url: str, timeout_secs: float = 5.0) -> OpenAlgoUpstream:
    return OpenAlgoUpstream(url, KEY, timeout_secs)


def failure(book: OpenAlgoUpstream, endpoint: str = "positionbook") -> BrokerError:
    """The error asking `endpoint` raises; its texts never hold the key."""
    ask = book.positions if endpoint == "positionbook" else functools.partial(book.call, endpoint)
    with book, pytest.raises(BrokerError) as raised:
        ask()
    found = raised.value
    assert isinstance(found, UnavailableError)
    assert KEY not in f"{found.message} {found.detail} {found!r} {book!r}"
    return found


# ----- answers ------------------------------------------------------------------------


def test_positions_are_read_signed_from_ints_and_strings(
    server: FakeOpenAlgo, caplog: pytest.LogCaptureFixture
) -> None:
    server.answers["positionbook"] = success(
        [
            position_row("NHPC", "-1"),
            position_row("RELIANCE", "0"),  # closed today: kept, as OpenAlgo keeps it
            position_row("YESBANK", -104),
            position_row("NIFTY28NOV2424000CE", " 75 ", "NFO", "NRML"),
            position_row("SBIN", "+10", product="CNC"),
        ]
    )
    with upstream(server.url + "/") as book:
        checked: PositionBook = book
        assert checked.positions() == [
            BrokerPosition(Key("NHPC", "NSE", "MIS"), -1),
            BrokerPosition(Key("RELIANCE", "NSE", "MIS"), 0),
            BrokerPosition(Key("YESBANK", "NSE", "MIS"), -104),
            BrokerPosition(Key("NIFTY28NOV2424000CE", "NFO", "NRML"), 75),
            BrokerPosition(Key("SBIN", "NSE", "CNC"), 10),
        ]
        assert book.url == server.url  # a trailing slash is not doubled
    assert any(record.name == "httpx" for record in caplog.records)  # checked for the key
    [asked] = server.asked("positionbook")
    assert asked.method == "POST"
    assert asked.body == {"apikey": KEY}  # in the body, as OpenAlgo takes it
    assert asked.query == {}


def test_whole_number_floats_and_their_text_are_quantities(server: FakeOpenAlgo) -> None:
    """Some of OpenAlgo's brokers give quantities as floats: 10.0 is ten, not unreadable."""
    server.answers["positionbook"] = success(
        [
            position_row("SBIN", 10.0),
            position_row("NHPC", -104.0),
            position_row("YESBANK", "10.0"),
            position_row("RELIANCE", "-5.00"),
            position_row("TCS", 0.0),
        ]
    )
    with upstream(server.url) as book:
        assert [(row.key.symbol, row.quantity) for row in book.positions()] == [
            ("SBIN", 10),
            ("NHPC", -104),
            ("YESBANK", 10),
            ("RELIANCE", -5),
            ("TCS", 0),
        ]


def test_an_empty_book_is_flat(server: FakeOpenAlgo) -> None:
    server.answers["positionbook"] = success([])
    with upstream(server.url) as book:
        assert book.positions() == []


def test_orders_funds_and_any_endpoint(server: FakeOpenAlgo) -> None:
    order = {"orderid": "250408000989443", "symbol": "RELIANCE", "order_status": "complete"}
    server.answers["orderbook"] = success({"orders": [order], "statistics": {}})
    server.answers["openposition"] = answer({"status": "success", "quantity": -10})
    with upstream(server.url) as book:
        assert book.orders() == [order]
        assert book.funds() == {"availablecash": "100000.00"}
        fields = {"strategy": "Python", "symbol": "SBIN", "exchange": "NSE", "product": "MIS"}
        assert book.call("openposition", fields) == {"status": "success", "quantity": -10}
        with pytest.raises(ValueError, match="not an OpenAlgo endpoint"):
            book.call("../admin")
    assert server.asked("openposition")[0].body == {**fields, "apikey": KEY}


def test_connections_are_reused(server: FakeOpenAlgo) -> None:
    server.answers["positionbook"] = success([])
    with upstream(server.url) as book:
        for _ in range(3):
            book.positions()
        pool = book._client._transport._pool  # type: ignore[attr-defined]
        assert len(pool.connections) == 1


# ----- the network --------------------------------------------------------------------


def test_a_refused_connection_names_the_server() -> None:
    url = closed_port()
    found = failure(upstream(url))
    assert found.message.startswith(f"could not connect to the OpenAlgo server at {url}: ")
    assert "algovisor broker show" in (found.detail or "")


def test_a_connection_that_never_completes_times_out_quickly() -> None:
    with full_backlog() as url:
        started = time.monotonic()
        found = failure(OpenAlgoUpstream(url, KEY, 5.0, connect_timeout_secs=0.3))
        elapsed = time.monotonic() - started
    assert found.message == f"could not connect to the OpenAlgo server at {url} within 0.3 s"
    assert elapsed < 2.0


def test_a_server_that_never_answers_times_out_quickly() -> None:
    with silent_server() as url:
        started = time.monotonic()
        found = failure(upstream(url, timeout_secs=0.3))
        elapsed = time.monotonic() - started
    assert found.message == (
        f"the OpenAlgo server at {url} did not answer /api/v1/positionbook within 0.3 s "
        "(ReadTimeout)"
    )
    assert elapsed < 2.0


def test_reconciliation_hears_the_adapters_timeout_before_its_own_deadline() -> None:
    with silent_server() as url, upstream(url, timeout_secs=0.3) as book:
        positions, problem = ask_broker(book, timeout_secs=3.0)
    assert positions is None
    assert problem.startswith(f"the broker query failed: the OpenAlgo server at {url} ")


# ----- HTTP and OpenAlgo errors ---------------------------------------------------------


def test_a_refused_key_quotes_the_servers_message(server: FakeOpenAlgo) -> None:
    server.answers["positionbook"] = success([])
    found = failure(OpenAlgoUpstream(server.url, "not-" + KEY))
    assert found.message == (
        f"the OpenAlgo server at {server.url} refused the API key "
        "(HTTP 403: Invalid openalgo apikey)"
    )
    assert "algovisor broker set-upstream" in (found.detail or "")


@pytest.mark.parametrize(
    ("behaviour", "expected"),
    [
        (
            error("An unexpected error occurred", 500),
            "answered /api/v1/positionbook with HTTP 500: An unexpected error occurred",
        ),
        (
            send(502, b"<html><body>Bad Gateway</body></html>", "text/html"),
            "answered /api/v1/positionbook with HTTP 502: Bad Gateway",
        ),
        (
            error({"apikey": ["Missing data for required field."]}, 400),
            'with HTTP 400: {"apikey": ["Missing data for required field."]}',
        ),
        (
            error("Failed to get positions: broker session expired", 200),
            "refused /api/v1/positionbook: Failed to get positions: broker session expired",
        ),
        (answer({"status": "error"}), "refused /api/v1/positionbook: it gave no message"),
        (
            send(200, b"<html>OpenAlgo login</html>", "text/html; charset=utf-8"),
            "answered /api/v1/positionbook with no JSON (text/html)",
        ),
        (answer(["SBIN"]), "answered /api/v1/positionbook with JSON that is not an object"),
        (send(200, b"\xff\xfe{", "application/json"), "with no JSON (application/json)"),
        (answer({"data": []}), "cannot read: its status is null, not success"),
        (
            redirect("https://openalgo.example/api/v1/positionbook?x=1"),
            "redirected /api/v1/positionbook (HTTP 302 to https://openalgo.example/api/v1/"
            "positionbook)",
        ),
    ],
    ids=[
        "500",
        "502-html",
        "400-object",
        "status-error",
        "no-message",
        "html",
        "list",
        "not-utf8",
        "no-status",
        "redirect",
    ],
)
def test_every_error_answer_raises_naming_the_server(
    server: FakeOpenAlgo, behaviour: object, expected: str
) -> None:
    server.answers["positionbook"] = behaviour  # type: ignore[assignment]
    found = failure(upstream(server.url))
    assert found.message.startswith(f"the OpenAlgo server at {server.url} ")
    assert expected in found.message
    assert len(server.requests) == 1  # a redirect is not followed: the key goes nowhere else


def test_a_key_the_server_echoes_is_blanked(server: FakeOpenAlgo) -> None:
    server.answers["funds"] = error(f"apikey {KEY} is disabled", 200)
    found = failure(upstream(server.url), "funds")
    assert found.message.endswith("refused /api/v1/funds: apikey **** is disabled")


def test_a_long_message_is_cut(server: FakeOpenAlgo) -> None:
    server.answers["positionbook"] = error("x" * 5000, 500)
    found = failure(upstream(server.url))
    assert len(found.message) < 500
    assert found.message.endswith("x…")


# ----- books that cannot be read -------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (None, "its data is missing (or null), not a list"),
        ({"positions": []}, "its data is an object, not a list"),
        ("none", "its data is a str, not a list"),
        ([position_row("SBIN", 1), "NHPC"], "row 2 is a str, not an object"),
        (
            [{"exchange": "NSE", "product": "MIS", "quantity": 1}],
            "row 1 has no symbol (found null)",
        ),
        ([position_row("SBIN", 1, exchange=" ")], 'row 1 has no exchange (found " ")'),
        ([{**position_row("SBIN", 1), "product": 7}], "row 1 has no product (found 7)"),
        ([position_row("SBIN", "1.5")], 'row 1 (NSE:SBIN) has quantity "1.5", not a whole number'),
        ([position_row("SBIN", 1.5)], "has quantity 1.5, not a whole number"),
        ([position_row("SBIN", float("nan"))], "has quantity NaN, not a whole number"),
        ([position_row("SBIN", float("inf"))], "has quantity Infinity, not a whole number"),
        ([position_row("SBIN", 1e300)], "has quantity 1e+300, not a whole number"),
        ([position_row("SBIN", "10.")], 'has quantity "10.", not a whole number'),
        ([position_row("SBIN", "1e3")], 'has quantity "1e3", not a whole number'),
        ([position_row("SBIN", True)], "has quantity true, not a whole number"),
        ([position_row("SBIN", None)], "has quantity null, not a whole number"),
        ([position_row("SBIN", "ten")], 'has quantity "ten", not a whole number'),
        ([position_row("SBIN", "1_000")], 'has quantity "1_000", not a whole number'),
        ([position_row("SBIN", "9" * 30)], "not a whole number"),
        ([position_row("SBIN", [1])], "has quantity [1], not a whole number"),
    ],
)
def test_a_malformed_book_raises_and_is_never_read_as_flat(
    server: FakeOpenAlgo, data: object, problem: str
) -> None:
    server.answers["positionbook"] = success(data)
    found = failure(upstream(server.url))
    assert found.message.startswith(
        f"the OpenAlgo server at {server.url} answered /api/v1/positionbook in a shape "
        "algovisor cannot read: "
    )
    assert problem in found.message


def test_malformed_orderbook_and_funds_raise(server: FakeOpenAlgo) -> None:
    server.answers["orderbook"] = success([{"orderid": "1"}])
    server.answers["funds"] = success([])
    with upstream(server.url) as book:
        with pytest.raises(BrokerError, match=r"expected data\.orders"):
            book.orders()
        with pytest.raises(BrokerError, match="its data is a list, not an object"):
            book.funds()


def test_a_url_holding_credentials_is_refused_before_anything_is_sent() -> None:
    for url in ("http://127.0.0.1:5000/?apikey=" + KEY, "http://me:pw@127.0.0.1:5000"):
        with pytest.raises(InvalidInputError) as refused:
            OpenAlgoUpstream(url, KEY)
        assert KEY not in refused.value.message
        assert "pw" not in refused.value.message
