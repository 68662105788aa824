"""The seed's `/python/...` endpoints, kept with their paths and answers for existing clients."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from algovisor.api.deps import Context, Wake
from algovisor.services import contracts as contract_service
from algovisor.services import strategies as strategy_service

router = APIRouter(prefix="/python", tags=["openalgo compatibility"])


class SeedAnswer(BaseModel):
    success: bool
    message: str


@router.post("/check-contracts")
def check_contracts(ctx: Context, wake: Wake) -> SeedAnswer:
    """Check readiness now and start the strategies that were waiting for it."""
    success, message = contract_service.check_and_start(ctx, wake)
    return SeedAnswer(success=success, message=message)


@router.post("/clear-error/{strategy_id}")
def clear_error(ctx: Context, wake: Wake, strategy_id: str) -> SeedAnswer:
    result = strategy_service.clear_error(ctx, strategy_id)
    wake()
    return SeedAnswer(success=True, message=result.message)
