"""`algovisor strategy ...`: add, inspect, change, start and stop strategies."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Annotated

import typer

from algovisor.cli.context import open_context
from algovisor.cli.output import console, duration, handle_errors, print_json, table, when
from algovisor.errors import InvalidInputError
from algovisor.services import environment, hosts, logs
from algovisor.services import schedules as schedule_service
from algovisor.services import strategies as service
from algovisor.services import versions as version_service
from algovisor.services.context import ServiceContext
from algovisor.services.validation import parse_assignment
from algovisor.services.views import ActionResult
from algovisor.supervisor.states import StrategyState

app = typer.Typer(help="Add, inspect, change, start and stop strategies.", no_args_is_help=True)

Ref = Annotated[str, typer.Argument(help="strategy id or name")]
Json = Annotated[bool, typer.Option("--json", help="print JSON")]
Wait = Annotated[bool, typer.Option("--wait", help="wait until the host has done it")]
Timeout = Annotated[float, typer.Option("--timeout", help="seconds to wait")]


def _read_script(path: Path, ctx: ServiceContext) -> bytes:
    if not path.is_file():
        raise InvalidInputError(f"{path} is not a file")
    size = path.stat().st_size
    if size > ctx.settings.max_script_bytes:
        raise InvalidInputError(
            f"{path.name} is {size:,} bytes; the limit is {ctx.settings.max_script_bytes:,}"
        )
    return path.read_bytes()


def _report_action(ctx: ServiceContext, result: ActionResult, as_json: bool) -> None:
    if as_json:
        print_json(result)
        return
    console.print(f"{result.strategy.name}: {result.message}", highlight=False)
    if hosts.host_running(ctx) is None:
        console.print(f"[yellow]warning:[/] {hosts.no_host_message(ctx)}", highlight=False)


def _wait(ctx: ServiceContext, ref: str, target: StrategyState, timeout: float) -> None:
    view = hosts.wait_for(ctx, ref, target, timeout)
    pid = f" (pid {view.current_run.pid})" if view.current_run and view.current_run.pid else ""
    console.print(f"{view.name} is {view.state}{pid}", highlight=False)


@app.command("add")
@handle_errors
def add(
    typer_context: typer.Context,
    file: Annotated[Path, typer.Argument(help="the .py script")],
    name: Annotated[str | None, typer.Option(help="unique name (default: file name)")] = None,
    broker: Annotated[str, typer.Option(help="broker whose contract it needs")] = "paper",
    start: Annotated[
        str | None, typer.Option("--start", help="schedule it: HH:MM in IST (default: on demand)")
    ] = None,
    stop: Annotated[str | None, typer.Option("--stop", help="HH:MM in IST (with --start)")] = None,
    days: Annotated[
        str | None, typer.Option("--days", help="with --start: e.g. mon-fri (default), daily")
    ] = None,
    exchange: Annotated[
        str | None, typer.Option("--exchange", help="with --start: NSE (default), BSE, NFO, ...")
    ] = None,
    as_json: Json = False,
) -> None:
    """Add a strategy from a script (it starts stopped), with a schedule if --start is given."""
    ctx = open_context(typer_context)
    content = _read_script(file, ctx)
    schedule = schedule_service.optional_schedule(start, stop, days, exchange)
    view = service.add(ctx, file.name, content, name=name, broker=broker, schedule=schedule)
    if as_json:
        print_json(view)
    else:
        console.print(f"added {view.name} (id {view.id}, version 1)", highlight=False)
        if view.schedule:
            console.print(f"scheduled {view.schedule.description}", highlight=False)


@app.command("list")
@handle_errors
def list_(typer_context: typer.Context, as_json: Json = False) -> None:
    """List strategies."""
    views = service.list_strategies(open_context(typer_context))
    if as_json:
        print_json(views)
        return
    table(
        ["id", "name", "broker", "state", "version", "message"],
        [
            (v.id, v.name, v.broker, v.state, v.current_version, v.error_message or v.state_message)
            for v in views
        ],
    )


@app.command("show")
@handle_errors
def show(typer_context: typer.Context, ref: Ref, as_json: Json = False) -> None:
    """Show one strategy with its current and last run."""
    view = service.show(open_context(typer_context), ref)
    if as_json:
        print_json(view)
        return
    rows: list[tuple[str, object]] = [
        ("id", view.id),
        ("name", view.name),
        ("broker", view.broker),
        ("state", view.state),
        ("message", view.error_message or view.state_message),
        ("intent", view.intent),
        ("schedule", view.schedule.description if view.schedule else "none (manual)"),
        ("version", view.current_version),
        ("restarts", view.restart_count),
        ("backoff until", when(view.backoff_until)),
        ("grace", f"{view.grace_secs:g} s"),
    ]
    if view.current_run:
        run = view.current_run
        rows += [("run", run.id), ("pid", run.pid), ("uptime", duration(run.uptime_secs))]
    if view.last_run:
        rows += [("last exit", f"{view.last_run.message} at {when(view.last_run.ended_at)}")]
    table(["field", "value"], rows)


def _action(name: str, target: StrategyState | None, help_text: str) -> None:
    @app.command(name, help=help_text)
    @handle_errors
    def command(
        typer_context: typer.Context,
        ref: Ref,
        wait: Wait = False,
        timeout: Timeout = 30.0,
        as_json: Json = False,
    ) -> None:
        ctx = open_context(typer_context)
        action = {"start": service.start, "restart": service.restart}[name]
        _report_action(ctx, action(ctx, ref), as_json)
        if wait and target is not None:
            _wait(ctx, ref, target, timeout)


_action("start", StrategyState.RUNNING, "Ask the host to start a strategy (or arm its schedule).")
_action("restart", StrategyState.RUNNING, "Replace the running process with a fresh one.")


@app.command("stop")
@handle_errors
def stop(
    typer_context: typer.Context,
    ref: Ref,
    until_next_window: Annotated[
        bool,
        typer.Option(
            "--until-next-window", help="stop for this window only; the schedule starts it again"
        ),
    ] = False,
    wait: Wait = False,
    timeout: Timeout = 30.0,
    as_json: Json = False,
) -> None:
    """Ask the host to stop a strategy: until started again (persists across restarts)."""
    ctx = open_context(typer_context)
    if until_next_window:
        result = schedule_service.stop_for_this_window(ctx, ref)
    else:
        result = service.stop(ctx, ref)
    _report_action(ctx, result, as_json)
    if wait and (not until_next_window or result.strategy.window_skipped_until is not None):
        _wait(ctx, ref, StrategyState.STOPPED, timeout)


@app.command("schedule")
@handle_errors
def schedule(
    typer_context: typer.Context,
    ref: Ref,
    start: Annotated[str, typer.Option("--start", help="HH:MM in IST, e.g. 09:15")],
    stop: Annotated[
        str | None, typer.Option("--stop", help="HH:MM in IST; leave out to run around the clock")
    ] = None,
    days: Annotated[str, typer.Option("--days", help="e.g. mon-fri, mon,wed,fri, daily")] = (
        "mon-fri"
    ),
    exchange: Annotated[
        str, typer.Option("--exchange", help="NSE, BSE, NFO, BFO, CDS, MCX or CRYPTO")
    ] = "NSE",
    special_sessions: Annotated[
        bool,
        typer.Option(
            "--special-sessions/--no-special-sessions", help="trade special sessions (Muhurat)"
        ),
    ] = True,
    as_json: Json = False,
) -> None:
    """Run a strategy inside a daily window on its exchange's trading days."""
    ctx = open_context(typer_context)
    checked = schedule_service.checked_schedule(start, stop, days, exchange, special_sessions)
    view = schedule_service.set_schedule(ctx, ref, checked)
    if as_json:
        print_json(view)
        return
    console.print(f"{view.name}: scheduled {checked.describe()}", highlight=False)
    if view.intent != "run":
        console.print(f"It is stopped; arm it with: algovisor strategy start {view.name}")


