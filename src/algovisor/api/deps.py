"""Typed dependencies shared by the routers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader

from algovisor.services import api_keys
from algovisor.services.context import ServiceContext
from algovisor.services.views import ApiKeyView

api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False)


def get_context(request: Request) -> ServiceContext:
    context: ServiceContext = request.app.state.context
    return context


def get_wake(request: Request) -> Callable[[], None]:
    """Nudges the reconciler so a user's action is acted on at once."""
    wake: Callable[[], None] = request.app.state.wake
    return wake


Context = Annotated[ServiceContext, Depends(get_context)]
Wake = Annotated[Callable[[], None], Depends(get_wake)]


def require_api_key(
    ctx: Context, key: Annotated[str | None, Depends(api_key_header)]
) -> ApiKeyView:
    return api_keys.verify(ctx, key)


Caller = Annotated[ApiKeyView, Depends(require_api_key)]
