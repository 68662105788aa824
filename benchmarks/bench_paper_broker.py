"""The paper broker's OpenAlgo API under load (issue 6): placeorder round trip, orders per
second with 20 concurrent clients, quotes per second via multiquotes.

A real `algovisor serve` on loopback, its `paper` master contract (~150k rows, generated
at start) ready before anything is measured; every request carries the paper broker's
API key in its body, as the `openalgo` package sends it.

- placeorder round trip: MARKET orders for 1 share, product CNC (no MIS square-off can
  interfere), alternating BUY and SELL so funds never run out; `--orders` per round.
  Interleaved in the same loop, so each sees the same machine:
    * through the real `openalgo` package (`client.placeorder`), which opens a new
      `httpx.Client` per call (docs/OPENALGO_API.md section 1, "Transport");
    * the same JSON body posted on one pooled `httpx.Client`: the server's share;
    * the client's floor: the package's `placeorder` against a stdlib HTTP server (its own
      process) that answers instantly; and the package's `intervals` on the host (the
      lightest endpoint: routing, body, key check), and the same on the pooled client.
  The ratio is package p50 / pooled p50.
- orders per second, 20 concurrent clients: 20 client processes (started once, each with
  its own symbol) place orders through the package for `--load-secs`, all from the same
  instant; orders/s = all successful orders / wall time (start to the last answer). Then
  the same with 20 threads in this process, each on its own pooled `httpx.Client` and
  symbol (threads share this process's GIL: that is the comparison). Each client buys one
  share when flat and sells it when long. After each run, correctness under load: the
  trade book (`/api/v1/tradebook`) and order book have grown by exactly the orders
  placed, and each symbol's CNC position (`positionbook`) is what its client holds. Also
  the host's and the clients' CPU time per order and the latency of one order under load.
- multiquotes: one call for 100 NSE stocks of the paper contract (all must come back with
  data): calls/s and quotes/s (100 x calls/s) from one client process calling in sequence,
  and from 4 client processes at once; p50 and p99 of one call; and the same call on a
  pooled `httpx.Client` from this process (the server's share).

Targets: the issue names none, so no figure has one; the exit status is 1 if any order
or quote failed, or if the books or positions do not match the orders placed. The host
and the clients share the machine's cores (2 on the development VM), so figures under
load are the machine's, not the server's alone. About 2.5 minutes.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import IO, Any

if __package__ in (None, ""):  # run as `python benchmarks/bench_paper_broker.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx

from algovisor.contracts.paper_specs import FNO_STOCKS
from algovisor.services import broker_accounts
from benchmarks.common import (
    BenchEnvironment,
    Figure,
    HostProcess,
    base_parser,
    bench_environment,
    host_cpu_secs,
    print_figures,
    run_main,
    say,
    wait_until,
)

CLIENTS = 20
QUOTE_CLIENTS = 4
QUOTE_SYMBOLS = [{"symbol": name, "exchange": "NSE"} for name in FNO_STOCKS[:100]]
# Every client owns its symbol (a CNC sell needs shares; no one else may sell them), so
# each symbol's position must equal what its one client bought and sold.
PACKAGE_SYMBOL, POOLED_SYMBOL = "SBIN", "RELIANCE"  # the round-trip loop's, one per path
PROCESS_SYMBOLS = FNO_STOCKS[10 : 10 + CLIENTS]
THREAD_SYMBOLS = FNO_STOCKS[10 + CLIENTS : 10 + 2 * CLIENTS]
CONTRACT_TIMEOUT_SECS = 180.0
START_DELAY_SECS = 0.5  # every client is told the same start instant, this far ahead
JSON_HEADERS = {"Content-Type": "application/json"}  # what the package sends

# A client process: connects as a strategy does (OPENALGO_HOST, OPENALGO_API_KEY), imports
# the real `openalgo` package once, says "ready", then runs commands from stdin:
# `orders|quotes <start monotonic> <seconds>`. It starts at the given instant
# (CLOCK_MONOTONIC is shared by all processes), calls until the time is up, and prints
# one JSON line: successes, errors, the first error, when its last answer came, its
# own CPU time, the position it holds (0 or 1 share: it buys when flat, sells when long),
# and every call's latency.
CLIENT_SCRIPT = """\
import json, os, sys, time
symbol, symbols = sys.argv[1], json.loads(sys.argv[2])
from openalgo import api
client = api(api_key=os.environ["OPENALGO_API_KEY"], host=os.environ["OPENALGO_HOST"])
print("ready", flush=True)
held = 0
for line in sys.stdin:
    command, start_at, seconds = line.split()
    start_at, seconds = float(start_at), float(seconds)
    end = start_at + seconds
    while time.monotonic() < start_at:
        time.sleep(0.0005)
    ok, errors, first_error, latencies = 0, 0, "", []
    cpu = time.process_time()
    while True:
        started = time.monotonic()
        if started >= end:
            break
        if command == "orders":
            answer = client.placeorder(symbol=symbol, exchange="NSE", product="CNC",
                                       action="SELL" if held else "BUY", quantity=1)
            good = isinstance(answer, dict) and answer.get("status") == "success"
        else:
            answer = client.multiquotes(symbols=symbols)
            good = (isinstance(answer, dict) and answer.get("status") == "success"
                    and sum(1 for row in answer.get("results", []) if "data" in row)
                    == len(symbols))
        latencies.append(time.monotonic() - started)
        if good:
            ok += 1
            if command == "orders":
                held = 1 - held
        else:
            errors += 1
            first_error = first_error or str(answer)[:300]
    print(json.dumps({"ok": ok, "errors": errors, "first_error": first_error,
                      "ended": time.monotonic(), "cpu": time.process_time() - cpu,
                      "held": {symbol: held}, "latencies": latencies}), flush=True)
