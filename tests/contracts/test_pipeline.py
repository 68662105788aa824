"""The master-contract pipeline end to end: files and HTTP sources in, generations swapped, faults.

Every load goes through `services.contracts.download` (what `algovisor contracts
download` runs) or a `Refresh` with short download limits, against a real
database. A failed load must leave the contract a strategy trades on exactly as
it was, say in its status what went wrong, and leave no rows of its own behind.

The clock is fixed at Monday 23 November 2026, 10:00 IST, a trading day: the
contract loaded is that day's, and the expiries below (29 December 2026) are live.
"""

from __future__ import annotations

import dataclasses
import gzip
import json
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, inspect, select

from algovisor.clock import FakeClock
from algovisor.contracts import pipeline, store
from algovisor.contracts.book import SymbolNotFoundError
from algovisor.contracts.days import opens_for_trading
from algovisor.contracts.pipeline import PipelineSettings, Refresh
from algovisor.contracts.readiness import CONTRACT_CALENDAR
from algovisor.contracts.records import Instrument
from algovisor.contracts.sources import ContractSourceError, DownloadLimits, Source
from algovisor.db.models import MasterContractRow, MasterContractStatus
from algovisor.errors import AlgovisorError, InvalidInputError
from algovisor.services import contracts
from algovisor.services.context import ServiceContext
from algovisor.services.views import ContractStatusView
from algovisor.settings import Settings

IST = ZoneInfo("Asia/Kolkata")
MONDAY = date(2026, 11, 23)
MONDAY_MORNING = datetime(2026, 11, 23, 10, 0, tzinfo=IST)
EXPIRY = date(2026, 12, 29)

# ----- Zerodha and Angel files, written the way the brokers serve them -----------------

ZERODHA_HEADER = (
    "instrument_token,exchange_token,tradingsymbol,name,last_price,expiry,strike,"
    "tick_size,lot_size,instrument_type,segment,exchange"
)


def equity(token: int, symbol: str, lot_size: str = "1") -> str:
    return f"{token},{token % 100_000},{symbol},{symbol} LTD,0,,0,0.05,{lot_size},EQ,NSE,NSE"


def index(token: int, symbol: str) -> str:
    return f"{token},{token % 100_000},{symbol},{symbol},0,,0,0,0,EQ,INDICES,NSE"


def future(token: int, name: str, expiry: date = EXPIRY) -> str:
    code = f"{expiry:%y%b}".upper()
    return f"{token},{token % 100_000},{name}{code}FUT,{name},0,{expiry},0,0.1,65,FUT,NFO-FUT,NFO"


def option(token: int, name: str, strike: int, kind: str, expiry: date = EXPIRY) -> str:
    code = f"{expiry:%y%b}".upper()
    return (
        f"{token},{token % 100_000},{name}{code}{strike}{kind},{name},0,{expiry},{strike},"
        f"0.05,65,{kind},NFO-OPT,NFO"
    )


def zerodha_csv(lines: Sequence[str]) -> bytes:
    return ("\n".join([ZERODHA_HEADER, *lines]) + "\n").encode()


def many_equities(count: int, first_token: int = 1_000_000) -> list[str]:
    return [equity(first_token + number, f"STOCK{number}") for number in range(count)]


# Monday's contract, and Tuesday's: INFY and a strike listed, BANKNIFTY's future gone.
FIRST = [
    equity(738561, "RELIANCE"),
    equity(779521, "SBIN"),
    index(256265, "NIFTY 50"),
    future(16914178, "NIFTY"),
    future(16914434, "BANKNIFTY"),
    option(16914179, "NIFTY", 26000, "CE"),
    option(16914180, "NIFTY", 26000, "PE"),
]
SECOND = [
    equity(738561, "RELIANCE"),
    equity(779521, "SBIN"),
    equity(408065, "INFY"),
    index(256265, "NIFTY 50"),
    future(16914178, "NIFTY"),
    option(16914179, "NIFTY", 26000, "CE"),
    option(16914180, "NIFTY", 26000, "PE"),
    option(16914181, "NIFTY", 26100, "CE"),
    option(16914182, "NIFTY", 26100, "PE"),
]
FIRST_SYMBOLS = {
    ("NSE", "RELIANCE"),
    ("NSE", "SBIN"),
    ("NSE_INDEX", "NIFTY"),
    ("NFO", "NIFTY29DEC26FUT"),
    ("NFO", "BANKNIFTY29DEC26FUT"),
    ("NFO", "NIFTY29DEC2626000CE"),
    ("NFO", "NIFTY29DEC2626000PE"),
}


