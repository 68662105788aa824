"""`/api/v1/...` orders and account: the paper broker's order, position and fund endpoints.

Request and answer shapes are OpenAlgo's (docs/OPENALGO_API.md sections 5 and 6);
the account behind them is `services.paper_account.PaperAccount`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from fastapi import APIRouter

from algovisor.api.openalgo import Body, OpenAlgoError, endpoint, invalid
from algovisor.brokers.paper import BROKER
from algovisor.brokers.paper import rows as books
from algovisor.brokers.paper.orders import PRICE_TYPES, PRODUCTS, Order, OrderRequest
from algovisor.contracts.records import EXCHANGES
from algovisor.db.limits import MAX_INTEGER
from algovisor.services.paper_account import PaperAccount

router = APIRouter(prefix="/api/v1", include_in_schema=False)

ACTIONS = ("BUY", "SELL", "buy", "sell")
MAX_STRATEGY_LENGTH = 128
MAX_SPLIT_ORDERS = 100
MAX_BASKET_ORDERS = 100


def strategy_of(body: Body) -> str:
    strategy = body.required_text("strategy")
    if len(strategy) > MAX_STRATEGY_LENGTH:
        raise invalid({"strategy": [f"Longer than maximum length {MAX_STRATEGY_LENGTH}."]})
    return strategy


def order_request(
    body: Body,
    strategy: str,
    *,
    quantity_field: str = "quantity",
    quantity_rule: str = "Quantity must be a positive number.",
    minimum: int = 1,
    restated: bool = False,
) -> OrderRequest:
    """An order's fields, checked as OpenAlgo's OrderSchema checks them (then the engine's
    business checks, with the instrument, come in `PaperAccount.place`). A `restated`
    order (modifyorder) must give every term: a default would change the order."""
    exchange = body.choice("exchange", EXCHANGES) or ""
    symbol = body.required_text("symbol").upper()
    action = (body.choice("action", ACTIONS) or "").upper()
    quantity = body.whole(quantity_field, quantity_rule, minimum=minimum)
    pricetype = body.choice("pricetype", PRICE_TYPES, required=restated) or "MARKET"
    product = body.choice("product", PRODUCTS, required=restated) or "MIS"
    if restated:
        body.number("price", required=True)
    price = body.price("price", "Price must be a non-negative number.")
    trigger = body.price("trigger_price", "Trigger price must be a non-negative number.")
    body.whole(
        "disclosed_quantity",
        "Disclosed quantity must be a non-negative integer.",
        minimum=0,
        required=False,
    )
    return OrderRequest(
        symbol=symbol,
        exchange=exchange,
        action=action,
        quantity=quantity,
        pricetype=pricetype,
        product=product,
        price=price,
        trigger_price=trigger,
        strategy=strategy,
    )


def order_id_of(body: Body) -> str:
    """The `orderid` field: a string, or the integer a strategy passed through the client."""
    return body.required_text("orderid")


def placed(order: Order, message: str | None = None) -> dict[str, Any]:
    answer: dict[str, Any] = {"status": "success", "orderid": order.order_id}
    if message:
        answer["message"] = message
    return answer


@endpoint(router, "placeorder")
def placeorder(paper: PaperAccount, body: Body) -> dict[str, Any]:
    return placed(paper.place(order_request(body, strategy_of(body))))


@endpoint(router, "placesmartorder")
def placesmartorder(paper: PaperAccount, body: Body) -> dict[str, Any]:
    """Trade towards `position_size`, OpenAlgo's table (docs/OPENALGO_API.md 5.2)."""
    request = order_request(
        body, strategy_of(body), quantity_rule="Quantity must be a non-negative number.", minimum=0
    )
    target = body.number("position_size", required=True)
    assert target is not None  # noqa: S101 - required
    if not target.is_integer() or abs(target) > MAX_INTEGER:
        raise invalid(
            {"position_size": [f"Position size must be a whole number within ±{MAX_INTEGER}."]}
        )
    outcome = paper.place_smart(request, int(target))
    if isinstance(outcome, str):
        return {"status": "success", "message": outcome}
    return placed(outcome)


@endpoint(router, "basketorder")
def basketorder(paper: PaperAccount, body: Body) -> dict[str, Any]:
    """Every item checked first (one bad item fails the request); BUYs placed before SELLs."""
    strategy = strategy_of(body)
    items = body.items("orders")
    if len(items) > MAX_BASKET_ORDERS:
        raise invalid({"orders": [f"Longer than maximum length {MAX_BASKET_ORDERS}."]})
    requests: list[OrderRequest] = []
    for index, item in enumerate(items):
        try:
            requests.append(order_request(item, strategy))
        except OpenAlgoError as error:
            raise invalid({"orders": {index: error.fields or error.message}}) from error
    ordered = sorted(requests, key=lambda request: request.action != "BUY")
    results = [
        {"symbol": request.symbol, "status": "success", "orderid": outcome.order_id}
        if isinstance(outcome, Order)
        else {"symbol": request.symbol, "status": "error", "message": outcome.message}
        for request, outcome in zip(ordered, paper.place_all(ordered), strict=True)
    ]
    return {"status": "success", "results": results}


