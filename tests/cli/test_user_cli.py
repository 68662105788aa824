"""`algovisor user set-password/list`: the password from standard input, never an argument."""

from __future__ import annotations

import json

from click.testing import Result
from typer.testing import CliRunner

from algovisor.cli.main import app
from algovisor.errors import AuthError
from algovisor.services import users
from algovisor.services.context import ServiceContext
from algovisor.settings import Settings

PASSWORD = "correct horse battery"


def algovisor(settings: Settings, *args: str, stdin: str = "") -> Result:
    return CliRunner().invoke(
        app,
        [
            "--data-dir",
            str(settings.data_dir),
            "--database-url",
            settings.resolved_database_url,
            *args,
        ],
        input=stdin,
        env={"COLUMNS": "400"},
    )


def can_log_in(ctx: ServiceContext, username: str, password: str) -> bool:
    try:
        users.login(ctx, username, password, "127.0.0.1", limiter=users.LoginLimiter(ctx.clock))
    except AuthError:
        return False
    return True


def test_set_password_from_a_pipe_creates_then_changes_the_user(
    ctx: ServiceContext, settings: Settings
) -> None:
    created = algovisor(settings, "user", "set-password", "trader", stdin=PASSWORD + "\n")
    assert created.exit_code == 0, created.output
    assert created.stdout.strip() == "created user trader"
    assert PASSWORD not in created.output
    assert can_log_in(ctx, "trader", PASSWORD)

    # Only the first line counts; a Windows line end is not part of the password.
    changed = algovisor(
        settings, "user", "set-password", "trader", stdin="a new password 42\r\nignored\n"
    )
    assert changed.exit_code == 0, changed.output
    assert changed.stdout.strip() == "set the password of trader"
    assert can_log_in(ctx, "trader", "a new password 42")
    assert not can_log_in(ctx, "trader", PASSWORD)

    listed = algovisor(settings, "user", "list", "--json")
    assert listed.exit_code == 0, listed.output
    [row] = json.loads(listed.stdout)
    assert row["username"] == "trader"
    assert row["active_sessions"] == 1  # the change ended the first login's session
    table = algovisor(settings, "user", "list")
    assert "trader" in table.stdout
    assert "IST" in table.stdout


def test_a_short_password_or_a_bad_name_is_refused_and_nothing_changes(
    ctx: ServiceContext, settings: Settings
) -> None:
    short = algovisor(settings, "user", "set-password", "trader", stdin="short\n")
    assert short.exit_code == 2
    assert "the password is too short: use at least 10 characters" in short.output
    empty = algovisor(settings, "user", "set-password", "trader", stdin="")
    assert empty.exit_code == 2
    assert "too short" in empty.output
    bad = algovisor(settings, "user", "set-password", "no/such", stdin=PASSWORD + "\n")
    assert bad.exit_code == 2
    assert "invalid username" in bad.output
    assert users.list_users(ctx) == []
