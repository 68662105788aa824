"""The paper broker's order engine and books: pure, on hand-made instruments and quotes.

Every number below is worked out by hand in the comments next to it.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import pytest

from algovisor.brokers.paper.ledger import (
    InsufficientFundsError,
    PositionBook,
    account_funds,
    check_funds,
    closing_orders,
    cnc_sell_rejection,
    square_off_mis,
    working_margin,
)
from algovisor.brokers.paper.market import Quote, SimulatedMarket
from algovisor.brokers.paper.orders import (
    CANCELLED,
    COMPLETE,
    OPEN,
    REJECTED,
    TRIGGER_PENDING,
    Fill,
    Order,
    OrderChanges,
    OrderRequest,
    PaperOrderError,
    cancel,
    check_order,
    format_order_id,
    modify,
    on_price,
    place,
    rejected,
)
from algovisor.contracts.records import Instrument
from algovisor.errors import InvalidInputError
from algovisor.schedule.calendar import INDIA

DAY = date(2026, 3, 4)  # a Wednesday
EXPIRY = date(2026, 3, 31)


def instrument(
    symbol: str,
    exchange: str,
    kind: str,
    *,
    lot: int = 1,
    tick: float = 0.05,
    strike: float | None = None,
    name: str = "NIFTY",
) -> Instrument:
    return Instrument(
        symbol=symbol,
        broker_symbol=symbol,
        name=name if kind != "EQ" else symbol,
        exchange=exchange,
        broker_exchange=exchange,
        token="1",
        expiry=EXPIRY if kind in ("FUT", "CE", "PE") else None,
        strike=strike,
        lot_size=lot,
        instrument_type=kind,
        tick_size=tick,
    )


SBIN = instrument("SBIN", "NSE", "EQ")
SBIN_BSE = instrument("SBIN", "BSE", "EQ")
FUT = instrument("NIFTY31MAR26FUT", "NFO", "FUT", lot=65, tick=0.1)
CE = instrument("NIFTY31MAR2624000CE", "NFO", "CE", lot=65, strike=24000.0)
PE = instrument("NIFTY31MAR2624000PE", "NFO", "PE", lot=65, strike=24000.0)
NIFTY = instrument("NIFTY", "NSE_INDEX", "INDEX", tick=0.05)
USDINR = instrument("USDINR27MAR26FUT", "CDS", "FUT", lot=1, tick=0.0025, name="USDINR")
CRUDE = instrument("CRUDEOIL19MAR26FUT", "MCX", "FUT", lot=100, tick=1.0, name="CRUDEOIL")


def at(hour: int = 10, minute: int = 0, day: date = DAY) -> datetime:
    return datetime.combine(day, time(hour, minute), INDIA)


def quote(ltp: float, bid: float | None = None, ask: float | None = None) -> Quote:
    return Quote(
        ltp=ltp,
        bid=ltp if bid is None else bid,
        ask=ltp if ask is None else ask,
        open=ltp,
        high=ltp,
        low=ltp,
        prev_close=ltp,
        volume=0,
        oi=0,
        last_quantity=0,
        market_open=True,
        as_of=at(),
    )


def ids(start: int = 1) -> Callable[[], int]:
    return itertools.count(start).__next__


def buy(row: Instrument, quantity: int, **terms: Any) -> OrderRequest:
    return OrderRequest(row.symbol, row.exchange, "BUY", quantity, **terms)


def sell(row: Instrument, quantity: int, **terms: Any) -> OrderRequest:
    return OrderRequest(row.symbol, row.exchange, "SELL", quantity, **terms)


def fill(
    row: Instrument,
    action: str,
    quantity: int,
    price: float,
    product: str = "MIS",
    *,
    when: datetime | None = None,
    margin_per_unit: float = 0.0,
) -> Fill:
    return Fill(
        trade_id="T",
        order_id="O",
        symbol=row.symbol,
        exchange=row.exchange,
        product=product,
        action=action,
        quantity=quantity,
        price=price,
        at=when or at(),
        margin_per_unit=margin_per_unit,
    )


# -- validation -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("row", "request_", "message"),
    [
        (SBIN, buy(SBIN, 0), "Quantity must be positive"),
        (SBIN, buy(SBIN, -5), "Quantity must be positive"),
        (SBIN, replace(buy(SBIN, 1), action="HOLD"), "Invalid action. Must be BUY or SELL"),
        (
            SBIN,
            buy(SBIN, 1, pricetype="STOP"),
            "Invalid price_type. Must be MARKET, LIMIT, SL, or SL-M",
        ),
        (SBIN, buy(SBIN, 1, product="BO"), "Invalid product. Must be CNC, NRML, or MIS"),
        (FUT, buy(FUT, 100), "Quantity must be in multiples of lot size 65"),
        (CE, sell(CE, 64, product="NRML"), "Quantity must be in multiples of lot size 65"),
        (CRUDE, buy(CRUDE, 150), "Quantity must be in multiples of lot size 100"),
        (
            SBIN,
            buy(SBIN, 1, pricetype="LIMIT", price=100.03),
            "Price 100.03 is not a multiple of tick size 0.05",
        ),
        (
            FUT,
            buy(FUT, 65, pricetype="LIMIT", price=24100.05),
            "Price 24100.05 is not a multiple of tick size 0.1",
        ),
        (
            SBIN,
            sell(SBIN, 1, pricetype="SL-M", trigger_price=99.99),
            "Trigger price 99.99 is not a multiple of tick size 0.05",
        ),
        (
            SBIN,
            sell(SBIN, 1, pricetype="SL", price=99.9, trigger_price=100.01),
            "Trigger price 100.01 is not a multiple of tick size 0.05",
        ),
        (SBIN, buy(SBIN, 1, pricetype="LIMIT"), "LIMIT orders require price"),
        (SBIN, buy(SBIN, 1, pricetype="SL", trigger_price=100.0), "SL orders require price"),
        (SBIN, buy(SBIN, 1, pricetype="LIMIT", price=-1.0), "Price must be positive"),
        (SBIN, buy(SBIN, 1, pricetype="LIMIT", price=float("nan")), "Invalid price"),
        (SBIN, buy(SBIN, 1, pricetype="LIMIT", price=float("inf")), "Invalid price"),
        (
            SBIN,
            sell(SBIN, 1, pricetype="SL-M", trigger_price=float("nan")),
            "Invalid trigger_price",
        ),
        (SBIN, buy(SBIN, 1, pricetype="SL-M"), "SL-M orders require trigger_price"),
        (SBIN, buy(SBIN, 1, pricetype="SL", price=100.0), "SL orders require trigger_price"),
        (
            SBIN,
            buy(SBIN, 1, pricetype="SL-M", trigger_price=-2.0),
            "Trigger price must be positive",
        ),
        (
            SBIN,
            buy(SBIN, 1, product="NRML"),
            "NRML product not allowed for NSE equity segment. "
            "Use CNC for delivery or MIS for intraday.",
        ),
        (
            SBIN_BSE,
            buy(SBIN_BSE, 1, product="NRML"),
            "NRML product not allowed for BSE equity segment. "
            "Use CNC for delivery or MIS for intraday.",
        ),
        (
            FUT,
            buy(FUT, 65, product="CNC"),
            "CNC product not allowed for NFO derivatives segment. "
            "Use NRML for carryforward or MIS for intraday.",
        ),
        (
            USDINR,
            buy(USDINR, 1, product="CNC"),
            "CNC product not allowed for CDS derivatives segment. "
            "Use NRML for carryforward or MIS for intraday.",
        ),
        (
            NIFTY,
            buy(NIFTY, 1),
            "NIFTY on NSE_INDEX is an index and cannot be traded. "
            "Trade its futures or options instead.",
        ),
    ],
)
def test_check_order_refuses_with_openalgo_texts(row, request_, message):
    with pytest.raises(PaperOrderError) as raised:
        check_order(request_, row)
    assert str(raised.value) == message
    assert isinstance(raised.value, InvalidInputError)  # the API answers 400
    # place refuses the same way, and takes no order number for it.
    counter = itertools.count(1)
    with pytest.raises(PaperOrderError) as raised:
        place(request_, row, quote(100.0), at(), counter.__next__)
    assert str(raised.value) == message
    assert next(counter) == 1


@pytest.mark.parametrize(
    ("row", "request_"),
    [
        (SBIN, buy(SBIN, 1)),
        (SBIN, buy(SBIN, 7, product="CNC", pricetype="LIMIT", price=100.05)),
        (FUT, sell(FUT, 130, product="NRML", pricetype="SL", price=24100.1, trigger_price=24100.2)),
        (CE, buy(CE, 65, pricetype="SL-M", trigger_price=120.55)),
        (USDINR, buy(USDINR, 3, pricetype="LIMIT", price=83.2525, product="NRML")),
        (CRUDE, sell(CRUDE, 200, pricetype="LIMIT", price=6120.0)),
        # MARKET ignores a price sent along with it, on the tick or not.
        (SBIN, buy(SBIN, 1, price=100.03, trigger_price=1.01)),
    ],
)
def test_check_order_accepts_good_orders(row, request_):
    check_order(request_, row)


def test_prices_within_float_noise_of_the_tick_are_taken_as_the_tick():
    noisy = 100.05 + 1e-11  # what 100 * 1.0005 and friends produce
    assert noisy != 100.05
    order, _ = place(buy(SBIN, 1, pricetype="LIMIT", price=noisy), SBIN, quote(101.0), at(), ids())
    assert order.price == 100.05
    order, _ = place(
        sell(FUT, 65, pricetype="SL-M", trigger_price=0.1 * 241001),
        FUT,
        quote(24200.0),
        at(),
        ids(),
    )
    assert order.trigger_price == 24100.1  # 0.1 * 241001 is 24100.100000000002
    with pytest.raises(PaperOrderError, match=r"not a multiple of tick size 0\.05$"):
        check_order(buy(SBIN, 1, pricetype="LIMIT", price=100.0501), SBIN)


def test_a_request_checked_against_another_instrument_is_a_programming_error():
    with pytest.raises(ValueError, match="checked against"):
        check_order(buy(SBIN, 1), FUT)


def test_times_must_be_aware():
    with pytest.raises(ValueError, match="time-zone aware"):
        place(buy(SBIN, 1), SBIN, quote(100.0), datetime(2026, 3, 4, 10), ids())  # noqa: DTZ001


# -- order ids --------------------------------------------------------------------------


def test_order_ids_are_the_ist_date_and_eight_digits_from_the_sequence():
    first, _ = place(buy(SBIN, 1), SBIN, quote(100.0), at(), ids(1))
    assert first.order_id == "26030400000001"
    counter = ids(41)
    numbered = [place(buy(SBIN, 1), SBIN, quote(100.0), at(), counter)[0] for _ in range(3)]
    assert [order.order_id for order in numbered] == [
        "26030400000041",
        "26030400000042",
        "26030400000043",
    ]
    # 20:00 UTC on the 3rd is 01:30 IST on the 4th: the date is India's.
    assert format_order_id(datetime(2026, 3, 3, 20, tzinfo=UTC), 7) == "26030400000007"
    assert format_order_id(at(), 99_999_999) == "26030499999999"
    with pytest.raises(ValueError, match="eight digits"):
        format_order_id(at(), 100_000_000)


# -- MARKET ----------------------------------------------------------------------------


def test_market_orders_fill_at_once_at_the_touch():
    book = quote(100.0, bid=99.95, ask=100.1)
    order, fills = place(buy(SBIN, 10), SBIN, book, at(), ids())
    assert (order.status, order.filled_quantity, order.average_price) == (COMPLETE, 10, 100.1)
    assert order.price == 0.0
    assert order.pending_quantity == 0
    [trade] = fills
    assert (trade.action, trade.quantity, trade.price, trade.at) == ("BUY", 10, 100.1, at())
    assert (trade.order_id, trade.trade_id) == (order.order_id, f"T{order.order_id}")
    order, [trade] = place(sell(SBIN, 10), SBIN, book, at(), ids())
    assert trade.price == 99.95 == order.average_price
    # A quote without a side fills at the LTP.
    _, [trade] = place(sell(SBIN, 1), SBIN, quote(100.0, bid=0.0, ask=100.1), at(), ids())
    assert trade.price == 100.0


# -- LIMIT -----------------------------------------------------------------------------


def test_a_marketable_limit_fills_at_once_at_the_better_price():
    book = quote(100.0, bid=99.95, ask=100.1)
    order, [trade] = place(buy(SBIN, 5, pricetype="LIMIT", price=101.0), SBIN, book, at(), ids())
    assert (order.status, trade.price, order.price) == (COMPLETE, 100.1, 101.0)
    order, [trade] = place(sell(SBIN, 5, pricetype="LIMIT", price=99.0), SBIN, book, at(), ids())
    assert trade.price == 99.95
    # Inside the spread but through the last trade: crosses, at the limit (better than ask).
    _, [trade] = place(buy(SBIN, 5, pricetype="LIMIT", price=100.05), SBIN, book, at(), ids())
    assert trade.price == 100.05


def test_a_resting_limit_waits_then_fills_at_its_price():
    book = quote(100.0, bid=99.95, ask=100.1)
    order, fills = place(buy(SBIN, 5, pricetype="LIMIT", price=99.5), SBIN, book, at(), ids())
    assert (order.status, fills, order.pending_quantity) == (OPEN, [], 5)
    # Not through yet: nothing moves, the very same record comes back.
    assert on_price(order, SBIN, quote(99.6, bid=99.55, ask=99.65), at(10, 1)) == (order, [])
    assert on_price(order, SBIN, quote(99.6, bid=99.55, ask=99.65), at(10, 1))[0] is order
    # The market gaps through: the resting order trades at its limit, not at the ask.
    done, [trade] = on_price(order, SBIN, quote(99.2, bid=99.1, ask=99.3), at(10, 2))
    assert (done.status, done.average_price, trade.price, trade.at) == (
        COMPLETE,
        99.5,
        99.5,
        at(10, 2),
    )
    assert (done.created_at, done.updated_at) == (at(), at(10, 2))
    # Idempotent once complete.
    assert on_price(done, SBIN, quote(90.0), at(10, 3)) == (done, [])
    # A resting SELL fills when the bid reaches it.
    order, _ = place(sell(SBIN, 5, pricetype="LIMIT", price=100.5), SBIN, book, at(), ids())
    assert on_price(order, SBIN, quote(100.4, bid=100.35, ask=100.45), at(10, 1))[1] == []
    _, [trade] = on_price(order, SBIN, quote(100.45, bid=100.5, ask=100.55), at(10, 2))
    assert trade.price == 100.5


# -- SL and SL-M -----------------------------------------------------------------------


def test_sl_m_waits_for_the_trigger_then_fills_at_market_on_both_sides():
    order, fills = place(
        buy(SBIN, 3, pricetype="SL-M", trigger_price=101.0), SBIN, quote(100.0), at(), ids()
    )
    assert (order.status, fills, order.trigger_price, order.price) == (
        TRIGGER_PENDING,
        [],
        101.0,
        0.0,
    )
    assert on_price(order, SBIN, quote(100.95, bid=100.9, ask=101.0), at(10, 1)) == (order, [])
    done, [trade] = on_price(order, SBIN, quote(101.0, bid=100.95, ask=101.05), at(10, 2))
    assert (done.status, trade.price) == (COMPLETE, 101.05)  # at the ask
    order, _ = place(
        sell(SBIN, 3, pricetype="SL-M", trigger_price=99.0), SBIN, quote(100.0), at(), ids()
    )
    assert on_price(order, SBIN, quote(99.05, bid=99.0, ask=99.1), at(10, 1))[1] == []
    _, [trade] = on_price(order, SBIN, quote(98.9, bid=98.85, ask=98.95), at(10, 2))
    assert trade.price == 98.85  # at the bid


def test_sl_becomes_a_limit_when_triggered():
    order, _ = place(
        buy(SBIN, 2, pricetype="SL", trigger_price=101.0, price=101.1),
        SBIN,
        quote(100.0),
        at(),
        ids(),
    )
    assert order.status == TRIGGER_PENDING
    # Triggered, and the ask is inside the limit: fills at once at the ask.
    _, [trade] = on_price(order, SBIN, quote(101.0, bid=100.95, ask=101.05), at(10, 1))
    assert trade.price == 101.05
    # Triggered, but the market ran past the limit: a working limit, pricetype still SL.
    working, fills = on_price(order, SBIN, quote(101.5, bid=101.45, ask=101.55), at(10, 1))
    assert (working.status, working.pricetype, fills) == (OPEN, "SL", [])
    assert on_price(working, SBIN, quote(101.3, bid=101.25, ask=101.35), at(10, 2)) == (working, [])
    # Falling back below the trigger does not un-trigger it; it fills at its limit.
    done, [trade] = on_price(working, SBIN, quote(100.9, bid=100.85, ask=100.95), at(10, 3))
    assert (done.status, trade.price) == (COMPLETE, 101.1)
    # A SELL SL triggers when the LTP falls to the trigger.
    order, _ = place(
        sell(SBIN, 2, pricetype="SL", trigger_price=99.0, price=98.9),
        SBIN,
        quote(100.0),
        at(),
        ids(),
    )
    assert on_price(order, SBIN, quote(99.05, bid=99.0, ask=99.1), at(10, 1)) == (order, [])
    _, [trade] = on_price(order, SBIN, quote(99.0, bid=98.95, ask=99.05), at(10, 2))
    assert trade.price == 98.95


def test_a_trigger_already_crossed_fires_on_placement():
    _, [trade] = place(
        sell(SBIN, 1, pricetype="SL-M", trigger_price=101.0),
        SBIN,
        quote(100.0, bid=99.95, ask=100.05),
        at(),
        ids(),
    )
    assert trade.price == 99.95
    order, [trade] = place(
        buy(FUT, 65, pricetype="SL", trigger_price=24000.0, price=24100.0, product="NRML"),
        FUT,
        quote(24050.0, bid=24049.9, ask=24050.2),
        at(),
        ids(),
    )
    assert (order.status, trade.price) == (COMPLETE, 24050.2)


# -- modify and cancel -----------------------------------------------------------------


def resting_buy(price: float = 99.5, quantity: int = 5) -> Order:
    order, _ = place(
        buy(SBIN, quantity, pricetype="LIMIT", price=price), SBIN, quote(100.0), at(), ids()
    )
    assert order.status == OPEN
    return order


def test_modify_changes_a_working_order_and_matches_it_again():
    book = quote(100.0, bid=99.95, ask=100.1)
    order = resting_buy()
    moved, fills = modify(order, OrderChanges(price=99.6, quantity=8), SBIN, book, at(10, 5))
    assert (moved.status, moved.price, moved.quantity, fills) == (OPEN, 99.6, 8, [])
    assert (moved.order_id, moved.created_at, moved.updated_at) == (order.order_id, at(), at(10, 5))
    assert moved.margin_per_unit == pytest.approx(0.2 * 99.6)  # re-blocked at the new price
    # Moved through the ask: fills at once, at the ask.
    done, [trade] = modify(moved, OrderChanges(price=100.5), SBIN, book, at(10, 6))
    assert (done.status, trade.price, trade.quantity) == (COMPLETE, 100.1, 8)
    # To MARKET: fills at once.
    _, [trade] = modify(resting_buy(), OrderChanges(pricetype="MARKET"), SBIN, book, at(10, 6))
    assert trade.price == 100.1
    # To SL-M: waits for its trigger again.
    stop, fills = modify(
        resting_buy(), OrderChanges(pricetype="SL-M", trigger_price=101.0), SBIN, book, at()
    )
    assert (stop.status, stop.price, stop.trigger_price, fills) == (TRIGGER_PENDING, 0.0, 101.0, [])
    moved_stop, _ = modify(stop, OrderChanges(trigger_price=102.0), SBIN, book, at())
    assert (moved_stop.status, moved_stop.trigger_price) == (TRIGGER_PENDING, 102.0)


def test_modify_checks_the_result_like_a_new_order():
    book = quote(24000.0)
    order, _ = place(
        buy(FUT, 65, pricetype="LIMIT", price=23900.0, product="NRML"), FUT, book, at(), ids()
    )
    with pytest.raises(PaperOrderError, match=r"^Quantity must be in multiples of lot size 65$"):
        modify(order, OrderChanges(quantity=100), FUT, book, at())
    with pytest.raises(PaperOrderError, match=r"^Price 23900.05 is not a multiple of tick size"):
        modify(order, OrderChanges(price=23900.05), FUT, book, at())
    with pytest.raises(PaperOrderError, match=r"^SL orders require trigger_price$"):
        modify(order, OrderChanges(pricetype="SL"), FUT, book, at())


def test_an_sl_already_triggered_stays_a_working_limit_when_modified():
    order, _ = place(
        buy(SBIN, 2, pricetype="SL", trigger_price=101.0, price=101.1),
        SBIN,
        quote(100.0),
        at(),
        ids(),
    )
    working, _ = on_price(order, SBIN, quote(101.5, bid=101.45, ask=101.55), at(10, 1))
    assert working.status == OPEN
    # Even with the LTP back under the trigger: no second trigger to wait for.
    book = quote(100.9, bid=100.85, ask=101.25)
    moved, fills = modify(working, OrderChanges(price=100.8), SBIN, book, at(10, 2))
    assert (moved.status, moved.price, fills) == (OPEN, 100.8, [])


def test_only_working_orders_may_be_modified_or_cancelled():
    book = quote(100.0)
    order = resting_buy()
    cancelled = cancel(order, at(10, 9))
    assert (cancelled.status, cancelled.updated_at, cancelled.pending_quantity) == (
        CANCELLED,
        at(10, 9),
        0,
    )
    stop, _ = place(sell(SBIN, 1, pricetype="SL-M", trigger_price=90.0), SBIN, book, at(), ids())
    assert cancel(stop, at()).status == CANCELLED
    complete, _ = place(buy(SBIN, 1), SBIN, book, at(), ids())
    refused = rejected(sell(SBIN, 1, product="CNC"), at(), ids(), "no stock")
    for done in (cancelled, complete, refused):
        with pytest.raises(PaperOrderError) as raised:
            modify(done, OrderChanges(price=99.0), SBIN, book, at())
        assert str(raised.value) == f"Cannot modify order in {done.status} status"
        with pytest.raises(PaperOrderError) as raised:
            cancel(done, at())
        assert str(raised.value) == f"Cannot cancel order in {done.status} status"
    assert str(raised.value) == "Cannot cancel order in rejected status"
    # Nothing moves a finished order.
    assert on_price(cancelled, SBIN, quote(50.0), at()) == (cancelled, [])


def test_a_rejected_order_keeps_its_number_and_reason():
    order = rejected(
        sell(SBIN, 4, product="CNC", pricetype="LIMIT", price=101.0), at(), ids(9), "no stock"
    )
    assert (order.order_id, order.status, order.rejection_reason) == (
        "26030400000009",
        REJECTED,
        "no stock",
    )
    assert (order.price, order.filled_quantity, order.pending_quantity) == (101.0, 0, 0)


# -- positions -------------------------------------------------------------------------


def test_positions_net_average_and_realize_by_hand():
    book = PositionBook()
    book = book.with_fill(fill(SBIN, "BUY", 10, 100.0))
    book = book.with_fill(fill(SBIN, "BUY", 10, 110.0))
    position = book.get("SBIN", "NSE", "MIS")
    assert position is not None
    # (10 x 100 + 10 x 110) / 20 = 105
    assert (position.quantity, position.average_price, position.realized) == (20, 105, 0)
    book = book.with_fill(fill(SBIN, "SELL", 5, 120.0))
    position = book.get("SBIN", "NSE", "MIS")
    assert position is not None
    # 5 x (120 - 105) = 75 realized; the average of what is left does not change.
    assert (position.quantity, position.average_price, position.realized) == (15, 105, 75)
    # Unrealized at 104: (104 - 105) x 15 = -15; pnl = 75 - 15 = 60.
    assert book.rows({("SBIN", "NSE"): 104.0}) == [
        {
            "symbol": "SBIN",
            "exchange": "NSE",
            "product": "MIS",
            "quantity": 15,
            "average_price": 105.0,
            "ltp": 104.0,
            "pnl": 60.0,
        }
    ]
    # Closed at 100: 15 x (100 - 105) = -75, so the day nets 0; the row stays, quantity 0.
    book = book.with_fill(fill(SBIN, "SELL", 15, 100.0))
    position = book.get("SBIN", "NSE", "MIS")
    assert position is not None
    assert (position.quantity, position.average_price, position.realized) == (0, 0, 0)
    assert book.rows({("SBIN", "NSE"): 98.0})[0] == {
        "symbol": "SBIN",
        "exchange": "NSE",
        "product": "MIS",
        "quantity": 0,
        "average_price": 0.0,
        "ltp": 98.0,
        "pnl": 0.0,
    }


def test_a_fill_through_zero_flips_the_position():
    book = PositionBook.from_fills(
        [
            fill(FUT, "BUY", 65, 24000.0, "NRML"),
            fill(FUT, "SELL", 195, 23990.0, "NRML"),  # closes 65, opens 130 short
        ]
    )
    position = book.get(FUT.symbol, "NFO", "NRML")
    assert position is not None
    # 65 x (23990 - 24000) = -650; short 130 at 23990.
    assert (position.quantity, position.average_price, position.realized) == (-130, 23990, -650)
    # Covering 65 at 23980 on a short realizes 65 x (23990 - 23980) = +650.
    book = book.with_fill(fill(FUT, "BUY", 65, 23980.0, "NRML"))
    position = book.get(FUT.symbol, "NFO", "NRML")
    assert position is not None
    assert (position.quantity, position.average_price, position.realized) == (-65, 23990, 0)
    # Short 65 at 23990, LTP 24010.5: (24010.5 - 23990) x -65 = -1332.50
    assert position.unrealized(24010.5) == Decimal("-1332.5")
    assert book.rows({(FUT.symbol, "NFO"): 24010.5})[0]["pnl"] == -1332.5
    # Flip short to long in one fill: BUY 130 closes 65 at +65 x (23990 - 23995) = -325.
    book = book.with_fill(fill(FUT, "BUY", 130, 23995.0, "NRML"))
    position = book.get(FUT.symbol, "NFO", "NRML")
    assert position is not None
    assert (position.quantity, position.average_price, position.realized) == (65, 23995, -325)


def test_money_carries_no_float_noise_and_rounds_to_the_paisa():
    book = PositionBook.from_fills(
        [
            fill(SBIN, "BUY", 1, 0.1),
            fill(SBIN, "BUY", 1, 0.2),
            fill(SBIN, "SELL", 2, 0.3),
        ]
    )
    position = book.get("SBIN", "NSE", "MIS")
    assert position is not None
    # 2 x (0.3 - 0.15) = 0.3 exactly; in floats 0.3 - 0.15 is 0.15 and a bit.
    assert position.realized == Decimal("0.3")
    assert 2 * (0.3 - (0.1 + 0.2) / 2) != 0.3
    # An average of 100.0833...: shown as 100.08.
    book = PositionBook.from_fills([fill(SBIN, "BUY", 1, 100.05), fill(SBIN, "BUY", 2, 100.1)])
    assert book.rows({("SBIN", "NSE"): 100.1})[0]["average_price"] == 100.08
    # pnl (100.1 - 100.0833..) x 3 = 0.05 exactly, not 0.049999...
    assert book.rows({("SBIN", "NSE"): 100.1})[0]["pnl"] == 0.05


def test_products_and_exchanges_are_separate_positions():
    book = PositionBook.from_fills(
        [
            fill(SBIN, "BUY", 10, 100.0, "MIS"),
            fill(SBIN, "BUY", 4, 100.0, "CNC"),
            fill(SBIN_BSE, "SELL", 3, 100.2, "MIS"),
        ]
    )
    assert len(book) == 3
    assert book.quantity("SBIN", "NSE", "MIS") == 10
    assert book.quantity("SBIN", "NSE", "CNC") == 4
    assert book.quantity("SBIN", "BSE", "MIS") == -3
    assert book.quantity("SBIN", "NSE", "NRML") == 0


def test_the_position_book_shows_today_and_carried_positions():
    yesterday, today = at(10, day=DAY - timedelta(days=1)), at(10)
    day_start = datetime.combine(DAY, time(3), INDIA)
    book = PositionBook.from_fills(
        [
            # NRML carried from yesterday, still open: shown, yesterday's P&L not in "day".
            fill(FUT, "BUY", 130, 24000.0, "NRML", when=yesterday),
            fill(FUT, "SELL", 65, 24100.0, "NRML", when=yesterday),  # +6500 yesterday
            # Closed yesterday: gone today.
            fill(CE, "BUY", 65, 120.0, "MIS", when=yesterday),
            fill(CE, "SELL", 65, 130.0, "MIS", when=yesterday),
            # CNC bought yesterday: settled into holdings, not in today's positions.
            fill(SBIN, "BUY", 10, 500.0, "CNC", when=yesterday),
            # Traded and closed today: shown with quantity 0.
            fill(PE, "SELL", 65, 80.0, "MIS", when=today),
            fill(PE, "BUY", 65, 70.0, "MIS", when=today),  # +650 today
        ],
        day_start=day_start,
    )
    ltps = {(FUT.symbol, "NFO"): 24050.0, (PE.symbol, "NFO"): 69.0, ("SBIN", "NSE"): 510.0}
    rows = {row["symbol"]: row for row in book.rows(ltps)}
    assert set(rows) == {FUT.symbol, PE.symbol}
    # Day pnl of the carried future: no realized today, unrealized (24050 - 24000) x 65.
    assert (rows[FUT.symbol]["quantity"], rows[FUT.symbol]["pnl"]) == (65, 3250.0)
    assert (rows[PE.symbol]["quantity"], rows[PE.symbol]["pnl"]) == (0, 650.0)
    position = book.get(FUT.symbol, "NFO", "NRML")
    assert position is not None
    assert (position.realized, position.day_realized) == (6500, 0)
    # Selling part of the holding today brings it back to the position book.
    book = book.with_fill(fill(SBIN, "SELL", 4, 520.0, "CNC", when=today))
    assert ("SBIN", 6) in {(row["symbol"], row["quantity"]) for row in book.rows(ltps)}


def test_holdings_are_the_cnc_positions_held():
    book = PositionBook.from_fills(
        [
            fill(SBIN, "BUY", 10, 500.0, "CNC"),
            fill(SBIN, "BUY", 10, 520.0, "CNC"),  # 20 at 510
            fill(SBIN_BSE, "BUY", 5, 200.0, "CNC"),
            fill(SBIN_BSE, "SELL", 5, 210.0, "CNC"),  # sold out: not held
            fill(FUT, "BUY", 65, 24000.0, "NRML"),  # not delivery
        ]
    )
    data = book.holdings({("SBIN", "NSE"): 499.0})
    # (499 - 510) x 20 = -220 on 10,200 invested: -2.156..% -> -2.16
    assert data == {
        "holdings": [
            {
                "symbol": "SBIN",
                "exchange": "NSE",
                "product": "CNC",
                "quantity": 20,
                "average_price": 510.0,
                "ltp": 499.0,
                "pnl": -220.0,
                "pnlpercent": -2.16,
            }
        ],
        "statistics": {
            "totalholdingvalue": 9980.0,
            "totalinvvalue": 10200.0,
            "totalprofitandloss": -220.0,
            "totalpnlpercentage": -2.16,
        },
    }
    empty = PositionBook().holdings({})
    assert empty["holdings"] == []
    assert empty["statistics"] == {
        "totalholdingvalue": 0.0,
        "totalinvvalue": 0.0,
        "totalprofitandloss": 0.0,
        "totalpnlpercentage": 0.0,
    }


# -- margin and funds ------------------------------------------------------------------


def placed(request: OrderRequest, row: Instrument, book: Quote) -> tuple[Order, list[Fill]]:
    return place(request, row, book, at(), ids())


def test_margin_per_unit_follows_the_simple_rules():
    book = quote(100.0, bid=99.95, ask=100.05)
    # MIS shares: 20% of the price they fill at; CNC: all of it.
    assert placed(buy(SBIN, 1), SBIN, book)[0].margin_per_unit == pytest.approx(20.01)
    assert placed(sell(SBIN, 1), SBIN, book)[0].margin_per_unit == pytest.approx(19.99)
    cnc = buy(SBIN, 1, product="CNC", pricetype="LIMIT", price=99.0)
    assert placed(cnc, SBIN, book)[0].margin_per_unit == 99.0  # at the limit
    # Futures, NRML or MIS, long or short: 12% of the price.
    future = sell(FUT, 65, product="NRML", pricetype="SL-M", trigger_price=24000.0)
    assert placed(future, FUT, quote(24100.0))[0].margin_per_unit == 2880.0  # at the trigger
    assert placed(buy(FUT, 65), FUT, quote(24100.0))[0].margin_per_unit == 2892.0
    # Options bought: the premium; sold: 12% of the strike, 0.12 x 24000 = 2880.
    assert placed(buy(CE, 65), CE, quote(120.5))[0].margin_per_unit == 120.5
    assert placed(sell(PE, 65, product="NRML"), PE, quote(80.0))[0].margin_per_unit == 2880.0


def test_funds_fold_margin_and_pnl():
    orders_and_fills = [
        placed(buy(SBIN, 100), SBIN, quote(100.0)),  # MIS: 100 x 20 = 2,000
        placed(buy(CE, 65, product="NRML"), CE, quote(120.5)),  # premium: 65 x 120.5 = 7,832.50
        placed(sell(PE, 65), PE, quote(80.0)),  # 65 x 2880 = 187,200
        placed(buy(FUT, 65, product="NRML"), FUT, quote(24100.0)),  # 65 x 2892 = 187,980
    ]
    fills = [trade for _, trades in orders_and_fills for trade in trades]
    book = PositionBook.from_fills(fills)
    ltps = {
        ("SBIN", "NSE"): 101.0,  # +100
        (CE.symbol, "NFO"): 110.0,  # (110 - 120.5) x 65 = -682.50
        (PE.symbol, "NFO"): 75.0,  # (75 - 80) x -65 = +325
        (FUT.symbol, "NFO"): 24095.5,  # -4.5 x 65 = -292.50
    }
    funds = account_funds(book, [order for order, _ in orders_and_fills], ltps)
    assert funds.used_margin == Decimal("385012.50")
    assert funds.unrealized == Decimal("-550.00")
    assert funds.row() == {
        "availablecash": "9614987.50",  # 1,00,00,000 - 3,85,012.50
        "collateral": "0.00",
        "m2mrealized": "0.00",
        "m2munrealized": "-550.00",
        "utiliseddebits": "385012.50",
    }
    # Selling half the SBIN at 103 realizes 50 x 3 = 150 and frees half its 2,000.
    book = book.with_fill(placed(sell(SBIN, 50), SBIN, quote(103.0))[1][0])
    funds = account_funds(book, [], ltps)
    assert funds.used_margin == Decimal("384012.50")
    assert (funds.realized, funds.day_realized) == (150, 150)
    assert funds.row()["availablecash"] == "9616137.50"  # 1 crore + 150 - 384,012.50
    # A different starting cash.
    assert account_funds(PositionBook(), [], {}, starting_cash=Decimal(5000)).available == 5000


def test_working_orders_block_margin_only_for_new_exposure():
    held = PositionBook.from_fills([fill(SBIN, "BUY", 10, 100.0, margin_per_unit=20.0)])
    book = quote(100.0)

    def resting(request: OrderRequest) -> Order:
        order, fills = placed(request, SBIN, book)
        assert fills == []
        return order

    closing = resting(sell(SBIN, 10, pricetype="LIMIT", price=105.0))  # closes: blocks nothing
    flipping = resting(sell(SBIN, 15, pricetype="LIMIT", price=110.0))  # 5 beyond: 5 x 22
    adding = resting(buy(SBIN, 4, pricetype="LIMIT", price=90.0))  # 4 x 18
    assert working_margin(closing, held) == 0
    assert working_margin(flipping, held) == Decimal("110")
    assert working_margin(adding, held) == Decimal("72")
    funds = account_funds(
        held, [closing, flipping, adding, cancel(adding, at())], {("SBIN", "NSE"): 100.0}
    )
    # 10 x 20 held + 110 + 72 working; the cancelled copy blocks nothing.
    assert funds.used_margin == Decimal("382")


def test_an_order_needing_more_than_is_available_is_refused():
    funds = account_funds(PositionBook(), [], {}, starting_cash=Decimal(100_000))
    order, _ = placed(
        buy(FUT, 65, product="NRML", pricetype="LIMIT", price=24000.0), FUT, quote(24100.0)
    )
    required = working_margin(order, PositionBook())
    assert required == Decimal("187200.00")  # 65 x 0.12 x 24000
    with pytest.raises(InsufficientFundsError) as raised:
        check_funds(funds, required)
    assert str(raised.value) == (
        "Insufficient funds. Required: ₹187200.00, Available: ₹100000.00, Shortage: ₹87200.00"
    )
    assert isinstance(raised.value, PaperOrderError)
    # Enough, exactly enough, and nothing needed (closing a position) all pass.
    check_funds(funds, Decimal("99999.99"))
    check_funds(funds, Decimal(100_000))
    broke = account_funds(PositionBook(), [], {}, starting_cash=Decimal(-5))
    check_funds(broke, Decimal(0))


def test_cnc_sells_need_shares_held():
    book = PositionBook.from_fills([fill(SBIN, "BUY", 10, 500.0, "CNC")])
    assert cnc_sell_rejection(sell(SBIN, 10, product="CNC"), book) is None
    assert cnc_sell_rejection(sell(SBIN, 10, product="MIS"), PositionBook()) is None
    assert cnc_sell_rejection(sell(SBIN, 11, product="CNC"), book) == (
        "Cannot sell 11 shares of SBIN in CNC. Only 10 shares available"
    )
    assert cnc_sell_rejection(sell(SBIN, 1, product="CNC"), PositionBook()) == (
        "Cannot sell SBIN in CNC. No positions or holdings available. "
        "CNC (delivery) requires existing shares. Use MIS for intraday short selling."
    )
    # Shares already offered by a working CNC sell are not available again.
    offered, _ = placed(
        sell(SBIN, 6, product="CNC", pricetype="LIMIT", price=550.0), SBIN, quote(500.0)
    )
    assert offered.status == OPEN
    assert cnc_sell_rejection(sell(SBIN, 5, product="CNC"), book, [offered]) == (
        "Cannot sell 5 shares of SBIN in CNC. Only 4 shares available"
    )
    assert cnc_sell_rejection(sell(SBIN, 5, product="CNC"), book, [cancel(offered, at())]) is None


# -- square-off ------------------------------------------------------------------------


def test_mis_square_off_closes_every_mis_position_and_nothing_else():
    book = PositionBook.from_fills(
        [
            fill(SBIN, "BUY", 10, 100.0, "MIS"),
            fill(CE, "SELL", 130, 120.0, "MIS"),
            fill(PE, "BUY", 65, 80.0, "MIS"),
            fill(PE, "SELL", 65, 85.0, "MIS"),  # already flat
            fill(FUT, "BUY", 65, 24000.0, "NRML"),  # carried, not MIS
            fill(SBIN, "BUY", 5, 100.0, "CNC"),
        ]
    )
    requests = square_off_mis(book)
    assert sorted((r.symbol, r.action, r.quantity, r.product, r.pricetype) for r in requests) == [
        (CE.symbol, "BUY", 130, "MIS", "MARKET"),
        ("SBIN", "SELL", 10, "MIS", "MARKET"),
    ]
    # Placed at the touch, they leave every MIS position flat.
    quotes = {("SBIN", "NSE"): quote(101.0, 100.95, 101.05), (CE.symbol, "NFO"): quote(118.0)}
    rows = {"SBIN": SBIN, CE.symbol: CE}
    for request in requests:
        _, fills = place(
            request,
            rows[request.symbol],
            quotes[request.symbol, request.exchange],
            at(15, 15),
            ids(),
        )
        book = book.with_fill(fills[0])
    assert book.quantity("SBIN", "NSE", "MIS") == 0
    assert book.quantity(CE.symbol, "NFO", "MIS") == 0
    assert book.quantity(FUT.symbol, "NFO", "NRML") == 65
    position = book.get("SBIN", "NSE", "MIS")
    assert position is not None
    assert position.realized == Decimal("9.5")  # 10 x (100.95 - 100)
    # closeposition's version: every product.
    assert len(closing_orders(book)) == 2  # the future and the CNC shares


# -- with the simulated market ---------------------------------------------------------


def test_orders_fill_on_the_simulated_markets_quotes():
    market = SimulatedMarket(7, [SBIN, FUT])
    when = at(11, 7)
    sbin, future = market.quote(SBIN, when), market.quote(FUT, when)
    order, [trade] = place(buy(SBIN, 3), SBIN, sbin, when, ids())
    assert trade.price == sbin.ask
    order, [trade] = place(sell(FUT, 65, product="NRML"), FUT, future, when, ids())
    assert trade.price == future.bid
    # A limit at the day's low still to come rests now and fills by the time it is reached.
    later = [when + timedelta(minutes=minute) for minute in range(1, 260)]
    low_at = min(later, key=lambda instant: market.quote(SBIN, instant).ltp)
    limit = market.quote(SBIN, low_at).ltp
    assert limit < sbin.bid  # the seeded walk does dip below the bid: else pick another seed
    order, fills = place(buy(SBIN, 1, pricetype="LIMIT", price=limit), SBIN, sbin, when, ids())
    assert (order.status, fills) == (OPEN, [])
    for instant in later:
        order, fills = on_price(order, SBIN, market.quote(SBIN, instant), instant)
        if fills:
            break
    assert order.status == COMPLETE
    assert fills[0].price == limit
    assert fills[0].at <= low_at
