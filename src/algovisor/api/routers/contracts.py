"""Master contracts: status (the seed's endpoint and the full list), refresh, and lookups."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from algovisor.api.deps import Context
from algovisor.contracts.sources import check_broker
from algovisor.services import contracts as service
from algovisor.services.views import ChainLinkView, ContractStatusView, InstrumentView

router = APIRouter(prefix="/api", tags=["master contracts"])

Broker = Annotated[str, Query(description="paper, zerodha, angel, dhan, upstox or openalgo")]
Exchange = Annotated[str, Query(description="NSE, BSE, NFO, BFO, CDS, BCD, MCX, NSE_INDEX...")]


@router.get("/master-contract/status")
def master_contract_status(ctx: Context, broker: Broker = "paper") -> dict[str, Any]:
    """The seed's shape (`total_symbols` as text), with the full status beside it."""
    view = service.status(ctx, broker)
    body = view.model_dump(mode="json")
    body["total_symbols"] = str(view.total_symbols)
    return body


@router.get("/master-contracts")
def master_contracts(ctx: Context) -> list[ContractStatusView]:
    return service.statuses(ctx)


@router.post("/master-contracts/{broker}/refresh", status_code=202)
def refresh(ctx: Context, request: Request, broker: str) -> JSONResponse:
    """Ask the host to refresh now from the broker's remembered (or public) source."""
    check_broker(broker)
    request.app.state.refresh_contract(broker)
    return JSONResponse(service.status(ctx, broker).model_dump(mode="json"), status_code=202)


@router.get("/master-contracts/{broker}/search")
def search(
    ctx: Context,
    broker: str,
    q: Annotated[str, Query(min_length=1, max_length=64)],
    exchange: Annotated[str | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[InstrumentView]:
    return service.search(ctx, broker, q, exchange, limit)


@router.get("/master-contracts/{broker}/symbols/{exchange}/{symbol}")
def lookup(ctx: Context, broker: str, exchange: str, symbol: str) -> InstrumentView:
    return service.lookup(ctx, broker, symbol, exchange)


@router.get("/master-contracts/{broker}/tokens/{exchange}/{token}")
def lookup_token(ctx: Context, broker: str, exchange: str, token: str) -> InstrumentView:
    return service.lookup_token(ctx, broker, token, exchange)


@router.get("/master-contracts/{broker}/expiries")
def expiries(
    ctx: Context,
    broker: str,
    name: Annotated[str, Query(min_length=1, max_length=64)],
    exchange: Exchange = "NFO",
    instrument_type: Annotated[str | None, Query(pattern="^(FUT|CE|PE)$")] = None,
) -> list[date]:
    return service.expiries(ctx, broker, name, exchange, instrument_type)


@router.get("/master-contracts/{broker}/option-chain")
def option_chain(
    ctx: Context,
    broker: str,
    name: Annotated[str, Query(min_length=1, max_length=64)],
    expiry: date,
    exchange: Exchange = "NFO",
) -> list[ChainLinkView]:
    return service.option_chain(ctx, broker, name, expiry, exchange)
