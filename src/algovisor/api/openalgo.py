"""OpenAlgo's conventions for `/api/v1/...`: the key in the body, its error shape, its field rules.

    every endpoint    POST, a JSON object with `apikey` (instruments: GET, query string)
    bad request       400 {"status": "error", "message": "{'field': ['...']}"}
    wrong key         403 {"status": "error", "message": "Invalid openalgo apikey"}
    not found         404 (an order, a symbol on the `symbol` endpoint)
    body over 1 MiB   413, refused before the rest of it is read

The `openalgo` client sends numbers as strings (`"quantity": "75"`) and keeps
unknown keyword arguments: fields accept both forms, and unknown keys are ignored.
Messages follow OpenAlgo's (marshmallow's) wording, so strategies that match
on them keep working. Algovisor's own errors never leak their shape here.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from datetime import date
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from algovisor.brokers.paper.orders import RejectedOrderError
from algovisor.db.limits import MAX_INTEGER
from algovisor.errors import AlgovisorError, NotFoundError, UnavailableError
from algovisor.services.paper_account import PaperAccount

INVALID_KEY = "Invalid openalgo apikey"
# The largest request body read. OpenAlgo's largest requests are baskets and
# multiquotes: 100 orders or 500 symbols are about 30 KB.
MAX_BODY_BYTES = 1024 * 1024


class OpenAlgoError(Exception):
    """An answer in OpenAlgo's error shape."""

    def __init__(
        self,
        status_code: int,
        message: str,
        fields: Mapping[Any, Any] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message
        self.fields = fields  # a schema error's field messages, for nesting (basketorder)
        self.extra = extra


def invalid(field_errors: Mapping[Any, Any]) -> OpenAlgoError:
    """A 400 whose message is the dict repr marshmallow would give (`str(err.messages)`)."""
    return OpenAlgoError(400, str(dict(field_errors)), fields=field_errors)


def error_response(error: OpenAlgoError) -> JSONResponse:
    return JSONResponse(
        {"status": "error", "message": error.message, **error.extra}, error.status_code
    )


def translated(error: AlgovisorError) -> OpenAlgoError:
    """One of ours, told the OpenAlgo way (never as a 500)."""
    if isinstance(error, RejectedOrderError):  # recorded as rejected: the client gets its id
        return OpenAlgoError(400, error.message, orderid=error.order_id)
    if isinstance(error, NotFoundError):
        return OpenAlgoError(404, error.message)
    if isinstance(error, UnavailableError):
        return OpenAlgoError(503, error.message)
    return OpenAlgoError(400, error.message)


class Body:
    """A request's JSON object, read field by field with OpenAlgo's messages."""

    def __init__(self, values: Mapping[str, Any]) -> None:
        self._values = values

    @staticmethod
    async def of(request: Request) -> Body:
        raw = await read_body(request)
        try:
            document = json.loads(raw) if raw.strip() else None
        except ValueError as error:  # undecodable, malformed, or a number too long to read
            raise OpenAlgoError(400, f"Invalid JSON body: {error}") from error
        except RecursionError as error:  # `[[[[...`: nested deeper than the parser goes
            raise OpenAlgoError(400, "Invalid JSON body: nested too deeply") from error
        if not isinstance(document, dict):
            raise invalid({"_schema": ["Invalid input type."]})
        return Body(document)

    def text(self, name: str, *, required: bool = True, default: str | None = None) -> str | None:
        value = self._values.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                raise invalid({name: ["Missing data for required field."]})
            return default
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            raise invalid({name: ["Not a valid string."]})
        if isinstance(value, str) and "\x00" in value:  # no database stores it as text
            raise invalid({name: ["Not a valid string."]})
        return str(value).strip()

    def required_text(self, name: str) -> str:
        value = self.text(name)
        assert value is not None  # noqa: S101 - required fields raise when missing
        return value

    def day(self, name: str) -> date:
        """A required `%Y-%m-%d` date."""
        text = self.required_text(name)
        try:
            return date.fromisoformat(text)
        except ValueError as error:
            raise invalid({name: ["Not a valid date."]}) from error

    def items(self, name: str, *, maximum: int | None = None) -> list[Body]:
        """A required, non-empty list of objects (multiquotes' `symbols`), at most
        `maximum` of them if given."""
        value = self._values.get(name)
        if value is None:
            raise invalid({name: ["Missing data for required field."]})
        if not isinstance(value, list) or not value:
            raise invalid({name: ["Shorter than minimum length 1."]})
        if maximum is not None and len(value) > maximum:
            raise invalid({name: [f"Longer than maximum length {maximum}."]})
        if not all(isinstance(item, dict) for item in value):
            raise invalid({name: ["Invalid input type."]})
        return [Body(item) for item in value]

    def number(self, name: str, *, required: bool = False) -> float | None:
        """A finite number, given as a JSON number or a string (the client sends strings)."""
        value = self._values.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                raise invalid({name: ["Missing data for required field."]})
            return None
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise invalid({name: ["Not a valid number."]})
        try:
            number = float(value)
        except (ValueError, OverflowError) as error:
            raise invalid({name: ["Not a valid number."]}) from error
        if not math.isfinite(number):
            raise invalid({name: ["Special numeric values (nan or infinity) are not permitted."]})
        return number

    def whole(
        self, name: str, rule: str, *, minimum: int = 1, required: bool = True, default: int = 0
    ) -> int:
        """A whole number >= `minimum` (`rule` is the message otherwise); `1.0` is 1."""
        number = self.number(name, required=required)
        if number is None:
            return default
        if number < minimum:
            raise invalid({name: [rule]})
        if not number.is_integer():
            raise invalid(
                {name: [f"Fractional quantity ({number}) is not allowed for non-crypto exchanges."]}
            )
        if number > MAX_INTEGER:
            raise invalid({name: [f"Must be at most {MAX_INTEGER}."]})
        return int(number)

    def price(self, name: str, rule: str) -> float:
        """An optional price, 0 when not given; `rule` when negative."""
        number = self.number(name) or 0.0
        if number < 0:
            raise invalid({name: [rule]})
        return number

    def choice(self, name: str, allowed: Sequence[str], *, required: bool = True) -> str | None:
        value = self.text(name, required=required)
        if value is None:
            return None
        if value not in allowed:
            raise invalid({name: [f"Must be one of: {', '.join(allowed)}."]})
        return value


def body_too_large() -> OpenAlgoError:
    return OpenAlgoError(
        413,
        f"Request body too large: at most {MAX_BODY_BYTES:,} bytes "
        f"({MAX_BODY_BYTES // 2**20} MiB) are read",
    )


async def read_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The body, refused with a 413 once it is over `limit`: at once when its Content-Length
    says so, else (chunked) as soon as the bytes read pass it; the rest is never read."""
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared[:12]) > limit:
        raise body_too_large()  # (12 digits are enough to tell; int() of 5,000 would raise)
    received = bytearray()
    async for chunk in request.stream():
        received += chunk
        if len(received) > limit:
            raise body_too_large()
    return bytes(received)


def check_api_key(account: PaperAccount, key: str | None) -> None:
    """Missing: 400 (a required field); wrong: 403 (OpenAlgo's order: schema, then key)."""
    if key is None or not key.strip():
        raise invalid({"apikey": ["Missing data for required field."]})
    if not account.key.accepts(key.strip()):
        raise OpenAlgoError(403, INVALID_KEY)


Handler = Callable[[PaperAccount, Body], dict[str, Any]]


def endpoint(router: APIRouter, path: str) -> Callable[[Handler], Handler]:
    """Register `handler` as POST <router prefix>/<path>: body read, key checked, errors shaped.

    Handlers run in the thread pool (they read the database) and get the app's
    paper account, which carries the service context and the simulated market.
    """

    def register(handler: Handler) -> Handler:
        async def route(request: Request) -> JSONResponse:
            account: PaperAccount = request.app.state.paper
            try:
                body = await Body.of(request)
                answer = await run_in_threadpool(_answer, account, body, handler)
            except OpenAlgoError as error:
                return error_response(error)
            return JSONResponse(answer)

        router.add_api_route(f"/{path}", route, methods=["POST"])
        router.add_api_route(
            f"/{path}/", route, methods=["POST"]
        )  # OpenAlgo's strict_slashes=False
        return handler

    return register


def _answer(account: PaperAccount, body: Body, handler: Handler) -> dict[str, Any]:
    check_api_key(account, body.text("apikey", required=False))
    try:
        return handler(account, body)
    except AlgovisorError as error:
        raise translated(error) from error


class CollapseDoubleSlash:
    """`http://host:port/` as OPENALGO_HOST makes the client ask for `//api/v1/...`; serve it."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope.get("type") == "http" and scope.get("path", "").startswith("//api/v1/"):
            scope = {**scope, "path": scope["path"][1:], "raw_path": scope["path"][1:].encode()}
        await self.app(scope, receive, send)
