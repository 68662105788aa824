"""The paper broker's orders and trades as OpenAlgo's orderbook, orderstatus and tradebook
give them (docs/OPENALGO_API.md 5.9, 6.2, 6.3): pure formatting, times in IST."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from algovisor.brokers.paper.orders import COMPLETE, OPEN, REJECTED, Fill, Order
from algovisor.brokers.paper.segments import IST


def order_time(order: Order) -> str:
    """OpenAlgo's order timestamp: `28-Aug-2025 09:59:10`, IST."""
    return f"{order.created_at.astimezone(IST):%d-%b-%Y %H:%M:%S}"


def order_row(order: Order) -> dict[str, Any]:
    """One order: the documented fields, and the sandbox's extras (`price_type` too)."""
    return {
        "orderid": order.order_id,
        "symbol": order.symbol,
        "exchange": order.exchange,
        "action": order.action,
        "quantity": order.quantity,
        "price": order.price,
        "trigger_price": order.trigger_price,
        "pricetype": order.pricetype,
        "price_type": order.pricetype,
        "product": order.product,
        "order_status": order.status,
        "average_price": order.average_price,
        "filled_quantity": order.filled_quantity,
        "pending_quantity": order.pending_quantity,
        "rejection_reason": order.rejection_reason,
        "strategy": order.strategy,
        "timestamp": order_time(order),
    }


def orderbook(orders: Iterable[Order]) -> dict[str, Any]:
    """orderbook's `data`: the orders newest first, and the counts OpenAlgo gives."""
    rows = sorted(orders, key=lambda order: order.order_id, reverse=True)
    return {
        "orders": [order_row(order) for order in rows],
        "statistics": {
            "total_buy_orders": sum(order.action == "BUY" for order in rows),
            "total_sell_orders": sum(order.action == "SELL" for order in rows),
            "total_completed_orders": sum(order.status == COMPLETE for order in rows),
            "total_open_orders": sum(order.status == OPEN for order in rows),
            "total_rejected_orders": sum(order.status == REJECTED for order in rows),
        },
    }


def trade_row(fill: Fill) -> dict[str, Any]:
    return {
        "orderid": fill.order_id,
        "tradeid": fill.trade_id,
        "symbol": fill.symbol,
        "exchange": fill.exchange,
        "action": fill.action,
        "quantity": fill.quantity,
        "average_price": fill.price,
        "price": fill.price,
        "trade_value": round(fill.quantity * fill.price, 2),
        "product": fill.product,
        "strategy": fill.strategy,
        "timestamp": f"{fill.at.astimezone(IST):%H:%M:%S}",
    }
