"""The paper broker's order endpoints through the API, on a real database and a stopped clock:
fills at the simulated market's prices, the books agreeing with each other, resting and stop
orders, and every order endpoint's answer in OpenAlgo's shape (docs/OPENALGO_API.md 5, 6).

Prices are never hard-coded: each test reads the market (`desk.quote`), which is a pure
function of the instant, so it may also look ahead to know when a resting order must fill.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from algovisor.brokers.paper.market import Quote
from algovisor.brokers.paper.segments import IST
from algovisor.settings import Settings
from tests.api.paper_desk import (
    CALL,
    FUT,
    SBIN,
    STRATEGY,
    Desk,
    crosses,
    dec,
    money,
    open_desk,
    order_body,
)

STARTING_CASH = Decimal(10_000_000)
Steps = list[tuple[datetime, Quote]]


@pytest.fixture
def desk(settings: Settings, tmp_path: Path) -> Iterator[Desk]:
    instance = open_desk(settings, tmp_path)
    yield instance
    instance.close()


def look_ahead(desk: Desk, symbol: tuple[str, str], minutes: int) -> Steps:
    return [(at, desk.quote(symbol, at)) for at in desk.minutes(minutes)]


def first_crossing(path: Steps, hit: Callable[[Quote], bool]) -> int:
    found = [index for index, (_, quote) in enumerate(path) if hit(quote)]
    assert found, "the seeded market never gets there in the look-ahead: widen it"
    return found[0]


def walk(desk: Desk, path: Steps, until: int, order_id: str, before: str) -> dict[str, Any]:
    """Match at every step up to `until`; the order is `before` until then. Its last status."""
    for index, (at, _) in enumerate(path[: until + 1]):
        desk.to(at)
        desk.match()
        status = desk.order(order_id)
        if index < until:
            assert status["order_status"] == before, (index, status)
    return status


# ----- 1. market orders and the books ---------------------------------------------------


def test_market_orders_fill_at_the_touch_and_every_book_agrees(desk: Desk) -> None:
    first = desk.quote()
    buy = desk.place(SBIN, "BUY", 10)
    assert desk.order(buy) == {
        "orderid": buy,
        "symbol": "SBIN",
        "exchange": "NSE",
        "action": "BUY",
        "quantity": 10,
        "price": 0.0,
        "trigger_price": 0.0,
        "pricetype": "MARKET",
        "price_type": "MARKET",
        "product": "MIS",
        "order_status": "complete",
        "average_price": first.ask,
        "filled_quantity": 10,
        "pending_quantity": 0,
        "rejection_reason": "",
        "strategy": STRATEGY,
        "timestamp": "20-Nov-2026 10:30:00",
    }
    assert buy == "26112000000001"
    desk.to_time(10, 35, 15)
    later, call = desk.quote(), desk.quote(CALL)
    sells = [desk.place(SBIN, "SELL", 4), desk.place(SBIN, "SELL", 6)]
    short = desk.place(CALL, "SELL", 65, product="NRML")

    assert desk.trades() == [  # newest first
        trade(short, CALL, "SELL", 65, call.bid, "NRML", "10:35:15"),
        trade(sells[1], SBIN, "SELL", 6, later.bid, "MIS", "10:35:15"),
        trade(sells[0], SBIN, "SELL", 4, later.bid, "MIS", "10:35:15"),
        trade(buy, SBIN, "BUY", 10, first.ask, "MIS", "10:30:00"),
    ]
    book = desk.ok("orderbook")["data"]
    assert [row["orderid"] for row in book["orders"]] == [short, *sells[::-1], buy]
    assert book["statistics"] == {
        "total_buy_orders": 1,
        "total_sell_orders": 3,
        "total_completed_orders": 4,
        "total_open_orders": 0,
        "total_rejected_orders": 0,
    }
    realized = 10 * (dec(later.bid) - dec(first.ask))
    unrealized = -65 * (dec(call.ltp) - dec(call.bid))
    # The closed position stays, with quantity 0 and the day's P&L.
    assert desk.positions() == [
        {
            "symbol": "SBIN",
            "exchange": "NSE",
            "product": "MIS",
            "quantity": 0,
            "average_price": 0.0,
            "ltp": later.ltp,
            "pnl": float(realized.quantize(Decimal("0.01"))),
        },
        {
            "symbol": CALL[0],
            "exchange": "NFO",
            "product": "NRML",
            "quantity": -65,
            "average_price": call.bid,
            "ltp": call.ltp,
            "pnl": float(unrealized.quantize(Decimal("0.01"))),
        },
    ]
    margin = Decimal("0.12") * 24000 * 65  # an option sold blocks 12% of its strike
    assert desk.funds() == {
        "availablecash": money(STARTING_CASH + realized - margin),
        "collateral": "0.00",
        "m2mrealized": money(realized),
        "m2munrealized": money(unrealized),
        "utiliseddebits": money(margin),
    }
    assert desk.ok(
        "openposition", strategy=STRATEGY, symbol=CALL[0], exchange="NFO", product="NRML"
    ) == {
        "status": "success",
        "quantity": -65,
    }


def trade(
    order_id: str,
    symbol: tuple[str, str],
    action: str,
    quantity: int,
    price: float,
    product: str,
    at: str,
) -> dict[str, Any]:
    return {
        "orderid": order_id,
        "tradeid": f"T{order_id}",
        "symbol": symbol[0],
        "exchange": symbol[1],
        "action": action,
        "quantity": quantity,
        "average_price": price,
        "price": price,
        "trade_value": round(quantity * price, 2),
        "product": product,
        "strategy": STRATEGY,
        "timestamp": at,
    }


def test_a_marketable_limit_takes_the_better_price(desk: Desk) -> None:
    quote = desk.quote()
    buy = desk.place(SBIN, "BUY", 10, pricetype="LIMIT", price=round(quote.ask + 5, 2))
    sell = desk.place(SBIN, "SELL", 4, pricetype="LIMIT", price=round(quote.bid - 5, 2))
    assert (desk.order(buy)["average_price"], desk.order(sell)["average_price"]) == (
        quote.ask,
        quote.bid,
    )
    assert [row["price"] for row in desk.trades()] == [quote.bid, quote.ask]


def test_a_cnc_buy_blocks_what_the_shares_cost(desk: Desk) -> None:
    quote = desk.quote()
    desk.place(SBIN, "BUY", 10, product="CNC", pricetype="LIMIT", price=quote.ask + 400)
    [fill] = desk.trades()
    assert fill["price"] == quote.ask
    assert desk.funds()["utiliseddebits"] == money(dec(fill["trade_value"]))


# ----- 2. resting and stop orders -------------------------------------------------------


def test_a_resting_limit_fills_at_its_price_when_the_market_crosses_it(desk: Desk) -> None:
    now = desk.quote()
    path = look_ahead(desk, SBIN, 90)
    # A level the market reaches later, on whichever side it moves away from now.
    low, high = min(quote.ltp for _, quote in path), max(quote.ltp for _, quote in path)
    action, level = ("BUY", low) if low < now.bid else ("SELL", high)
    assert not crosses(action, level, now)
    order_id = desk.place(SBIN, action, 10, pricetype="LIMIT", price=level)
    assert desk.order(order_id)["order_status"] == "open"
    assert desk.funds()["utiliseddebits"] == money(10 * Decimal("0.2") * dec(level))
    assert desk.trades() == []

    when = first_crossing(path, lambda quote: crosses(action, level, quote))
    status = walk(desk, path, when, order_id, before="open")
    assert (status["order_status"], status["average_price"], status["filled_quantity"]) == (
        "complete",
        level,  # the resting order is the maker: its own price
        10,
    )
    filled_at = path[when][0].astimezone(IST)
    assert desk.trades() == [
        trade(order_id, SBIN, action, 10, level, "MIS", f"{filled_at:%H:%M:%S}")
    ]
    assert desk.position(SBIN, "MIS")["quantity"] == (10 if action == "BUY" else -10)
    assert desk.funds()["utiliseddebits"] == money(10 * Decimal("0.2") * dec(level))


def test_stop_orders_wait_for_their_trigger(desk: Desk) -> None:
    now = desk.quote(FUT)
    path = look_ahead(desk, FUT, 90)
    low = min(quote.ltp for _, quote in path)
    assert low < now.ltp
    stop_market = desk.place(FUT, "SELL", 65, product="NRML", pricetype="SL-M", trigger_price=low)
    # An SL whose limit is above the market when it triggers: it then rests as a limit.
    stop_limit = desk.place(
        FUT,
        "SELL",
        65,
        product="NRML",
        pricetype="SL",
        trigger_price=low,
        price=round(now.ltp + 100, 1),
    )
    for order_id in (stop_market, stop_limit):
        assert desk.order(order_id)["order_status"] == "trigger pending"

    when = first_crossing(path, lambda quote: quote.ltp <= low)
    status = walk(desk, path, when, stop_market, before="trigger pending")
    assert (status["order_status"], status["average_price"]) == ("complete", path[when][1].bid)
    triggered = desk.order(stop_limit)
    assert (triggered["order_status"], triggered["pricetype"], triggered["price"]) == (
        "open",
        "SL",
        round(now.ltp + 100, 1),
    )
    # A trigger already crossed fires at once: a BUY stop below the market.
    below = round(desk.quote(FUT).ltp - 50, 1)
    at_once = desk.place(FUT, "BUY", 65, product="NRML", pricetype="SL-M", trigger_price=below)
    assert desk.order(at_once)["average_price"] == desk.quote(FUT).ask


def test_a_working_order_does_not_match_while_its_market_is_closed(desk: Desk) -> None:
    evening = datetime.combine(desk.now().date(), time(20, 0), IST)
    closed = desk.quote(FUT, evening)  # frozen at the 15:30 close
    assert not closed.market_open
    desk.to_time(15, 20)
    # A limit at the close price, placed when the market was on the other side of it.
    before = desk.quote(FUT)
    action = "BUY" if before.ltp > closed.ltp else "SELL"
    assert not crosses(action, closed.ltp, before)
    assert crosses(action, closed.ltp, closed)
    order_id = desk.place(FUT, action, 65, product="NRML", pricetype="LIMIT", price=closed.ltp)
    desk.to_time(20, 0)
    assert desk.match() == 0
    assert desk.order(order_id)["order_status"] == "open"


# ----- 3. the other order endpoints -----------------------------------------------------


def test_modify_changes_quantity_and_price_and_nothing_else(desk: Desk) -> None:
    quote = desk.quote()
    far = round(quote.bid - 50, 2)
    order_id = desk.place(SBIN, "BUY", 10, pricetype="LIMIT", price=far)
    restated = order_body(SBIN, "BUY", 20, pricetype="LIMIT", price="0", orderid=order_id)
    assert desk.post("modifyorder", restated) == (
        200,
        {"status": "success", "orderid": order_id, "message": "Order modified successfully"},
    )
    status = desk.order(order_id)
    assert (status["quantity"], status["price"], status["order_status"]) == (20, far, "open")
    assert desk.funds()["utiliseddebits"] == money(20 * Decimal("0.2") * dec(far))
    desk.ok("modifyorder", restated, price=str(round(far - 1, 2)))
    assert desk.order(order_id)["price"] == round(far - 1, 2)

    refusal = (
        "Symbol, exchange, action and product of an order cannot change; "
        "cancel it and place a new order"
    )
    for change in ({"symbol": CALL[0], "exchange": "NFO"}, {"action": "SELL"}, {"product": "CNC"}):
        assert desk.post("modifyorder", {**restated, **change}) == (
            400,
            {"status": "error", "message": refusal},
        )
    assert desk.order(order_id)["quantity"] == 20

    # Moved through the market, it fills at once, at the touch.
    desk.ok("modifyorder", restated, price=str(round(quote.ask + 5, 2)))
    assert desk.order(order_id)["average_price"] == quote.ask
    assert desk.post("modifyorder", restated) == (
        400,
        {"status": "error", "message": "Cannot modify order in complete status"},
    )
    assert desk.post("modifyorder", restated, orderid="26112099999999") == (
        404,
        {"status": "error", "message": "Order 26112099999999 not found"},
    )


def test_modify_requires_every_field_as_openalgo_does(desk: Desk) -> None:
    order_id = desk.place(SBIN, "BUY", 10, pricetype="LIMIT", price=round(desk.quote().bid - 50, 2))
    body = order_body(SBIN, "BUY", 10, price="0", orderid=order_id)
    del body["pricetype"]
    assert desk.post("modifyorder", body) == (
        400,
        {"status": "error", "message": "{'pricetype': ['Missing data for required field.']}"},
    )
    assert desk.order(order_id)["order_status"] == "open"


def test_cancel_and_cancel_all(desk: Desk) -> None:
    bid = desk.quote().bid
    resting = desk.place(SBIN, "BUY", 10, pricetype="LIMIT", price=round(bid - 50, 2))
    stop = desk.place(SBIN, "BUY", 5, pricetype="SL-M", trigger_price=round(bid + 50, 2))
    filled = desk.place(SBIN, "BUY", 1)
    cancel = {"strategy": STRATEGY, "orderid": resting}
    assert desk.post("cancelorder", cancel) == (
        200,
        {"status": "success", "orderid": resting, "message": "Order cancelled successfully"},
    )
    assert desk.order(resting)["order_status"] == "cancelled"
    assert desk.post("cancelorder", cancel) == (
        400,
        {"status": "error", "message": "Cannot cancel order in cancelled status"},
    )
    assert desk.post("cancelorder", cancel, orderid=filled)[1]["message"] == (
        "Cannot cancel order in complete status"
    )
    assert desk.post("cancelorder", cancel, orderid="nope") == (
        404,
        {"status": "error", "message": "Order nope not found"},
    )
    again = desk.place(SBIN, "SELL", 3, pricetype="LIMIT", price=round(bid + 60, 2))
    assert desk.post("cancelallorder", strategy="another") == (
        200,
        {  # the whole account's, whatever the strategy (as OpenAlgo does)
            "status": "success",
            "message": "Canceled 2 orders. Failed to cancel 0 orders.",
            "canceled_orders": [stop, again],
            "failed_cancellations": [],
        },
    )
    assert desk.post("cancelallorder", strategy=STRATEGY) == (
        200,
        {
            "status": "success",
            "message": "No open orders to cancel",
            "canceled_orders": [],
            "failed_cancellations": [],
        },
    )
    margin = Decimal("0.2") * dec(desk.trades()[0]["price"])  # the one share bought
    assert desk.funds()["utiliseddebits"] == money(margin)


def test_closeposition_squares_off_every_open_position(desk: Desk) -> None:
    assert desk.post("closeposition", strategy=STRATEGY) == (
        200,
        {"status": "success", "message": "No open positions to close"},
    )
    desk.place(SBIN, "BUY", 10)
    desk.place(CALL, "SELL", 65, product="NRML")
    desk.place(SBIN, "BUY", 2, product="CNC")
    desk.place(SBIN, "SELL", 2, product="CNC")  # closed already: nothing to do
    desk.to_time(11, 0)
    sbin, call = desk.quote(), desk.quote(CALL)
    assert desk.post("closeposition", strategy=STRATEGY) == (
        200,
        {
            "status": "success",
            "message": "Closed 2 positions",
            "closed_positions": 2,
            "failed_closures": 0,
        },
    )
    assert {(row["symbol"], row["product"]): row["quantity"] for row in desk.positions()} == {
        ("SBIN", "MIS"): 0,
        (CALL[0], "NRML"): 0,
        ("SBIN", "CNC"): 0,
    }
    closing = {(row["symbol"], row["action"]): row["price"] for row in desk.trades()[:2]}
    assert closing == {("SBIN", "SELL"): sbin.bid, (CALL[0], "BUY"): call.ask}
    assert desk.funds()["utiliseddebits"] == "0.00"


def test_orderstatus_and_openposition(desk: Desk) -> None:
    order_id = desk.place(SBIN, "BUY", 7)
    assert desk.post("orderstatus", orderid=order_id)[0] == 400  # strategy is required
    assert desk.post("orderstatus", strategy=STRATEGY, orderid="26112000000002") == (
        404,
        {"status": "error", "message": "Order 26112000000002 not found"},
    )
    asked = {"strategy": STRATEGY, "exchange": "NSE", "product": "MIS"}
    for symbol, product, quantity in (("sbin", "MIS", 7), ("SBIN", "CNC", 0), ("TCS", "MIS", 0)):
        assert desk.post("openposition", asked, symbol=symbol, product=product) == (
            200,
            {"status": "success", "quantity": quantity},
        )


SMART = "placesmartorder"
MATCHED = {"status": "success", "message": "Positions Already Matched. No Action needed."}
NOTHING = {"status": "success", "message": "No OpenPosition Found. Not placing Exit order."}


def smart(desk: Desk, action: str, quantity: int, size: int) -> dict[str, Any]:
    body = order_body(SBIN, action, quantity, position_size=str(size))
    status, answer = desk.post(SMART, body)
    assert status == 200, answer
    return answer


def placed(desk: Desk, answer: dict[str, Any]) -> tuple[str, int]:
    assert set(answer) == {"status", "orderid"}, answer
    status = desk.order(answer["orderid"])
    return status["action"], status["quantity"]


def held(desk: Desk) -> int:
    return int(desk.paper.net_quantity("SBIN", "NSE", "MIS"))


def test_placesmartorder_follows_openalgos_table(desk: Desk) -> None:
    # position_size == 0 == current, quantity != 0: a fresh trade as asked.
    assert placed(desk, smart(desk, "SELL", 5, 0)) == ("SELL", 5)
    assert held(desk) == -5
    # position_size == current: nothing, with one of two messages.
    assert smart(desk, "BUY", 5, -5) == MATCHED
    # position_size == 0, current < 0: BUY it back, whatever the action says.
    assert placed(desk, smart(desk, "SELL", 1, 0)) == ("BUY", 5)
    assert smart(desk, "BUY", 0, 0) == NOTHING  # position_size == current == 0, quantity 0
    # current == 0: the sign of position_size decides.
    assert placed(desk, smart(desk, "SELL", 1, 8)) == ("BUY", 8)
    # position_size == 0, current > 0: SELL it all.
    assert placed(desk, smart(desk, "BUY", 1, 0)) == ("SELL", 8)
    assert placed(desk, smart(desk, "BUY", 1, -4)) == ("SELL", 4)
    # Otherwise the difference.
    assert placed(desk, smart(desk, "BUY", 1, 6)) == ("BUY", 10)
    assert placed(desk, smart(desk, "BUY", 0, -3)) == ("SELL", 9)
    assert held(desk) == -3
    before = desk.books()
    for field, value, message in (
        ("quantity", "-1", "{'quantity': ['Quantity must be a non-negative number.']}"),
        ("position_size", None, "{'position_size': ['Missing data for required field.']}"),
        ("position_size", "abc", "{'position_size': ['Not a valid number.']}"),
    ):
        body = {**order_body(SBIN, "BUY", 1, position_size="2"), field: value}
        assert desk.post(SMART, body) == (400, {"status": "error", "message": message})
    assert desk.post(SMART, order_body(SBIN, "BUY", 1, position_size="1.5"))[0] == 400
    assert desk.books() == before


def test_placesmartorder_with_quantity_zero_on_a_matched_position(desk: Desk) -> None:
    smart(desk, "BUY", 5, 5)
    assert smart(desk, "BUY", 0, 5) == NOTHING


def test_basketorder_places_buys_first_and_reports_each_item(desk: Desk) -> None:
    items = [
        order_body(SBIN, "SELL", 5),
        order_body(("TCS", "NSE"), "BUY", 1),  # not in the contract: that item's error
        order_body(CALL, "BUY", 65, product="NRML"),
        order_body(SBIN, "BUY", 3),
    ]
    for item in items:
        del item["strategy"]
    answer = desk.ok("basketorder", strategy=STRATEGY, orders=items)
    first = 26112000000001
    assert answer == {
        "status": "success",
        "results": [
            {"symbol": "TCS", "status": "error", "message": "Symbol TCS not found on NSE"},
            {"symbol": CALL[0], "status": "success", "orderid": str(first)},
            {"symbol": "SBIN", "status": "success", "orderid": str(first + 1)},
            {"symbol": "SBIN", "status": "success", "orderid": str(first + 2)},
        ],
    }
    assert desk.order(str(first + 2))["action"] == "SELL"
    assert held(desk) == -2
    before = desk.books()
    bad = [items[0], {**items[3], "quantity": "-1"}]
    status, error = desk.post("basketorder", strategy=STRATEGY, orders=bad)
    assert (status, error["status"]) == (400, "error")
    assert "Quantity must be a positive number." in error["message"]
    for orders in ([], [1, 2], "SBIN", [items[3]] * 101):
        assert desk.post("basketorder", strategy=STRATEGY, orders=orders)[0] == 400
    assert desk.books() == before


def test_a_bad_basket_item_is_reported_as_marshmallow_does(desk: Desk) -> None:
    bad = [order_body(SBIN, "BUY", 1), order_body(SBIN, "BUY", -1)]
    assert desk.post("basketorder", strategy=STRATEGY, orders=bad) == (
        400,
        {
            "status": "error",
            "message": "{'orders': {1: {'quantity': ['Quantity must be a positive number.']}}}",
        },
    )


def test_splitorder_sends_full_orders_then_the_remainder(desk: Desk) -> None:
    answer = desk.ok("splitorder", order_body(SBIN, "BUY", 105, splitsize="20"))
    ids = [f"261120{number:08d}" for number in range(1, 7)]
    assert answer == {
        "status": "success",
        "split_size": 20,
        "total_quantity": 105,
        "results": [
            {
                "order_num": number,
                "quantity": quantity,
                "orderid": ids[number - 1],
                "status": "success",
            }
            for number, quantity in enumerate([20, 20, 20, 20, 20, 5], start=1)
        ],
    }
    assert held(desk) == 105
    # Each child is an order of its own: F&O children must be lots.
    lots = desk.ok("splitorder", order_body(CALL, "BUY", 130, splitsize="50", product="NRML"))
    assert [(row["quantity"], row["status"], row.get("message")) for row in lots["results"]] == [
        (50, "error", "Quantity must be in multiples of lot size 65"),
        (50, "error", "Quantity must be in multiples of lot size 65"),
        (30, "error", "Quantity must be in multiples of lot size 65"),
    ]
    before = desk.books()
    assert desk.post("splitorder", order_body(SBIN, "BUY", 101, splitsize="1")) == (
        400,
        {"status": "error", "message": "Total number of orders would exceed maximum limit of 100"},
    )
    assert desk.post("splitorder", order_body(SBIN, "BUY", 10, splitsize="0")) == (
        400,
        {"status": "error", "message": "{'splitsize': ['Split size must be a positive integer.']}"},
    )
    assert desk.books() == before
    hundred = desk.ok("splitorder", order_body(SBIN, "SELL", 100, splitsize="1"))
    assert len(hundred["results"]) == 100
    assert held(desk) == 5


def test_ping_and_analyzer(desk: Desk) -> None:
    assert desk.ok("ping") == {"status": "success", "data": {"message": "pong", "broker": "paper"}}
    assert desk.ok("analyzer")["data"]["analyze_mode"] is True
    assert desk.post("ping", apikey="av_wrong") == (
        403,
        {"status": "error", "message": "Invalid openalgo apikey"},
    )