def angel_json(count: int) -> bytes:
    """An Angel One scrip master of `count` NSE equities, as one JSON list."""
    records = [
        {
            "token": str(2_000 + number),
            "symbol": f"STOCK{number}-EQ",
            "name": f"STOCK{number}",
            "expiry": "",
            "strike": "-1.000000",
            "lotsize": "1",
            "instrumenttype": "",
            "exch_seg": "NSE",
            "tick_size": "5.000000",
        }
        for number in range(count)
    ]
    return json.dumps(records, indent=1).encode()


# ----- loading and looking ------------------------------------------------------------


@pytest.fixture(autouse=True)
def clock(ctx: ServiceContext) -> FakeClock:
    fake = FakeClock(MONDAY_MORNING)
    ctx.clock = fake
    return fake


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def load_file(
    ctx: ServiceContext, broker: str, path: Path, format_name: str | None = None
) -> ContractStatusView:
    """What `algovisor contracts download --broker B --file F [--format X]` does."""
    source = contracts.choose_source(broker, file=path, format_name=format_name)
    return contracts.download(ctx, broker, source)


def load_url(
    ctx: ServiceContext, broker: str, url: str, format_name: str | None = None
) -> ContractStatusView:
    source = contracts.choose_source(broker, url=url, format_name=format_name)
    return contracts.download(ctx, broker, source)


def rows_by_generation(ctx: ServiceContext, broker: str) -> dict[int, int]:
    """How many rows each generation of the broker has in master_contracts."""
    with ctx.reading() as session:
        counts = session.execute(
            select(MasterContractRow.generation, func.count())
            .where(MasterContractRow.broker == broker)
            .group_by(MasterContractRow.generation)
        )
        return dict(counts.all())


def generation(ctx: ServiceContext, broker: str) -> int:
    with ctx.reading() as session:
        row = session.get(MasterContractStatus, broker)
        return row.generation if row is not None else 0


def status_columns(ctx: ServiceContext, broker: str) -> dict[str, Any] | None:
    """Every column of the broker's status row, to show that nothing at all changed."""
    with ctx.reading() as session:
        row = session.get(MasterContractStatus, broker)
        if row is None:
            return None
        return {column.key: getattr(row, column.key) for column in inspect(row).mapper.columns}


def read_back(ctx: ServiceContext, broker: str) -> list[Instrument]:
    with ctx.reading() as session:
        return list(store.read_rows(session, broker, generation(ctx, broker)))


def load_first(ctx: ServiceContext, tmp_path: Path, broker: str = "zerodha") -> ContractStatusView:
    """Monday's contract, loaded and in force: the one a bad load must not disturb."""
    view = load_file(ctx, broker, write(tmp_path / "first.csv", zerodha_csv(FIRST)), "zerodha")
    assert view.status == "success", view.message
    return view


def assert_first_in_force(ctx: ServiceContext, broker: str = "zerodha") -> None:
    """Monday's contract is the one readers see, whole, and nothing else is in the table."""
    view = contracts.status(ctx, broker)
    assert view.is_ready
    assert view.trading_day == MONDAY
    assert view.total_symbols == len(FIRST)
    assert generation(ctx, broker) == 1
    assert rows_by_generation(ctx, broker) == {1: len(FIRST)}
    assert contracts.lookup(ctx, broker, "RELIANCE", "NSE").token == "738561"
    assert contracts.lookup(ctx, broker, "BANKNIFTY29DEC26FUT", "NFO").lot_size == 65
    with pytest.raises(SymbolNotFoundError):
        contracts.lookup(ctx, broker, "INFY", "NSE")


