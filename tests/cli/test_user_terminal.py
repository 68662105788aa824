"""`algovisor user set-password` on a real terminal: asked twice, never echoed."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
import time

from algovisor.errors import AuthError
from algovisor.services import users
from algovisor.services.context import ServiceContext
from algovisor.settings import Settings

PASSWORD = "correct horse battery"


def on_a_terminal(settings: Settings, answers: list[str]) -> tuple[int, str]:
    """Run the command with a pseudo-terminal as its stdin and stderr, typing `answers`."""
    controller, terminal = pty.openpty()
    env = {key: value for key, value in os.environ.items() if not key.startswith("ALGOVISOR_")}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "algovisor",
            "--data-dir",
            str(settings.data_dir),
            "--database-url",
            settings.resolved_database_url,
            "user",
            "set-password",
            "trader",
        ],
        stdin=terminal,
        stdout=subprocess.PIPE,
        stderr=terminal,
        env=env,
        start_new_session=True,  # no controlling terminal: getpass uses stdin, the pty
    )
    os.close(terminal)
    seen = b""
    try:
        for asked, answer in enumerate(answers, start=1):
            deadline = time.monotonic() + 20
            # Type only once asked: getpass flushes what was typed ahead.
            while seen.count(b": ") < asked:
                assert time.monotonic() < deadline, seen
                seen += os.read(controller, 1024)
            os.write(controller, answer.encode() + b"\r")
        stdout, _ = process.communicate(timeout=30)
        try:
            while chunk := os.read(controller, 1024):
                seen += chunk
        except OSError:  # the terminal closes with the process
            pass
    finally:
        os.close(controller)
    return process.returncode, stdout.decode() + seen.decode(errors="replace")


def test_the_password_is_asked_twice_without_echo(ctx: ServiceContext, settings: Settings) -> None:
    code, output = on_a_terminal(settings, [PASSWORD, PASSWORD])
    assert code == 0, output
    assert "Password: " in output
    assert "created user trader" in output
    assert PASSWORD not in output  # not echoed
    users.login(ctx, "trader", PASSWORD, "127.0.0.1", limiter=users.LoginLimiter(ctx.clock))


def test_two_different_answers_change_nothing(ctx: ServiceContext, settings: Settings) -> None:
    code, output = on_a_terminal(settings, [PASSWORD, PASSWORD + "!"])
    assert code == 2, output
    assert "the two passwords differ; nothing was changed" in output
    assert users.list_users(ctx) == []
    limiter = users.LoginLimiter(ctx.clock)
    try:
        users.login(ctx, "trader", PASSWORD, "127.0.0.1", limiter=limiter)
    except AuthError:
        return
    raise AssertionError("a user was created from mismatched passwords")
