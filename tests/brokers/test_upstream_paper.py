"""The upstream adapter end to end against algovisor's own paper broker, which serves
OpenAlgo's API: a running host stands in for a real OpenAlgo server.
"""

from __future__ import annotations

from datetime import datetime

import httpx

from algovisor.brokers.upstream import OpenAlgoUpstream
from algovisor.schedule.calendar import INDIA
from algovisor.services import broker_accounts, broker_books
from algovisor.services import contracts as contract_service
from algovisor.services import positions as position_service
from algovisor.services.context import ServiceContext
from tests.conftest import HostProcess, wait_until
from tests.services.test_positions_service import Desk

OPTION = "NIFTY28DEC2724000CE"  # the small contract's: lot 65


def place(host: HostProcess, key: str, **order: str) -> str:
    body = {"apikey": key, "strategy": "upstream-test", "pricetype": "MARKET", **order}
    answer = httpx.post(f"{host.url}/api/v1/placeorder", json=body, timeout=10).json()
    assert answer["status"] == "success", answer
    return str(answer["orderid"])


def test_the_paper_broker_serves_as_an_upstream(host: HostProcess, ctx: ServiceContext) -> None:
    host.start()
    key = broker_accounts.paper_api_key(ctx)
    bought = place(host, key, symbol="SBIN", exchange="NSE", action="BUY", quantity="10",
                   product="CNC")  # fmt: skip
    sold = place(host, key, symbol=OPTION, exchange="NFO", action="SELL", quantity="65",
                 product="NRML")  # fmt: skip

    broker_accounts.verify_upstream(host.url, key)  # what `broker set-upstream` checks
    broker_accounts.set_upstream(ctx, host.url + "/", key)

    # Positions: ours on broker `openalgo` against the paper account's book.
    desk = Desk(ctx, datetime(2025, 11, 3, 9, 30, tzinfo=INDIA))
    try:
        session = desk.session("desk", broker="openalgo")
        held = desk.enter(session, "SBIN", quantity=10, product="CNC")
    finally:
        desk.close()
    with broker_books.position_books(ctx) as books:
        findings = position_service.reconcile(ctx, books)
        book = books("openalgo")
        assert isinstance(book, OpenAlgoUpstream)
        assert {order["orderid"] for order in book.orders()} == {bought, sold}
    verdicts = [
        (f.symbol, f.product, f.verdict, f.broker_quantity, f.position_ids) for f in findings
    ]
    assert verdicts == [
        (OPTION, "NRML", "orphan", -65, []),
        ("SBIN", "CNC", "matched", 10, [held]),
    ]

    # The contract: the host saw the upstream configured and loaded its instruments by
    # itself (the paper broker's, here), with no --url.
    wait_until(
        lambda: contract_service.status(ctx, "openalgo").is_ready,
        message=f"the openalgo contract; see {host.log_path}",
    )
    view = contract_service.status(ctx, "openalgo")
    assert view.source == f"{host.url}/api/v1/instruments (openalgo)"
    assert view.total_symbols == contract_service.status(ctx, "paper").total_symbols
    assert contract_service.lookup(ctx, "openalgo", OPTION, "NFO").lot_size == 65
    assert key not in host.output()
