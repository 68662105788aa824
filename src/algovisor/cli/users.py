"""`algovisor user set-password/list`: the web UI's accounts.

The password is read from standard input, never from an argument: arguments
land in shell history and in every user's `ps`. On a terminal it is asked for
twice without echo; from a pipe, the first line is the password.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from algovisor.cli.context import open_context
from algovisor.cli.output import console, handle_errors, print_json, table, when
from algovisor.errors import InvalidInputError
from algovisor.services import users

app = typer.Typer(help="Web UI users (the browser's login).", no_args_is_help=True)

Json = Annotated[bool, typer.Option("--json", help="print JSON")]


@app.command("set-password")
@handle_errors
def set_password(
    typer_context: typer.Context,
    username: Annotated[str, typer.Argument(help="the user; created if it does not exist")],
) -> None:
    """Set a web UI user's password from standard input, creating the user if missing.

    Every browser logged in as that user is logged out.
    """
    ctx = open_context(typer_context)
    users.check_username(username)  # a bad name before asking for a password
    created = users.set_password(ctx, username, _read_password())
    action = "created user" if created else "set the password of"
    console.print(f"{action} {username}", highlight=False, markup=False)


@app.command("list")
@handle_errors
def list_users(typer_context: typer.Context, as_json: Json = False) -> None:
    """The web UI users, when each password was last set, and their live sessions."""
    rows = users.list_users(open_context(typer_context))
    if as_json:
        print_json(
            [
                {
                    "username": row.username,
                    "created_at": row.created_at.isoformat(),
                    "password_changed_at": row.password_changed_at.isoformat(),
                    "active_sessions": row.active_sessions,
                }
                for row in rows
            ]
        )
        return
    table(
        ["username", "created", "password set", "sessions"],
        [
            (row.username, when(row.created_at), when(row.password_changed_at), row.active_sessions)
            for row in rows
        ],
    )


def _read_password() -> str:
    """Asked twice without echo on a terminal; else the first line of standard input."""
    if sys.stdin is None:
        raise InvalidInputError("no password given: pipe it in on standard input")
    if sys.stdin.isatty():
        password = str(typer.prompt("Password", hide_input=True, err=True))
        if password != str(typer.prompt("Again", hide_input=True, err=True)):
            raise InvalidInputError("the two passwords differ; nothing was changed")
        return password
    line = sys.stdin.readline()
    return line.removesuffix("\n").removesuffix("\r")
