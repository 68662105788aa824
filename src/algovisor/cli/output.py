"""How the CLI prints: tables for people, JSON for scripts, errors on stderr."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, ParamSpec, TypeVar

import typer
from pydantic import BaseModel
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from algovisor.errors import AlgovisorError, InvalidInputError

console = Console()
# soft_wrap: messages stay on one line for scripts that grep them.
error_console = Console(stderr=True, soft_wrap=True)

P = ParamSpec("P")
R = TypeVar("R")


def handle_errors(function: Callable[P, R]) -> Callable[P, R]:
    """Turn algovisor errors into a message and a non-zero exit, never a traceback."""

    @functools.wraps(function)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return function(*args, **kwargs)
        except AlgovisorError as error:
            # Messages quote what was typed (names, reasons): plain text, never markup.
            error_console.print(f"[bold red]error:[/] {escape(error.message)}", highlight=False)
            if error.detail:
                error_console.print(error.detail, highlight=False, markup=False)
            raise typer.Exit(2 if isinstance(error, InvalidInputError) else 1) from None

    return wrapper


def print_json(data: BaseModel | Sequence[BaseModel] | dict[str, Any] | list[Any]) -> None:
    if isinstance(data, BaseModel):
        payload: Any = data.model_dump(mode="json")
    elif isinstance(data, list | tuple):
        payload = [
            item.model_dump(mode="json") if isinstance(item, BaseModel) else item for item in data
        ]
    else:
        payload = data
    typer.echo(json.dumps(payload, indent=2))


def table(columns: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """Cells are plain text: a `[` in a name, reason or state is printed, never markup."""
    grid = Table(*columns, show_edge=False, header_style="bold")
    for row in rows:
        grid.add_row(*(Text("" if cell is None else str(cell)) for cell in row))
    console.print(grid)


def duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    seconds = int(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d{hours:02d}h"
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s"


def megabytes(value: int | None) -> str:
    return "" if value is None else f"{value / 1024 / 1024:.1f} MB"


def when(moment: datetime | None) -> str:
    if moment is None:
        return ""
    from zoneinfo import ZoneInfo

    return moment.astimezone(ZoneInfo("Asia/Kolkata")).strftime("%Y-%m-%d %H:%M:%S IST")
