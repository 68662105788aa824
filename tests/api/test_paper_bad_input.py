"""Bad input to the paper broker's order endpoints: each answered in OpenAlgo's shape with a
4xx, never a 500, and nothing changed (order book, trade book, positions, holdings, funds
and the stored rows are the same before and after). The one exception is OpenAlgo's: a CNC
sell without the shares is recorded as a rejected order and its id is in the answer.
"""

from __future__ import annotations

import json
import tracemalloc
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from algovisor.contracts.records import EXCHANGES
from algovisor.settings import Settings
from tests.api.paper_desk import CALL, SBIN, STRATEGY, Desk, dec, money, open_desk, order_body


@pytest.fixture
def desk(settings: Settings, tmp_path: Path) -> Iterator[Desk]:
    """An account with a fill, a short option and a resting order: something to change."""
    instance = open_desk(settings, tmp_path)
    instance.place(SBIN, "BUY", 10)
    instance.place(CALL, "SELL", 65, product="NRML")
    instance.place(SBIN, "BUY", 5, pricetype="LIMIT", price=round(instance.quote().bid - 40, 2))
    yield instance
    instance.close()


def error(message: str) -> dict[str, str]:
    return {"status": "error", "message": message}


def field(name: str, message: str) -> dict[str, str]:
    return error(str({name: [message]}))


VALID = order_body(SBIN, "BUY", 1)
MISSING = "Missing data for required field."
NOT_A_NUMBER = "Not a valid number."
POSITIVE = "Quantity must be a positive number."
MOST = "Must be at most 2147483647."

# (what is wrong, the fields changed (None: removed), status, answer)
BAD_ORDERS: list[tuple[str, dict[str, Any], int, dict[str, str]]] = [
    ("no key", {"apikey": None}, 400, field("apikey", MISSING)),
    ("wrong key", {"apikey": "av_wrong"}, 403, error("Invalid openalgo apikey")),
    ("no strategy", {"strategy": None}, 400, field("strategy", MISSING)),
    (
        "long strategy",
        {"strategy": "s" * 129},
        400,
        field("strategy", "Longer than maximum length 128."),
    ),
    ("no symbol", {"symbol": None}, 400, field("symbol", MISSING)),
    ("unknown symbol", {"symbol": "TCS"}, 400, error("Symbol TCS not found on NSE")),
    (
        "unknown exchange",
        {"exchange": "XNSE"},
        400,
        field("exchange", f"Must be one of: {', '.join(EXCHANGES)}."),
    ),
    (
        "an index",
        {"symbol": "NIFTY", "exchange": "NSE_INDEX"},
        400,
        error(
            "NIFTY on NSE_INDEX is an index and cannot be traded. "
            "Trade its futures or options instead."
        ),
    ),
    ("no action", {"action": None}, 400, field("action", MISSING)),
    (
        "unknown action",
        {"action": "HOLD"},
        400,
        field("action", "Must be one of: BUY, SELL, buy, sell."),
    ),
    (
        "unknown pricetype",
        {"pricetype": "STOP"},
        400,
        field("pricetype", "Must be one of: MARKET, LIMIT, SL, SL-M."),
    ),
    ("no quantity", {"quantity": None}, 400, field("quantity", MISSING)),
    ("negative quantity", {"quantity": "-5"}, 400, field("quantity", POSITIVE)),
    ("zero quantity", {"quantity": 0}, 400, field("quantity", POSITIVE)),
    (
        "fractional quantity",
        {"quantity": "1.5"},
        400,
        field("quantity", "Fractional quantity (1.5) is not allowed for non-crypto exchanges."),
    ),
    ("huge quantity", {"quantity": 2**31}, 400, field("quantity", MOST)),
    ("huge float quantity", {"quantity": 1e300}, 400, field("quantity", MOST)),
    ("boolean quantity", {"quantity": True}, 400, field("quantity", NOT_A_NUMBER)),
    (
        "NaN quantity",
        {"quantity": "NaN"},
        400,
        field("quantity", "Special numeric values (nan or infinity) are not permitted."),
    ),
    ("text quantity", {"quantity": "ten"}, 400, field("quantity", NOT_A_NUMBER)),
    (
        "not a lot",
        {"symbol": CALL[0], "exchange": "NFO", "product": "NRML", "quantity": "10"},
        400,
        error("Quantity must be in multiples of lot size 65"),
    ),
    (
        "price off the tick",
        {"pricetype": "LIMIT", "price": "1011.03"},
        400,
        error("Price 1011.03 is not a multiple of tick size 0.05"),
    ),
    (
        "trigger off the tick",
        {"pricetype": "SL-M", "trigger_price": "1011.07"},
        400,
        error("Trigger price 1011.07 is not a multiple of tick size 0.05"),
    ),
    ("limit without price", {"pricetype": "LIMIT"}, 400, error("LIMIT orders require price")),
    (
        "SL without trigger",
        {"pricetype": "SL", "price": "1000"},
        400,
        error("SL orders require trigger_price"),
    ),
    (
        "SL-M without trigger",
        {"pricetype": "SL-M"},
        400,
        error("SL-M orders require trigger_price"),
    ),
    (
        "negative price",
        {"price": "-1"},
        400,
        field("price", "Price must be a non-negative number."),
    ),
    (
        "negative disclosed quantity",
        {"disclosed_quantity": "-1"},
        400,
        field("disclosed_quantity", "Disclosed quantity must be a non-negative integer."),
    ),
    (
        "NRML on NSE",
        {"product": "NRML"},
        400,
        error(
            "NRML product not allowed for NSE equity segment. "
            "Use CNC for delivery or MIS for intraday."
        ),
    ),
    (
        "CNC on NFO",
        {"symbol": CALL[0], "exchange": "NFO", "product": "CNC", "quantity": "65"},
        400,
        error(
            "CNC product not allowed for NFO derivatives segment. "
            "Use NRML for carryforward or MIS for intraday."
        ),
    ),
]


