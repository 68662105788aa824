"""`algovisor explain` and `algovisor calendar ...`: why a strategy runs or not; the calendars."""

from __future__ import annotations

from typing import Annotated

import typer

from algovisor.cli.context import open_context
from algovisor.cli.output import console, error_console, handle_errors, print_json, table
from algovisor.services import schedules as service

app = typer.Typer(
    help="Exchange calendars: holidays, special sessions, overrides.", no_args_is_help=True
)

Json = Annotated[bool, typer.Option("--json", help="print JSON")]


@handle_errors
def explain(
    typer_context: typer.Context,
    ref: Annotated[str, typer.Argument(help="strategy id or name")],
    at: Annotated[
        str | None,
        typer.Option("--at", help="instant to explain, e.g. 2026-01-26T10:00+05:30 (default: now)"),
    ] = None,
    as_json: Json = False,
) -> None:
    """Why a strategy is (or would be) running or not at an instant: the host's own decision."""
    ctx = open_context(typer_context)
    explanation = service.explain(ctx, ref, service.parse_instant(at, ctx))
    if as_json:
        print_json(explanation)
        return
    console.print(
        f"{explanation.strategy} at {explanation.at:%a %Y-%m-%d %H:%M %Z}:", highlight=False
    )
    console.print(f"  {explanation.state}: {'; '.join(explanation.reasons)}", highlight=False)
    for warning in explanation.warnings:
        console.print(f"  [yellow]warning:[/] {warning}", highlight=False)
    schedule = explanation.schedule
    console.print(
        f"  schedule: {schedule.description if schedule else 'none (manual)'}", highlight=False
    )
    if explanation.calendar_problem:
        console.print(f"  [yellow]calendar:[/] {explanation.calendar_problem}", highlight=False)


@app.command("show")
@handle_errors
def show(
    typer_context: typer.Context,
    exchange: Annotated[str, typer.Argument(help="NSE, BSE, NFO, BFO, CDS, MCX or CRYPTO")],
    year: Annotated[int | None, typer.Option("--year", help="default: this year")] = None,
    as_json: Json = False,
) -> None:
    """List an exchange's holidays and special sessions for a year."""
    view = service.calendar_view(open_context(typer_context), exchange, year)
    if as_json:
        print_json(view)
        return
    console.print(f"{view.exchange} {view.year}: {view.source}; {view.coverage}", highlight=False)
    if view.days:
        table(
            ["date", "day", "kind", "name", "hours (IST)"],
            [
                (
                    f"{day.date:%Y-%m-%d}",
                    day.weekday,
                    day.kind,
                    day.name,
                    f"{day.opens}-{day.closes}" if day.opens else "",
                )
                for day in view.days
            ],
        )
    if not view.year_covered:
        console.print(
            f"[yellow]warning:[/] {view.exchange} has no complete holiday data for {view.year}: "
            f"weekdays are assumed to trade. Add holidays to {view.overrides_file}",
            highlight=False,
        )
    if view.problem:
        console.print(f"[yellow]calendar overrides:[/] {view.problem}", highlight=False)


@app.command("check")
@handle_errors
def check(typer_context: typer.Context) -> None:
    """Check the calendar override file; exits non-zero, naming the line, if it is wrong."""
    ctx = open_context(typer_context)
    problem = ctx.calendars.check()
    if problem:
        error_console.print(f"[bold red]error:[/] {problem}", highlight=False)
        raise typer.Exit(2)
    console.print(f"{ctx.calendars.overrides_path}: OK", highlight=False)