"""

# The client's floor: a server that answers every POST at once with a placed order.
INSTANT_SERVER_SCRIPT = """\
from http.server import BaseHTTPRequestHandler, HTTPServer
BODY = b'{"status": "success", "orderid": "26112100000001"}'
class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)
    def log_message(self, *args):
        pass
server = HTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
"""


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, math.ceil(fraction * len(ordered)) - 1))
    return ordered[index]


def order_body(key: str, symbol: str, action: str) -> dict[str, str]:
    """The JSON body `client.placeorder(symbol=..., exchange="NSE", action=..., quantity=1,
    product="CNC")` sends."""
    return {
        "apikey": key,
        "strategy": "Python",
        "symbol": symbol,
        "action": action,
        "exchange": "NSE",
        "pricetype": "MARKET",
        "product": "CNC",
        "quantity": "1",
    }


def succeeded(response: httpx.Response) -> bool:
    return response.status_code == 200 and response.json().get("status") == "success"


def check(answer: Any, what: str) -> dict[str, Any]:
    """The package's answer, which must be a success (the package never raises)."""
    if not isinstance(answer, dict) or answer.get("status") != "success":
        raise RuntimeError(f"{what} failed: {answer}")
    return answer


def child_environment(environment: BenchEnvironment) -> dict[str, str]:
    """This environment, marked with the data directory so cleanup kills the process."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("ALGOVISOR_")}
    env["ALGOVISOR_DATA_DIR"] = str(environment.data_dir)
    return env


# ----- the host and its contract ----------------------------------------------------------


def wait_contract_ready(host: HostProcess) -> int:
    """Wait until the paper contract is loaded for today; its row count."""
    with host.client() as client:

        def ready() -> int | None:
            status = client.get("/api/master-contract/status", params={"broker": "paper"})
            body = status.raise_for_status().json()
            return int(body["total_symbols"]) if body["is_ready"] else None

        rows = wait_until(ready, CONTRACT_TIMEOUT_SECS, "the paper contract", poll_secs=0.2)
    assert isinstance(rows, int)
    return rows


def cnc_positions(pooled: httpx.Client, key: str) -> dict[str, int]:
    """Today's NSE CNC positions (symbol -> net quantity), as positionbook shows them."""
    rows = pooled.post("positionbook", json={"apikey": key}).raise_for_status().json()["data"]
    return {
        str(row["symbol"]): int(row["quantity"])
        for row in rows
        if row["exchange"] == "NSE" and row["product"] == "CNC"
    }