def assert_failed_saying(ctx: ServiceContext, broker: str, *fragments: str) -> str:
    view = contracts.status(ctx, broker)
    assert view.status == "error"
    message = view.message or ""
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    return message


# ----- a good load, and the next one ----------------------------------------------------


def test_a_good_file_loads_and_the_next_one_replaces_it(
    ctx: ServiceContext, tmp_path: Path
) -> None:
    # Another broker's contract, loaded from the same file, must survive zerodha's swaps.
    load_first(ctx, tmp_path, broker="dhan")

    view = load_first(ctx, tmp_path)
    assert view.is_ready
    assert view.trading_day == MONDAY
    assert view.total_symbols == 7
    assert view.exchange_counts == {"NFO": 4, "NSE": 2, "NSE_INDEX": 1}
    assert view.rows_rejected == 0
    # The CLI builds no lookup book: it has no use for one (the host does).
    assert {"read", "parse", "validate", "load", "swap", "cleanup"} == set(view.step_secs)
    assert view.step_secs["parse"] > 0  # really timed
    assert view.step_secs["load"] > 0
    assert generation(ctx, "zerodha") == 1
    assert {(row.exchange, row.symbol) for row in read_back(ctx, "zerodha")} == FIRST_SYMBOLS
    call = contracts.lookup(ctx, "zerodha", "NIFTY29DEC2626000CE", "NFO")
    assert (call.token, call.strike, call.expiry, call.lot_size) == ("16914179", 26000, EXPIRY, 65)
    assert contracts.lookup_token(ctx, "zerodha", "256265", "NSE_INDEX").symbol == "NIFTY"

    view = load_file(ctx, "zerodha", write(tmp_path / "second.csv", zerodha_csv(SECOND)))
    assert view.status == "success"
    assert view.total_symbols == 9
    assert generation(ctx, "zerodha") == 2
    assert rows_by_generation(ctx, "zerodha") == {2: 9}
    assert contracts.lookup(ctx, "zerodha", "INFY", "NSE").token == "408065"
    with pytest.raises(SymbolNotFoundError):
        contracts.lookup(ctx, "zerodha", "BANKNIFTY29DEC26FUT", "NFO")
    assert rows_by_generation(ctx, "dhan") == {1: 7}
    assert contracts.lookup(ctx, "dhan", "BANKNIFTY29DEC26FUT", "NFO").token == "16914434"


# ----- bad input --------------------------------------------------------------------------


@dataclass(frozen=True)
class BadFile:
    name: str
    broker: str
    data: bytes
    says: tuple[str, ...]
    format_name: str | None = None

    def __str__(self) -> str:
        return self.name


def cut(data: bytes, keep_bytes: int) -> bytes:
    return data[:keep_bytes]


LONG_CSV = zerodha_csv(FIRST + many_equities(200))
LONG_JSON = angel_json(200)

