"""A local HTTP server that plays an OpenAlgo server, and sockets that misbehave.

`FakeOpenAlgo` answers `POST /api/v1/<endpoint>` like OpenAlgo: the key in the
JSON body, 403 `Invalid openalgo apikey` for a wrong one, and whatever the test
put in `answers` (a `Behaviour`) otherwise; `GET /api/v1/instruments` takes the
key in its query, as OpenAlgo's does. Every request is recorded.
`silent_server` accepts connections and never answers; `closed_port` has nothing
listening.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

KEY = "0f4a9c2e7b1d8e3f6a5c4b2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f"  # OpenAlgo-like: 64 hex

Behaviour = Callable[[BaseHTTPRequestHandler], None]


@dataclass(frozen=True)
class Request:
    method: str
    path: str  # without the query
    query: dict[str, list[str]]
    body: Any  # the parsed JSON body, or None


def send(status: int, body: bytes, content_type: str = "application/json") -> Behaviour:
    def behave(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    return behave


def answer(document: object, status: int = 200) -> Behaviour:
    return send(status, json.dumps(document).encode())


def success(data: object, **extra: object) -> Behaviour:
    return answer({"status": "success", "data": data, **extra})


def error(message: object, status: int = 400) -> Behaviour:
    return answer({"status": "error", "message": message}, status)


def redirect(location: str) -> Behaviour:
    def behave(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(302)
        handler.send_header("Location", location)
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    return behave


class FakeOpenAlgo:
    """An OpenAlgo server on 127.0.0.1; `answers` maps an endpoint name to its behaviour."""

    def __init__(self, key: str = KEY) -> None:
        self.key = key
        self.answers: dict[str, Behaviour] = {"funds": success({"availablecash": "100000.00"})}
        self.requests: list[Request] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as a real server: connections are reused

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = None
                self._serve(body, (body or {}).get("apikey") if isinstance(body, dict) else None)

            def do_GET(self) -> None:
                query = parse_qs(urlsplit(self.path).query)
                self._serve(None, (query.get("apikey") or [None])[0])

            def _serve(self, body: Any, key: object) -> None:
                parts = urlsplit(self.path)
                fake.requests.append(Request(self.command, parts.path, parse_qs(parts.query), body))
                endpoint = parts.path.removeprefix("/api/v1/").rstrip("/")
                behaviour = (
                    fake.answers.get(endpoint) if parts.path.startswith("/api/v1/") else None
                )
                if behaviour is None:
                    error("Not found", 404)(self)
                elif key != fake.key:
                    error("Invalid openalgo apikey", 403)(self)
                else:
                    behaviour(self)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                """Quiet: the tests assert on what the client saw."""

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def asked(self, endpoint: str) -> list[Request]:
        return [request for request in self.requests if request.path == f"/api/v1/{endpoint}"]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@contextlib.contextmanager
def fake_openalgo(key: str = KEY) -> Iterator[FakeOpenAlgo]:
    server = FakeOpenAlgo(key)
    try:
        yield server
    finally:
        server.close()


@contextlib.contextmanager
def silent_server() -> Iterator[str]:
    """A URL whose server accepts connections (the kernel does) and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"


@contextlib.contextmanager
def full_backlog() -> Iterator[str]:
    """A URL whose server's queue of pending connections is full: new ones never complete.

    Linux drops a SYN while a listener's accept queue is full, so connecting
    waits for its timeout: what a server too busy (or a firewall) looks like.
    """
    with contextlib.ExitStack() as stack:
        listener = stack.enter_context(socket.socket())
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        address = listener.getsockname()
        for _ in range(3):
            filler = stack.enter_context(socket.socket())
            filler.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                filler.connect(address)
        yield f"http://127.0.0.1:{address[1]}"


def closed_port() -> str:
    """A URL with nothing listening: connections are refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def position_row(
    symbol: str, quantity: object, exchange: str = "NSE", product: str = "MIS"
) -> dict[str, object]:
    """A position book row as OpenAlgo's docs show it (numbers as strings)."""
    return {
        "symbol": symbol,
        "exchange": exchange,
        "product": product,
        "quantity": quantity,
        "average_price": "83.74",
        "ltp": "83.72",
        "pnl": "0.02",
    }


def instrument(
    symbol: str,
    exchange: str,
    token: str,
    instrumenttype: str,
    *,
    name: str | None = None,
    expiry: str = "",
    strike: float = -1.0,
    lotsize: int = 1,
) -> dict[str, object]:
    """An instruments row as an OpenAlgo server gives it (`docs/OPENALGO_API.md` 8)."""
    return {
        "symbol": symbol,
        "brsymbol": symbol,
        "name": name or symbol,
        "exchange": exchange,
        "brexchange": exchange,
        "token": token,
        "expiry": expiry,
        "strike": strike,
        "lotsize": lotsize,
        "instrumenttype": instrumenttype,
        "tick_size": 0.05,
    }


# A small instrument list in OpenAlgo's shape: equities, an index, a future and an option.
INSTRUMENTS = [
    instrument("SBIN", "NSE", "3045", "EQ", name="STATE BANK OF INDIA"),
    instrument("RELIANCE", "NSE", "2885", "EQ", name="RELIANCE INDUSTRIES"),
    instrument("NIFTY", "NSE_INDEX", "26000", "INDEX", lotsize=0),
    instrument(
        "NIFTY28DEC27FUT", "NFO", "48225", "FUT", name="NIFTY", expiry="28-DEC-27", lotsize=65
    ),
    instrument(
        "NIFTY28DEC2724000CE",
        "NFO",
        "48226",
        "CE",
        name="NIFTY",
        expiry="28-DEC-27",
        strike=24000.0,
        lotsize=65,
    ),
]


def instruments_answer() -> Behaviour:
    return success(INSTRUMENTS, message=f"Found {len(INSTRUMENTS)} instruments")