def book_counts(pooled: httpx.Client, key: str) -> tuple[int, int]:
    """(rows in today's trade book, orders in today's order book), as the API shows them."""
    trades = pooled.post("tradebook", json={"apikey": key}).raise_for_status().json()
    orders = pooled.post("orderbook", json={"apikey": key}).raise_for_status().json()
    return len(trades["data"]), len(orders["data"]["orders"])


# ----- client processes -------------------------------------------------------------------


@dataclass
class ClientProcess:
    process: subprocess.Popen[str]

    @property
    def stdin(self) -> IO[str]:
        assert self.process.stdin is not None
        return self.process.stdin

    def read_line(self) -> str:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"a client process exited with {self.process.wait()}")
        return line

    def send(self, command: str, start_at: float, seconds: float) -> None:
        self.stdin.write(f"{command} {start_at:.6f} {seconds:.3f}\n")
        self.stdin.flush()

    def result(self) -> dict[str, Any]:
        answer: dict[str, Any] = json.loads(self.read_line())
        return answer

    def close(self) -> None:
        self.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_clients(
    environment: BenchEnvironment, host: HostProcess, key: str, count: int
) -> list[ClientProcess]:
    """`count` client processes, each with its own order symbol; returns once all are ready
    (each imports openalgo and pandas: seconds of CPU on a small machine). They get the
    host and key as a strategy does (`OPENALGO_HOST`, `OPENALGO_API_KEY`), not in argv."""
    environment_variables = child_environment(environment)
    environment_variables.update(OPENALGO_HOST=host.url, OPENALGO_API_KEY=key)
    quote_symbols = json.dumps(QUOTE_SYMBOLS)
    clients = [
        ClientProcess(
            subprocess.Popen(
                [sys.executable, "-c", CLIENT_SCRIPT, PROCESS_SYMBOLS[number], quote_symbols],
                env=environment_variables,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
        )
        for number in range(count)
    ]
    for client in clients:
        if client.read_line().strip() != "ready":
            raise RuntimeError("a client process did not start")
    return clients


@dataclass
class LoadResult:
    ok: int = 0
    errors: int = 0
    first_error: str = ""
    wall_secs: float = 0.0
    latencies: list[float] = field(default_factory=list)
    host_cpu_secs: float = 0.0
    client_cpu_secs: float = 0.0
    held: dict[str, int] = field(default_factory=dict)  # what each client holds after it

    @property
    def per_second(self) -> float:
        return self.ok / self.wall_secs

    def take(self, answer: dict[str, Any]) -> None:
        self.ok += int(answer["ok"])
        self.errors += int(answer["errors"])
        self.first_error = self.first_error or str(answer["first_error"])
        self.latencies.extend(answer["latencies"])
        self.client_cpu_secs += float(answer.get("cpu", 0.0))
        self.held.update(answer.get("held", {}))


def run_clients(
    clients: list[ClientProcess], command: str, seconds: float, host: HostProcess
) -> LoadResult:
    """Every client runs `command` for `seconds` from the same instant."""
    start_at = time.monotonic() + START_DELAY_SECS
    for client in clients:
        client.send(command, start_at, seconds)
    while time.monotonic() < start_at:
        time.sleep(0.0005)
    cpu_before = host_cpu_secs(host.pid)
    result = LoadResult()
    ended = start_at
    for client in clients:
        answer = client.result()
        result.take(answer)
        ended = max(ended, float(answer["ended"]))
    result.host_cpu_secs = host_cpu_secs(host.pid) - cpu_before
    result.wall_secs = ended - start_at
    return result


def run_threads(host: HostProcess, key: str, seconds: float, held: dict[str, int]) -> LoadResult:
    """CLIENTS threads in this process, each on its own pooled client and symbol; `held` is
    what each symbol's thread holds (0 or 1 share), carried from one run to the next."""
    result = LoadResult()
    lock = threading.Lock()
    start_at = time.monotonic() + START_DELAY_SECS
    end = start_at + seconds
    ends: list[float] = []

    def work(symbol: str) -> None:
        ok = errors = 0
        first_error = ""
        latencies: list[float] = []
        position = held.get(symbol, 0)
        with httpx.Client(base_url=f"{host.url}/api/v1/", headers=JSON_HEADERS) as pooled:
            pooled.post("intervals", json={"apikey": key})  # connect before the start
            while time.monotonic() < start_at:
                time.sleep(0.0005)
            while (started := time.monotonic()) < end:
                body = order_body(key, symbol, "SELL" if position else "BUY")
                try:
                    response = pooled.post("placeorder", json=body)
                    good, text = succeeded(response), response.text
                except httpx.HTTPError as error:
                    good, text = False, f"{type(error).__name__}: {error}"
                latencies.append(time.monotonic() - started)
                if good:
                    ok += 1
                    position = 1 - position
                else:
                    errors += 1
                    first_error = first_error or text[:300]
        with lock:
            result.take(
                {
                    "ok": ok,
                    "errors": errors,
                    "first_error": first_error,
                    "latencies": latencies,
                    "held": {symbol: position},
                }
            )
            ends.append(time.monotonic())

    threads = [threading.Thread(target=work, args=(symbol,)) for symbol in THREAD_SYMBOLS]
    for thread in threads:
        thread.start()
    while time.monotonic() < start_at:
        time.sleep(0.0005)
    cpu_before, own_before = host_cpu_secs(host.pid), time.process_time()
    for thread in threads:
        thread.join()
    result.host_cpu_secs = host_cpu_secs(host.pid) - cpu_before
    result.client_cpu_secs = time.process_time() - own_before
    result.wall_secs = max(ends) - start_at
    held.update(result.held)
    return result


# ----- 1. placeorder round trip ----------------------------------------------------------


@dataclass
class RoundTrip:
    package_p50: Figure
    package_p99: Figure
    pooled_p50: Figure
    pooled_p99: Figure
    ratio: Figure
    floor_p50: Figure
    floor_p99: Figure
    intervals_p50: Figure
    pooled_intervals_p50: Figure

    @classmethod
    def new(cls) -> RoundTrip:
        return cls(
            Figure("placeorder round trip, openalgo package, p50", "ms"),
            Figure("placeorder round trip, openalgo package, p99", "ms"),
            Figure("placeorder, same body on one pooled httpx.Client (server's share), p50", "ms"),
            Figure("placeorder, pooled httpx.Client, p99", "ms"),
            Figure("ratio: package p50 / pooled p50", "x"),
            Figure("client floor: package placeorder, instant stdlib server, p50", "ms"),
            Figure("client floor: package placeorder, instant stdlib server, p99", "ms"),
            Figure("package intervals on the host (lightest endpoint), p50", "ms"),
            Figure("pooled intervals on the host (routing + body + key check), p50", "ms"),
        )

    def figures(self) -> list[Figure]:
        return list(vars(self).values())


def timed(call: Callable[[], object]) -> tuple[float, object]:
    """(milliseconds, answer) of one call."""
    started = time.perf_counter()
    answer = call()
    return (time.perf_counter() - started) * 1000, answer


def post_json(client: httpx.Client, path: str, body: object) -> object:
    """POST `body` and read the JSON answer: what a pooled caller does per request."""
    return client.post(path, json=body).json()


def measure_round_trip(
    host: HostProcess, key: str, floor_url: str, orders: int, figures: RoundTrip
) -> None:
    """One round: `orders` orders on each path, and orders/3 calls of each floor, interleaved."""
    from openalgo import api  # type: ignore[import-untyped]

    client = api(api_key=key, host=host.url)
    floor_client = api(api_key=key, host=floor_url)
    package, pooled_times, floor, intervals, pooled_intervals = [], [], [], [], []
    with httpx.Client(base_url=f"{host.url}/api/v1/", headers=JSON_HEADERS) as pooled:
        check(pooled.post("intervals", json={"apikey": key}).json(), "intervals")  # connect
        for number in range(orders):
            order = {
                "symbol": PACKAGE_SYMBOL,
                "exchange": "NSE",
                "action": "BUY" if number % 2 == 0 else "SELL",
                "quantity": 1,
                "product": "CNC",
            }
            elapsed, answer = timed(partial(client.placeorder, **order))
            check(answer, "placeorder through the package")
            package.append(elapsed)
            body = order_body(key, POOLED_SYMBOL, str(order["action"]))
            elapsed, answer = timed(partial(post_json, pooled, "placeorder", body))
            check(answer, "placeorder on the pooled client")
            pooled_times.append(elapsed)
            if number % 3 == 0:
                elapsed, answer = timed(partial(floor_client.placeorder, **order))
                check(answer, "placeorder against the instant server")
                floor.append(elapsed)
            elif number % 3 == 1:
                elapsed, answer = timed(client.intervals)
                check(answer, "intervals through the package")
                intervals.append(elapsed)
            else:
                elapsed, answer = timed(partial(post_json, pooled, "intervals", {"apikey": key}))
                check(answer, "intervals on the pooled client")
                pooled_intervals.append(elapsed)
    figures.package_p50.add(percentile(package, 0.5))
    figures.package_p99.add(percentile(package, 0.99))
    figures.pooled_p50.add(percentile(pooled_times, 0.5))
    figures.pooled_p99.add(percentile(pooled_times, 0.99))
    figures.ratio.add(percentile(package, 0.5) / percentile(pooled_times, 0.5))
    figures.floor_p50.add(percentile(floor, 0.5))
    figures.floor_p99.add(percentile(floor, 0.99))
    figures.intervals_p50.add(percentile(intervals, 0.5))
    figures.pooled_intervals_p50.add(percentile(pooled_intervals, 0.5))


def start_instant_server(environment: BenchEnvironment) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, "-c", INSTANT_SERVER_SCRIPT],
        env=child_environment(environment),
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    port = int(process.stdout.readline())
    return process, f"http://127.0.0.1:{port}"


