"""The upstream OpenAlgo server as configured: stored encrypted, given to strategies on
`openalgo`, and asked by reconciliation, against a local server that plays OpenAlgo.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime

import pytest

from algovisor.brokers.protocol import BrokerError
from algovisor.brokers.upstream import OpenAlgoUpstream
from algovisor.db.models import BrokerAccount
from algovisor.errors import InvalidInputError
from algovisor.schedule.calendar import INDIA
from algovisor.services import broker_accounts, broker_books
from algovisor.services import positions as service
from algovisor.services.context import ServiceContext
from algovisor.supervisor.launch import openalgo_variables
from tests.fake_openalgo import (
    KEY,
    FakeOpenAlgo,
    closed_port,
    fake_openalgo,
    position_row,
    silent_server,
    success,
)
from tests.services.test_positions_service import Desk


@pytest.fixture
def server() -> Iterator[FakeOpenAlgo]:
    with fake_openalgo() as fake:
        yield fake


@pytest.fixture
def desk(ctx: ServiceContext) -> Iterator[Desk]:
    instance = Desk(ctx, datetime(2025, 11, 3, 9, 30, tzinfo=INDIA))
    yield instance
    instance.close()


def stored_row(ctx: ServiceContext) -> BrokerAccount | None:
    with ctx.reading() as session:
        return session.get(BrokerAccount, "openalgo")


# ----- configuration --------------------------------------------------------------------


def test_the_upstream_is_stored_with_its_key_encrypted(ctx: ServiceContext) -> None:
    assert broker_accounts.upstream(ctx) is None
    account = broker_accounts.set_upstream(ctx, " https://algo.example.in:5000/ ", f" {KEY}\n")
    assert account.url == "https://algo.example.in:5000"
    assert KEY not in repr(account)
    assert broker_accounts.upstream(ctx) == account
    row = stored_row(ctx)
    assert row is not None
    assert row.upstream_url == "https://algo.example.in:5000"
    assert row.upstream_key_secret is not None
    assert KEY not in row.upstream_key_secret
    assert (row.api_key_secret, row.api_key_hash) == (None, None)  # no paper key here
    summary = broker_accounts.upstream_summary(ctx)
    assert summary == broker_accounts.UpstreamSummary("openalgo", account.url, True)

    # Replaced, not duplicated; the paper broker's row is another row.
    paper_key = broker_accounts.paper_api_key(ctx)
    broker_accounts.set_upstream(ctx, "http://127.0.0.1:5000", "new-key")
    replaced = broker_accounts.upstream(ctx)
    assert replaced == broker_accounts.UpstreamAccount("http://127.0.0.1:5000", "new-key")
    assert broker_accounts.paper_api_key(ctx) == paper_key

    assert broker_accounts.remove_upstream(ctx)
    assert broker_accounts.upstream(ctx) is None
    assert stored_row(ctx) is None
    assert not broker_accounts.remove_upstream(ctx)
    assert broker_accounts.paper_api_key(ctx) == paper_key


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("", "give the OpenAlgo server's URL"),
        ("127.0.0.1:5000", "is not an http(s) URL"),
        ("ftp://algo.example.in", "is not an http(s) URL"),
        ("http://", "is not an http(s) URL"),
        ("http://trader:s3cret@algo.example.in", "a user name or password in the URL"),
        ("http://algo.example.in/?apikey=s3cret", "has a query string or fragment"),
        ("http://algo.example.in/#top", "has a query string or fragment"),
        ("http://algo.example.in:99999", "has port 99999"),
        ("http://algo.example.in/api/v1", "without its API path"),
        ("http://algo.example.in/api/v1/funds", "without its API path"),
        ("http://algo example.in", "spaces or control characters"),
        ("http://algo.example.in/" + "a" * 2100, "at most 2,048"),
    ],
)
def test_a_bad_url_is_refused_without_quoting_credentials(url: str, message: str) -> None:
    with pytest.raises(InvalidInputError) as refused:
        broker_accounts.check_upstream_url(url)
    assert message in refused.value.message
    assert "s3cret" not in refused.value.message


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("", "no API key was given"),
        ("  \n", "no API key was given"),
        ("one two", "spaces, line breaks or control characters"),
        (f"{KEY}\n{KEY}", "spaces, line breaks or control characters"),
        ("k" * 257, "at most 256"),
    ],
)
def test_a_bad_key_is_refused(key: str, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        broker_accounts.check_upstream_key(key)


def test_nothing_is_stored_from_bad_input(ctx: ServiceContext) -> None:
    with pytest.raises(InvalidInputError):
        broker_accounts.set_upstream(ctx, "http://algo.example.in/?apikey=x", KEY)
    with pytest.raises(InvalidInputError):
        broker_accounts.set_upstream(ctx, "http://algo.example.in", " ")
    assert stored_row(ctx) is None


def test_verify_asks_the_server_for_funds(server: FakeOpenAlgo) -> None:
    broker_accounts.verify_upstream(server.url, KEY)
    assert [request.body for request in server.asked("funds")] == [{"apikey": KEY}]
    with pytest.raises(BrokerError, match=r"refused the API key \(HTTP 403"):
        broker_accounts.verify_upstream(server.url, "wrong")


# ----- strategies on openalgo ------------------------------------------------------------


def test_strategies_on_openalgo_get_the_upstreams_host_and_key(ctx: ServiceContext) -> None:
    with ctx.reading() as session:
        assert openalgo_variables(session, ctx.secrets, "openalgo", "http://127.0.0.1:8600") == {}
    broker_accounts.paper_api_key(ctx)
    broker_accounts.set_upstream(ctx, "https://algo.example.in/", KEY)
    with ctx.reading() as session:
        given = openalgo_variables(session, ctx.secrets, "openalgo", "http://127.0.0.1:8600")
        paper = openalgo_variables(session, ctx.secrets, "paper", "http://127.0.0.1:8600")
    assert given == {
        "OPENALGO_API_KEY": KEY,
        "OPENALGO_APIKEY": KEY,
        "OPENALGO_HOST": "https://algo.example.in",
    }
    assert paper["OPENALGO_HOST"] == "http://127.0.0.1:8600"  # paper still gets this host
    assert paper["OPENALGO_API_KEY"] == broker_accounts.paper_api_key(ctx) != KEY


# ----- reconciliation ---------------------------------------------------------------------


def open_on_openalgo(desk: Desk) -> dict[str, int]:
    trend = desk.session("trend", broker="openalgo")
    return {
        "SBIN": desk.enter(trend, "SBIN", quantity=10),
        "INFY": desk.enter(trend, "INFY", "SHORT", quantity=5),
    }


def test_reconcile_reads_the_upstreams_position_book(
    desk: Desk, server: FakeOpenAlgo, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    held = open_on_openalgo(desk)
    server.answers["positionbook"] = success(
        [position_row("SBIN", "10"), position_row("INFY", "-3"), position_row("TCS", 0)]
    )
    broker_accounts.set_upstream(desk.ctx, server.url, KEY)
    with broker_books.position_books(desk.ctx) as books:
        findings = service.reconcile(desk.ctx, books)
    assert [(f.broker, f.symbol, f.verdict, f.broker_quantity) for f in findings] == [
        ("openalgo", "INFY", "quantity_mismatch", -3),
        ("openalgo", "SBIN", "matched", 10),
    ]
    assert all(not finding.problem for finding in findings)
    assert service.show(desk.ctx, held["SBIN"]).position.broker_verdict == "matched"
    assert all(KEY not in record.getMessage() for record in caplog.records)


@pytest.mark.parametrize("failure", ["refused", "key", "silent", "malformed"])
def test_an_upstream_that_fails_leaves_every_verdict_unknown_naming_it(
    desk: Desk, server: FakeOpenAlgo, failure: str
) -> None:
    held = open_on_openalgo(desk)
    url, key = server.url, KEY
    server.answers["positionbook"] = success([position_row("SBIN", "ten")])
    with silent_server() as silent:
        if failure == "refused":
            url = closed_port()
        elif failure == "key":
            key = "revoked-key"
        elif failure == "silent":
            url = silent
        broker_accounts.set_upstream(desk.ctx, url, key)
        with broker_books.position_books(desk.ctx, deadline_secs=1.0) as books:
            findings = service.reconcile(desk.ctx, books, timeout_secs=1.0)
    assert sorted(i for f in findings for i in f.position_ids) == sorted(held.values())
    assert {f.verdict for f in findings} == {"unknown"}
    assert {f.broker_quantity for f in findings} == {None}
    [problem] = {f.problem for f in findings}
    assert problem.startswith("the broker query failed: ")
    assert f"the OpenAlgo server at {url}" in problem
    assert "revoked-key" not in problem
    if failure == "silent":
        assert "within 0.6 s" in problem  # the adapter's own timeout, inside the deadline
    event = service.show(desk.ctx, held["SBIN"]).events[-1]
    assert (event.kind, event.details["verdict"]) == ("RECONCILE", "unknown")
    assert event.details["problem"] == problem


def test_without_an_upstream_openalgo_is_unknown_and_says_how_to_set_one(desk: Desk) -> None:
    open_on_openalgo(desk)
    with broker_books.position_books(desk.ctx) as books:
        assert books("paper") is not None  # the paper account, read from its trades
        assert books("angel") is None  # no adapter
        assert books("zerodha") is None
        findings = service.reconcile(desk.ctx, books)
    assert {f.verdict for f in findings} == {"unknown"}
    assert {f.problem for f in findings} == {
        "the broker query failed: no OpenAlgo server is configured for the openalgo broker; "
        "run `algovisor broker set-upstream URL` with its API key on standard input"
    }


def test_the_books_close_the_connections_they_opened(ctx: ServiceContext) -> None:
    broker_accounts.set_upstream(ctx, "http://127.0.0.1:5000", KEY)
    with broker_books.position_books(ctx, deadline_secs=5.0) as books:
        book = books("openalgo")
        assert isinstance(book, OpenAlgoUpstream)
        assert (book.connect_timeout_secs, book.timeout_secs) == (1.0, 3.0)
    assert book._client.is_closed
