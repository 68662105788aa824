"""The paper broker's answers, in OpenAlgo's shapes: symbols, search, expiries, market data.

Instruments are the `paper` master contract's; what the `openalgo` client
reads from each answer is in docs/OPENALGO_API.md.
"""

from __future__ import annotations

import csv
import io
import json
import threading
from collections.abc import Callable
from datetime import date
from typing import Any

from algovisor.brokers.paper import BROKER
from algovisor.brokers.paper.market import Quote, SimulatedMarket
from algovisor.contracts.days import opens_for_trading
from algovisor.contracts.queries import ContractQueries
from algovisor.contracts.readiness import CONTRACT_CALENDAR
from algovisor.contracts.records import Instrument
from algovisor.contracts.symbols import MONTHS
from algovisor.errors import InvalidInputError, NotFoundError
from algovisor.services.context import ServiceContext
from algovisor.services.paper_account import PaperAccount

INTERVALS = {
    "seconds": [],
    "minutes": ["1m", "3m", "5m", "10m", "15m", "30m"],
    "hours": ["1h"],
    "days": ["D"],
    "weeks": [],
    "months": [],
}
EXPIRY_EXCHANGES = ("NFO", "BFO", "MCX", "CDS", "NCO", "BCD", "NCDEX", "CRYPTO")
EXPIRY_KINDS = ("futures", "options")
SEARCH_LIMIT = 500


class SymbolNotListedError(NotFoundError):
    """The symbol is not in today's paper contract on that exchange."""


def expiry_text(day: date) -> str:
    """OpenAlgo's expiry: 25-AUG-26."""
    return f"{day.day:02d}-{MONTHS[day.month - 1]}-{day.year % 100:02d}"


def instrument_row(instrument: Instrument) -> dict[str, Any]:
    """One instrument as OpenAlgo's symbol, search and instruments endpoints give it."""
    expiry = instrument.expiry
    return {
        "symbol": instrument.symbol,
        "brsymbol": instrument.broker_symbol,
        "name": instrument.name,
        "exchange": instrument.exchange,
        "brexchange": instrument.broker_exchange,
        "token": instrument.token,
        "expiry": expiry_text(expiry) if expiry else "",
        "strike": instrument.strike if instrument.strike is not None else 0.0,
        "lotsize": instrument.lot_size,
        "instrumenttype": instrument.instrument_type,
        "tick_size": instrument.tick_size,
    }


def symbol(ctx: ServiceContext, name: str, exchange: str) -> dict[str, Any]:
    with ctx.reading() as session:
        try:
            found = ContractQueries(session, BROKER).instrument(name.upper(), exchange)
        except NotFoundError as error:
            raise SymbolNotListedError(f"Symbol {name} not found in exchange {exchange}") from error
    return instrument_row(found)


def search(ctx: ServiceContext, query: str, exchange: str | None) -> list[dict[str, Any]]:
    """Symbols starting with the first word and holding every other one: `NIFTY 26000 CE`."""
    words = query.upper().split()
    if not words:
        raise InvalidInputError("Query parameter is required and cannot be empty")
    with ctx.reading() as session:
        queries = ContractQueries(session, BROKER)
        candidates = queries.search(words[0], exchange, limit=SEARCH_LIMIT * 20)
    matches = [
        instrument
        for instrument in candidates
        if all(word in instrument.symbol for word in words[1:])
    ]
    return [instrument_row(instrument) for instrument in matches[:SEARCH_LIMIT]]


def expiries(ctx: ServiceContext, name: str, exchange: str, kind: str) -> list[str]:
    """`DD-MMM-YY` dates, soonest first, of one underlying's futures or options."""
    with ctx.reading() as session:
        queries = ContractQueries(session, BROKER)
        try:
            if kind == "futures":
                dates = set(queries.expiries(name, exchange, "FUT"))
            else:
                dates = set(queries.expiries(name, exchange, "CE"))
                dates |= set(queries.expiries(name, exchange, "PE"))
        except NotFoundError:
            dates = set()  # no such exchange in the contract: nothing expires there
    return [expiry_text(day) for day in sorted(dates)]


# ----- market data ----------------------------------------------------------------------

MARKET_SEED = 20_260_101  # one market for every host: the same prices on every machine


def trading_day_test(ctx: ServiceContext) -> Callable[[date], bool]:
    """The paper broker's trading days: the NSE calendar's (the current one, overrides too)."""
    calendars = ctx.calendars

    def is_trading_day(day: date) -> bool:
        return opens_for_trading(calendars.current()[CONTRACT_CALENDAR], day)

    return is_trading_day