# ----- 2. orders per second ----------------------------------------------------------------


@dataclass
class Load:
    """One way of loading the server (client processes or threads), over the rounds."""

    label: str
    rate: Figure
    p50: Figure
    p99: Figure
    cpu: Figure
    client_cpu: Figure
    errors: int = 0
    book_mismatches: list[str] = field(default_factory=list)

    @classmethod
    def new(cls, label: str) -> Load:
        return cls(
            label,
            Figure(f"orders/s sustained, {label}", "orders/s"),
            Figure(f"placeorder latency under that load, {label}, p50", "ms"),
            Figure(f"placeorder latency under that load, {label}, p99", "ms"),
            Figure(f"host CPU per order, {label}", "ms"),
            Figure(f"client CPU per order, {label}", "ms"),
        )

    def take(self, result: LoadResult, trades: int, orders: int, positions: dict[str, int]) -> None:
        self.rate.add(result.per_second)
        self.p50.add(percentile(result.latencies, 0.5) * 1000)
        self.p99.add(percentile(result.latencies, 0.99) * 1000)
        self.cpu.add(result.host_cpu_secs / max(1, result.ok) * 1000)
        self.client_cpu.add(result.client_cpu_secs / max(1, result.ok) * 1000)
        self.errors += result.errors
        placed = result.ok + result.errors  # a rejected order is in the order book too
        if trades != result.ok or orders != placed:
            self.book_mismatches.append(
                f"{self.label}: {result.ok} filled / {placed} placed, but the trade book "
                f"grew by {trades} and the order book by {orders}"
            )
        wrong = {
            symbol: (positions.get(symbol, 0), held)
            for symbol, held in result.held.items()
            if positions.get(symbol, 0) != held
        }
        if len(result.held) != CLIENTS or wrong:
            self.book_mismatches.append(
                f"{self.label}: {len(result.held)} clients reported; positions (book, "
                f"clients' own count) differ for {wrong}"
            )
        say(
            f"  {self.label}: {result.ok} orders in {result.wall_secs:.2f} s = "
            f"{result.per_second:.0f} orders/s, {result.errors} errors"
            + (f" (first: {result.first_error})" if result.first_error else "")
            + f"; p50 {self.p50.values[-1]:.1f} ms, p99 {self.p99.values[-1]:.1f} ms; host CPU "
            f"{result.host_cpu_secs:.2f} s ({self.cpu.values[-1]:.2f} ms/order), clients "
            f"{self.client_cpu.values[-1]:.2f} ms/order; books +"
            f"{trades} trades, +{orders} orders"
        )


