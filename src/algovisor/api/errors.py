"""The one place where errors become HTTP answers.

Every error is `{"error": ..., "detail": ..., "field": ...}` with a 4xx (or 503) status, never
a 500 page; `field` names the request field that was wrong (a form shows the message beside
it), or is null.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from algovisor.errors import (
    AlgovisorError,
    AuthError,
    ConflictError,
    ForbiddenError,
    InvalidInputError,
    NotFoundError,
    RateLimitedError,
    UnavailableError,
)

logger = logging.getLogger(__name__)

OPENALGO_PREFIX = "/api/v1/"  # the paper broker's OpenAlgo API: errors in OpenAlgo's shape

STATUS_BY_ERROR: tuple[tuple[type[AlgovisorError], int], ...] = (
    (InvalidInputError, 400),
    (AuthError, 401),
    (ForbiddenError, 403),
    (NotFoundError, 404),
    (ConflictError, 409),
    (UnavailableError, 503),
    (RateLimitedError, 429),
)


def error_body(
    error: str, detail: str | None = None, field: str | None = None
) -> dict[str, str | None]:
    return {"error": error, "detail": detail, "field": field}


def status_for(error: AlgovisorError) -> int:
    for error_type, status in STATUS_BY_ERROR:
        if isinstance(error, error_type):
            return status
    return 400


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(AlgovisorError)
    async def _algovisor_error(request: Request, error: AlgovisorError) -> JSONResponse:
        status = status_for(error)
        headers = {"Retry-After": "2"} if status == 503 else None
        if isinstance(error, RateLimitedError):
            headers = {"Retry-After": str(error.retry_after_secs)}
        body = error_body(error.message, error.detail, error.field)
        return JSONResponse(body, status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, error: RequestValidationError) -> JSONResponse:
        issues = error.errors()
        problems = "; ".join(
            f"{'.'.join(str(part) for part in issue['loc'])}: {issue['msg']}" for issue in issues
        )
        # The first wrong field by its own name ("start" of ["body", "start"]), for forms.
        first = issues[0]["loc"] if issues else ()
        located = [part for part in first if part not in ("body", "query", "path")]
        field = str(located[0]) if located else None
        return JSONResponse(error_body("invalid request", problems, field), 422)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        if request.url.path.startswith(OPENALGO_PREFIX):  # an OpenAlgo client reads its shape
            body = {"status": "error", "message": str(error.detail)}
            return JSONResponse(body, error.status_code, headers=error.headers)
        return JSONResponse(error_body(str(error.detail)), error.status_code, headers=error.headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, error: Exception) -> JSONResponse:
        logger.error("unexpected error on %s %s", request.method, request.url.path, exc_info=error)
        if request.url.path.startswith(OPENALGO_PREFIX):
            return JSONResponse({"status": "error", "message": "An unexpected error occurred"}, 500)
        return JSONResponse(
            error_body("internal error", "The host logged the details; please report it."), 500
        )
