"""Where a broker's contract comes from, and fetching it to a local file.

    paper   generated for the trading day (the built-in paper broker)
    url     downloaded over HTTP(S), streamed to disk with progress
    file    read from a path the trader gave on the command line

The brokers algovisor knows, with their native format and public URL, are in
`BROKERS`. Only the CLI passes file paths; the API never names a file.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

import httpx

from algovisor.errors import InvalidInputError, UnavailableError

FORMATS = ("paper", "zerodha", "angel", "dhan", "upstox", "openalgo")


@dataclass(frozen=True)
class BrokerInfo:
    format: str
    url: str | None  # the public instrument list, if the broker publishes one
    # Its contract comes from what the trader set up (`openalgo`: the upstream server),
    # and the host refreshes it from that alone, never from a source it remembers.
    configured: bool = False


BROKERS = MappingProxyType(
    {
        "paper": BrokerInfo("paper", None),
        "zerodha": BrokerInfo("zerodha", "https://api.kite.trade/instruments"),
        "angel": BrokerInfo(
            "angel",
            "https://margincalculator.angelbroking.com/OpenAPI_File/files/OpenAPIScripMaster.json",
        ),
        "dhan": BrokerInfo("dhan", "https://images.dhan.co/api-data/api-scrip-master.csv"),
        "upstox": BrokerInfo(
            "upstox",
            "https://assets.upstox.com/market-quote/instruments/exchange/complete.json.gz",
        ),
        "openalgo": BrokerInfo("openalgo", None, configured=True),
    }
)


class _NoQueryInRequestLog(logging.Filter):
    """httpx logs every request's URL at INFO, query string and all: an OpenAlgo key rides there."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                arg.copy_with(query=None) if isinstance(arg, httpx.URL) and arg.query else arg
                for arg in record.args
            )
        return True


logging.getLogger("httpx").addFilter(_NoQueryInRequestLog())


class ContractSourceError(UnavailableError):
    """The contract could not be fetched: network, HTTP status, timeout."""


def check_broker(broker: str) -> BrokerInfo:
    info = BROKERS.get(broker)
    if info is None:
        raise InvalidInputError(
            f"unknown broker {broker!r}; algovisor knows: {', '.join(BROKERS)}",
            field="broker",
        )
    return info


def check_format(format_name: str) -> str:
    if format_name not in FORMATS:
        raise InvalidInputError(
            f"unknown contract format {format_name!r}; use one of: {', '.join(FORMATS[1:])}"
        )
    return format_name


@dataclass(frozen=True)
class Source:
    kind: str  # paper, url, file
    format: str
    location: str | None = None
    # Sent as the `apikey` query parameter (OpenAlgo's instruments API); never shown.
    api_key: str | None = field(default=None, repr=False)

    def describe(self) -> str:
        """Where it comes from, as it may be shown and logged: no query string, no key."""
        if self.kind == "paper":
            return "the paper generator"
        location = (self.location or "").split("?", 1)[0]
        if self.kind == "url":
            url = httpx.URL(location)
            location = (
                str(url.copy_with(username=None, password=None)) if url.userinfo else location
            )
        return f"{location} ({self.format})"


def upstream_source(url: str, api_key: str) -> Source:
    """An OpenAlgo server's instrument list (all exchanges in one answer), asked with its key."""
    return Source("url", "openalgo", f"{url.rstrip('/')}/api/v1/instruments", api_key)


def default_source(broker: str, configured: Source | None = None) -> Source:
    """The broker's own source: the generator for paper, else the configured one, else its
    public URL.

    `configured` is what the trader set up for the broker (the OpenAlgo upstream
    for `openalgo`, `upstream_source`); this module reads no database, so the
    caller passes it in.
    """
    info = check_broker(broker)
    if info.format == "paper":
        return Source("paper", "paper")
    if configured is not None:
        return configured
    if info.url is None:
        if info.format == "openalgo":
            raise InvalidInputError(
                f"no OpenAlgo server is configured for the {broker} broker; run "
                "`algovisor broker set-upstream URL` (its API key on standard input), or give "
                "--url (an OpenAlgo server's /api/v1/instruments) with --api-key, or --file"
            )
        raise InvalidInputError(f"{broker} has no public instrument list; give --url or --file")
    return Source("url", info.format, info.url)


