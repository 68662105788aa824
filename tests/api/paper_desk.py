"""A trading desk over the paper broker for the order and account tests: the real app on a
real database, a stopped clock, and helpers that read the books through the API.

The clock starts on Friday 2026-11-20 at 10:30 IST (NSE open); tests move it and call
`desk.match()` themselves instead of waiting for the host's matching loop. Prices come
from the simulated market, a pure function of the instant, so a test may look ahead:
`desk.quote(SBIN, later)` is what the market will show then.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from algovisor.api.app import create_app
from algovisor.brokers.paper import BROKER
from algovisor.brokers.paper.market import Quote
from algovisor.brokers.paper.segments import IST
from algovisor.clock import FakeClock
from algovisor.contracts.queries import ContractQueries
from algovisor.contracts.records import Instrument
from algovisor.db.models import PaperOrderRow, PaperTradeRow
from algovisor.services import broker_accounts
from algovisor.services.context import ServiceContext
from algovisor.services.paper_account import PaperAccount
from algovisor.settings import Settings
from tests.conftest import load_small_contract

START = datetime(2026, 11, 20, 10, 30, tzinfo=IST)  # a Friday, NSE open
NEXT_TRADING_DAY = date(2026, 11, 23)  # Monday; Tuesday the 24th is an NSE holiday
SBIN = ("SBIN", "NSE")
FUT = ("NIFTY28DEC27FUT", "NFO")  # lot 65, tick 0.1
CALL = ("NIFTY28DEC2724000CE", "NFO")  # lot 65, tick 0.05, strike 24000
STRATEGY = "desk"
MONEY = Decimal("0.01")


def money(amount: Decimal | int) -> str:
    """An amount as funds shows it: a 2-decimal string, half up."""
    return f"{Decimal(amount).quantize(MONEY, ROUND_HALF_UP):.2f}"


def dec(value: float) -> Decimal:
    return Decimal(repr(value))


def crosses(action: str, limit: float, quote: Quote) -> bool:
    """The engine's rule for a resting limit (brokers.paper.orders): trades or is offered
    through it."""
    if action == "BUY":
        return quote.ltp <= limit or 0 < quote.ask <= limit
    return quote.ltp >= limit or quote.bid >= limit > 0


class Desk:
    """The app, its paper account and the paper broker's key, on a stopped clock."""

    def __init__(self, settings: Settings, clock: FakeClock, *, contract_dir: Path | None) -> None:
        self.settings = settings
        self.clock = clock
        self.ctx = ServiceContext.open(settings, clock)
        if contract_dir is not None:
            load_small_contract(self.ctx, contract_dir)
        self.key = broker_accounts.paper_api_key(self.ctx)
        self.app = create_app(self.ctx)
        # Server errors come back as responses: tests assert there is no 500.
        self.client = TestClient(self.app, raise_server_exceptions=False)
        self.client.__enter__()
        self.closed = False

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.client.__exit__(None, None, None)
        self.ctx.close()

    def restart(self) -> Desk:
        """A new host process on the same database: its account reloads what was stored."""
        self.close()
        return Desk(self.settings, self.clock, contract_dir=None)

    @property
    def paper(self) -> PaperAccount:
        account: PaperAccount = self.app.state.paper
        return account

    # ----- the API ----------------------------------------------------------------------

    def post(self, endpoint: str, body: Any = None, **fields: Any) -> tuple[int, dict[str, Any]]:
        """POST with the key (a `body` that is not a dict is sent as it is)."""
        if body is None or isinstance(body, dict):
            payload: Any = {"apikey": self.key, **(body or {}), **fields}
        else:
            payload = body
        response = self.client.post(f"/api/v1/{endpoint}", json=payload)
        return response.status_code, response.json()

    def ok(self, endpoint: str, body: Any = None, **fields: Any) -> dict[str, Any]:
        status, answer = self.post(endpoint, body, **fields)
        assert (status, answer.get("status")) == (200, "success"), answer
        return answer

    def place(
        self,
        symbol: tuple[str, str] = SBIN,
        action: str = "BUY",
        quantity: int = 1,
        **fields: Any,
    ) -> str:
        """placeorder, as the `openalgo` client sends it (numbers as strings); the order id."""
        body = order_body(symbol, action, quantity, **fields)
        answer = self.ok("placeorder", body)
        assert set(answer) == {"status", "orderid"}, answer
        return str(answer["orderid"])

    def order(self, order_id: str) -> dict[str, Any]:
        data: dict[str, Any] = self.ok("orderstatus", orderid=order_id, strategy=STRATEGY)["data"]
        return data

    def orders(self) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = self.ok("orderbook")["data"]["orders"]
        return rows

    def trades(self) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = self.ok("tradebook")["data"]
        return rows

    def positions(self) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = self.ok("positionbook")["data"]
        return rows

    def position(self, symbol: tuple[str, str], product: str) -> dict[str, Any]:
        [row] = [
            row
            for row in self.positions()
            if (row["symbol"], row["exchange"], row["product"]) == (*symbol, product)
        ]
        return row

    def funds(self) -> dict[str, str]:
        data: dict[str, str] = self.ok("funds")["data"]
        return data

    def holdings(self) -> dict[str, Any]:
        data: dict[str, Any] = self.ok("holdings")["data"]
        return data

    def books(self) -> dict[str, Any]:
        """Everything a client can see of the account (to check that nothing changed)."""
        return {
            "orderbook": self.ok("orderbook")["data"],
            "tradebook": self.trades(),
            "positionbook": self.positions(),
            "holdings": self.holdings(),
            "funds": self.funds(),
        }

    def stored(self) -> tuple[int, int]:
        """How many order and trade rows the database holds."""
        with self.ctx.reading() as session:
            orders = session.scalar(select(func.count()).select_from(PaperOrderRow))
            trades = session.scalar(select(func.count()).select_from(PaperTradeRow))
        return int(orders or 0), int(trades or 0)

    # ----- the market and the clock -----------------------------------------------------

    def instrument(self, symbol: tuple[str, str]) -> Instrument:
        with self.ctx.reading() as session:
            return ContractQueries(session, BROKER).instrument(*symbol)

    def quote(self, symbol: tuple[str, str] = SBIN, at: datetime | None = None) -> Quote:
        return self.paper.market.quote(self.instrument(symbol), at or self.clock.now())

    def now(self) -> datetime:
        return self.clock.now().astimezone(IST)

    def to(self, moment: datetime) -> None:
        """Move the clock forward to `moment`."""
        self.clock.advance(moment - self.clock.now())

    def to_time(self, hh: int, mm: int, ss: int = 0, day: date | None = None) -> None:
        """Move the clock to `hh:mm:ss` IST on `day` (default today)."""
        self.to(datetime.combine(day or self.now().date(), time(hh, mm, ss), IST))

    def match(self) -> int:
        return self.paper.match()

    def minutes(self, count: int, step_secs: int = 60) -> Iterator[datetime]:
        """The instants of the next `count` steps (the clock does not move)."""
        now = self.clock.now()
        for index in range(1, count + 1):
            yield now + timedelta(seconds=step_secs * index)


def order_body(
    symbol: tuple[str, str], action: str, quantity: int, **fields: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "strategy": STRATEGY,
        "symbol": symbol[0],
        "exchange": symbol[1],
        "action": action,
        "quantity": str(quantity),
        "pricetype": "MARKET",
        "product": "MIS",
    }
    body.update(
        {key: str(value) if isinstance(value, float) else value for key, value in fields.items()}
    )
    return body


def open_desk(settings: Settings, tmp_path: Path, start: datetime = START, **changes: Any) -> Desk:
    """A desk on the test's database with the paper contract loaded; `changes` to settings."""
    clock = FakeClock(start.astimezone(UTC))
    return Desk(settings.model_copy(update=changes), clock, contract_dir=tmp_path)
