"""`algovisor contracts ...`: download, status and lookups of master contracts."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TransferSpeedColumn,
)

from algovisor.cli.context import open_context
from algovisor.cli.output import console, error_console, handle_errors, print_json, table, when
from algovisor.services import contracts as service
from algovisor.services.views import ContractStatusView, InstrumentView

app = typer.Typer(help="Master contracts: each broker's instrument list.", no_args_is_help=True)

Json = Annotated[bool, typer.Option("--json", help="print JSON")]
Underlying = Annotated[str, typer.Argument(help="the underlying, e.g. NIFTY")]
Broker = Annotated[
    str, typer.Option("--broker", "-b", help="paper, zerodha, angel, dhan, upstox, openalgo")
]
Exchange = Annotated[str, typer.Option("--exchange", "-e", help="NSE, NFO, BFO, MCX, NSE_INDEX...")]


@app.command("download")
@handle_errors
def download(
    typer_context: typer.Context,
    broker: Broker = "paper",
    file: Annotated[
        Path | None, typer.Option("--file", "-f", help="a broker file (.gz is fine)")
    ] = None,
    url: Annotated[str | None, typer.Option("--url", help="download from this URL")] = None,
    format_name: Annotated[
        str | None,
        typer.Option(
            "--format", help="zerodha, angel, dhan, upstox or openalgo (default: the broker's)"
        ),
    ] = None,
    api_key: Annotated[
        str | None,
        typer.Option(
            "--api-key",
            envvar="OPENALGO_API_KEY",
            show_envvar=True,
            help="an OpenAlgo server's API key for --url (kept encrypted, never shown)",
        ),
    ] = None,
) -> None:
    """Download (or read), check and load a broker's contract for the current trading day."""
    ctx = open_context(typer_context)
    configured = service.configured_source(ctx, broker) if file is None and url is None else None
    source = service.choose_source(
        broker, file, url, format_name, api_key if url else None, configured
    )
    with Progress(
        TextColumn(f"{broker} contract"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeElapsedColumn(),
        console=error_console,
        transient=True,
        disable=not error_console.is_terminal,
    ) as bar:
        task = bar.add_task("download", total=None)

        def progress(received: int, total: int | None) -> None:
            bar.update(task, completed=received, total=total)

        view = service.download(ctx, broker, source, progress)
    show_status(view)


@app.command("status")
@handle_errors
def status(
    typer_context: typer.Context,
    broker: Annotated[str | None, typer.Option("--broker", "-b", help="one broker")] = None,
    as_json: Json = False,
) -> None:
    """Each broker's contract: ready or not, for which day, counts, rejections and timings."""
    ctx = open_context(typer_context)
    views = [service.status(ctx, broker)] if broker else service.statuses(ctx)
    if as_json:
        print_json(views[0] if broker else views)
        return
    for view in views:
        show_status(view)


def show_status(view: ContractStatusView) -> None:
    colour = "green" if view.is_ready else {"error": "red"}.get(view.status, "yellow")
    ready = "ready" if view.is_ready else "not ready"
    console.print(
        f"[bold]{view.broker}[/]: [{colour}]{view.status}, {ready}[/] - {view.message}",
        highlight=False,
    )
    if view.trading_day:
        console.print(
            f"  {view.total_symbols:,} symbols for {view.trading_day} "
            f"(current trading day {view.current_trading_day}), loaded {when(view.loaded_at)}",
            highlight=False,
        )
    if view.exchange_counts:
        counts = ", ".join(f"{name} {count:,}" for name, count in view.exchange_counts.items())
        console.print(f"  exchanges: {counts}", highlight=False)
    if view.rows_rejected:
        console.print(f"  rejected rows: {view.rows_rejected:,}", highlight=False)
    if view.step_secs:
        steps = ", ".join(f"{step} {secs:.2f} s" for step, secs in view.step_secs.items())
        console.print(f"  steps: {steps}", highlight=False)
    if view.source:
        console.print(f"  source: {view.source}", highlight=False)
    if view.waiting_reason:
        console.print(f"  [yellow]{view.waiting_reason}[/]", highlight=False)


@app.command("search")
@handle_errors
def search(
    typer_context: typer.Context,
    query: Annotated[str, typer.Argument(help="the start of a symbol, e.g. NIFTY28NOV24")],
    broker: Broker = "paper",
    exchange: Annotated[str | None, typer.Option("--exchange", "-e")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=500)] = 20,
    as_json: Json = False,
) -> None:
    """Instruments whose symbol starts with QUERY."""
    found = service.search(open_context(typer_context), broker, query, exchange, limit)
    if as_json:
        print_json(found)
        return
    instruments_table(found)


@app.command("lookup")
@handle_errors
def lookup(
    typer_context: typer.Context,
    symbol: Annotated[str, typer.Argument(help="OpenAlgo symbol, e.g. NIFTY28NOV2424000CE")],
    exchange: Exchange,
    broker: Broker = "paper",
    as_json: Json = False,
) -> None:
    """One instrument: its token, lot size, tick size, expiry and strike."""
    found = service.lookup(open_context(typer_context), broker, symbol, exchange)
    if as_json:
        print_json(found)
        return
    instruments_table([found])


@app.command("expiries")
@handle_errors
def expiries(
    typer_context: typer.Context,
    name: Underlying,
    exchange: Exchange = "NFO",
    broker: Broker = "paper",
) -> None:
    """The expiries of an underlying's futures and options, soonest first."""
    for expiry in service.expiries(open_context(typer_context), broker, name, exchange):
        console.print(f"{expiry:%Y-%m-%d %a}", highlight=False)


@app.command("chain")
@handle_errors
def chain(
    typer_context: typer.Context,
    name: Underlying,
    expiry: Annotated[str, typer.Option("--expiry", help="YYYY-MM-DD")],
    exchange: Exchange = "NFO",
    broker: Broker = "paper",
    as_json: Json = False,
) -> None:
    """The option chain of one expiry: call and put symbols and tokens by strike."""
    try:
        day = date.fromisoformat(expiry)
    except ValueError:
        raise typer.BadParameter(f"{expiry!r} is not a date like 2026-11-24") from None
    links = service.option_chain(open_context(typer_context), broker, name, day, exchange)
    if as_json:
        print_json(links)
        return
    table(
        ["call", "call token", "strike", "put token", "put"],
        [
            (
                link.call.symbol if link.call else "",
                link.call.token if link.call else "",
                f"{link.strike:g}",
                link.put.token if link.put else "",
                link.put.symbol if link.put else "",
            )
            for link in links
        ],
    )


def instruments_table(found: list[InstrumentView]) -> None:
    table(
        ["symbol", "exchange", "token", "lot", "tick", "expiry", "strike", "broker symbol"],
        [
            (
                row.symbol,
                row.exchange,
                row.token,
                row.lot_size,
                f"{row.tick_size:g}",
                f"{row.expiry:%Y-%m-%d}" if row.expiry else "",
                f"{row.strike:g}" if row.strike is not None else "",
                row.broker_symbol,
            )
            for row in found
        ],
    )