Progress = Callable[[int, int | None], None]


@dataclass(frozen=True)
class DownloadLimits:
    connect_timeout_secs: float = 10.0
    read_timeout_secs: float = 30.0  # silence between two chunks
    total_timeout_secs: float = 300.0  # the whole download
    max_bytes: int = 1024 * 1024 * 1024


MAX_REDIRECTS = 10


def download(source: Source, target: Path, progress: Progress, limits: DownloadLimits) -> None:
    """Stream the source's URL into `target`, reporting bytes as they arrive.

    Raises ContractSourceError. Messages name the URL without its query string,
    where credentials travel. Redirects are followed, but a keyed source's only
    within its own origin: its key rides in the query string, and a redirect keeps it.
    """
    url = source.describe().rsplit(" (", 1)[0]
    deadline = time.monotonic() + limits.total_timeout_secs
    timeout = httpx.Timeout(limits.read_timeout_secs, connect=limits.connect_timeout_secs)
    try:
        with (
            httpx.Client(timeout=timeout, follow_redirects=False) as client,
            _response(client, source, url) as response,
            target.open("wb") as out,
        ):
            if response.status_code >= 400:
                raise ContractSourceError(
                    f"HTTP {response.status_code} {response.reason_phrase} from {url}"
                )
            total = _content_length(response)
            received = 0
            for chunk in response.iter_bytes():  # as it arrives: the deadline is checked
                received += len(chunk)
                if received > limits.max_bytes:
                    raise ContractSourceError(
                        f"{url} sent more than {limits.max_bytes:,} bytes; refusing the rest"
                    )
                if time.monotonic() > deadline:
                    raise ContractSourceError(
                        f"the download from {url} took longer than "
                        f"{limits.total_timeout_secs:.0f} s ({received:,} bytes received)"
                    )
                out.write(chunk)
                progress(received, total)
            if total is not None and received < total:
                raise ContractSourceError(
                    f"{url} closed the connection after {received:,} of {total:,} bytes"
                )
    except httpx.TimeoutException as error:
        raise ContractSourceError(f"timed out reaching {url}: {type(error).__name__}") from error
    except httpx.HTTPError as error:
        detail = str(error) or type(error).__name__
        if source.api_key:  # httpx may quote the request's URL, key and all
            detail = detail.replace(source.api_key, "****")
        raise ContractSourceError(f"network error reaching {url}: {detail}") from error


@contextmanager
def _response(client: httpx.Client, source: Source, url: str) -> Iterator[httpx.Response]:
    """The streamed answer at the end of the source's redirects (at most MAX_REDIRECTS).

    A keyed source's redirect to another origin (scheme, host or port) is refused, not
    followed: the request would carry its key there."""
    params = {"apikey": source.api_key} if source.api_key else None
    request = client.build_request("GET", source.location or "", params=params)
    origin = _origin(request.url)
    for _ in range(MAX_REDIRECTS + 1):
        response = client.send(request, stream=True)
        following = response.next_request
        if following is None:
            try:
                yield response
            finally:
                response.close()
            return
        response.close()
        if source.api_key and _origin(following.url) != origin:
            raise ContractSourceError(
                f"{url} redirected (HTTP {response.status_code}) to {_shown(following.url)}; "
                "not followed: that is another origin (scheme, host or port) and the API key "
                "travels in the query string. If that server is to have the key, give its URL"
            )
        request = following
    raise ContractSourceError(f"{url} redirected more than {MAX_REDIRECTS} times")


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return url.scheme, url.host, url.port


def _shown(url: httpx.URL) -> str:
    """A URL as it may be shown: no user name or password, query or fragment."""
    return str(url.copy_with(query=None, fragment=None, username=None, password=None))


def _content_length(response: httpx.Response) -> int | None:
    # A compressed response's length counts compressed bytes, not what we receive.
    if response.headers.get("content-encoding"):
        return None
    try:
        return int(response.headers["content-length"])
    except (KeyError, ValueError):
        return None
