"""The paper account's risk rules: funds at the price an order trades at, stops rejected at
the trigger when the account cannot carry them, delivery never sold short, expired
contracts settled, and a failing write or square-off answered per order."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date
from pathlib import Path

import pytest
from sqlalchemy import text

from algovisor.clock import FakeClock
from algovisor.services import contracts as contract_service
from algovisor.settings import Settings
from tests.api.paper_desk import SBIN, START, STRATEGY, Desk, crosses, open_desk, order_body
from tests.conftest import small_zerodha_csv


@pytest.fixture
def desk(settings: Settings, tmp_path: Path) -> Iterator[Desk]:
    instance = open_desk(settings, tmp_path)
    yield instance
    instance.close()


def test_orders_that_trade_at_once_are_checked_at_the_price_they_trade_at(desk: Desk) -> None:
    before = desk.books()
    huge = 1_000_000  # about ₹100 crore of SBIN: ten times the account
    for body in (
        order_body(SBIN, "SELL", huge, pricetype="LIMIT", price=0.05),  # fills at the bid
        order_body(SBIN, "BUY", huge, pricetype="SL-M", trigger_price=0.05),  # fires at once
    ):
        status, answer = desk.post("placeorder", body)
        assert status == 400
        assert answer["message"].startswith("Insufficient funds. Required: ₹202")
    # A trigger a sliver above zero is zero on the tick, not a free order.
    status, answer = desk.post(
        "placeorder", order_body(SBIN, "BUY", huge, pricetype="SL-M", trigger_price="0.000000001")
    )
    assert (status, answer["message"]) == (400, "Trigger price must be positive")
    assert desk.books() == before


def test_a_stop_the_account_cannot_carry_is_rejected_when_it_triggers(
    settings: Settings, tmp_path: Path
) -> None:
    desk = open_desk(settings, tmp_path, paper_starting_cash=100_000)
    try:
        quote = desk.quote()
        # A SELL stop-limit with a limit far below: it blocks ₹0.20 x 1 a share while it
        # waits, but would fill at the bid (about ₹1,000) once triggered.
        path = [(at, desk.quote(at=at)) for at in desk.minutes(240)]
        trigger = round(min(q.ltp for _, q in path) + 0.5, 1)
        assert trigger < quote.ltp
        stop = desk.place(SBIN, "SELL", 1000, pricetype="SL", trigger_price=trigger, price=1.0)
        assert desk.order(stop)["order_status"] == "trigger pending"
        when = next(at for at, q in path if q.ltp <= trigger)
        desk.to(when)
        desk.match()
        order = desk.order(stop)
        assert order["order_status"] == "rejected"
        assert order["rejection_reason"].startswith("Insufficient funds")
        assert desk.trades() == []
    finally:
        desk.close()


def test_a_modify_cannot_sell_more_delivery_shares_than_held(desk: Desk) -> None:
    desk.place(SBIN, "BUY", 5, product="CNC")
    far = round(desk.quote().ask + 100, 1)
    sell = desk.place(SBIN, "SELL", 5, product="CNC", pricetype="LIMIT", price=far)
    status, answer = desk.post(
        "modifyorder",
        order_body(SBIN, "SELL", 500, product="CNC", pricetype="LIMIT", price=far, orderid=sell),
    )
    assert status == 400
    assert answer["message"] == "Cannot sell 500 shares of SBIN in CNC. Only 5 shares available"
    assert desk.order(sell)["quantity"] == 5


def test_expired_options_are_settled_at_their_final_price(
    settings: Settings, tmp_path: Path
) -> None:
    desk = Desk(settings, FakeClock(START.astimezone(UTC)), contract_dir=None)
    try:
        load(desk, tmp_path, "2026-11-20")  # they expire today, Friday 20 November
        call, put = ("NIFTY20NOV2624000CE", "NFO"), ("NIFTY20NOV2624000PE", "NFO")
        desk.place(call, "SELL", 65, product="NRML")
        desk.place(put, "SELL", 65, product="NRML")
        desk.to_time(15, 35)
        final = {symbol: desk.quote((symbol, "NFO")).ltp for symbol in (call[0], put[0])}
        positions = {row["symbol"]: row["quantity"] for row in desk.positions()}
        assert positions == {call[0]: 0, put[0]: 0}
        settlements = [row for row in desk.trades() if row["strategy"] == "Expiry settlement"]
        assert {row["symbol"]: row["price"] for row in settlements} == final
        assert desk.funds()["utiliseddebits"] == "0.00"
    finally:
        desk.close()


def test_a_contract_that_expired_while_the_host_was_down_is_settled_from_its_symbol(
    settings: Settings, tmp_path: Path
) -> None:
    desk = Desk(settings, FakeClock(START.astimezone(UTC)), contract_dir=None)
    try:
        load(desk, tmp_path, "2026-11-20")
        call = ("NIFTY20NOV2624000CE", "NFO")
        desk.place(call, "SELL", 65, product="NRML")
        final = desk.quote(call, at=START.replace(hour=16)).ltp
        desk = desk.restart()  # down over the expiry; Monday's contract no longer lists it
        desk.to_time(9, 0, day=date(2026, 11, 23))
        load(desk, tmp_path, "2026-11-27")
        desk.to_time(10, 0, day=date(2026, 11, 23))
        # Settled on the account's first step on Monday, at the expiry's final price.
        assert [(row["symbol"], row["quantity"]) for row in desk.positions()] == [(call[0], 0)]
        [settlement] = desk.trades()
        assert (settlement["strategy"], settlement["action"]) == ("Expiry settlement", "BUY")
        assert settlement["price"] == final
        assert desk.funds()["utiliseddebits"] == "0.00"
    finally:
        desk.close()


def test_a_basket_answers_each_order_when_the_database_refuses_some(desk: Desk) -> None:
    with refused_on(desk, "NFO"):
        status, answer = desk.post(
            "basketorder",
            strategy=STRATEGY,
            orders=[
                order_body(SBIN, "BUY", 1),
                order_body(("NIFTY28DEC27FUT", "NFO"), "BUY", 65),
            ],
        )
    assert status == 200
    assert [row["status"] for row in answer["results"]] == ["success", "error"]
    assert "could not record this in the database" in answer["results"][1]["message"]
    assert [(row["symbol"], row["quantity"]) for row in desk.trades()] == [("SBIN", 1)]


def test_a_failing_square_off_does_not_block_the_account(desk: Desk) -> None:
    desk.place(SBIN, "BUY", 10)
    with refused_on(desk, "NSE"):
        desk.to_time(15, 20)
        assert desk.post("positionbook")[0] == 200
        assert desk.post("funds")[0] == 200
    desk.match()  # the database takes writes again: the square-off is done
    assert desk.position(SBIN, "MIS")["quantity"] == 0


def test_orders_matched_in_one_round_replay_the_same_after_a_restart(desk: Desk) -> None:
    desk.place(SBIN, "BUY", 10)
    path = [(at, desk.quote(at=at)) for at in desk.minutes(240)]
    level = round(max(q.ltp for _, q in path) - 0.5, 1)
    assert crosses("SELL", level, path[-1][1]) or any(crosses("SELL", level, q) for _, q in path)
    desk.place(SBIN, "SELL", 4, pricetype="LIMIT", price=level)
    desk.place(SBIN, "SELL", 3, pricetype="LIMIT", price=level)
    desk.to(next(at for at, q in path if crosses("SELL", level, q)))
    desk.match()
    live = desk.books()
    desk = desk.restart()
    try:
        assert desk.books() == live
    finally:
        desk.close()


# ----- helpers ----------------------------------------------------------------------------


def load(desk: Desk, tmp_path: Path, expiry: str) -> None:
    path = small_zerodha_csv(tmp_path / f"contract-{expiry}.csv", expiry=expiry)
    source = contract_service.choose_source("paper", path, None, "zerodha")
    contract_service.download(desk.ctx, "paper", source)


class refused_on:  # noqa: N801 - used as a context manager, like contextlib's
    """The database refuses every trade on `exchange` while inside."""

    def __init__(self, desk: Desk, exchange: str) -> None:
        self.desk, self.exchange = desk, exchange

    def __enter__(self) -> None:
        engine = self.desk.ctx.engine
        with engine.begin() as connection:
            if engine.dialect.name == "sqlite":
                connection.execute(
                    text(
                        "CREATE TRIGGER refuse BEFORE INSERT ON paper_trades "
                        f"WHEN NEW.exchange = '{self.exchange}' "
                        "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
                    )
                )
            else:
                connection.execute(
                    text(
                        "CREATE FUNCTION refuse() RETURNS trigger AS $$ BEGIN "
                        f"IF NEW.exchange = '{self.exchange}' THEN "
                        "RAISE EXCEPTION 'refused by the test' USING ERRCODE = '23514'; "
                        "END IF; RETURN NEW; END $$ LANGUAGE plpgsql"
                    )
                )
                connection.execute(
                    text(
                        "CREATE TRIGGER refuse BEFORE INSERT ON paper_trades "
                        "FOR EACH ROW EXECUTE FUNCTION refuse()"
                    )
                )

    def __exit__(self, *exc: object) -> None:
        engine = self.desk.ctx.engine
        with engine.begin() as connection:
            if engine.dialect.name == "sqlite":
                connection.execute(text("DROP TRIGGER refuse"))
            else:
                connection.execute(text("DROP TRIGGER refuse ON paper_trades"))
                connection.execute(text("DROP FUNCTION refuse()"))