def measured_load(
    pooled: httpx.Client, key: str, load: Load, run: Callable[[], LoadResult]
) -> None:
    trades_before, orders_before = book_counts(pooled, key)
    result = run()
    trades_after, orders_after = book_counts(pooled, key)
    positions = cnc_positions(pooled, key)
    load.take(result, trades_after - trades_before, orders_after - orders_before, positions)


# ----- 3. multiquotes ----------------------------------------------------------------------


@dataclass
class Quotes:
    calls: Figure
    quotes: Figure
    p50: Figure
    p99: Figure
    concurrent_calls: Figure
    concurrent_quotes: Figure
    concurrent_p50: Figure
    pooled_p50: Figure
    errors: int = 0

    @classmethod
    def new(cls) -> Quotes:
        n = len(QUOTE_SYMBOLS)
        return cls(
            Figure(f"multiquotes ({n} symbols), 1 client in sequence", "calls/s"),
            Figure(f"quotes/s, 1 client ({n} x calls/s)", "quotes/s"),
            Figure(f"one {n}-symbol multiquotes call, openalgo package, p50", "ms"),
            Figure(f"one {n}-symbol multiquotes call, openalgo package, p99", "ms"),
            Figure(f"multiquotes ({n} symbols), {QUOTE_CLIENTS} client processes", "calls/s"),
            Figure(f"quotes/s, {QUOTE_CLIENTS} clients", "quotes/s"),
            Figure(f"one call with {QUOTE_CLIENTS} clients, p50", "ms"),
            Figure(f"one {n}-symbol call on a pooled httpx.Client (server's share), p50", "ms"),
        )

    def figures(self) -> list[Figure]:
        return [value for value in vars(self).values() if isinstance(value, Figure)]


