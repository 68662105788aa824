"""`algovisor broker set-upstream/show/remove-upstream`, and what the upstream feeds: the
`openalgo` contract with no --url, and `positions reconcile` when the upstream fails.

The key goes in on standard input only; it never comes out of any command.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime

import pytest
from click.testing import Result
from typer.testing import CliRunner

from algovisor.cli.main import app
from algovisor.schedule.calendar import INDIA
from algovisor.services import broker_accounts
from algovisor.services.context import ServiceContext
from algovisor.settings import Settings
from tests.cli.test_contracts_cli import failed, flat, ok
from tests.fake_openalgo import (
    INSTRUMENTS,
    KEY,
    FakeOpenAlgo,
    closed_port,
    fake_openalgo,
    instruments_answer,
    position_row,
    success,
)
from tests.services.test_positions_service import Desk


@pytest.fixture
def server() -> Iterator[FakeOpenAlgo]:
    with fake_openalgo() as fake:
        yield fake


@pytest.fixture
def run(settings: Settings) -> Iterator[list[Result]]:
    """Every result, checked afterwards for the key."""
    results: list[Result] = []
    yield results
    for result in results:
        assert KEY not in result.output, result.output


def algovisor(settings: Settings, results: list[Result], *args: str, key: str = "") -> Result:
    """`algovisor ARGS...` with `key` on standard input."""
    result = CliRunner().invoke(
        app,
        [
            "--data-dir",
            str(settings.data_dir),
            "--database-url",
            settings.resolved_database_url,
            *args,
        ],
        input=key,
        env={"COLUMNS": "400"},
    )
    results.append(result)
    return result


def test_set_show_and_remove_the_upstream(
    settings: Settings, run: list[Result], ctx: ServiceContext, server: FakeOpenAlgo
) -> None:
    shown = ok(algovisor(settings, run, "broker", "show"))
    assert "no upstream for broker openalgo; set one with `algovisor broker set-upstream URL`" in (
        flat(shown.stdout)
    )

    stored = ok(
        algovisor(settings, run, "broker", "set-upstream", server.url + "/", key=KEY + "\n")
    )
    assert flat(stored.stdout) == f"upstream for broker openalgo: {server.url} (it answered)"
    assert [request.body for request in server.asked("funds")] == [{"apikey": KEY}]
    assert broker_accounts.upstream(ctx) == broker_accounts.UpstreamAccount(server.url, KEY)

    shown = ok(algovisor(settings, run, "broker", "show"))
    assert flat(shown.stdout) == (
        f"upstream for broker openalgo: {server.url} API key: set (encrypted)"
    )
    as_json = json.loads(ok(algovisor(settings, run, "broker", "show", "--json")).stdout)
    assert as_json == {"broker": "openalgo", "url": server.url, "key_set": True}

    removed = ok(algovisor(settings, run, "broker", "remove-upstream"))
    assert flat(removed.stdout) == (
        "removed the upstream for broker openalgo; the host no longer refreshes the openalgo "
        "contract from it (the one loaded stays in force for its trading day; "
        "`algovisor broker set-upstream URL` to resume)"
    )
    assert broker_accounts.upstream(ctx) is None
    again = ok(algovisor(settings, run, "broker", "remove-upstream"))
    assert flat(again.stdout) == "no upstream for broker openalgo was set"
    gone = json.loads(ok(algovisor(settings, run, "broker", "show", "--json")).stdout)
    assert gone == {"broker": "openalgo", "url": None, "key_set": False}


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://127.0.0.1:5000", "is not an http(s) URL"),
        ("http://me:pw@127.0.0.1:5000", "a user name or password in the URL"),
        ("http://127.0.0.1:5000/?apikey=k", "has a query string or fragment"),
        ("http://127.0.0.1:5000/api/v1", "without its API path"),
    ],
)
def test_a_bad_url_is_refused_before_anything_is_asked(
    settings: Settings,
    run: list[Result],
    ctx: ServiceContext,
    server: FakeOpenAlgo,
    url: str,
    message: str,
) -> None:
    message_seen = failed(algovisor(settings, run, "broker", "set-upstream", url, key=KEY), "", 2)
    assert message in message_seen
    assert server.requests == []
    assert broker_accounts.upstream(ctx) is None


def test_no_key_on_standard_input_is_refused(
    settings: Settings, run: list[Result], ctx: ServiceContext, server: FakeOpenAlgo
) -> None:
    said = failed(algovisor(settings, run, "broker", "set-upstream", server.url), "", 2)
    assert "no API key was given; pipe it on standard input" in said
    assert broker_accounts.upstream(ctx) is None


def test_a_failed_check_stores_nothing(
    settings: Settings, run: list[Result], ctx: ServiceContext, server: FakeOpenAlgo
) -> None:
    wrong = failed(
        algovisor(settings, run, "broker", "set-upstream", server.url, key="revoked\n"), "", 1
    )
    assert wrong.startswith(
        f"error: the OpenAlgo server at {server.url} refused the API key "
        "(HTTP 403: Invalid openalgo apikey)"
    )
    assert "Nothing was stored; to store it anyway, add --no-check." in wrong
    assert "revoked" not in wrong

    down = closed_port()
    unreachable = failed(algovisor(settings, run, "broker", "set-upstream", down, key=KEY), "", 1)
    assert unreachable.startswith(f"error: could not connect to the OpenAlgo server at {down}")
    assert "Nothing was stored" in unreachable
    assert broker_accounts.upstream(ctx) is None

    # --no-check: stored without asking (the server may be down for the night).
    stored = ok(algovisor(settings, run, "broker", "set-upstream", down, "--no-check", key=KEY))
    assert flat(stored.stdout) == f"upstream for broker openalgo: {down}"
    assert broker_accounts.upstream(ctx) == broker_accounts.UpstreamAccount(down, KEY)
    # Printed as typed: an IPv6 address's brackets are not taken for markup.
    ipv6 = "http://[::1]:5000"
    ok(algovisor(settings, run, "broker", "set-upstream", ipv6, "--no-check", key=KEY))
    shown = ok(algovisor(settings, run, "broker", "show"))
    assert flat(shown.stdout) == f"upstream for broker openalgo: {ipv6} API key: set (encrypted)"


# ----- what the upstream feeds -----------------------------------------------------------


def test_the_openalgo_contract_downloads_from_the_upstream_with_no_url(
    settings: Settings, run: list[Result], ctx: ServiceContext, server: FakeOpenAlgo
) -> None:
    server.answers["instruments"] = instruments_answer()
    unset = failed(algovisor(settings, run, "contracts", "download", "--broker", "openalgo"), "", 2)
    assert "no OpenAlgo server is configured for the openalgo broker; run " in unset
    assert "`algovisor broker set-upstream URL`" in unset

    broker_accounts.set_upstream(ctx, server.url, KEY)
    loaded = ok(algovisor(settings, run, "contracts", "download", "--broker", "openalgo"))
    text = flat(loaded.stdout)
    assert text.startswith("openalgo: success, ready")
    assert f"{len(INSTRUMENTS)} symbols for" in text
    assert f"source: {server.url}/api/v1/instruments (openalgo)" in text
    [asked] = server.asked("instruments")
    assert asked.method == "GET"
    assert asked.query == {"apikey": [KEY]}  # OpenAlgo's instruments API takes it there

    found = json.loads(
        ok(
            algovisor(
                settings, run, "contracts", "lookup", "NIFTY28DEC2724000CE", "-e", "NFO",
                "--broker", "openalgo", "--json",
            )
        ).stdout
    )  # fmt: skip
    assert found["token"] == "48226"


def test_reconcile_with_a_failing_upstream_is_unknown_naming_it(
    settings: Settings, run: list[Result], ctx: ServiceContext, server: FakeOpenAlgo
) -> None:
    desk = Desk(ctx, datetime(2025, 11, 3, 9, 30, tzinfo=INDIA))
    try:
        session = desk.session("trend", broker="openalgo")
        held = desk.enter(session, "SBIN", quantity=10)
    finally:
        desk.close()
    server.answers["positionbook"] = success([position_row("SBIN", 10)])
    broker_accounts.set_upstream(ctx, server.url, "revoked")

    findings = json.loads(ok(algovisor(settings, run, "positions", "reconcile", "--json")).stdout)
    assert [(f["position_ids"], f["verdict"], f["broker_quantity"]) for f in findings] == [
        ([held], "unknown", None)
    ]
    expected = (
        f"the broker query failed: the OpenAlgo server at {server.url} refused the API key "
        "(HTTP 403: Invalid openalgo apikey)"
    )
    assert findings[0]["problem"] == expected
    text = flat(ok(algovisor(settings, run, "positions", "reconcile")).stdout)
    assert f"unknown openalgo: {expected}; not read as flat" in text

    broker_accounts.set_upstream(ctx, server.url, KEY)  # the key fixed: the book is read
    matched = json.loads(ok(algovisor(settings, run, "positions", "reconcile", "--json")).stdout)
    assert [(f["verdict"], f["broker_quantity"], f["problem"]) for f in matched] == [
        ("matched", 10, None)
    ]
