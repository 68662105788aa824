"""The 150k-row paper contract from file to `is_ready`, its lookup book, and lookups (issue 4).

The paper broker's contract for a trading day is generated once and written as a
Zerodha instruments CSV, the format most traders meet, so the pipeline does the
work it does for a real broker file. Each repetition then runs the host's own
refresh (`Refresh.run`, file source) into a fresh generation and reads the
timings it records:

- parse + normalise: the CSV read into OpenAlgo-format instruments;
- validate: per-row checks, the sort, duplicate and conflict checks;
- load (staging): the new generation's rows inserted beside the current one;
- swap: the status row pointed at the new generation (readers switch here);
- cache build: the in-memory lookup book (new maps, one reference swap);
- DB + cache: load + cache + swap, the target's "DB + cache" share;
- file -> is_ready: parse, validate, load, cache and swap together.

Then, on one book: its memory per row (tracemalloc over parsing the file and
building the book, after the parsed rows are dropped: everything the book keeps
alive, its strings included, divided by its rows) and symbol -> token lookups per
second from Python, one by one, as fresh string objects (not the book's own):
random symbols of every exchange in proportion to its size, through
`book.token(symbol, exchange)` (the target) and through the read-only
per-exchange map `book.tokens(exchange)` a hot loop would hold; and a strategy's
working set, NIFTY's two nearest option chains, through `book.token`. Uniform
draws over 150,000 symbols miss the CPU caches on every lookup: a worst case.
"""

from __future__ import annotations

import gc
import random
import sys
import time
import tracemalloc
from datetime import date
from pathlib import Path

if __package__ in (None, ""):  # run as `python benchmarks/bench_contracts.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from algovisor.contracts import paper
from algovisor.contracts.book import ContractBook
from algovisor.contracts.days import opens_for_trading
from algovisor.contracts.formats import parse_file
from algovisor.services import contracts as contract_service
from benchmarks.common import (
    Figure,
    base_parser,
    bench_environment,
    print_figures,
    run_main,
    say,
    write_zerodha_csv,
)

TRADING_DAY = date(2026, 11, 20)
TARGET_DB_AND_CACHE_SECS = 1.0
TARGET_BYTES_PER_ROW = 250.0
TARGET_LOOKUPS_PER_SEC = 3_000_000.0
LOOKUPS = 2_000_000


