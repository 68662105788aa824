"""`algovisor broker set-upstream/show/remove-upstream`: the OpenAlgo server for live trading.

The API key is read from standard input, never from an argument: arguments
land in shell history and in every user's `ps`. On a terminal it is asked for
without echo.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from algovisor.brokers.protocol import BrokerError
from algovisor.brokers.upstream import BROKER as UPSTREAM
from algovisor.cli.context import open_context
from algovisor.cli.output import console, handle_errors, print_json
from algovisor.services import broker_accounts

Json = Annotated[bool, typer.Option("--json", help="print JSON")]


@handle_errors
def set_upstream(
    typer_context: typer.Context,
    url: Annotated[str, typer.Argument(help="the OpenAlgo server, e.g. http://127.0.0.1:5000")],
    no_check: Annotated[
        bool, typer.Option("--no-check", help="store it without asking the server first")
    ] = False,
) -> None:
    """Trade broker `openalgo` through this OpenAlgo server; its API key on standard input.

    The server is asked for the account's funds first, and nothing is stored
    unless it answers. The key is kept encrypted; strategies on `openalgo` get
    the URL and key as OPENALGO_HOST and OPENALGO_API_KEY, and the master
    contract comes from its /api/v1/instruments.
    """
    ctx = open_context(typer_context)
    bare_url = broker_accounts.check_upstream_url(url)  # a bad URL before asking for a key
    key = broker_accounts.check_upstream_key(_read_key())
    if not no_check:
        try:
            broker_accounts.verify_upstream(bare_url, key)
        except BrokerError as error:
            hint = f"{error.detail} " if error.detail else ""
            raise BrokerError(
                error.message,
                detail=f"{hint}Nothing was stored; to store it anyway, add --no-check.",
            ) from None
    account = broker_accounts.set_upstream(ctx, bare_url, key)
    checked = "" if no_check else " (it answered)"
    console.print(
        f"upstream for broker {UPSTREAM}: {account.url}{checked}", highlight=False, markup=False
    )


@handle_errors
def show(typer_context: typer.Context, as_json: Json = False) -> None:
    """The upstream OpenAlgo server: its URL and whether a key is stored (never the key)."""
    summary = broker_accounts.upstream_summary(open_context(typer_context))
    if as_json:
        url = summary.url if summary else None
        print_json({"broker": UPSTREAM, "url": url, "key_set": bool(summary and summary.key_set)})
        return
    if summary is None:
        console.print(
            f"no upstream for broker {UPSTREAM}; set one with "
            "`algovisor broker set-upstream URL` (its API key on standard input)",
            highlight=False,
            markup=False,
        )
        return
    console.print(f"upstream for broker {UPSTREAM}: {summary.url}", highlight=False, markup=False)
    console.print(
        f"API key: {'set (encrypted)' if summary.key_set else 'not set'}",
        highlight=False,
        markup=False,
    )


@handle_errors
def remove_upstream(typer_context: typer.Context) -> None:
    """Forget the upstream OpenAlgo server and its key; the host stops refreshing the
    `openalgo` contract from it."""
    if broker_accounts.remove_upstream(open_context(typer_context)):
        console.print(
            f"removed the upstream for broker {UPSTREAM}; the host no longer refreshes the "
            f"{UPSTREAM} contract from it (the one loaded stays in force for its trading "
            "day; `algovisor broker set-upstream URL` to resume)",
            highlight=False,
        )
    else:
        console.print(f"no upstream for broker {UPSTREAM} was set", highlight=False)


def _read_key() -> str:
    """The key from standard input: asked without echo on a terminal, else read whole."""
    if sys.stdin is None:
        return ""
    if sys.stdin.isatty():
        return str(typer.prompt("OpenAlgo API key", hide_input=True, err=True))
    return sys.stdin.read()
