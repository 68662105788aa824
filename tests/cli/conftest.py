"""Fixtures for the CLI tests: `algovisor` in-process through Typer's runner."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from click.testing import Result
from typer.testing import CliRunner

from algovisor.cli.main import app
from algovisor.settings import Settings

SCRIPT_LIMIT_BYTES = 4096

CliCall = Callable[..., Result]


@pytest.fixture
def script_limit_bytes() -> int:
    return SCRIPT_LIMIT_BYTES


@pytest.fixture
def cli(settings: Settings) -> CliCall:
    """Run `algovisor --data-dir D --database-url U ARGS...` against the test's database."""
    runner = CliRunner()

    def invoke(*args: str) -> Result:
        return runner.invoke(
            app,
            [
                "--data-dir",
                str(settings.data_dir),
                "--database-url",
                settings.resolved_database_url,
                *args,
            ],
            # Wide, so Rich does not wrap messages in the middle of what tests look for.
            env={
                "COLUMNS": "400",
                "ALGOVISOR_MAX_SCRIPT_BYTES": str(settings.max_script_bytes),
            },
        )

    return invoke
