"""`/api/v1/...`: the paper broker speaking OpenAlgo's REST API, for the `openalgo` package.

Every route reads its body with `api.openalgo.Body` and answers errors in
OpenAlgo's shape; the key is the paper broker's (`algovisor broker api-key`),
not an algovisor API key.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from algovisor.api.openalgo import Body, OpenAlgoError, check_api_key, error_response, translated
from algovisor.brokers.paper.market import SimulatedMarket
from algovisor.contracts.records import EXCHANGES
from algovisor.errors import AlgovisorError, InvalidInputError
from algovisor.services import paper_broker
from algovisor.services.context import ServiceContext

router = APIRouter(prefix="/api/v1", include_in_schema=False)

Handler = Callable[[ServiceContext, Body, SimulatedMarket], dict[str, Any]]


def endpoint(path: str) -> Callable[[Handler], Handler]:
    """Register `handler` as POST /api/v1/<path>: body read, key checked, errors shaped."""

    def register(handler: Handler) -> Handler:
        async def route(request: Request) -> JSONResponse:
            ctx: ServiceContext = request.app.state.context
            market: SimulatedMarket = request.app.state.market
            try:
                body = await Body.of(request)
                answer = await run_in_threadpool(_answer, ctx, body, market, handler)
            except OpenAlgoError as error:
                return error_response(error)
            return JSONResponse(answer)

        router.add_api_route(f"/{path}", route, methods=["POST"])
        router.add_api_route(
            f"/{path}/", route, methods=["POST"]
        )  # OpenAlgo's strict_slashes=False
        return handler

    return register


def _answer(
    ctx: ServiceContext, body: Body, market: SimulatedMarket, handler: Handler
) -> dict[str, Any]:
    check_api_key(ctx, body.text("apikey", required=False))
    try:
        return handler(ctx, body, market)
    except AlgovisorError as error:
        raise translated(error) from error


@endpoint("intervals")
def intervals(ctx: ServiceContext, body: Body, market: SimulatedMarket) -> dict[str, Any]:
    return {"status": "success", "data": paper_broker.INTERVALS}


@endpoint("symbol")
def symbol(ctx: ServiceContext, body: Body, market: SimulatedMarket) -> dict[str, Any]:
    exchange = body.choice("exchange", EXCHANGES)
    row = paper_broker.symbol(ctx, body.required_text("symbol"), exchange or "")
    return {"status": "success", "data": row}


@endpoint("search")
def search(ctx: ServiceContext, body: Body, market: SimulatedMarket) -> dict[str, Any]:
    query = body.text("query", required=False) or ""
    if not query:
        raise OpenAlgoError(400, "Query parameter is required and cannot be empty")
    rows = paper_broker.search(ctx, query, body.choice("exchange", EXCHANGES, required=False))
    message = f"Found {len(rows)} matching symbols" if rows else "No matching symbols found"
    return {"status": "success", "message": message, "data": rows}


@endpoint("expiry")
def expiry(ctx: ServiceContext, body: Body, market: SimulatedMarket) -> dict[str, Any]:
    name = body.required_text("symbol").upper()
    exchange = body.choice("exchange", paper_broker.EXPIRY_EXCHANGES) or ""
    kind = (body.text("instrumenttype") or "").lower()
    if kind not in paper_broker.EXPIRY_KINDS:
        raise OpenAlgoError(400, str({"instrumenttype": ["Must be one of: futures, options."]}))
    dates = paper_broker.expiries(ctx, name, exchange, kind)
    what = f"{name} {kind} in {exchange}"
    message = (
        f"Found {len(dates)} expiry dates for {what}"
        if dates
        else f"No expiry dates found for {what}"
    )
    return {"status": "success", "message": message, "data": dates}


@endpoint("quotes")
def quotes(ctx: ServiceContext, body: Body, market: SimulatedMarket) -> dict[str, Any]:
    name, exchange = body.required_text("symbol"), body.choice("exchange", EXCHANGES) or ""
    return {"status": "success", "data": paper_broker.quotes(ctx, market, name, exchange)}


@endpoint("depth")
def depth(ctx: ServiceContext, body: Body, market: SimulatedMarket) -> dict[str, Any]:
    name, exchange = body.required_text("symbol"), body.choice("exchange", EXCHANGES) or ""
    return {"status": "success", "data": paper_broker.depth(ctx, market, name, exchange)}


@endpoint("multiquotes")
def multiquotes(ctx: ServiceContext, body: Body, market: SimulatedMarket) -> dict[str, Any]:
    """Unknown symbols first, each with its error; all unknown: 400 with the first error."""
    wanted = body.items("symbols")
    failed: list[dict[str, Any]] = []
    found: list[dict[str, Any]] = []
    for item in wanted:
        name, exchange = item.required_text("symbol"), item.choice("exchange", EXCHANGES) or ""
        try:
            data = paper_broker.quotes(ctx, market, name, exchange)
        except InvalidInputError as error:
            failed.append({"symbol": name, "exchange": exchange, "error": error.message})
        else:
            found.append({"symbol": name, "exchange": exchange, "data": data})
    if not found:
        raise OpenAlgoError(400, failed[0]["error"], invalid_symbols=failed)
    return {"status": "success", "results": [*failed, *found]}


@endpoint("history")
def history(ctx: ServiceContext, body: Body, market: SimulatedMarket) -> dict[str, Any]:
    name, exchange = body.required_text("symbol"), body.choice("exchange", EXCHANGES) or ""
    interval = body.required_text("interval")
    start, end = body.day("start_date"), body.day("end_date")
    data = paper_broker.history(ctx, market, name, exchange, interval, start, end)
    return {"status": "success", "data": data}
