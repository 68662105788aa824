"""The upstream adapter: a client of a real OpenAlgo server's REST API, for live trading.

Every call is a POST of JSON to `<url>/api/v1/<endpoint>` with the key in the
body as `apikey` (OpenAlgo's way; `docs/OPENALGO_API.md`), over one
`httpx.Client` so that connections are reused. Whatever goes wrong is raised
as `BrokerError` naming the server by its URL, never by its key: the network,
a timeout, an HTTP status, an OpenAlgo `{"status": "error"}` answer, an answer
that is not JSON, and a position book that cannot be read. A position book is
never guessed at: a malformed one raises, so reconciliation says "unknown"
rather than reading it as flat.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any

import httpx

from algovisor.brokers.protocol import BrokerError
from algovisor.errors import InvalidInputError
from algovisor.positions.reconcile import BrokerPosition, Key

BROKER = "openalgo"  # the broker name strategies and contracts use for the upstream
API_PATH = "/api/v1"
DEFAULT_TIMEOUT_SECS = 10.0
DEFAULT_CONNECT_TIMEOUT_SECS = 5.0
EXAMPLE_URL = "http://127.0.0.1:5000"
MAX_URL_CHARS = 2048
_ENDPOINT = re.compile(r"[a-z][a-z0-9_]*")
# A whole number of units as text: "-10", and "10.0" as some brokers write it; no 1_000.
_QUANTITY = re.compile(r"([+-]?[0-9]{1,18})(?:\.0+)?")
_MAX_QUANTITY = 10**18
_MESSAGE_CHARS = 300  # of an upstream's own message quoted in ours
_REFUSED_KEY = (401, 403)


class OpenAlgoUpstream:
    """One OpenAlgo server, asked with one API key; satisfies `PositionBook`.

    `timeout_secs` bounds each wait for the server (sending, then each read of
    the answer); `connect_timeout_secs` the wait for a connection. Close it (or
    use it as a context manager) to release its connections.
    """

    def __init__(
        self,
        url: str,
        api_key: str,
        timeout_secs: float = DEFAULT_TIMEOUT_SECS,
        *,
        connect_timeout_secs: float | None = None,
    ) -> None:
        self.url = base_url(url)
        self._key = api_key
        self.timeout_secs = timeout_secs
        self.connect_timeout_secs = (
            min(timeout_secs, DEFAULT_CONNECT_TIMEOUT_SECS)
            if connect_timeout_secs is None
            else connect_timeout_secs
        )
        self._client = httpx.Client(
            timeout=httpx.Timeout(timeout_secs, connect=self.connect_timeout_secs),
            headers={"User-Agent": "algovisor"},
            follow_redirects=False,  # a redirect would resend the key somewhere else
        )

    def __repr__(self) -> str:
        return f"OpenAlgoUpstream({self.url!r})"

    def __enter__(self) -> OpenAlgoUpstream:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    # ----- what algovisor asks ------------------------------------------------------

    def positions(self) -> list[BrokerPosition]:
        """The account's net positions (`/api/v1/positionbook`), signed; closed ones as 0."""
        answer = self.call("positionbook")
        rows = answer.get("data")
        if not isinstance(rows, list):
            raise self._malformed("positionbook", f"its data is {_kind(rows)}, not a list")
        return [self._position(number, row) for number, row in enumerate(rows, start=1)]

    def orders(self) -> list[dict[str, Any]]:
        """Today's orders as the server lists them (`/api/v1/orderbook`), newest first."""
        data = self.call("orderbook").get("data")
        orders = data.get("orders") if isinstance(data, dict) else None
        if not isinstance(orders, list) or not all(isinstance(row, dict) for row in orders):
            raise self._malformed("orderbook", "expected data.orders, a list of objects")
        return orders

    def funds(self) -> dict[str, Any]:
        """The account's funds (`/api/v1/funds`): a cheap question that proves the key works."""
        data = self.call("funds").get("data")
        if not isinstance(data, dict):
            raise self._malformed("funds", f"its data is {_kind(data)}, not an object")
        return data

    def call(self, endpoint: str, fields: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """POST `fields` and the key to `/api/v1/<endpoint>`; the JSON answer of a success."""
        if not _ENDPOINT.fullmatch(endpoint):
            raise ValueError(f"not an OpenAlgo endpoint name: {endpoint!r}")
        path = f"{API_PATH}/{endpoint}"
        try:
            response = self._client.post(
                f"{self.url}{path}", json={**(fields or {}), "apikey": self._key}
            )
        except httpx.ConnectTimeout:
            raise self._error(
                f"could not connect to the OpenAlgo server at {self.url} within "
                f"{self.connect_timeout_secs:g} s",
                "Is the server running, and is the URL right? `algovisor broker show` prints it.",
            ) from None
        except httpx.TimeoutException as error:
            raise self._error(
                f"the OpenAlgo server at {self.url} did not answer {path} within "
                f"{self.timeout_secs:g} s ({type(error).__name__})"
            ) from None
        except httpx.ConnectError as error:
            raise self._error(
                f"could not connect to the OpenAlgo server at {self.url}: {_said(error)}",
                "Is the server running, and is the URL right? `algovisor broker show` prints it.",
            ) from None
        except httpx.HTTPError as error:
            raise self._error(
                f"network error talking to the OpenAlgo server at {self.url} ({path}): "
                f"{_said(error)}"
            ) from None
        return self._answer(path, response)

    # ----- reading answers ----------------------------------------------------------

    def _answer(self, path: str, response: httpx.Response) -> dict[str, Any]:
        try:
            document: object = response.json()
        except (ValueError, RecursionError):  # not JSON, not UTF-8, absurdly nested
            document = None
        message = _message(document)
        if response.status_code in _REFUSED_KEY:
            raise self._error(
                f"the OpenAlgo server at {self.url} refused the API key "
                f"(HTTP {response.status_code}: {message or response.reason_phrase})",
                "Copy the key from the OpenAlgo server's API key page and store it with "
                "`algovisor broker set-upstream URL` (the key is read from standard input).",
            )
        if 300 <= response.status_code < 400:
            target = response.headers.get("location", "").split("?", 1)[0]
            raise self._error(
                f"the OpenAlgo server at {self.url} redirected {path} "
                f"(HTTP {response.status_code}{' to ' + target if target else ''})",
                "Store the address it redirects to with `algovisor broker set-upstream URL`.",
            )
        if response.status_code != 200:
            raise self._error(
                f"the OpenAlgo server at {self.url} answered {path} with "
                f"HTTP {response.status_code}: {message or response.reason_phrase}"
            )
        if not isinstance(document, dict):
            found = "JSON that is not an object" if document is not None else "no JSON"
            content_type = response.headers.get("content-type", "").split(";", 1)[0]
            raise self._error(
                f"the OpenAlgo server at {self.url} answered {path} with {found}"
                f"{' (' + content_type + ')' if content_type else ''}",
                "Is the URL that of an OpenAlgo server (e.g. http://127.0.0.1:5000)?",
            )
        status = document.get("status")
        if status == "error":
            raise self._error(
                f"the OpenAlgo server at {self.url} refused {path}: "
                f"{message or 'it gave no message'}"
            )
        if status != "success":
            raise self._malformed(path, f"its status is {_quote(status)}, not success")
        return document

    def _position(self, number: int, row: object) -> BrokerPosition:
        if not isinstance(row, dict):
            raise self._malformed("positionbook", f"row {number} is {_kind(row)}, not an object")
        texts = []
        for field in ("symbol", "exchange", "product"):
            value = row.get(field)
            if not isinstance(value, str) or not value.strip():
                raise self._malformed(
                    "positionbook", f"row {number} has no {field} (found {_quote(value)})"
                )
            texts.append(value.strip())
        quantity = _quantity(row.get("quantity"))
        if quantity is None:
            raise self._malformed(
                "positionbook",
                f"row {number} ({texts[1]}:{texts[0]}) has quantity {_quote(row.get('quantity'))}"
                ", not a whole number",
            )
        return BrokerPosition(Key(*texts), quantity)

    def _malformed(self, path: str, problem: str) -> BrokerError:
        where = path if path.startswith("/") else f"{API_PATH}/{path}"
        return self._error(
            f"the OpenAlgo server at {self.url} answered {where} in a shape algovisor "
            f"cannot read: {problem}"
        )

    def _error(self, message: str, detail: str | None = None) -> BrokerError:
        """The error, with the key blanked should the server (or a library) have echoed it."""
        return BrokerError(self._redact(message), detail=detail and self._redact(detail))

    def _redact(self, text: str) -> str:
        return text.replace(self._key, "****") if self._key else text


def base_url(text: str) -> str:
    """The server's base URL: http(s), a host; no credentials, query, fragment or API path.

    It is shown and logged, so it must hold nothing secret; the key travels apart.
    """
    url_text = text.strip()
    if not url_text:
        raise InvalidInputError(f"give the OpenAlgo server's URL, e.g. {EXAMPLE_URL}")
    if len(url_text) > MAX_URL_CHARS:
        raise InvalidInputError(
            f"the URL is {len(url_text):,} characters; at most {MAX_URL_CHARS:,}"
        )
    if any(
        character.isspace() or unicodedata.category(character).startswith("C")
        for character in url_text
    ):
        raise InvalidInputError("the URL contains spaces or control characters")
    try:
        url = httpx.URL(url_text)
    except httpx.InvalidURL as error:
        # Not quoted: a mistyped URL may still hold a password or a key.
        raise InvalidInputError(f"the URL is not valid: {error}") from None
    if url.userinfo:
        raise InvalidInputError(
            "a user name or password in the URL would be stored and shown; give the "
            "server's address alone (the API key is read from standard input)"
        )
    if "?" in url_text or "#" in url_text:
        raise InvalidInputError(
            "the URL has a query string or fragment; give the server's address alone, "
            f"e.g. {EXAMPLE_URL} (the API key is read from standard input)"
        )
    if url.scheme not in ("http", "https") or not url.host:
        raise InvalidInputError(f"{url_text!r} is not an http(s) URL, e.g. {EXAMPLE_URL}")
    if url.port is not None and not 0 < url.port < 65536:
        raise InvalidInputError(f"{url_text!r} has port {url.port}; ports are 1-65535")
    bare = str(url).rstrip("/")
    if bare.lower().endswith("/api/v1") or "/api/v1/" in bare.lower():
        raise InvalidInputError(
            f"give the server's address without its API path, e.g. {EXAMPLE_URL}: "
            "algovisor adds /api/v1/... itself"
        )
    return bare


def _quantity(value: object) -> int | None:
    """A signed whole number of units, as OpenAlgo's brokers give it: an int, a float that
    is whole (10.0), or their text ("-1", "10.0"); None for 1.5, booleans, NaN and the like."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        whole = math.isfinite(value) and value.is_integer() and abs(value) < _MAX_QUANTITY
        return int(value) if whole else None
    if isinstance(value, str):
        found = _QUANTITY.fullmatch(value.strip())
        return int(found.group(1)) if found else None
    return None


def _message(document: object) -> str:
    """OpenAlgo's own `message`, as one short line (a marshmallow dict becomes its JSON)."""
    if not isinstance(document, dict):
        return ""
    message = document.get("message")
    if message is None or message == "":
        return ""
    text = message if isinstance(message, str) else json.dumps(message, default=str)
    text = " ".join(text.split())
    return text if len(text) <= _MESSAGE_CHARS else text[: _MESSAGE_CHARS - 1] + "…"


def _said(error: httpx.HTTPError) -> str:
    return " ".join(str(error).split()) or type(error).__name__


def _kind(value: object) -> str:
    if value is None:
        return "missing (or null)"
    if isinstance(value, Sequence) and not isinstance(value, str):
        return "a list"
    return f"a {type(value).__name__}" if not isinstance(value, dict) else "an object"


def _quote(value: object) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 40 else text[:39] + "…"
