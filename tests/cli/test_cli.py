"""The `algovisor` command: every strategy command, --json output, names for ids, bad input,
changes refused while a strategy runs, a locked or unreachable database, and API keys."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from fastapi.testclient import TestClient
from sqlalchemy import MetaData, select
from sqlalchemy.engine import make_url

from algovisor.api.app import create_app
from algovisor.db import engine as engine_module
from algovisor.db.models import ApiKey, BrokerAccount
from algovisor.services import api_keys, broker_accounts, environment
from algovisor.services import strategies as strategy_service
from algovisor.services import versions as version_service
from algovisor.services.context import ServiceContext
from algovisor.settings import Settings
from algovisor.supervisor.reconciler import Reconciler
from tests.cli.conftest import SCRIPT_LIMIT_BYTES, CliCall
from tests.conftest import HostProcess, converge, exclusive_lock, wait_until

LOOPING = """
import time
print("strategy up", flush=True)
while True:
    time.sleep(0.1)
"""
LOOPING_V2 = LOOPING.replace("strategy up", "strategy v2 up")
SYNTAX_ERROR = "import time\nif True print('never')\n"
ALGOVISOR = str(Path(sys.executable).with_name("algovisor"))
UNREACHABLE_URL = "postgresql+psycopg://algovisor:hunter2@127.0.0.1:1/algovisor"
NO_HOST = "no algovisor host is running"

WriteScript = Callable[[str, str], Path]


def flat(text: str) -> str:
    """Output with Rich's line wrapping undone, for looking up phrases."""
    return " ".join(text.split())


def ok(result: Result) -> Result:
    assert result.exit_code == 0, f"exit {result.exit_code}\n{result.output}"
    assert not result.stderr, result.stderr
    return result


def json_of(result: Result) -> Any:
    return json.loads(ok(result).stdout)


def failed(result: Result, fragment: str, exit_code: int | None = None) -> str:
    """A refusal as a trader sees it: non-zero exit, `error: ...` on stderr, no traceback."""
    assert result.exit_code != 0, result.output
    if exit_code is not None:
        assert result.exit_code == exit_code, result.output
    # Exceptions other than the exit itself would have been a crash inside the command.
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    assert "Traceback" not in result.output
    message = flat(result.stderr)
    assert message.startswith("error:") or "Usage:" in message, message
    assert fragment.lower() in message.lower(), message
    return message


def state(ctx: ServiceContext) -> list[Any]:
    """What a refused command must leave alone: strategies, versions, environment."""
    rows: list[Any] = []
    for view in strategy_service.list_strategies(ctx):
        rows.append(
            (
                view.model_dump(mode="json", exclude={"current_run", "last_run"}),
                [v.model_dump(mode="json") for v in version_service.versions(ctx, view.id)],
                [v.model_dump(mode="json") for v in environment.env_list(ctx, view.id)],
            )
        )
    return rows


# ----- the commands ---------------------------------------------------------------------


