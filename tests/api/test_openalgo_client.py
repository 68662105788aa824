"""The real `openalgo` package drives every paper-broker endpoint of a running host, and a
host restart (clean or `kill -9`) keeps orders, trades, positions and funds.

The host runs on the wall clock, so these tests avoid what the time of day decides:
no MIS (a square-off may fall inside the test) and resting LIMIT orders far from
the price (they never cross).
"""

from __future__ import annotations

import signal
from typing import Any

import pytest

from algovisor.services import broker_accounts
from algovisor.services.context import ServiceContext
from tests.conftest import HostProcess

OPTION = "NIFTY28DEC2724000CE"  # the small contract's: lot 65, tick 0.05


@pytest.fixture
def client(host: HostProcess, ctx: ServiceContext) -> Any:
    from openalgo import api

    host.start()
    return api(api_key=broker_accounts.paper_api_key(ctx), host=host.url)


def ok(answer: Any) -> Any:
    assert isinstance(answer, dict), answer
    assert answer["status"] == "success", answer
    return answer


def books(client: Any) -> dict[str, Any]:
    """Everything a restart must keep, as the client reads it."""
    return {
        "orders": ok(client.orderbook())["data"],
        "trades": ok(client.tradebook())["data"],
        "positions": ok(client.positionbook())["data"],
        "holdings": ok(client.holdings())["data"]["holdings"],
        "cash": ok(client.funds())["data"]["availablecash"],
        "margin": ok(client.funds())["data"]["utiliseddebits"],
    }


def without_prices(snapshot: dict[str, Any]) -> dict[str, Any]:
    """The books without what moves with the market (LTP, P&L)."""
    moving = {"ltp", "pnl", "pnlpercent"}
    return {
        name: [{k: v for k, v in row.items() if k not in moving} for row in value]
        if isinstance(value, list)
        else value
        for name, value in snapshot.items()
        if name != "orders"
    } | {"orders": snapshot["orders"]["orders"]}


def test_every_order_and_account_endpoint_through_the_openalgo_package(client: Any) -> None:
    quote = ok(client.quotes(symbol="SBIN", exchange="NSE"))["data"]
    bought = ok(
        client.placeorder(symbol="SBIN", exchange="NSE", action="BUY", quantity=10, product="CNC")
    )
    status = ok(client.orderstatus(order_id=bought["orderid"]))["data"]
    assert (status["order_status"], status["quantity"], status["action"]) == ("complete", 10, "BUY")
    assert status["average_price"] >= quote["bid"]
    assert ok(client.openposition(symbol="SBIN", exchange="NSE", product="CNC"))["quantity"] == 10

    # A resting limit, modified, then cancelled.
    far = round(quote["ltp"] * 0.5, 1)
    resting = ok(
        client.placeorder(
            symbol="SBIN",
            exchange="NSE",
            action="BUY",
            quantity=1,
            product="CNC",
            price_type="LIMIT",
            price=far,
        )
    )["orderid"]
    assert ok(client.orderstatus(order_id=resting))["data"]["order_status"] == "open"
    ok(
        client.modifyorder(
            order_id=resting,
            symbol="SBIN",
            exchange="NSE",
            action="BUY",
            product="CNC",
            price_type="LIMIT",
            quantity=2,
            price=far - 1,
        )
    )
    modified = ok(client.orderstatus(order_id=resting))["data"]
    assert (modified["quantity"], modified["price"]) == (2, far - 1)
    ok(client.cancelorder(order_id=resting))
    again = client.cancelorder(order_id=resting)
    assert again["status"] == "error"
    assert "Cannot cancel order in cancelled status" in again["message"]

    # Smart, basket and split orders on an option (NRML, lot 65).
    smart = ok(
        client.placesmartorder(
            symbol=OPTION, exchange="NFO", action="SELL", quantity=0, position_size=-65,
            product="NRML",
        )
    )  # fmt: skip
    assert "orderid" in smart
    matched = ok(
        client.placesmartorder(
            symbol=OPTION, exchange="NFO", action="SELL", quantity=0, position_size=-65,
            product="NRML",
        )
    )  # fmt: skip
    assert matched["message"] == "No OpenPosition Found. Not placing Exit order."
    basket = ok(
        client.basketorder(
            orders=[
                {"symbol": OPTION, "exchange": "NFO", "action": "SELL", "quantity": 65,
                 "pricetype": "MARKET", "product": "NRML"},
                {"symbol": OPTION, "exchange": "NFO", "action": "BUY", "quantity": 10,
                 "pricetype": "MARKET", "product": "NRML"},
            ]
        )
    )  # fmt: skip
    assert [row["status"] for row in basket["results"]] == ["error", "success"]
    assert "lot size 65" in basket["results"][0]["message"]  # the BUY, placed first
    split = ok(
        client.splitorder(
            symbol=OPTION, exchange="NFO", action="SELL", quantity=130, splitsize=65,
            product="NRML",
        )
    )  # fmt: skip
    assert [row["quantity"] for row in split["results"]] == [65, 65]
    assert (
        ok(client.openposition(symbol=OPTION, exchange="NFO", product="NRML"))["quantity"] == -260
    )

    # A working order for cancelallorder, then the books.
    ok(
        client.placeorder(
            symbol="SBIN", exchange="NSE", action="BUY", quantity=1, product="CNC",
            price_type="LIMIT", price=far,
        )
    )  # fmt: skip
    cancelled = ok(client.cancelallorder())
    assert len(cancelled["canceled_orders"]) == 1
    orderbook = ok(client.orderbook())["data"]
    assert orderbook["statistics"]["total_open_orders"] == 0
    assert orderbook["statistics"]["total_completed_orders"] == 5  # buy, smart, basket, split x2
    trades = ok(client.tradebook())["data"]
    assert len(trades) == 5
    positions = {row["symbol"]: row for row in ok(client.positionbook())["data"]}
    assert positions["SBIN"]["quantity"] == 10
    assert positions[OPTION]["quantity"] == -260
    holdings = ok(client.holdings())["data"]
    # No T+1 in the paper broker: delivery shares are holdings at once.
    assert [(row["symbol"], row["quantity"]) for row in holdings["holdings"]] == [("SBIN", 10)]
    funds = ok(client.funds())["data"]
    assert float(funds["utiliseddebits"]) > 0
    assert float(funds["availablecash"]) < 10_000_000

    # closeposition squares everything off at the market.
    closed = ok(client.closeposition())
    assert closed["closed_positions"] == 2
    assert all(row["quantity"] == 0 for row in ok(client.positionbook())["data"])

    # The market data and symbol endpoints, as a strategy calls them.
    many = ok(
        client.multiquotes(
            symbols=[{"symbol": "SBIN", "exchange": "NSE"}, {"symbol": OPTION, "exchange": "NFO"}]
        )
    )
    assert len(many["results"]) == 2
    assert len(ok(client.depth(symbol="SBIN", exchange="NSE"))["data"]["bids"]) == 5
    frame = client.instruments(exchange="NFO")
    assert set(frame["symbol"]) >= {OPTION, "NIFTY28DEC27FUT"}
    assert ok(client.analyzerstatus())["data"]["analyze_mode"] is True