def measure_quotes(
    clients: list[ClientProcess],
    host: HostProcess,
    pooled: httpx.Client,
    key: str,
    seconds: float,
    figures: Quotes,
) -> None:
    symbols = len(QUOTE_SYMBOLS)
    alone = run_clients(clients[:1], "quotes", seconds, host)
    figures.calls.add(alone.per_second)
    figures.quotes.add(alone.per_second * symbols)
    figures.p50.add(percentile(alone.latencies, 0.5) * 1000)
    figures.p99.add(percentile(alone.latencies, 0.99) * 1000)
    together = run_clients(clients[:QUOTE_CLIENTS], "quotes", seconds, host)
    figures.concurrent_calls.add(together.per_second)
    figures.concurrent_quotes.add(together.per_second * symbols)
    figures.concurrent_p50.add(percentile(together.latencies, 0.5) * 1000)
    body = {"apikey": key, "symbols": QUOTE_SYMBOLS}
    times = []
    for _ in range(max(5, alone.ok // 2)):
        elapsed, answer = timed(partial(post_json, pooled, "multiquotes", body))
        results = check(answer, "multiquotes on the pooled client")["results"]
        if sum(1 for row in results if "data" in row) != symbols:
            raise RuntimeError(f"multiquotes answered {results[:3]}...")
        times.append(elapsed)
    figures.pooled_p50.add(percentile(times, 0.5))
    figures.errors += alone.errors + together.errors
    for result in (alone, together):
        if result.first_error:
            say(f"  multiquotes error: {result.first_error}")
    say(
        f"  multiquotes: 1 client {alone.per_second:.1f} calls/s (p50 "
        f"{figures.p50.values[-1]:.0f} ms, p99 {figures.p99.values[-1]:.0f} ms); "
        f"{QUOTE_CLIENTS} clients {together.per_second:.1f} calls/s "
        f"(p50 {figures.concurrent_p50.values[-1]:.0f} ms); pooled p50 "
        f"{figures.pooled_p50.values[-1]:.0f} ms; errors {alone.errors + together.errors}"
    )


# ----- main --------------------------------------------------------------------------------


def main() -> int:
    parser = base_parser(__doc__ or "", repetitions=3)
    parser.add_argument(
        "--orders", type=int, default=300, help="placeorder round trips per round (default 300)"
    )
    parser.add_argument(
        "--load-secs", type=float, default=8.0, help="seconds per load run (default 8)"
    )
    parser.add_argument(
        "--quote-secs", type=float, default=4.0, help="seconds per multiquotes run (default 4)"
    )
    arguments = parser.parse_args()
    round_trip = RoundTrip.new()
    processes, threads = (
        Load.new(f"{CLIENTS} client processes"),
        Load.new(f"{CLIENTS} threads, pooled httpx"),
    )
    quotes = Quotes.new()
    thread_holdings: dict[str, int] = {}
    started = time.monotonic()
    with bench_environment(arguments.database_url, arguments.keep) as environment:
        say(environment.describe())
        host = environment.host()
        host.start()
        key = broker_accounts.paper_api_key(environment.ctx)
        instant, instant_url = start_instant_server(environment)
        say(f"starting {CLIENTS} client processes (each imports openalgo)...")
        clients = start_clients(environment, host, key, CLIENTS)
        rows = wait_contract_ready(host)
        say(f"paper contract ready ({rows:,} rows) after {time.monotonic() - started:.1f} s")
        try:
            with httpx.Client(base_url=f"{host.url}/api/v1/", headers=JSON_HEADERS) as pooled:
                for number in range(arguments.repetitions):
                    say(f"round {number + 1}")
                    measure_round_trip(host, key, instant_url, arguments.orders, round_trip)
                    say(
                        f"  placeorder p50: package {round_trip.package_p50.values[-1]:.1f} ms, "
                        f"pooled {round_trip.pooled_p50.values[-1]:.1f} ms, floor "
                        f"{round_trip.floor_p50.values[-1]:.1f} ms"
                    )
                    measured_load(
                        pooled,
                        key,
                        processes,
                        lambda: run_clients(clients, "orders", arguments.load_secs, host),
                    )
                    measured_load(
                        pooled,
                        key,
                        threads,
                        lambda: run_threads(host, key, arguments.load_secs, thread_holdings),
                    )
                    measure_quotes(clients, host, pooled, key, arguments.quote_secs, quotes)
                trades, orders = book_counts(pooled, key)
        finally:
            for client in clients:
                client.close()
            instant.kill()
            instant.wait()
    errors = processes.errors + threads.errors + quotes.errors
    mismatches = processes.book_mismatches + threads.book_mismatches
    notes = [
        f"{os.cpu_count()} cores, shared by the host, the clients and this process; "
        "no figure has a target (the issue names none)",
        f"{arguments.repetitions} rounds; per round {arguments.orders} placeorder round trips "
        f"per path, {arguments.load_secs:g} s per load run, {arguments.quote_secs:g} s per "
        "multiquotes run",
        f"errors (orders or quotes that failed): {errors}; book mismatches: {len(mismatches)}",
        f"books at the end: {trades:,} trades, {orders:,} orders today; "
        f"total time {time.monotonic() - started:.0f} s",
        *mismatches,
    ]
    figures = [
        *round_trip.figures(),
        processes.rate,
        processes.p50,
        processes.p99,
        processes.cpu,
        processes.client_cpu,
        threads.rate,
        threads.p50,
        threads.p99,
        threads.cpu,
        threads.client_cpu,
        *quotes.figures(),
    ]
    status = print_figures("The paper broker's OpenAlgo API", figures, notes)
    return 1 if errors or mismatches else status


if __name__ == "__main__":
    run_main(main)