def test_strategy_commands_round_trip_with_json(
    ctx: ServiceContext, cli: CliCall, write_script: WriteScript
) -> None:
    script = write_script("momentum.py", LOOPING)
    added = json_of(cli("strategy", "add", str(script), "--json"))
    assert added["name"] == "momentum"
    assert added["current_version"] == 1
    assert added["state"] == "stopped"
    text_add = ok(cli("strategy", "add", str(script), "--name", "breakout"))
    assert "added breakout" in text_add.stdout

    listed = json_of(cli("strategy", "list", "--json"))
    assert [row["name"] for row in listed] == ["momentum", "breakout"]
    assert "breakout" in ok(cli("strategy", "list")).stdout
    by_id = json_of(cli("strategy", "show", str(added["id"]), "--json"))
    by_name = json_of(cli("strategy", "show", "momentum", "--json"))
    assert by_id == by_name
    assert "momentum" in ok(cli("strategy", "show", "momentum")).stdout

    edited = json_of(
        cli("strategy", "edit", "momentum", str(write_script("v2.py", LOOPING_V2)), "--json")
    )
    assert edited["number"] == 2
    assert version_service.version_content(ctx, "momentum") == LOOPING_V2.encode()
    rolled = json_of(cli("strategy", "rollback", "momentum", "1", "--json"))
    assert rolled["number"] == 3
    assert version_service.version_content(ctx, "momentum") == LOOPING.encode()
    assert "is now current" in ok(cli("strategy", "rollback", str(added["id"]), "2")).stdout
    assert version_service.version_content(ctx, "momentum") == LOOPING_V2.encode()
    versions = json_of(cli("strategy", "versions", "momentum", "--json"))
    assert [(v["number"], v["current"]) for v in versions] == [
        (1, False),
        (2, False),
        (3, False),
        (4, True),
    ]
    assert "rollback to version 2" in ok(cli("strategy", "versions", "momentum")).stdout

    assert "set SYMBOL" in ok(cli("strategy", "env", "momentum", "set", "SYMBOL=NIFTY")).stdout
    ok(cli("strategy", "env", str(added["id"]), "set", "QUERY=a=b=c"))  # '=' in values is kept
    ok(cli("strategy", "env", "momentum", "set", "BROKER_TOKEN=tok-123", "--secret"))
    env = json_of(cli("strategy", "env", "momentum", "list", "--json"))
    assert env == [
        {"key": "BROKER_TOKEN", "value": "****", "secret": True},
        {"key": "QUERY", "value": "a=b=c", "secret": False},
        {"key": "SYMBOL", "value": "NIFTY", "secret": False},
    ]
    assert "tok-123" not in ok(cli("strategy", "env", "momentum", "list")).stdout
    assert "unset QUERY" in ok(cli("strategy", "env", "momentum", "unset", "QUERY")).stdout
    assert [v["key"] for v in json_of(cli("strategy", "env", "momentum", "list", "--json"))] == [
        "BROKER_TOKEN",
        "SYMBOL",
    ]

    started = json_of(cli("strategy", "start", "momentum", "--json"))
    assert started["strategy"]["intent"] == "run"
    stopped = json_of(cli("strategy", "stop", str(added["id"]), "--json"))
    assert stopped["strategy"]["intent"] == "stop"
    restarted = json_of(cli("strategy", "restart", "momentum", "--json"))
    assert restarted["strategy"]["intent"] == "run"
    cleared = json_of(cli("strategy", "clear-error", "momentum", "--json"))
    assert cleared["strategy"]["state"] == "stopped"

    status_rows = json_of(cli("status", "--json"))
    assert [(row["name"], row["state"]) for row in status_rows] == [
        ("momentum", "stopped"),
        ("breakout", "stopped"),
    ]
    status_text = flat(ok(cli("status")).stdout)
    assert "momentum" in status_text
    assert "breakout" in status_text

    assert "deleted momentum" in ok(cli("strategy", "delete", "momentum")).stdout
    failed(cli("strategy", "show", "momentum"), "no strategy 'momentum'", exit_code=1)
    assert "deleted breakout" in ok(cli("strategy", "delete", str(added["id"] + 1))).stdout
    assert json_of(cli("strategy", "list", "--json")) == []


def test_without_a_host_start_and_stop_say_so_and_how_to_start_one(
    ctx: ServiceContext, cli: CliCall, write_script: WriteScript
) -> None:
    ok(cli("strategy", "add", str(write_script("idle.py", LOOPING))))
    for action in ("start", "stop", "restart"):
        result = ok(cli("strategy", action, "idle"))
        said = flat(result.stdout)
        assert f"idle: {action} requested" in said
        assert NO_HOST in said
        assert "algovisor serve" in said
    # The intent is recorded all the same, for the host to act on when it starts.
    assert strategy_service.show(ctx, "idle").intent == "run"
    assert "algovisor serve" in flat(ok(cli("status")).stdout)

    waited = cli("strategy", "start", "idle", "--wait", "--timeout", "0.5")
    message = failed(waited, "still stopped", exit_code=1)
    assert NO_HOST in message
    assert "algovisor serve" in message