def test_bad_requests_come_back_as_openalgo_errors(client: Any) -> None:
    cases = [
        client.placeorder(symbol="NOPE", exchange="NSE", action="BUY", quantity=1),
        client.placeorder(symbol=OPTION, exchange="NFO", action="BUY", quantity=10, product="NRML"),
        client.placeorder(
            symbol="SBIN", exchange="NSE", action="BUY", quantity=1, price_type="LIMIT",
            price=100.03,
        ),
        client.placeorder(symbol="SBIN", exchange="NSE", action="BUY", quantity=-5),
        client.placeorder(symbol="SBIN", exchange="XNSE", action="BUY", quantity=1),
        client.orderstatus(order_id="26010100000001"),
    ]  # fmt: skip
    codes = [case.get("code") for case in cases]
    assert codes == [400, 400, 400, 400, 400, 404], cases
    assert all(case["status"] == "error" for case in cases)
    assert ok(client.orderbook())["data"]["orders"] == []


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGKILL])
def test_a_host_restart_keeps_orders_positions_and_funds(
    host: HostProcess, client: Any, signum: int
) -> None:
    ok(client.placeorder(symbol="SBIN", exchange="NSE", action="BUY", quantity=7, product="CNC"))
    ok(
        client.placeorder(
            symbol=OPTION, exchange="NFO", action="SELL", quantity=130, product="NRML"
        )
    )
    ltp = ok(client.quotes(symbol="SBIN", exchange="NSE"))["data"]["ltp"]
    resting = ok(
        client.placeorder(
            symbol="SBIN", exchange="NSE", action="BUY", quantity=3, product="CNC",
            price_type="LIMIT", price=round(ltp * 0.5, 1),
        )
    )["orderid"]  # fmt: skip
    before = books(client)

    host.kill(signum)
    host.start()

    after = books(client)
    assert without_prices(after) == without_prices(before)
    assert ok(client.orderstatus(order_id=resting))["data"]["order_status"] == "open"
    # Numbering goes on after the last order, and the resting one can still be cancelled.
    later = ok(
        client.placeorder(symbol="SBIN", exchange="NSE", action="BUY", quantity=1, product="CNC")
    )["orderid"]
    assert later > resting
    ok(client.cancelorder(order_id=resting))