@app.command("unschedule")
@handle_errors
def unschedule(typer_context: typer.Context, ref: Ref, as_json: Json = False) -> None:
    """Remove a strategy's schedule: it then runs only when started, until stopped."""
    view = schedule_service.clear_schedule(open_context(typer_context), ref)
    if as_json:
        print_json(view)
    else:
        console.print(f"{view.name}: no schedule; it runs when started", highlight=False)


@app.command("configure")
@handle_errors
def configure(
    typer_context: typer.Context,
    ref: Ref,
    grace_secs: Annotated[
        float | None, typer.Option(help="seconds between SIGTERM and SIGKILL on stop")
    ] = None,
    final_exit_codes: Annotated[
        str | None, typer.Option(help="comma-separated exit codes never restarted, e.g. 3,4")
    ] = None,
    memory_limit_mb: Annotated[
        int | None, typer.Option(help="restart after repeated use above this (0: no limit)")
    ] = None,
    broker: Annotated[str | None, typer.Option(help="broker (only while stopped)")] = None,
    as_json: Json = False,
) -> None:
    """Change how a strategy is run: grace period, final exit codes, memory limit, broker."""
    codes = None
    if final_exit_codes is not None:
        try:
            codes = [int(code) for code in final_exit_codes.split(",") if code.strip()]
        except ValueError:
            raise InvalidInputError(
                f"--final-exit-codes must be comma-separated numbers, got {final_exit_codes!r}"
            ) from None
    view = service.configure(
        open_context(typer_context),
        ref,
        grace_secs=grace_secs,
        final_exit_codes=codes,
        memory_limit_mb=memory_limit_mb,
        broker=broker,
    )
    if as_json:
        print_json(view)
    else:
        console.print(
            f"{view.name}: grace {view.grace_secs:g} s, final exit codes "
            f"{view.final_exit_codes or 'none'}, memory limit "
            f"{f'{view.memory_limit_mb} MB' if view.memory_limit_mb else 'none'}, "
            f"broker {view.broker}",
            highlight=False,
        )