def open_market(ctx: ServiceContext) -> SimulatedMarket:
    """The paper broker's market; frozen on holidays and weekends."""
    return SimulatedMarket(MARKET_SEED, (), is_trading_day=trading_day_test(ctx))


def open_account(ctx: ServiceContext) -> PaperAccount:
    """The paper broker's account over its market, with the host's settings."""
    return PaperAccount(ctx, open_market(ctx), is_trading_day=trading_day_test(ctx))


def listed(paper: PaperAccount, name: str, exchange: str) -> Instrument:
    """An instrument of today's contract (the account's cache); OpenAlgo's 400 text when it
    is not there."""
    found = paper.listed(name.upper(), exchange)
    if found is None:
        raise InvalidInputError(
            f"Symbol '{name}' not found for exchange '{exchange}'. Please verify the symbol "
            "name and ensure master contracts are downloaded."
        )
    return found


def quote_data(quote: Quote) -> dict[str, Any]:
    return {
        "open": quote.open,
        "high": quote.high,
        "low": quote.low,
        "ltp": quote.ltp,
        "ask": quote.ask,
        "bid": quote.bid,
        "prev_close": quote.prev_close,
        "volume": quote.volume,
        "oi": quote.oi,
    }


def quotes(paper: PaperAccount, name: str, exchange: str) -> dict[str, Any]:
    instrument = listed(paper, name, exchange)
    return quote_data(paper.market.quote(instrument, paper.ctx.clock.now()))


def depth(paper: PaperAccount, name: str, exchange: str) -> dict[str, Any]:
    book = paper.market.depth(listed(paper, name, exchange), paper.ctx.clock.now())
    quote = book.quote
    return {
        **{key: value for key, value in quote_data(quote).items() if key not in ("ask", "bid")},
        "ltq": quote.last_quantity,
        "totalbuyqty": book.total_buy_quantity,
        "totalsellqty": book.total_sell_quantity,
        "asks": [{"price": level.price, "quantity": level.quantity} for level in book.asks],
        "bids": [{"price": level.price, "quantity": level.quantity} for level in book.bids],
    }


def history(
    paper: PaperAccount,
    name: str,
    exchange: str,
    interval: str,
    start: date,
    end: date,
) -> list[dict[str, Any]]:
    """Bars as OpenAlgo sends them: epoch-second timestamps, oldest first."""
    instrument = listed(paper, name, exchange)
    bars = paper.market.history(instrument, interval, start, end, paper.ctx.clock.now())
    return [
        {
            "timestamp": bar.timestamp,
            "open": bar.open,
            "high": bar.high,
            "low": bar.low,
            "close": bar.close,
            "volume": bar.volume,
            "oi": bar.oi,
        }
        for bar in bars
    ]


class InstrumentListings:
    """`GET /api/v1/instruments` answers, made once per contract generation and exchange:
    the whole paper contract is about 150,000 rows, too many to serialize per request
    (about 1.2 s and 140 MB while it is made).

    Single-flight: while one request makes an answer, the others asking for the same
    one wait for it instead of making their own. One per app (`app.state.listings`):
    two apps on two databases may hold equal generation numbers.
    """

    FORMATS = ("json", "csv")
    COLUMNS = (
        "symbol", "brsymbol", "name", "exchange", "brexchange", "token",
        "expiry", "strike", "lotsize", "instrumenttype", "tick_size",
    )  # fmt: skip

    def __init__(self) -> None:
        self._lock = threading.Lock()  # guards the two dicts
        self._cached: dict[tuple[str | None, str], tuple[int, bytes]] = {}
        self._makers: dict[tuple[str | None, str], threading.Lock] = {}

    def answer(self, ctx: ServiceContext, exchange: str | None, fmt: str) -> bytes:
        key = (exchange, fmt)
        with self._lock:
            maker = self._makers.setdefault(key, threading.Lock())
        with maker:  # held while the answer is checked and, if stale, made
            with ctx.reading() as session:
                queries = ContractQueries(session, BROKER)
                with self._lock:
                    cached = self._cached.get(key)
                if cached is not None and cached[0] == queries.generation:
                    return cached[1]
                rows = [instrument_row(row) for row in queries.listing(exchange)]
                generation = queries.generation
            body = self._csv(rows) if fmt == "csv" else self._json(rows)
            with self._lock:
                self._cached[key] = (generation, body)
            return body

    @staticmethod
    def _json(rows: list[dict[str, Any]]) -> bytes:
        answer = {"status": "success", "message": f"Found {len(rows)} instruments", "data": rows}
        return json.dumps(answer, separators=(",", ":")).encode()

    @classmethod
    def _csv(cls, rows: list[dict[str, Any]]) -> bytes:
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=cls.COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return out.getvalue().encode()
