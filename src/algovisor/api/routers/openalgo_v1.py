"""`/api/v1/...`: the paper broker speaking OpenAlgo's REST API, for the `openalgo` package.

Every route reads its body with `api.openalgo.Body` and answers errors in
OpenAlgo's shape; the key is the paper broker's (`algovisor broker api-key`),
not an algovisor API key.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from algovisor.api.openalgo import (
    Body,
    OpenAlgoError,
    check_api_key,
    endpoint,
    error_response,
    invalid,
    translated,
)
from algovisor.contracts.records import EXCHANGES
from algovisor.errors import AlgovisorError, InvalidInputError
from algovisor.services import paper_broker
from algovisor.services.paper_account import PaperAccount

router = APIRouter(prefix="/api/v1", include_in_schema=False)
# OpenAlgo's server documents no cap on multiquotes; this is algovisor's. 500 options
# are a 27 KB request, answered in about 30 ms; 5,000 took 350 ms of the host's time.
MAX_MULTIQUOTES = 500


@endpoint(router, "intervals")
def intervals(paper: PaperAccount, body: Body) -> dict[str, Any]:
    return {"status": "success", "data": paper_broker.INTERVALS}


@endpoint(router, "symbol")
def symbol(paper: PaperAccount, body: Body) -> dict[str, Any]:
    exchange = body.choice("exchange", EXCHANGES)
    row = paper_broker.symbol(paper.ctx, body.required_text("symbol"), exchange or "")
    return {"status": "success", "data": row}


@endpoint(router, "search")
def search(paper: PaperAccount, body: Body) -> dict[str, Any]:
    query = body.text("query", required=False) or ""
    if not query:
        raise OpenAlgoError(400, "Query parameter is required and cannot be empty")
    rows = paper_broker.search(paper.ctx, query, body.choice("exchange", EXCHANGES, required=False))
    message = f"Found {len(rows)} matching symbols" if rows else "No matching symbols found"
    return {"status": "success", "message": message, "data": rows}


@endpoint(router, "expiry")
def expiry(paper: PaperAccount, body: Body) -> dict[str, Any]:
    name = body.required_text("symbol").upper()
    exchange = body.choice("exchange", paper_broker.EXPIRY_EXCHANGES) or ""
    kind = (body.text("instrumenttype") or "").lower()
    if kind not in paper_broker.EXPIRY_KINDS:
        raise OpenAlgoError(400, str({"instrumenttype": ["Must be one of: futures, options."]}))
    dates = paper_broker.expiries(paper.ctx, name, exchange, kind)
    what = f"{name} {kind} in {exchange}"
    message = (
        f"Found {len(dates)} expiry dates for {what}"
        if dates
        else f"No expiry dates found for {what}"
    )
    return {"status": "success", "message": message, "data": dates}


@endpoint(router, "quotes")
def quotes(paper: PaperAccount, body: Body) -> dict[str, Any]:
    name, exchange = body.required_text("symbol"), body.choice("exchange", EXCHANGES) or ""
    return {
        "status": "success",
        "data": paper_broker.quotes(paper, name, exchange),
    }


@endpoint(router, "depth")
def depth(paper: PaperAccount, body: Body) -> dict[str, Any]:
    name, exchange = body.required_text("symbol"), body.choice("exchange", EXCHANGES) or ""
    return {
        "status": "success",
        "data": paper_broker.depth(paper, name, exchange),
    }


@endpoint(router, "multiquotes")
def multiquotes(paper: PaperAccount, body: Body) -> dict[str, Any]:
    """Unknown symbols first, each with its error; all unknown: 400 with the first error.
    At most MAX_MULTIQUOTES symbols (algovisor's cap): ask for more in several calls."""
    wanted = body.items("symbols", maximum=MAX_MULTIQUOTES)
    failed: list[dict[str, Any]] = []
    found: list[dict[str, Any]] = []
    for item in wanted:
        name, exchange = item.required_text("symbol"), item.choice("exchange", EXCHANGES) or ""
        try:
            data = paper_broker.quotes(paper, name, exchange)
        except InvalidInputError as error:
            failed.append({"symbol": name, "exchange": exchange, "error": error.message})
        else:
            found.append({"symbol": name, "exchange": exchange, "data": data})
    if not found:
        raise OpenAlgoError(400, failed[0]["error"], invalid_symbols=failed)
    return {"status": "success", "results": [*failed, *found]}


@endpoint(router, "history")
def history(paper: PaperAccount, body: Body) -> dict[str, Any]:
    name, exchange = body.required_text("symbol"), body.choice("exchange", EXCHANGES) or ""
    interval = body.required_text("interval")
    start, end = body.day("start_date"), body.day("end_date")
    data = paper_broker.history(paper, name, exchange, interval, start, end)
    return {"status": "success", "data": data}


@router.get("/instruments")
@router.get("/instruments/")
async def instruments(request: Request) -> Response:
    """GET with the key in the query string, as the client sends it (never logged: the
    host runs uvicorn without an access log)."""
    paper: PaperAccount = request.app.state.paper
    query = request.query_params
    try:
        exchange = query.get("exchange") or None
        if exchange is not None and exchange not in EXCHANGES:
            raise invalid({"exchange": [f"Must be one of: {', '.join(EXCHANGES)}."]})
        fmt = query.get("format") or "json"
        if fmt not in paper_broker.InstrumentListings.FORMATS:
            raise invalid({"format": ["Must be one of: json, csv."]})
        listings: paper_broker.InstrumentListings = request.app.state.listings
        body = await run_in_threadpool(
            _listing, paper, listings, query.get("apikey"), exchange, fmt
        )
    except OpenAlgoError as error:
        return error_response(error)
    if fmt == "csv":
        name = f"instruments_{exchange or 'all'}.csv"
        return Response(
            body,
            media_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )
    return Response(body, media_type="application/json")


def _listing(
    paper: PaperAccount,
    listings: paper_broker.InstrumentListings,
    key: str | None,
    exchange: str | None,
    fmt: str,
) -> bytes:
    check_api_key(paper, key)
    try:
        return listings.answer(paper.ctx, exchange, fmt)
    except AlgovisorError as error:
        raise translated(error) from error