def lookup_batches(book: ContractBook) -> list[tuple[str, list[str]]]:
    """Random symbols of every exchange, as fresh strings (not the book's own objects)."""
    batches = []
    for exchange, part in book.exchanges.items():
        share = max(1, LOOKUPS * len(part) // len(book))
        chosen = random.choices(part.symbols, k=share)
        batches.append((exchange, [symbol.encode().decode() for symbol in chosen]))
    return batches


def working_set(book: ContractBook) -> list[tuple[str, list[str]]]:
    """What one strategy keeps looking up: NIFTY's two nearest option chains, as fresh strings."""
    expiries = book.expiries("NIFTY", "NFO", "CE")[:2]
    symbols = [
        side.symbol
        for expiry in expiries
        for link in book.option_chain("NIFTY", expiry, "NFO")
        for side in (link.call, link.put)
        if side is not None
    ]
    chosen = random.choices(symbols, k=LOOKUPS)
    return [("NFO", [symbol.encode().decode() for symbol in chosen])]


def lookups_per_second(
    book: ContractBook, batches: list[tuple[str, list[str]]], repetitions: int
) -> tuple[list[float], list[float]]:
    """`book.token(symbol, exchange)`, and the per-exchange map a hot loop would hold."""
    total = sum(len(symbols) for _, symbols in batches)
    token = book.token
    by_call, by_map = [], []
    for _ in range(repetitions):
        started = time.perf_counter()
        for exchange, symbols in batches:
            for symbol in symbols:
                token(symbol, exchange)
        by_call.append(total / (time.perf_counter() - started))
        started = time.perf_counter()
        for exchange, symbols in batches:
            tokens = book.tokens(exchange)
            for symbol in symbols:
                tokens[symbol]
        by_map.append(total / (time.perf_counter() - started))
    return by_call, by_map


def bytes_per_row(path: Path) -> float:
    """Everything a book keeps alive (its strings too), per row: parsed, built, rows dropped."""
    gc.collect()
    tracemalloc.start()
    rows = parse_file(path, "zerodha").rows
    book = ContractBook.build("paper", 1, TRADING_DAY, rows)
    for part in book.exchanges.values():
        part.index_of_token("")  # the reverse index, built on first use: counted too
    count = len(book)
    del rows
    gc.collect()
    kept, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del book
    return kept / count


def main() -> int:
    arguments = base_parser(__doc__ or "", repetitions=5).parse_args()
    figures = {
        "parse": Figure("parse + normalise (Zerodha CSV)", "s"),
        "validate": Figure("validate", "s"),
        "load": Figure("staging load (new generation)", "s"),
        "swap": Figure("swap", "s"),
        "cache": Figure("cache build", "s"),
        "db_cache": Figure("DB + cache (load + cache + swap)", "s", [], TARGET_DB_AND_CACHE_SECS),
        "total": Figure("file -> is_ready", "s"),
        "cleanup": Figure("old generation deleted (after ready)", "s"),
    }
    memory = Figure("cache memory per row", "bytes", [], TARGET_BYTES_PER_ROW)
    rate = Figure("lookups/s, any of the 150k symbols, book.token(symbol, exchange)", "M/s")
    map_rate = Figure("lookups/s, any of the 150k symbols, book.tokens(exchange)[symbol]", "M/s")
    hot_rate = Figure("lookups/s, two NIFTY option chains, book.token(symbol, exchange)", "M/s")
    with bench_environment(arguments.database_url, arguments.keep) as environment:
        say(environment.describe())
        ctx = environment.ctx
        calendar = ctx.calendars.current()["NSE"]
        rows = paper.generate(TRADING_DAY, lambda day: opens_for_trading(calendar, day))
        path = environment.root / "paper-zerodha.csv"
        write_zerodha_csv(rows, path)
        say(f"{len(rows):,} paper instruments written as {path.stat().st_size / 1e6:.1f} MB CSV")
        refresh = contract_service.make_refresh(ctx)
        source = contract_service.choose_source("paper", path, None, "zerodha")
        # The book's own figures first, in a process not yet full of the loads' garbage.
        book = ContractBook.build("paper", 0, TRADING_DAY, parse_file(path, "zerodha").rows)
        by_call, by_map = lookups_per_second(book, lookup_batches(book), arguments.repetitions)
        rate.values.extend(value / 1e6 for value in by_call)
        map_rate.values.extend(value / 1e6 for value in by_map)
        chain_symbols = working_set(book)
        by_call, _ = lookups_per_second(book, chain_symbols, arguments.repetitions)
        hot_rate.values.extend(value / 1e6 for value in by_call)
        del book
        for _ in range(3):
            memory.add(bytes_per_row(path))
        for number in range(arguments.repetitions):
            report = refresh.run(
                "paper",
                source,
                TRADING_DAY,
                lambda day: opens_for_trading(calendar, day),
                on_ready=lambda _book: None,  # as the host: the book is built
            )
            steps = report.step_secs
            for name in ("parse", "validate", "load", "swap", "cache", "cleanup"):
                figures[name].add(steps[name])
            figures["db_cache"].add(steps["load"] + steps["cache"] + steps["swap"])
            figures["total"].add(
                sum(steps[name] for name in ("parse", "validate", "load", "cache", "swap"))
            )
            say(
                f"  round {number + 1}: {len(report.contract.rows):,} rows, generation "
                f"{report.generation}"
            )
            del report
    rate_met = rate.median * 1e6 >= TARGET_LOOKUPS_PER_SEC
    notes = [
        f"paper contract for {TRADING_DAY}: {len(rows):,} rows; 2 cores",
        f"lookups target >= {TARGET_LOOKUPS_PER_SEC / 1e6:g} M/s: "
        + ("met" if rate_met else "MISSED"),
    ]
    shown = [*figures.values(), memory, rate, map_rate, hot_rate]
    code = print_figures("Master contract: file to is_ready", shown, notes)
    return code if rate_met else 1


if __name__ == "__main__":
    run_main(main)
