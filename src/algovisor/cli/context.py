"""Builds settings and the service context from the global CLI options."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import typer
from pydantic import ValidationError

from algovisor.services.context import ServiceContext
from algovisor.settings import Settings


@dataclass
class GlobalOptions:
    data_dir: Path | None = None
    database_url: str | None = None

    def settings(self, **overrides: object) -> Settings:
        values = {
            key: value
            for key, value in {
                "data_dir": self.data_dir,
                "database_url": self.database_url,
                **overrides,
            }.items()
            if value is not None
        }
        try:
            return Settings(**values)  # type: ignore[arg-type]
        except ValidationError as error:
            problems = "; ".join(issue["msg"] for issue in error.errors())
            typer.secho(f"error: invalid settings: {problems}", fg="red", err=True)
            raise typer.Exit(2) from None


def open_context(typer_context: typer.Context) -> ServiceContext:
    options: GlobalOptions = typer_context.obj
    return ServiceContext.open(options.settings())
