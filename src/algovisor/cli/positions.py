"""`algovisor positions ...`: what crashes left open, the trail, the broker, closing by hand."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from algovisor.cli.context import open_context
from algovisor.cli.output import console, handle_errors, print_json, table, when
from algovisor.errors import InvalidInputError
from algovisor.services import broker_books
from algovisor.services import position_retention as retention
from algovisor.services import positions as service
from algovisor.services.views import CrashedPositionView, PositionView

app = typer.Typer(
    help="Strategies' positions: crashes, the event trail, the broker, closing by hand, retention.",
    no_args_is_help=True,
)

Json = Annotated[bool, typer.Option("--json", help="print JSON")]
Strategy = Annotated[str | None, typer.Option("--strategy", "-s", help="one strategy's")]
PositionId = Annotated[int, typer.Argument(help="position id")]
STATE_CHARS = 60


@app.command("crashed")
@handle_errors
def crashed(
    typer_context: typer.Context,
    strategy: Strategy = None,
    since: Annotated[
        str | None,
        typer.Option(
            "--since", help="crashes at or after, e.g. 2025-11-28T15:00 (IST unless an offset)"
        ),
    ] = None,
    until: Annotated[
        str | None, typer.Option("--until", help="crashes before, e.g. 2025-11-28T16:00")
    ] = None,
    as_json: Json = False,
) -> None:
    """Positions a crash affected, as the crash left them: quantity, stop, state; status now."""
    rows = service.crashed(
        open_context(typer_context),
        strategy,
        service.parse_time(since, "--since"),
        service.parse_time(until, "--until"),
    )
    if as_json:
        print_json(rows)
        return
    if not rows:
        console.print("no crashed positions in that range")
        return
    # One heading per crash, then what it left open: the symbol must never be cut.
    by_crash: dict[tuple[int, datetime], list[CrashedPositionView]] = {}
    for row in rows:
        by_crash.setdefault((row.crash.session_id, row.crash.at), []).append(row)
    for (session_id, at), affected in by_crash.items():
        crash = affected[0].crash
        run = f", run {crash.run_id}" if crash.run_id else ""
        console.print(
            f"[bold]{escape(crash.strategy)}[/bold] crashed {when(at)} "
            f"(session {session_id}{escape(run)}): "
            f"{escape(crash.reason or 'no reason recorded')}",
            highlight=False,
        )
        grid = Table(show_edge=False, header_style="bold")
        grid.add_column("id", no_wrap=True)
        grid.add_column("position", no_wrap=True)
        grid.add_column("entry", no_wrap=True)
        grid.add_column("stop", no_wrap=True)
        grid.add_column("state")
        grid.add_column("now")
        for row in affected:
            position = row.position  # as the crash left it
            entered = when(position.entry_time)
            if entered[:10] == when(at)[:10]:
                entered = entered[11:19]  # the crash's day: the time says it
            cells = (
                str(position.id),
                f"{position.side} {position.quantity} {_symbol(position)}",
                f"{position.entry_price:g} at {entered}",
                _price(position.stop_price),
                _state(position.state),
                ", ".join(filter(None, (row.now, position.broker_verdict))),
            )
            grid.add_row(*(Text(cell) for cell in cells))  # plain text, never markup
        console.print(grid)


@app.command("list")
@handle_errors
def list_positions(
    typer_context: typer.Context,
    status: Annotated[
        str | None, typer.Option("--status", help="ACTIVE, CRASHED, CLOSED or RECOVERED")
    ] = None,
    strategy: Strategy = None,
    as_json: Json = False,
) -> None:
    """Positions, oldest first, of one status and one strategy."""
    rows = service.list_positions(open_context(typer_context), status, strategy)
    if as_json:
        print_json(rows)
        return
    table(
        ["id", "strategy", "symbol", "side", "qty", "entry", "stop", "status", "updated", "broker"],
        [
            (
                row.id,
                row.strategy,
                _symbol(row),
                row.side,
                row.quantity,
                f"{row.entry_price:g}",
                _price(row.stop_price),
                row.status,
                when(row.updated_at),
                row.broker_verdict or "",
            )
            for row in rows
        ],
    )


@app.command("show")
@handle_errors
def show(typer_context: typer.Context, position_id: PositionId, as_json: Json = False) -> None:
    """One position: its state, session, crashes (with tracebacks), trail and order intents."""
    view = service.show(open_context(typer_context), position_id)
    if as_json:
        print_json(view)
        return
    position = view.position
    rows: list[tuple[str, object]] = [
        ("id", position.id),
        ("strategy", position.strategy),
        ("status", position.status),
        ("symbol", _symbol(position)),
        ("leg", position.leg),
        ("side", position.side),
        ("quantity", f"{position.quantity} of {position.initial_quantity}"),
        ("entry", f"{position.entry_price:g} at {when(position.entry_time)}"),
        ("stop", _price(position.stop_price)),
        ("target", _price(position.target_price)),
        ("last price", _price(position.current_price)),
        ("state", json.dumps(position.state, sort_keys=True)),
        ("updated", when(position.updated_at)),
        ("session", f"{view.session.id} ({view.session.status}) on {view.session.hostname}"),
        ("run", position.run_id),
        ("broker", position.broker),
        ("verdict", _verdict(position)),
    ]
    if position.exit_time or position.exit_price is not None:
        rows += [
            ("exit", f"{_price(position.exit_price)} at {when(position.exit_time)}"),
            ("exit reason", position.exit_reason),
        ]
    rows += [("realized P&L", f"{position.realized_pnl:g}")]
    if position.crashed_at:
        rows += [("crashed", f"{when(position.crashed_at)}: {position.crash_reason}")]
    if position.recovered_at:
        rows += [("recovered", when(position.recovered_at))]
    table(["field", "value"], rows)
    console.print("\n[bold]events[/]", highlight=False)
    table(
        ["at", "kind", "session", "details"],
        [
            (when(event.at), event.kind, event.session_id, _details(event.details))
            for event in view.events
        ],
    )
    if view.order_intents:
        console.print("\n[bold]order intents[/]", highlight=False)
        table(
            ["client order id", "action", "qty", "price", "purpose", "status", "broker order"],
            [
                (
                    intent.client_order_id,
                    intent.action,
                    intent.quantity,
                    _price(intent.price),
                    intent.purpose,
                    intent.status,
                    intent.broker_order_id,
                )
                for intent in view.order_intents
            ],
        )
    for crash in view.crashes:
        kind = f" ({crash.exception_type})" if crash.exception_type else ""
        console.print(
            f"\n[bold]crash[/] of session {crash.session_id} at {when(crash.at)}"
            f"{escape(kind)}: {escape(crash.reason or 'no reason recorded')}",
            highlight=False,
        )
        if crash.traceback:
            console.print(crash.traceback.rstrip(), highlight=False, markup=False)


@app.command("reconcile")
@handle_errors
def reconcile(typer_context: typer.Context, as_json: Json = False) -> None:
    """Check open positions against each broker: matched, closed at broker, mismatch, orphan."""
    ctx = open_context(typer_context)
    with broker_books.position_books(ctx) as books:
        findings = service.reconcile(ctx, books)
    if as_json:
        print_json(findings)
        return
    if not findings:
        console.print("no open positions to check", highlight=False)
        return
    table(
        ["broker", "exchange", "symbol", "product", "verdict", "ours", "broker's", "positions"],
        [
            (
                finding.broker,
                finding.exchange,
                finding.symbol,
                finding.product,
                finding.verdict,
                f"{finding.expected_quantity:+d}",
                "?" if finding.broker_quantity is None else f"{finding.broker_quantity:+d}",
                " ".join(str(position_id) for position_id in finding.position_ids),
            )
            for finding in findings
        ],
    )
    for problem in dict.fromkeys(
        f"{finding.broker}: {finding.problem}" for finding in findings if finding.problem
    ):
        console.print(f"[yellow]unknown[/] {escape(problem)}; not read as flat", highlight=False)


@app.command("close")
@handle_errors
def close(
    typer_context: typer.Context,
    position_id: PositionId,
    price: Annotated[
        float, typer.Option("--price", help="the price it was closed at, at the broker")
    ],
    quantity: Annotated[
        int | None, typer.Option("--quantity", "-q", help="units closed (default: all open)")
    ] = None,
    reason: Annotated[
        str, typer.Option("--reason", help="for the trail, e.g. 'closed at the broker by hand'")
    ] = service.DEFAULT_CLOSE_REASON,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="do not ask")] = False,
    as_json: Json = False,
) -> None:
    """Record a position closed by hand at the broker (all of it, or --quantity).

    Only algovisor's records change: no order is sent. The strategy's next
    recover() no longer resumes it. Refused while a live session holds it.
    """
    service.check_close(position_id, price, reason, quantity)  # refused before asking
    ctx = open_context(typer_context)
    position = service.show(ctx, position_id).position
    part = "" if quantity is None else f"{quantity} of "
    if not yes and not typer.confirm(
        f"Record {part}position {position_id} ({position.side} {position.quantity} "
        f"{_symbol(position)}, {position.status}) as closed at {price:g}? "
        "No order is sent: close it at the broker yourself.",
        err=True,
    ):
        console.print("nothing recorded", highlight=False)
        raise typer.Exit(1)
    result = service.close_position(ctx, position_id, price, reason, quantity)
    if as_json:
        print_json(result)
        return
    console.print(result.message, highlight=False, markup=False)


@app.command("purge")
@handle_errors
def purge(
    typer_context: typer.Context,
    before: Annotated[str, typer.Option("--before", help="YYYY-MM-DD, up to yesterday (IST)")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="do not ask")] = False,
    as_json: Json = False,
) -> None:
    """Delete positions closed before a date, their trails, and sessions that hold nothing.

    Open positions (ACTIVE, CRASHED, RECOVERED) are never deleted.
    """
    try:
        day = date.fromisoformat(before.strip())
    except ValueError:
        raise InvalidInputError(
            f"--before {before!r} is not a date", detail="Write it like 2025-11-28."
        ) from None
    ctx = open_context(typer_context)
    retention.purge_cutoff(ctx, day)  # a refused date is refused before asking
    if not yes and not typer.confirm(
        f"Delete positions closed before {day.isoformat()} (IST) with their events, "
        "and the sessions left empty?",
        err=True,
    ):
        console.print("nothing deleted", highlight=False)
        raise typer.Exit(1)
    result = retention.purge(ctx, day)
    if as_json:
        print_json(result)
        return
    console.print(
        f"deleted {result.positions} closed positions, {result.events} events, "
        f"{result.order_intents} order intents and {result.sessions} sessions "
        f"from before {when(result.cutoff)}",
        highlight=False,
    )


def _symbol(position: PositionView) -> str:
    return f"{position.exchange}:{position.symbol} {position.product}"


def _price(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


def _state(state: dict[str, Any]) -> str:
    text = json.dumps(state, sort_keys=True, separators=(",", ":")) if state else ""
    return text if len(text) <= STATE_CHARS else text[: STATE_CHARS - 1] + "…"


def _details(details: dict[str, Any]) -> str:
    return ", ".join(f"{key}={value}" for key, value in details.items() if value is not None)


def _verdict(position: PositionView) -> str:
    if position.broker_verdict is None:
        return "not checked"
    return f"{position.broker_verdict} at {when(position.broker_checked_at)}"