def run_cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    """The installed `algovisor` command as a separate process, as a trader runs it."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("ALGOVISOR_")}
    env["COLUMNS"] = "400"
    return subprocess.run(
        [
            ALGOVISOR,
            "--data-dir",
            str(settings.data_dir),
            "--database-url",
            settings.resolved_database_url,
            *args,
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def test_with_a_host_start_and_stop_wait_for_the_state(
    ctx: ServiceContext, host: HostProcess, cli: CliCall, write_script: WriteScript
) -> None:
    host.start()  # a real `algovisor serve` process does the work
    ok(cli("strategy", "add", str(write_script("runner.py", LOOPING))))
    ok(cli("strategy", "add", str(write_script("broken.py", SYNTAX_ERROR))))

    said = flat(ok(cli("strategy", "start", "runner", "--wait", "--timeout", "15")).stdout)
    assert "runner: start requested" in said
    assert "runner is running (pid" in said
    assert NO_HOST not in said
    pid = strategy_service.show(ctx, "runner").current_run.pid  # type: ignore[union-attr]
    assert f"pid {pid}" in said

    status = flat(ok(cli("status")).stdout)
    assert "host:" in status
    assert str(pid) in status
    assert NO_HOST not in status

    # --wait fails with the reason when the target cannot be reached.
    reason = failed(
        cli("strategy", "start", "broken", "--wait", "--timeout", "15"),
        "broken did not start",
        exit_code=1,
    )
    assert "SyntaxError" in reason
    assert "line 2" in reason

    said = flat(ok(cli("strategy", "stop", "runner", "--wait", "--timeout", "15")).stdout)
    assert "runner is stopped" in said


# ----- refused while running ------------------------------------------------------------


def test_changes_to_a_running_strategy_fail_with_the_api_reason(
    ctx: ServiceContext, cli: CliCall, reconciler: Reconciler, write_script: WriteScript
) -> None:
    script = write_script("live.py", LOOPING)
    ok(cli("strategy", "add", str(script)))
    ok(cli("strategy", "edit", "live", str(write_script("live2.py", LOOPING_V2))))
    ok(cli("strategy", "env", "live", "set", "SYMBOL=NIFTY"))
    ok(cli("strategy", "start", "live"))
    running = wait_until(
        lambda: strategy_service.show(ctx, "live").current_run,
        step=converge(reconciler),
        message="a run",
    )
    wait_until(
        lambda: strategy_service.show(ctx, "live").state == "running",
        step=converge(reconciler),
        message="running",
    )
    pid = running.pid  # type: ignore[attr-defined]
    before = state(ctx)

    key, _ = api_keys.create(ctx, "tests")
    with TestClient(create_app(ctx), headers={"X-API-Key": key}) as client:
        attempts: list[tuple[list[str], Callable[[], Any]]] = [
            (
                ["strategy", "edit", "live", str(script)],
                lambda: client.put(
                    "/api/strategies/live/script", files={"file": ("live.py", b"x = 1\n")}
                ),
            ),
            (
                ["strategy", "rollback", "live", "1"],
                lambda: client.post("/api/strategies/live/rollback", json={"version": 1}),
            ),
            (
                ["strategy", "env", "live", "set", "SYMBOL=BANKNIFTY"],
                lambda: client.put("/api/strategies/live/env/SYMBOL", json={"value": "X"}),
            ),
            (
                ["strategy", "env", "live", "unset", "SYMBOL"],
                lambda: client.delete("/api/strategies/live/env/SYMBOL"),
            ),
            (["strategy", "delete", "live"], lambda: client.delete("/api/strategies/live")),
        ]
        for arguments, api_call in attempts:
            response = api_call()
            assert response.status_code == 409, response.text
            api_reason = response.json()["error"]
            assert "while it is running" in api_reason
            assert f"pid {pid}" in api_reason
            message = failed(cli(*arguments), api_reason, exit_code=1)
            assert "strategy stop live --wait" in message

    assert state(ctx) == before
    assert strategy_service.show(ctx, "live").current_run.pid == pid  # type: ignore[union-attr]


# ----- bad input --------------------------------------------------------------------------

BAD_COMMANDS: list[Any] = [
    pytest.param(["strategy", "add", "{dir}/notes.txt"], "not a Python file", 2, id="not-py"),
    pytest.param(["strategy", "add", "{dir}/missing.py"], "is not a file", 2, id="missing-file"),
    pytest.param(["strategy", "add", "{dir}"], "is not a file", 2, id="a-directory"),
    pytest.param(["strategy", "add", "{dir}/big.py"], "the limit is", 2, id="over-limit"),
    pytest.param(["strategy", "add", "{dir}/latin.py"], "not UTF-8", 2, id="latin-1"),
    pytest.param(["strategy", "add", "{dir}/empty.py"], "is empty", 2, id="empty"),
    pytest.param(
        ["strategy", "add", "{dir}/ok.py", "--name", "a/b"], "path separator", 2, id="slash"
    ),
    pytest.param(
        ["strategy", "add", "{dir}/ok.py", "--name", "a\\b"], "path separator", 2, id="backslash"
    ),
    pytest.param(
        ["strategy", "add", "{dir}/ok.py", "--name", "bell\x07"], "control characters", 2, id="bell"
    ),
    pytest.param(
        ["strategy", "add", "{dir}/ok.py", "--name", "new\nline"],
        "control characters",
        2,
        id="newline",
    ),
    pytest.param(
        ["strategy", "add", "{dir}/ok.py", "--name", "007"], "only digits", 2, id="digits"
    ),
    pytest.param(
        ["strategy", "add", "{dir}/ok.py", "--name", "known"], "already exists", 1, id="duplicate"
    ),
    pytest.param(
        ["strategy", "add", "{dir}/ok.py", "--broker", "nobroker"], "unknown broker", 2, id="broker"
    ),
    pytest.param(
        ["strategy", "edit", "known", "{dir}/latin.py"], "not UTF-8", 2, id="edit-latin-1"
    ),
    pytest.param(["strategy", "edit", "known", "{dir}/empty.py"], "is empty", 2, id="edit-empty"),
    pytest.param(["strategy", "show", "nope"], "no strategy 'nope'", 1, id="show-unknown"),
    pytest.param(["strategy", "show", "999"], "no strategy '999'", 1, id="show-unknown-id"),
    pytest.param(["strategy", "show", "99999999999999999999"], "no strategy", 1, id="show-huge-id"),
    pytest.param(["strategy", "start", "nope"], "no strategy", 1, id="start-unknown"),
    pytest.param(["strategy", "stop", "nope"], "no strategy", 1, id="stop-unknown"),
    pytest.param(["strategy", "restart", "nope"], "no strategy", 1, id="restart-unknown"),
    pytest.param(["strategy", "clear-error", "nope"], "no strategy", 1, id="clear-unknown"),
    pytest.param(["strategy", "delete", "nope"], "no strategy", 1, id="delete-unknown"),
    pytest.param(["strategy", "versions", "nope"], "no strategy", 1, id="versions-unknown"),
    pytest.param(["strategy", "logs", "nope"], "no strategy", 1, id="logs-unknown"),
    pytest.param(["strategy", "logs", "known"], "has not run yet", 1, id="logs-never-ran"),
    pytest.param(["strategy", "edit", "nope", "{dir}/ok.py"], "no strategy", 1, id="edit-unknown"),
    pytest.param(["strategy", "env", "nope", "list"], "no strategy", 1, id="env-unknown"),
    pytest.param(
        ["strategy", "rollback", "known", "5"], "has no version 5", 1, id="rollback-missing"
    ),
    pytest.param(
        ["strategy", "rollback", "known", "99999999999999999999"],
        "has no version",
        1,
        id="rollback-huge",
    ),
    pytest.param(["strategy", "rollback", "nope", "1"], "no strategy", 1, id="rollback-unknown"),
    pytest.param(
        ["strategy", "env", "known", "set", "1ABC=x"],
        "invalid environment variable",
        2,
        id="env-1ABC",
    ),
    pytest.param(
        ["strategy", "env", "known", "set", "A-B=x"],
        "invalid environment variable",
        2,
        id="env-A-B",
    ),
    pytest.param(
        ["strategy", "env", "known", "set", "ALGOVISOR_X=x"],
        "set by algovisor",
        2,
        id="env-reserved",
    ),
    pytest.param(
        ["strategy", "env", "known", "set", "=x"],
        "invalid environment variable",
        2,
        id="env-no-key",
    ),
    pytest.param(
        ["strategy", "env", "known", "set", "NOVALUE"], "expected KEY=VALUE", 2, id="env-no-eq"
    ),
    pytest.param(["strategy", "env", "known", "set"], "unknown env action", 2, id="env-no-arg"),
    pytest.param(["strategy", "env", "known", "frob", "X"], "unknown env action", 2, id="env-frob"),
    pytest.param(
        ["strategy", "env", "known", "unset", "A-B"],
        "invalid environment variable",
        2,
        id="unset-bad",
    ),
    pytest.param(
        ["strategy", "env", "known", "unset", "NEVER_SET"],
        "has no environment",
        1,
        id="unset-unknown",
    ),
    pytest.param(["api-key", "create", "--name", ""], "1-64 characters", 2, id="key-empty-name"),
    pytest.param(["api-key", "revoke", "99999999999999999999"], "no API key", 1, id="key-huge-id"),
]


@pytest.fixture
def bad_files(tmp_path: Path) -> Path:
    folder = tmp_path / "inputs"
    folder.mkdir()
    (folder / "notes.txt").write_text("print(1)\n")
    (folder / "big.py").write_bytes(b"#" * (SCRIPT_LIMIT_BYTES + 1))
    (folder / "latin.py").write_bytes("print('café')\n".encode("latin-1"))
    (folder / "empty.py").write_bytes(b"")
    (folder / "ok.py").write_text(LOOPING)
    return folder


@pytest.mark.parametrize(("arguments", "fragment", "exit_code"), BAD_COMMANDS)
def test_bad_input_fails_clearly_and_changes_nothing(
    ctx: ServiceContext,
    cli: CliCall,
    bad_files: Path,
    arguments: list[str],
    fragment: str,
    exit_code: int,
) -> None:
    ok(cli("strategy", "add", str(bad_files / "ok.py"), "--name", "known"))
    ok(cli("strategy", "env", "known", "set", "GOOD=1"))
    keys_before = api_keys.list_keys(ctx)
    before = state(ctx)

    failed(cli(*(part.format(dir=bad_files) for part in arguments)), fragment, exit_code)

    assert state(ctx) == before
    assert api_keys.list_keys(ctx) == keys_before


def test_a_script_exactly_at_the_limit_is_accepted(cli: CliCall, write_script: WriteScript) -> None:
    body = "x = 1\n" + "#" * (SCRIPT_LIMIT_BYTES - 7) + "\n"
    assert len(body.encode()) == SCRIPT_LIMIT_BYTES
    ok(cli("strategy", "add", str(write_script("edge.py", body))))


def test_the_real_command_fails_without_a_traceback(
    ctx: ServiceContext, write_script: WriteScript
) -> None:
    unknown = run_cli(ctx.settings, "strategy", "show", "nope")
    assert unknown.returncode == 1
    assert flat(unknown.stderr).startswith("error: no strategy 'nope'")
    assert "strategy list" in unknown.stderr
    assert unknown.stdout == ""

    not_python = run_cli(ctx.settings, "strategy", "add", str(write_script("notes.txt", "x")))
    assert not_python.returncode == 2
    assert "not a Python file" in not_python.stderr
    for result in (unknown, not_python):
        assert "Traceback" not in result.stderr + result.stdout


# ----- the database is locked or unreachable ----------------------------------------------


def test_a_locked_database_gets_a_clear_message(
    ctx: ServiceContext,
    cli: CliCall,
    write_script: WriteScript,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = make_url(ctx.settings.resolved_database_url)
    if url.get_backend_name() != "sqlite":
        pytest.skip("file locking is SQLite's; PostgreSQL has row locks")
    script = write_script("locked.py", LOOPING)
    ok(cli("strategy", "add", str(script)))
    before = state(ctx)
    # The CLI runs in this process here, so its engine takes the shorter wait.
    monkeypatch.setattr(engine_module, "SQLITE_BUSY_TIMEOUT_MS", 200)

    with exclusive_lock(Path(url.database or "")):
        for arguments in (
            ["strategy", "start", "locked"],
            ["strategy", "add", str(script), "--name", "other"],
            ["strategy", "env", "locked", "set", "KEY=value"],
            ["strategy", "delete", "locked"],
            ["api-key", "create"],
        ):
            message = failed(cli(*arguments), "is locked by another process", exit_code=1)
            assert "Retry" in message

    assert state(ctx) == before
    ok(cli("strategy", "start", "locked"))  # and it works once the lock is gone


@pytest.mark.parametrize(
    "arguments",
    [
        ["status"],
        ["strategy", "list"],
        ["strategy", "start", "s"],
        ["api-key", "create"],
    ],
)
def test_an_unreachable_database_gets_a_clear_message(tmp_path: Path, arguments: list[str]) -> None:
    settings = Settings(data_dir=tmp_path / "data", database_url=UNREACHABLE_URL)
    result = run_cli(settings, *arguments)
    assert result.returncode == 1
    message = flat(result.stderr)
    assert message.startswith("error: cannot use the database")
    assert "127.0.0.1" in message
    assert "hunter2" not in result.stderr + result.stdout  # the password is never printed
    assert "Traceback" not in result.stderr


# ----- API keys and secrets -----------------------------------------------------------------


def test_api_key_create_prints_the_key_once_and_stores_only_its_hash(
    ctx: ServiceContext, cli: CliCall
) -> None:
    created = ok(cli("api-key", "create", "--name", "laptop"))
    keys = [line for line in created.stdout.split() if line.startswith("av_")]
    assert len(keys) == 1
    key = keys[0]
    assert created.stdout.count(key) == 1
    assert "shown once" in created.stdout

    with ctx.transaction() as session:
        row = session.scalars(select(ApiKey).where(ApiKey.name == "laptop")).one()
        assert row.key_hash == hashlib.sha256(key.encode()).hexdigest()
        assert key.startswith(row.prefix)
    # No column of any row anywhere holds the key itself.
    metadata = MetaData()
    with ctx.engine.connect() as connection:
        metadata.reflect(bind=connection)
        for table in metadata.sorted_tables:
            assert key not in repr(connection.execute(select(table)).all()), table.name

    listed = json_of(cli("api-key", "list", "--json"))
    assert [row["name"] for row in listed] == ["laptop"]
    assert key not in json.dumps(listed)
    another = ok(cli("api-key", "create")).stdout
    assert key not in another

    # The printed key is the one that opens the API.
    with TestClient(create_app(ctx)) as client:
        assert client.get("/api/strategies", headers={"X-API-Key": key}).status_code == 200
        assert client.get("/api/strategies", headers={"X-API-Key": key[:-1]}).status_code == 401


def test_a_secret_set_from_the_cli_is_never_shown(
    ctx: ServiceContext, cli: CliCall, write_script: WriteScript
) -> None:
    secret = f"s3cr3t-{uuid.uuid4().hex}"
    ok(cli("strategy", "add", str(write_script("vault.py", LOOPING))))
    outputs = [
        ok(cli("strategy", "env", "vault", "set", f"BROKER_TOKEN={secret}", "--secret")),
        ok(cli("strategy", "env", "vault", "list")),
        ok(cli("strategy", "env", "vault", "list", "--json")),
        ok(cli("strategy", "show", "vault", "--json")),
        ok(cli("strategy", "show", "vault")),
        ok(cli("strategy", "list", "--json")),
        ok(cli("status", "--json")),
    ]
    for result in outputs:
        assert secret not in result.output
    assert "****" in outputs[1].stdout
    assert json.loads(outputs[2].stdout) == [
        {"key": "BROKER_TOKEN", "value": "****", "secret": True}
    ]

    metadata = MetaData()
    with ctx.engine.connect() as connection:
        metadata.reflect(bind=connection)
        dump = "".join(
            repr(connection.execute(select(table)).all()) for table in metadata.sorted_tables
        )
    assert secret not in dump
    assert "BROKER_TOKEN" in dump  # the scan did look at the environment table
    for path in ctx.settings.data_dir.rglob("*"):
        if path.is_file() and path.name != "secret.key":
            assert secret.encode() not in path.read_bytes(), path
    assert (ctx.settings.data_dir / "secret.key").stat().st_mode & 0o777 == 0o600


def test_broker_api_key_prints_the_paper_key_again_and_again(
    ctx: ServiceContext, cli: CliCall
) -> None:
    first = ok(cli("broker", "api-key")).stdout.strip()
    assert first.startswith("av_")
    assert ok(cli("broker", "api-key")).stdout.strip() == first
    assert broker_accounts.is_paper_api_key(ctx, first)
    with ctx.reading() as session:  # kept encrypted, never in the clear
        stored = session.scalars(select(BrokerAccount.api_key_secret)).one()
    assert first not in stored