def test_bad_orders_are_refused_in_openalgos_shape_and_change_nothing(desk: Desk) -> None:
    before, stored = desk.books(), desk.stored()
    for case, changes, status, answer in BAD_ORDERS:
        body = {**VALID, "apikey": desk.key, **changes}
        body = {key: value for key, value in body.items() if value is not None}
        response = desk.client.post("/api/v1/placeorder", json=body)
        assert (response.status_code, response.json()) == (status, answer), case
    assert desk.books() == before
    assert desk.stored() == stored


def test_bodies_that_are_not_an_order_and_unknown_order_ids(desk: Desk) -> None:
    before, stored = desk.books(), desk.stored()
    schema = field("_schema", "Invalid input type.")
    for content, answer in (
        (b"[1, 2]", schema),
        (b'"placeorder"', schema),
        (b"", schema),
        (json.dumps({**VALID, "apikey": desk.key, "quantity": float("nan")}).encode(), None),
    ):
        response = desk.client.post("/api/v1/placeorder", content=content)
        assert response.status_code == 400, content
        if answer is not None:
            assert response.json() == answer
    malformed = desk.client.post("/api/v1/placeorder", content=b'{"apikey": "x", ')
    assert malformed.status_code == 400
    assert malformed.json()["message"].startswith("Invalid JSON body: ")
    unknown = "26112000009999"
    missing = (404, error(f"Order {unknown} not found"))
    assert desk.post("cancelorder", strategy=STRATEGY, orderid=unknown) == missing
    assert desk.post("orderstatus", strategy=STRATEGY, orderid=unknown) == missing
    modify = order_body(SBIN, "BUY", 1, pricetype="LIMIT", price="1000", orderid=unknown)
    assert desk.post("modifyorder", modify) == missing
    assert desk.post("cancelorder", strategy=STRATEGY) == (400, field("orderid", MISSING))
    assert desk.books() == before
    assert desk.stored() == stored


HOSTILE: list[Any] = [
    {"$gt": ""},
    ["SBIN", "NSE"],
    "A" * 100_000,
    "€ü𝕊𝔹𝕀ℕ" * 200,
    True,
]
PLACEORDER_FIELDS = [
    "apikey",
    "strategy",
    "exchange",
    "symbol",
    "action",
    "quantity",
    "pricetype",
    "product",
    "price",
    "trigger_price",
    "disclosed_quantity",
]


def test_hostile_values_in_every_field_are_a_4xx_never_a_500(desk: Desk) -> None:
    before, stored = desk.books(), desk.stored()
    base = {**VALID, "apikey": desk.key, "pricetype": "LIMIT", "price": "1000"}
    for name in PLACEORDER_FIELDS:
        for value in HOSTILE:
            response = desk.client.post("/api/v1/placeorder", json={**base, name: value})
            assert 400 <= response.status_code < 500, (name, str(value)[:40], response.text[:200])
            answer = response.json()
            assert answer["status"] == "error"
            assert isinstance(answer["message"], str)
    assert desk.books() == before
    assert desk.stored() == stored