@app.command("clear-error")
@handle_errors
def clear_error(typer_context: typer.Context, ref: Ref, as_json: Json = False) -> None:
    """Return a strategy in error to stopped."""
    ctx = open_context(typer_context)
    _report_action(ctx, service.clear_error(ctx, ref), as_json)


@app.command("edit")
@handle_errors
def edit(typer_context: typer.Context, ref: Ref, file: Path, as_json: Json = False) -> None:
    """Make FILE the strategy's new current version."""
    ctx = open_context(typer_context)
    version = version_service.edit(ctx, ref, file.name, _read_script(file, ctx))
    if as_json:
        print_json(version)
    else:
        console.print(f"version {version.number} is now current", highlight=False)


@app.command("versions")
@handle_errors
def versions(typer_context: typer.Context, ref: Ref, as_json: Json = False) -> None:
    """List a strategy's versions."""
    rows = version_service.versions(open_context(typer_context), ref)
    if as_json:
        print_json(rows)
        return
    table(
        ["version", "file", "size", "created", "note", "current"],
        [
            (
                v.number,
                v.filename,
                v.size_bytes,
                when(v.created_at),
                v.note,
                "*" if v.current else "",
            )
            for v in rows
        ],
    )


@app.command("rollback")
@handle_errors
def rollback(typer_context: typer.Context, ref: Ref, version: int, as_json: Json = False) -> None:
    """Make an old version current again (as a new version)."""
    made = version_service.rollback(open_context(typer_context), ref, version)
    if as_json:
        print_json(made)
    else:
        console.print(f"version {made.number} ({made.note}) is now current", highlight=False)


@app.command("delete")
@handle_errors
def delete(typer_context: typer.Context, ref: Ref) -> None:
    """Delete a stopped strategy with its versions, runs and logs."""
    name = service.delete(open_context(typer_context), ref)
    console.print(f"deleted {name}", highlight=False)


@app.command("logs")
@handle_errors
def logs_command(
    typer_context: typer.Context,
    ref: Ref,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="keep printing new lines")] = False,
    run: Annotated[str | None, typer.Option("--run", help="a run id (default: latest)")] = None,
    lines: Annotated[int, typer.Option("--lines", "-n", help="how many last lines")] = 100,
) -> None:
    """Print a run's log; --follow streams new lines across rotations."""
    ctx = open_context(typer_context)
    for line in logs.tail(ctx, ref, lines, run):
        typer.echo(line)
    if follow:
        with contextlib.suppress(KeyboardInterrupt):
            for line in logs.stream(ctx, ref, run):
                if line:
                    typer.echo(line)


@app.command("env")
@handle_errors
def env(
    typer_context: typer.Context,
    ref: Ref,
    action: Annotated[str, typer.Argument(help="set, unset or list")],
    argument: Annotated[
        str | None, typer.Argument(metavar="[KEY=VALUE|KEY]", help="what to set or unset")
    ] = None,
    secret: Annotated[bool, typer.Option("--secret", help="encrypt it; never shown again")] = False,
    as_json: Json = False,
) -> None:
    """A strategy's environment variables.

    `env ID set KEY=VALUE [--secret]`, `env ID unset KEY`, `env ID list`.
    """
    ctx = open_context(typer_context)
    if action == "list":
        rows = environment.env_list(ctx, ref)
        if as_json:
            print_json(rows)
        else:
            table(
                ["key", "value", "secret"],
                [(v.key, v.value, "yes" if v.secret else "") for v in rows],
            )
    elif action == "set" and argument:
        key, value = parse_assignment(argument)
        environment.env_set(ctx, ref, key, value, secret=secret)
        console.print(f"set {key}{' (secret)' if secret else ''}", highlight=False)
    elif action == "unset" and argument:
        environment.env_unset(ctx, ref, argument)
        console.print(f"unset {argument}", highlight=False)
    else:
        raise InvalidInputError(
            f"unknown env action {action!r} or missing argument",
            detail="Use: env ID set KEY=VALUE [--secret] | env ID unset KEY | env ID list",
        )
