"""The `algovisor` command."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from algovisor.cli import broker, calendar, contracts, positions, strategy, users
from algovisor.cli.context import GlobalOptions, open_context
from algovisor.cli.output import (
    console,
    duration,
    handle_errors,
    megabytes,
    print_json,
    table,
    when,
)
from algovisor.services import api_keys, broker_accounts, hosts, openalgo_import
from algovisor.services import schedules as schedule_service
from algovisor.services import strategies as strategy_service

app = typer.Typer(
    help="algovisor: run Python trading strategies, never lose one.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(strategy.app, name="strategy")
app.add_typer(calendar.app, name="calendar")
app.add_typer(contracts.app, name="contracts")
app.add_typer(positions.app, name="positions")
app.add_typer(users.app, name="user")
app.command("explain")(calendar.explain)
keys_app = typer.Typer(help="API keys for the REST API.", no_args_is_help=True)
app.add_typer(keys_app, name="api-key")
broker_app = typer.Typer(help="The brokers strategies trade through.", no_args_is_help=True)
app.add_typer(broker_app, name="broker")

Json = Annotated[bool, typer.Option("--json", help="print JSON")]


@app.callback()
def global_options(
    typer_context: typer.Context,
    data_dir: Annotated[
        Path | None, typer.Option("--data-dir", help="data directory [env: ALGOVISOR_DATA_DIR]")
    ] = None,
    database_url: Annotated[
        str | None,
        typer.Option("--database-url", help="database URL [env: ALGOVISOR_DATABASE_URL]"),
    ] = None,
) -> None:
    typer_context.obj = GlobalOptions(data_dir, database_url)


@app.command()
@handle_errors
def serve(
    typer_context: typer.Context,
    host: Annotated[
        str | None, typer.Option("--host", help="bind address (default 127.0.0.1)")
    ] = None,
    port: Annotated[int | None, typer.Option("--port", help="port (default 8600)")] = None,
    examples: Annotated[
        Path | None, typer.Option("--examples", help="on an empty database, add and start these")
    ] = None,
) -> None:
    """Run the host: REST API and reconciler. Strategies outlive it."""
    from algovisor.host import serve as run_host

    options: GlobalOptions = typer_context.obj
    run_host(options.settings(bind_host=host, port=port), examples, say=console.print)


@app.command()
@handle_errors
def status(typer_context: typer.Context, as_json: Json = False) -> None:
    """One line per strategy: state, pid, uptime, restarts, CPU, memory, why it is not running."""
    ctx = open_context(typer_context)
    rows = strategy_service.status(ctx)
    if as_json:
        print_json(rows)
        return
    table(
        ["id", "name", "state", "pid", "uptime", "restarts", "cpu", "memory", "why / last exit"],
        [
            (
                r.id,
                r.name,
                r.state,
                r.pid,
                duration(r.uptime_secs),
                r.restarts,
                "" if r.cpu_percent is None else f"{r.cpu_percent:.1f}%",
                megabytes(r.rss_bytes),
                r.last_exit if r.pid else r.message,
            )
            for r in rows
        ],
    )
    problem = schedule_service.calendar_problem(ctx)
    if problem:
        console.print(f"[yellow]calendar overrides:[/] {problem}", highlight=False)
    host = hosts.host_running(ctx)
    console.print(
        f"host: {host}" if host else f"[yellow]{hosts.no_host_message(ctx)}[/]", highlight=False
    )


@app.command("import-openalgo")
@handle_errors
def import_openalgo(
    typer_context: typer.Context,
    directory: Annotated[Path, typer.Argument(help="OpenAlgo's strategies/ folder")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="report, change nothing")] = False,
    as_json: Json = False,
) -> None:
    """Import OpenAlgo strategies: scripts, names, intent; reports what it could not map."""
    ctx = open_context(typer_context)
    report = openalgo_import.import_folder(ctx, directory, dry_run=dry_run)
    if as_json:
        print_json(report)
    else:
        for line in report.describe():
            console.print(line, highlight=False, markup=False, soft_wrap=True)
        starting = any(
            item.status == "imported" and item.intent == "run" for item in report.strategies
        )
        if starting and hosts.host_running(ctx) is None:
            console.print(f"[yellow]warning:[/] {hosts.no_host_message(ctx)}", highlight=False)
    if report.failed:
        raise typer.Exit(1)


@broker_app.command("api-key")
@handle_errors
def broker_api_key(typer_context: typer.Context) -> None:
    """The key for the paper broker's OpenAlgo API (`api(api_key=..., host=...)`).

    Strategies run by algovisor get it as OPENALGO_API_KEY with OPENALGO_HOST.
    """
    typer.echo(broker_accounts.paper_api_key(open_context(typer_context)))


broker_app.command("set-upstream")(broker.set_upstream)
broker_app.command("show")(broker.show)
broker_app.command("remove-upstream")(broker.remove_upstream)


@keys_app.command("create")
@handle_errors
def create_key(
    typer_context: typer.Context,
    name: Annotated[str, typer.Option(help="a label for the key")] = "default",
) -> None:
    """Create an API key; it is printed once and only its hash is stored."""
    key, view = api_keys.create(open_context(typer_context), name)
    console.print(f"API key {view.name!r} (id {view.id}), shown once:", highlight=False)
    typer.echo(key)


@keys_app.command("list")
@handle_errors
def list_keys(typer_context: typer.Context, as_json: Json = False) -> None:
    """List API keys (names and prefixes only)."""
    rows = api_keys.list_keys(open_context(typer_context))
    if as_json:
        print_json(rows)
        return
    table(
        ["id", "name", "prefix", "created", "last used"],
        [(k.id, k.name, k.prefix + "…", when(k.created_at), when(k.last_used_at)) for k in rows],
    )


@keys_app.command("revoke")
@handle_errors
def revoke_key(typer_context: typer.Context, key_id: int) -> None:
    """Revoke an API key by id."""
    api_keys.revoke(open_context(typer_context), key_id)
    console.print(f"revoked key {key_id}")


def main() -> None:
    # Commands print what went wrong themselves; without a handler, Python would
    # also print the library's log records raw (`serve` configures real logging).
    logging.getLogger("algovisor").addHandler(logging.NullHandler())
    app()
