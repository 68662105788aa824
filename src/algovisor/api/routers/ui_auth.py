"""The web UI's login, logout and session: a cookie for the browser, a CSRF token for writes.

These routes take no API key: the login is what makes one unnecessary. Scripts
keep using X-API-Key; the browser sends the `algovisor_session` cookie
(HttpOnly, SameSite=Strict) and echoes `csrf_token` in X-CSRF-Token on writes.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status
from pydantic import BaseModel

from algovisor.api.deps import SESSION_COOKIE, Context, Session
from algovisor.services import users

router = APIRouter(prefix="/api/ui", tags=["web ui"])


class LoginRequest(BaseModel):
    username: str
    password: str


class SessionAnswer(BaseModel):
    username: str
    csrf_token: str


def _limiter(request: Request) -> users.LoginLimiter:
    limiter: users.LoginLimiter = request.app.state.login_limiter
    return limiter


@router.post("/login")
def login(body: LoginRequest, request: Request, response: Response, ctx: Context) -> SessionAnswer:
    """Log in: 401 with one message for a wrong password or an unknown user, 429 when
    this username has failed too often from this address (see Retry-After)."""
    client_ip = request.client.host if request.client else "unknown"
    token, csrf_token = users.login(
        ctx, body.username, body.password, client_ip, limiter=_limiter(request)
    )
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(users.SESSION_ABSOLUTE.total_seconds()),
        path="/",
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="strict",
    )
    return SessionAnswer(username=body.username, csrf_token=csrf_token)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
def logout(request: Request, ctx: Context, session: Session) -> Response:
    """End this session (it needs the CSRF token, like every write) and clear the cookie."""
    users.logout(ctx, request.cookies.get(SESSION_COOKIE))
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    response.delete_cookie(
        SESSION_COOKIE,
        path="/",
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="strict",
    )
    return response


@router.get("/session")
def current_session(session: Session) -> SessionAnswer:
    """Who is logged in, and the CSRF token a reloaded page needs for its writes."""
    return SessionAnswer(username=session.username, csrf_token=session.csrf_token)