def with_quantity(desk: Desk, literal: str) -> bytes:
    """A valid placeorder body whose quantity is the JSON number `literal`, as written."""
    body = json.dumps({**VALID, "apikey": desk.key, "quantity": "QUANTITY"})
    return body.replace('"QUANTITY"', literal).encode()


def test_an_integer_too_big_for_a_float_is_a_400(desk: Desk) -> None:
    before = desk.books()
    response = desk.client.post("/api/v1/placeorder", content=with_quantity(desk, "1" + "0" * 400))
    assert (response.status_code, response.json()) == (400, field("quantity", NOT_A_NUMBER))
    assert desk.books() == before


def test_an_integer_over_pythons_digit_limit_is_a_400(desk: Desk) -> None:
    before = desk.books()
    response = desk.client.post("/api/v1/placeorder", content=with_quantity(desk, "9" * 5000))
    assert response.status_code == 400, response.text
    assert response.json()["status"] == "error"
    assert desk.books() == before


def test_a_nul_character_is_a_bad_request(desk: Desk) -> None:
    for name, value in (("symbol", "SBIN\x00"), ("strategy", "trend\x00")):
        status, answer = desk.post("placeorder", {**VALID, name: value})
        assert (status, answer["status"]) == (400, "error"), (name, answer)


def test_splitorder_refuses_too_many_orders_before_building_them(desk: Desk) -> None:
    tracemalloc.start()
    try:
        answer = desk.post("splitorder", order_body(SBIN, "BUY", 5_000_000, splitsize="1"))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert answer[0] == 400
    assert peak < 20 * 2**20, f"{peak / 2**20:.0f} MiB for a request refused"


# ----- refusals that depend on the account ----------------------------------------------


def test_insufficient_funds(settings: Settings, tmp_path: Path) -> None:
    desk = open_desk(settings, tmp_path, paper_starting_cash=1000)
    try:
        ask = dec(desk.quote().ask)
        resting = round(desk.quote().bid - 100, 2)
        desk.place(SBIN, "BUY", 2, pricetype="LIMIT", price=resting)  # blocks 20% of 2 x price
        blocked = 2 * Decimal("0.2") * dec(resting)
        before, stored = desk.books(), desk.stored()
        assert before["funds"]["availablecash"] == money(1000 - blocked)
        required = 10 * Decimal("0.2") * ask
        available = 1000 - blocked
        assert desk.post("placeorder", order_body(SBIN, "BUY", 10)) == (
            400,
            error(
                f"Insufficient funds. Required: ₹{money(required)}, "
                f"Available: ₹{money(available)}, Shortage: ₹{money(required - available)}"
            ),
        )
        assert desk.books() == before
        assert desk.stored() == stored
    finally:
        desk.close()


def test_a_cnc_sell_without_shares_is_recorded_as_rejected(desk: Desk) -> None:
    before, (orders, trades) = desk.books(), desk.stored()
    status, answer = desk.post("placeorder", order_body(SBIN, "SELL", 3, product="CNC"))
    assert (status, answer) == (
        400,
        {
            "status": "error",
            "message": "Cannot sell SBIN in CNC. No positions or holdings available. "
            "CNC (delivery) requires existing shares. Use MIS for intraday short selling.",
            "orderid": "26112000000004",
        },
    )
    rejected = desk.order(answer["orderid"])
    assert (rejected["order_status"], rejected["rejection_reason"]) == (
        "rejected",
        answer["message"],
    )
    after = desk.books()
    assert after["orderbook"]["statistics"]["total_rejected_orders"] == 1
    assert after["orderbook"]["orders"][0]["orderid"] == answer["orderid"]
    assert {key: after[key] for key in ("tradebook", "positionbook", "holdings", "funds")} == {
        key: before[key] for key in ("tradebook", "positionbook", "holdings", "funds")
    }
    assert desk.stored() == (orders + 1, trades)
    desk.place(SBIN, "BUY", 2, product="CNC")
    assert desk.post("placeorder", order_body(SBIN, "SELL", 5, product="CNC"))[1]["message"] == (
        "Cannot sell 5 shares of SBIN in CNC. Only 2 shares available"
    )