@endpoint(router, "splitorder")
def splitorder(paper: PaperAccount, body: Body) -> dict[str, Any]:
    request = order_request(
        body, strategy_of(body), quantity_rule="Total quantity must be a positive number."
    )
    size = body.whole("splitsize", "Split size must be a positive integer.")
    full, rest = divmod(request.quantity, size)
    if full + bool(rest) > MAX_SPLIT_ORDERS:  # checked before the list is made
        raise OpenAlgoError(
            400, f"Total number of orders would exceed maximum limit of {MAX_SPLIT_ORDERS}"
        )
    quantities = [size] * full + ([rest] if rest else [])
    children = [replace(request, quantity=quantity) for quantity in quantities]
    results: list[dict[str, Any]] = []
    for number, (child, outcome) in enumerate(
        zip(children, paper.place_all(children), strict=True), start=1
    ):
        row: dict[str, Any] = {"order_num": number, "quantity": child.quantity}
        if isinstance(outcome, Order):
            row.update(orderid=outcome.order_id, status="success")
        else:
            row.update(status="error", message=outcome.message)
        results.append(row)
    return {
        "status": "success",
        "split_size": size,
        "total_quantity": request.quantity,
        "results": results,
    }


@endpoint(router, "modifyorder")
def modifyorder(paper: PaperAccount, body: Body) -> dict[str, Any]:
    order_id = order_id_of(body)
    request = order_request(body, strategy_of(body), restated=True)
    order = paper.modify(order_id, request)
    return placed(order, "Order modified successfully")


@endpoint(router, "cancelorder")
def cancelorder(paper: PaperAccount, body: Body) -> dict[str, Any]:
    order_id = order_id_of(body)
    strategy_of(body)
    return placed(paper.cancel(order_id), "Order cancelled successfully")


@endpoint(router, "cancelallorder")
def cancelallorder(paper: PaperAccount, body: Body) -> dict[str, Any]:
    strategy_of(body)
    cancelled = [order.order_id for order in paper.cancel_all()]
    message = (
        f"Canceled {len(cancelled)} orders. Failed to cancel 0 orders."
        if cancelled
        else "No open orders to cancel"
    )
    return {
        "status": "success",
        "message": message,
        "canceled_orders": cancelled,
        "failed_cancellations": [],
    }


@endpoint(router, "closeposition")
def closeposition(paper: PaperAccount, body: Body) -> dict[str, Any]:
    closed, failures = paper.close_all(strategy_of(body))
    if not closed and not failures:
        return {"status": "success", "message": "No open positions to close"}
    answer: dict[str, Any] = {
        "status": "success",
        "message": f"Closed {closed} positions",
        "closed_positions": closed,
        "failed_closures": len(failures),
    }
    if failures:
        answer["message"] += f"; {len(failures)} failed: " + "; ".join(failures)
    return answer


@endpoint(router, "orderstatus")
def orderstatus(paper: PaperAccount, body: Body) -> dict[str, Any]:
    order_id = order_id_of(body)
    strategy_of(body)
    return {"status": "success", "data": books.order_row(paper.order(order_id))}


@endpoint(router, "openposition")
def openposition(paper: PaperAccount, body: Body) -> dict[str, Any]:
    strategy_of(body)
    exchange = body.choice("exchange", EXCHANGES) or ""
    symbol = body.required_text("symbol").upper()
    product = body.choice("product", PRODUCTS) or ""
    return {"status": "success", "quantity": paper.net_quantity(symbol, exchange, product)}


@endpoint(router, "orderbook")
def orderbook(paper: PaperAccount, body: Body) -> dict[str, Any]:
    return {"status": "success", "data": books.orderbook(paper.todays_orders())}


@endpoint(router, "tradebook")
def tradebook(paper: PaperAccount, body: Body) -> dict[str, Any]:
    fills = sorted(paper.todays_fills(), key=lambda fill: fill.trade_id, reverse=True)
    return {"status": "success", "data": [books.trade_row(fill) for fill in fills]}


@endpoint(router, "positionbook")
def positionbook(paper: PaperAccount, body: Body) -> dict[str, Any]:
    return {"status": "success", "data": paper.positionbook()}


@endpoint(router, "holdings")
def holdings(paper: PaperAccount, body: Body) -> dict[str, Any]:
    return {"status": "success", "data": paper.holdings()}


@endpoint(router, "funds")
def funds(paper: PaperAccount, body: Body) -> dict[str, Any]:
    return {"status": "success", "data": paper.funds().row()}


@endpoint(router, "ping")
def ping(paper: PaperAccount, body: Body) -> dict[str, Any]:
    return {"status": "success", "data": {"message": "pong", "broker": BROKER}}


@endpoint(router, "analyzer")
def analyzer(paper: PaperAccount, body: Body) -> dict[str, Any]:
    """The paper broker is always in OpenAlgo's "analyze" (simulated) mode."""
    return {"status": "success", "data": {"analyze_mode": True, "mode": "analyze", "total_logs": 0}}
