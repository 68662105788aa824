"""Typed dependencies shared by the routers."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Literal

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader

from algovisor.errors import AuthError, ForbiddenError
from algovisor.services import api_keys, users
from algovisor.services.context import ServiceContext

api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False)

SESSION_COOKIE = "algovisor_session"
CSRF_HEADER = "X-CSRF-Token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True)
class Principal:
    """Who made a request: an API key (by name) or a web UI user (by username)."""

    kind: Literal["api_key", "session"]
    name: str


def get_context(request: Request) -> ServiceContext:
    context: ServiceContext = request.app.state.context
    return context


def get_wake(request: Request) -> Callable[[], None]:
    """Nudges the reconciler so a user's action is acted on at once."""
    wake: Callable[[], None] = request.app.state.wake
    return wake


Context = Annotated[ServiceContext, Depends(get_context)]
Wake = Annotated[Callable[[], None], Depends(get_wake)]


def require_session(request: Request, ctx: Context) -> users.SessionView:
    """The web UI session of the cookie; a write must also echo its CSRF token.

    The cookie is SameSite=Strict already; the token is the second lock, and the
    one that holds if a browser or a proxy does not honour SameSite.
    """
    view = users.session_user(ctx, request.cookies.get(SESSION_COOKIE))
    if view is None:
        raise AuthError("not logged in, or the session expired", detail="Log in again.")
    if request.method in UNSAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER, "")
        if not secrets.compare_digest(sent.encode(), view.csrf_token.encode()):
            raise ForbiddenError(
                "CSRF token missing or wrong",
                detail=f"Send the session's csrf_token in the {CSRF_HEADER} header; "
                "reload the page if it changed.",
            )
    return view


def require_api_key(
    request: Request, ctx: Context, key: Annotated[str | None, Depends(api_key_header)]
) -> Principal:
    """An X-API-Key header (scripts), else the web UI's session cookie (browsers).

    A request that sends a key is judged by the key alone, as before the web UI.
    """
    if key is None and SESSION_COOKIE in request.cookies:
        return Principal("session", require_session(request, ctx).username)
    return Principal("api_key", api_keys.verify(ctx, key).name)


Caller = Annotated[Principal, Depends(require_api_key)]
Session = Annotated[users.SessionView, Depends(require_session)]