BAD_FILES = [
    # A copy interrupted mid-line: most rows read fine, so only the cut betrays it.
    BadFile("csv cut mid-line", "zerodha", cut(LONG_CSV, len(LONG_CSV) - 30), ("cut short",)),
    BadFile("json cut mid-way", "angel", cut(LONG_JSON, len(LONG_JSON) // 2), ("cut short",)),
    BadFile(
        "gzip cut mid-way",
        "zerodha",
        cut(gzip.compress(LONG_CSV), len(gzip.compress(LONG_CSV)) // 2),
        ("parse failed", "cut short"),
    ),
    BadFile(
        "angel json declared zerodha",
        "zerodha",
        angel_json(3),
        ("parse failed", "not a Zerodha instruments CSV", "JSON"),
    ),
    BadFile(
        "60% bad rows",
        "zerodha",
        zerodha_csv(
            FIRST[:4] + [equity(900 + number, f"BAD{number}", "lots") for number in range(6)]
        ),
        ("validate failed", "too many rejected rows", "60%", "unreadable lot size"),
    ),
    BadFile(
        "one token, two instruments",
        "zerodha",
        zerodha_csv([*FIRST, equity(738561, "RELIANCEX")]),
        ("validate failed", "given to two instruments", "738561"),
    ),
    BadFile(
        "one symbol, two tokens",
        "zerodha",
        zerodha_csv([*FIRST, equity(111111, "SBIN")]),
        ("validate failed", "SBIN", "two tokens"),
    ),
    BadFile(
        "garbage bytes",
        "zerodha",
        random.Random(4).randbytes(4096),
        ("parse failed", "not a Zerodha instruments CSV"),
    ),
    BadFile("empty file", "zerodha", b"", ("parse failed", "empty")),
    BadFile(
        "header only", "zerodha", zerodha_csv([]), ("validate failed", "no usable instruments")
    ),
    BadFile(
        "last month's file",
        "zerodha",
        zerodha_csv([future(16000001, "NIFTY", date(2026, 10, 27))]),
        ("validate failed", "no usable instruments"),
    ),
]


@pytest.mark.parametrize("bad", BAD_FILES, ids=str)
def test_a_bad_file_leaves_the_contract_in_force(
    ctx: ServiceContext, tmp_path: Path, bad: BadFile
) -> None:
    load_first(ctx, tmp_path, broker=bad.broker)
    path = write(tmp_path / "bad.file", bad.data)

    with pytest.raises(InvalidInputError):
        load_file(ctx, bad.broker, path, bad.format_name)

    assert_failed_saying(ctx, bad.broker, *bad.says, "stays in force")
    assert_first_in_force(ctx, bad.broker)


def test_a_missing_file_is_refused_before_anything_changes(
    ctx: ServiceContext, tmp_path: Path
) -> None:
    load_first(ctx, tmp_path)
    before = status_columns(ctx, "zerodha")

    with pytest.raises(InvalidInputError, match="no such file"):
        contracts.choose_source("zerodha", file=tmp_path / "instruments.csv")
    assert status_columns(ctx, "zerodha") == before

    # Gone between the check and the read: refused by the read step, nothing loaded.
    vanishing = write(tmp_path / "vanishing.csv", zerodha_csv(SECOND))
    source = contracts.choose_source("zerodha", file=vanishing)
    vanishing.unlink()
    with pytest.raises(InvalidInputError):
        contracts.download(ctx, "zerodha", source)
    assert_failed_saying(ctx, "zerodha", "read failed", "no such file")
    assert_first_in_force(ctx)


def test_an_unknown_broker_or_format_is_refused_with_the_known_ones(
    ctx: ServiceContext, tmp_path: Path
) -> None:
    good = write(tmp_path / "first.csv", zerodha_csv(FIRST))
    with pytest.raises(InvalidInputError) as unknown_broker:
        contracts.choose_source("kite", file=good)
    for known in ("paper", "zerodha", "angel", "dhan", "upstox"):
        assert known in unknown_broker.value.message
    with pytest.raises(InvalidInputError) as unknown_format:
        contracts.choose_source("zerodha", file=good, format_name="kite")
    assert "kite" in unknown_format.value.message
    assert "zerodha" in unknown_format.value.message
    with ctx.reading() as session:
        assert store.all_statuses(session) == []


# ----- HTTP sources -----------------------------------------------------------------------

Behaviour = Callable[[BaseHTTPRequestHandler], None]


class ContractServer:
    """A local HTTP server; each path answers in its own (mis)behaving way."""

    def __init__(self) -> None:
        self.routes: dict[str, Behaviour] = {}
        # Set at shutdown: stalled answers stop waiting.
        self.release = threading.Event()
        routes = self.routes

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                behaviour = routes.get(self.path)
                if behaviour is None:
                    self.send_error(404)
                    return
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
        self.release.set()
        self._server.shutdown()
        self._server.server_close()


def send(body: bytes, headers: Mapping[str, str] | None = None) -> Behaviour:
    def behave(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(body)

    return behave


def stall(release: threading.Event) -> Behaviour:
    """Headers and the first bytes, then silence."""

    def behave(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Length", "1000000")
        handler.end_headers()
        handler.wfile.write(ZERODHA_HEADER.encode())
        handler.wfile.flush()
        release.wait(20)

    return behave


def trickle(body: bytes, byte_secs: float, release: threading.Event) -> Behaviour:
    """One byte at a time, never silent long enough for a read timeout."""

    def behave(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        for position in range(len(body)):
            handler.wfile.write(body[position : position + 1])
            handler.wfile.flush()
            if release.wait(byte_secs):
                return

    return behave


def cut_short(body: bytes, missing_bytes: int) -> Behaviour:
    """Promises the whole body in Content-Length, sends less, and hangs up."""

    def behave(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body[:-missing_bytes])

    return behave


@pytest.fixture
def server() -> Iterator[ContractServer]:
    instance = ContractServer()
    yield instance
    instance.close()


def short_limits_refresh(ctx: ServiceContext, limits: DownloadLimits) -> Refresh:
    """The pipeline as the host builds it, but with download limits a test can wait out."""
    return dataclasses.replace(
        contracts.make_refresh(ctx), settings=PipelineSettings(limits=limits)
    )


def run_refresh(ctx: ServiceContext, refresh: Refresh, url: str) -> None:
    calendar = ctx.calendars.current()[CONTRACT_CALENDAR]
    refresh.run(
        "zerodha",
        Source("url", "zerodha", url),
        MONDAY,
        lambda day: opens_for_trading(calendar, day),
    )


def test_a_good_http_download_loads_and_leaves_no_download_behind(
    ctx: ServiceContext, server: ContractServer
) -> None:
    server.routes["/instruments"] = send(zerodha_csv(FIRST), {"Content-Type": "text/csv"})
    view = load_url(ctx, "zerodha", server.url("/instruments"))
    assert view.status == "success", view.message
    assert view.total_symbols == len(FIRST)
    assert view.source is not None
    assert server.url("/instruments") in view.source
    assert "download" in view.step_secs
    assert_first_in_force(ctx)
    assert list(ctx.layout.contracts_dir.glob("zerodha*")) == []


def test_http_404_is_an_error_and_is_retried_later(
    ctx: ServiceContext, tmp_path: Path, server: ContractServer, clock: FakeClock
) -> None:
    load_first(ctx, tmp_path)
    with pytest.raises(ContractSourceError):
        load_url(ctx, "zerodha", server.url("/instruments"))
    assert_failed_saying(ctx, "zerodha", "download failed", "HTTP 404", "stays in force")
    view = contracts.status(ctx, "zerodha")
    assert view.failures == 1
    assert view.retry_at is not None
    assert view.retry_at > clock.now()
    assert_first_in_force(ctx)


def test_a_server_that_stalls_times_out(
    ctx: ServiceContext, tmp_path: Path, server: ContractServer
) -> None:
    load_first(ctx, tmp_path)
    server.routes["/instruments"] = stall(server.release)
    refresh = short_limits_refresh(ctx, DownloadLimits(read_timeout_secs=0.5, total_timeout_secs=2))

    started = time.monotonic()
    with pytest.raises(ContractSourceError):
        run_refresh(ctx, refresh, server.url("/instruments"))
    # The server never answers: any end well short of pytest's timeout is the limits at
    # work. The margin is for a loaded 2-core CI machine (2.8 s seen with two workers).
    assert time.monotonic() - started < 8
    assert_failed_saying(ctx, "zerodha", "download failed", "timed out")
    assert_first_in_force(ctx)


def test_a_server_that_trickles_is_cut_off_at_the_total_timeout(
    ctx: ServiceContext, tmp_path: Path, server: ContractServer
) -> None:
    load_first(ctx, tmp_path)
    # 30 bytes, one every 0.1 s: each read is quick, but the whole takes 3 s.
    server.routes["/instruments"] = trickle(zerodha_csv(FIRST)[:30], 0.1, server.release)
    refresh = short_limits_refresh(
        ctx, DownloadLimits(read_timeout_secs=0.5, total_timeout_secs=1.0)
    )

    started = time.monotonic()
    with pytest.raises(ContractSourceError):
        run_refresh(ctx, refresh, server.url("/instruments"))
    assert time.monotonic() - started < 2.5, "the total download timeout was not enforced"
    assert_failed_saying(ctx, "zerodha", "download failed", "took longer than")
    assert_first_in_force(ctx)


def test_a_body_shorter_than_its_content_length_is_refused(
    ctx: ServiceContext, tmp_path: Path, server: ContractServer
) -> None:
    load_first(ctx, tmp_path)
    # The missing bytes end mid-line: parsed, the rest would look like a smaller contract.
    server.routes["/instruments"] = cut_short(zerodha_csv(SECOND), 20)
    with pytest.raises(ContractSourceError):
        load_url(ctx, "zerodha", server.url("/instruments"))
    assert_failed_saying(ctx, "zerodha", "download failed", "closed")
    assert_first_in_force(ctx)


@pytest.mark.parametrize("way", ["content-encoding", "gzip file over http", "gzip file on disk"])
def test_gzip_contracts_load(
    ctx: ServiceContext, tmp_path: Path, server: ContractServer, way: str
) -> None:
    packed = gzip.compress(zerodha_csv(FIRST))
    if way == "content-encoding":
        server.routes["/instruments"] = send(
            packed, {"Content-Encoding": "gzip", "Content-Type": "text/csv"}
        )
        view = load_url(ctx, "zerodha", server.url("/instruments"))
    elif way == "gzip file over http":
        server.routes["/instruments.csv.gz"] = send(packed, {"Content-Type": "application/gzip"})
        view = load_url(ctx, "zerodha", server.url("/instruments.csv.gz"))
    else:
        view = load_file(ctx, "zerodha", write(tmp_path / "instruments.csv.gz", packed))
    assert view.status == "success", view.message
    assert_first_in_force(ctx)


# ----- crashes and races mid-load -----------------------------------------------------------


def crash_half_way(
    real: Callable[[Any, str, int, list[Instrument]], None],
) -> Callable[[Any, str, int, list[Instrument]], None]:
    def insert(engine: Any, broker: str, number: int, rows: list[Instrument]) -> None:
        real(engine, broker, number, rows[: len(rows) // 2])
        raise OSError("disk full")

    return insert


def crash_after_insert(
    real: Callable[[Any, str, int, list[Instrument]], None],
) -> Callable[[Any, str, int, list[Instrument]], None]:
    def insert(engine: Any, broker: str, number: int, rows: list[Instrument]) -> None:
        real(engine, broker, number, rows)
        raise OSError("disk full")

    return insert


@pytest.mark.parametrize("when", ["half the rows written", "all rows written", "during the swap"])
def test_a_crash_mid_load_leaves_no_rows_behind(
    ctx: ServiceContext, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, when: str
) -> None:
    load_first(ctx, tmp_path)
    if when == "half the rows written":
        monkeypatch.setattr(store, "insert_rows", crash_half_way(store.insert_rows))
        step = "load"
    elif when == "all rows written":
        monkeypatch.setattr(store, "insert_rows", crash_after_insert(store.insert_rows))
        step = "load"
    else:

        def swap_in(*args: object, **kwargs: object) -> None:
            raise OSError("disk full")

        monkeypatch.setattr(store, "swap_in", swap_in)
        step = "swap"

    with pytest.raises(OSError, match="disk full"):
        load_file(ctx, "zerodha", write(tmp_path / "second.csv", zerodha_csv(SECOND)))

    assert_failed_saying(ctx, "zerodha", f"{step} failed unexpectedly", "disk full")
    assert_first_in_force(ctx)
    monkeypatch.undo()
    # The next load is not blocked or confused by the failed one.
    view = load_file(ctx, "zerodha", tmp_path / "second.csv")
    assert view.status == "success"
    assert rows_by_generation(ctx, "zerodha") == {generation(ctx, "zerodha"): len(SECOND)}


def test_a_second_download_while_one_is_live_is_refused(
    ctx: ServiceContext, tmp_path: Path, clock: FakeClock
) -> None:
    load_first(ctx, tmp_path)
    elsewhere = Source("url", "zerodha", "http://127.0.0.1:9/instruments")
    with ctx.transaction() as session:
        store.begin_attempt(session, "zerodha", elsewhere, clock.now(), 600)
    before = status_columns(ctx, "zerodha")
    second = write(tmp_path / "second.csv", zerodha_csv(SECOND))

    with pytest.raises(store.ContractBusyError, match="already under way"):
        load_file(ctx, "zerodha", second)
    assert status_columns(ctx, "zerodha") == before
    assert contracts.status(ctx, "zerodha").status == "downloading"
    assert rows_by_generation(ctx, "zerodha") == {1: len(FIRST)}
    assert contracts.lookup(ctx, "zerodha", "RELIANCE", "NSE").token == "738561"

    # Past its deadline the other attempt no longer holds the broker.
    clock.advance(601)
    view = load_file(ctx, "zerodha", second)
    assert view.status == "success"
    assert view.total_symbols == len(SECOND)


def test_an_attempt_declared_stuck_before_its_swap_discards_its_rows(
    ctx: ServiceContext, tmp_path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    load_first(ctx, tmp_path)
    real_insert = store.insert_rows

    def slow_insert(engine: Any, broker: str, number: int, rows: list[Instrument]) -> None:
        real_insert(engine, broker, number, rows)
        # The load overran its deadline, and the host's watchdog gave up on it meanwhile.
        clock.advance(601)
        with ctx.transaction() as session:
            stuck = store.stuck_attempts(session, clock.now())
            assert [row.broker for row in stuck] == ["zerodha"]
            store.fail_attempt(session, stuck[0], "abandoned by the watchdog", clock.now(), None)

    monkeypatch.setattr(store, "insert_rows", slow_insert)
    with pytest.raises(store.AttemptLostError):
        load_file(ctx, "zerodha", write(tmp_path / "second.csv", zerodha_csv(SECOND)))

    # The watchdog's verdict stands; the late attempt neither overwrote it nor swapped in.
    assert contracts.status(ctx, "zerodha").message == "abandoned by the watchdog"
    assert_first_in_force(ctx)


def test_the_pipeline_records_the_step_it_failed_in(
    ctx: ServiceContext, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failure while the host builds the lookup book is named as such; nothing swaps in."""
    load_first(ctx, tmp_path)

    class BrokenBook:
        @classmethod
        def build(cls, *_: object) -> None:
            raise MemoryError("no room for the book")

    monkeypatch.setattr(pipeline, "ContractBook", BrokenBook)
    calendar = ctx.calendars.current()[CONTRACT_CALENDAR]
    source = contracts.choose_source("zerodha", write(tmp_path / "second.csv", zerodha_csv(SECOND)))
    with pytest.raises(MemoryError):
        contracts.make_refresh(ctx).run(
            "zerodha",
            source,
            MONDAY,
            lambda day: opens_for_trading(calendar, day),
            on_ready=lambda _book: None,  # as the host: it builds a book
        )
    assert_failed_saying(ctx, "zerodha", "cache failed unexpectedly", "no room for the book")
    assert_first_in_force(ctx)


OPENALGO_ANSWER = json.dumps(
    {
        "status": "success",
        "message": "Found 1 instruments",
        "data": [
            {
                "symbol": "SBIN",
                "brsymbol": "SBIN-EQ",
                "name": "STATE BANK OF INDIA",
                "exchange": "NSE",
                "brexchange": "NSE",
                "token": "3045",
                "expiry": "",
                "strike": -1.0,
                "lotsize": 1,
                "instrumenttype": "EQ",
                "tick_size": 0.05,
            }
        ],
    }
).encode()


def test_an_openalgo_servers_key_is_sent_kept_encrypted_and_never_shown(
    ctx: ServiceContext, server: ContractServer
) -> None:
    server.routes["/api/v1/instruments?apikey=s3cret-key"] = send(OPENALGO_ANSWER)
    url = server.url("/api/v1/instruments")
    with pytest.raises(InvalidInputError, match="--api-key"):
        contracts.choose_source("openalgo", None, f"{url}?apikey=s3cret-key")

    source = contracts.choose_source("openalgo", None, url, None, "s3cret-key")
    view = contracts.download(ctx, "openalgo", source)
    assert view.is_ready
    assert view.total_symbols == 1
    assert view.source == f"{url} (openalgo)"
    with ctx.reading() as session:
        row = session.get(MasterContractStatus, "openalgo")
        assert row is not None
        assert row.source_secret is not None
        assert "s3cret" not in f"{row.source_secret} {row.source_location} {row.message}"
        remembered = store.remembered_source(row, ctx.secrets)
    assert remembered is not None
    assert remembered.api_key == "s3cret-key"  # what the host's daily refresh will send
    assert "s3cret" not in repr(remembered)

    # A wrong key: the server's refusal is shown, the key is not.
    wrong = contracts.choose_source("openalgo", None, url, None, "wrong-key")
    with pytest.raises(AlgovisorError) as refused:
        contracts.download(ctx, "openalgo", wrong)
    assert "HTTP 404" in refused.value.message
    assert "wrong-key" not in refused.value.message
    assert "stays in force" in refused.value.message
    with ctx.reading() as session:
        kept = store.remembered_source(session.get(MasterContractStatus, "openalgo"), ctx.secrets)
    assert kept is not None
    assert kept.api_key == "s3cret-key"  # a failed attempt never replaces a source that worked


def test_a_stale_attempt_failing_late_leaves_a_newer_attempts_rows_alone(
    ctx: ServiceContext, clock: FakeClock, tmp_path: Path
) -> None:
    """Two attempts never share a generation, and a failure drops only its own rows."""
    load_first(ctx, tmp_path)
    source = Source("url", "zerodha", "http://127.0.0.1:9/instruments")
    with ctx.transaction() as session:
        stale = store.begin_attempt(session, "zerodha", source, clock.now(), 1)
    clock.advance(2)  # its deadline passes: the next claim replaces it
    with ctx.transaction() as session:
        fresh = store.begin_attempt(session, "zerodha", source, clock.now(), 60)
    assert fresh.generation > stale.generation > generation(ctx, "zerodha")
    staged = Instrument("TCS", "TCS", "TCS", "NSE", "NSE", "11536", None, None, 1, "EQ", 0.05)
    store.insert_rows(ctx.engine, "zerodha", fresh.generation, [staged])  # not swapped in yet

    store.delete_generation(ctx.engine, "zerodha", stale.generation)  # the stale one gives up
    assert rows_by_generation(ctx, "zerodha") == {1: 7, fresh.generation: 1}
    assert contracts.lookup(ctx, "zerodha", "NIFTY29DEC2626000CE", "NFO").token


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("https://me:pw@broker.example/instruments", "a user name or password in the URL"),
        ("https://broker.example/api/v1/instruments?apikey=k", "give the API key with --api-key"),
        ("ftp://broker.example/instruments", r"is not an http\(s\) URL"),
    ],
)
def test_credentials_never_ride_in_a_url(url: str, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        contracts.choose_source("openalgo", None, url)


def test_a_deadline_shorter_than_the_download_timeout_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="must be longer than"):
        Settings(
            data_dir=tmp_path,
            contract_download_timeout_secs=300,
            contract_attempt_deadline_secs=120,
        )
