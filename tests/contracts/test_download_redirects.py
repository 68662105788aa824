"""Redirects in contract downloads: a keyed source (an OpenAlgo server's instruments, the key
in the query string) follows them only within its own origin, so the key never reaches
another server; a public list follows them anywhere, as a CDN needs.

Two local servers on 127.0.0.1 are two origins (their ports differ).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from algovisor.contracts.sources import (
    MAX_REDIRECTS,
    ContractSourceError,
    DownloadLimits,
    Source,
    download,
    upstream_source,
)

KEY = "0f4a9c2e7b1d8e3f6a5c4b2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f"
BODY = b'{"status": "success", "data": []}'

Behaviour = Callable[[BaseHTTPRequestHandler], None]


class Site:
    """A local HTTP server answering GETs by path (query aside); it records every request."""

    def __init__(self) -> None:
        self.routes: dict[str, Behaviour] = {}
        self.requests: list[str] = []  # path and query, as asked
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                site.requests.append(self.path)
                behaviour = site.routes.get(urlsplit(self.path).path)
                if behaviour is None:
                    self.send_error(404)
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

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}{path}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def moved(location: str, status: int = 302) -> Behaviour:
    def behave(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(status)
        handler.send_header("Location", location)
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    return behave


def content(body: bytes) -> Behaviour:
    def behave(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    return behave


@pytest.fixture
def sites() -> Iterator[tuple[Site, Site]]:
    first, second = Site(), Site()
    yield first, second
    first.close()
    second.close()


@pytest.fixture(autouse=True)
def no_key_in_logs(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    caplog.set_level(logging.DEBUG)
    yield
    assert all(KEY not in record.getMessage() for record in caplog.records)


def fetch(source: Source, tmp_path: Path) -> bytes:
    target = tmp_path / "download"
    download(source, target, lambda _received, _total: None, DownloadLimits(read_timeout_secs=5))
    return target.read_bytes()


def test_a_keyed_source_is_not_led_to_another_origin(
    sites: tuple[Site, Site], tmp_path: Path
) -> None:
    server, elsewhere = sites
    elsewhere.routes["/api/v1/instruments"] = content(BODY)
    for status in (301, 302, 303, 307, 308):
        server.routes["/api/v1/instruments"] = moved(
            elsewhere.url(f"/api/v1/instruments?apikey={KEY}&x=1"), status
        )
        source = upstream_source(server.url(""), KEY)
        with pytest.raises(ContractSourceError) as refused:
            fetch(source, tmp_path)
        assert refused.value.message == (
            f"{server.url('/api/v1/instruments')} redirected (HTTP {status}) to "
            f"{elsewhere.url('/api/v1/instruments')}; not followed: that is another origin "
            "(scheme, host or port) and the API key travels in the query string. If that "
            "server is to have the key, give its URL"
        )
    assert elsewhere.requests == []
    assert server.requests == [f"/api/v1/instruments?apikey={KEY}"] * 5


def test_a_keyed_source_follows_redirects_on_its_own_origin(
    sites: tuple[Site, Site], tmp_path: Path
) -> None:
    server, _ = sites
    # Flask's strict slashes: the same path with a slash, the query kept.
    server.routes["/api/v1/instruments"] = moved(f"/api/v1/instruments/?apikey={KEY}", 308)
    server.routes["/api/v1/instruments/"] = content(BODY)
    assert fetch(upstream_source(server.url(""), KEY), tmp_path) == BODY
    assert server.requests == [
        f"/api/v1/instruments?apikey={KEY}",
        f"/api/v1/instruments/?apikey={KEY}",
    ]


def test_a_public_list_follows_redirects_anywhere(sites: tuple[Site, Site], tmp_path: Path) -> None:
    server, cdn = sites
    server.routes["/instruments"] = moved(cdn.url("/files/instruments.csv"))
    cdn.routes["/files/instruments.csv"] = content(b"instrument_token\n")
    source = Source("url", "zerodha", server.url("/instruments"))
    assert fetch(source, tmp_path) == b"instrument_token\n"
    assert cdn.requests == ["/files/instruments.csv"]


def test_a_redirect_loop_ends(sites: tuple[Site, Site], tmp_path: Path) -> None:
    server, _ = sites
    server.routes["/a"] = moved("/b")
    server.routes["/b"] = moved("/a")
    with pytest.raises(ContractSourceError) as refused:
        fetch(Source("url", "zerodha", server.url("/a")), tmp_path)
    assert refused.value.message == (
        f"{server.url('/a')} redirected more than {MAX_REDIRECTS} times"
    )
    assert len(server.requests) == MAX_REDIRECTS + 1
