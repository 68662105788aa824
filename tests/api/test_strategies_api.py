"""The REST API end to end: authentication, strategy CRUD, versions, environment, intent,
logs and status, on a real database with strategies run as real processes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import psutil
import pytest
from fastapi.testclient import TestClient

from algovisor.api.app import create_app
from algovisor.services import api_keys, environment
from algovisor.services import strategies as strategy_service
from algovisor.services import versions as version_service
from algovisor.services.context import ServiceContext
from algovisor.supervisor.reconciler import Reconciler
from tests.conftest import converge, wait_until

LOOPING = """
import time
print("strategy up", flush=True)
while True:
    time.sleep(0.1)
"""
LOOPING_V2 = LOOPING.replace("strategy up", "strategy v2 up")
SYNTAX_ERROR = "import time\nif True print('never')\n"

Json = dict[str, Any]


def upload(
    client: TestClient,
    body: str | bytes = LOOPING,
    filename: str = "loop.py",
    name: str | None = None,
) -> httpx.Response:
    content = body.encode() if isinstance(body, str) else body
    data = {"name": name} if name is not None else {}
    return client.post("/api/strategies", files={"file": (filename, content)}, data=data)


def added(client: TestClient, name: str, body: str = LOOPING) -> Json:
    response = upload(client, body, name=name)
    assert response.status_code == 201, response.text
    result: Json = response.json()
    return result


def assert_error(response: httpx.Response, status: int, fragment: str) -> Json:
    """A clear JSON error: the status, `error` saying what was wrong, and nothing else."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body: Json = response.json()
    assert set(body) == {"error", "detail", "field"}
    assert fragment.lower() in body["error"].lower(), body
    assert "Traceback" not in response.text
    return body


def state(ctx: ServiceContext) -> list[tuple[Json, list[Json], list[Json]]]:
    """Everything a refused request must leave alone: strategies, versions, environment."""
    rows = []
    for view in strategy_service.list_strategies(ctx):
        shown = view.model_dump(mode="json", exclude={"current_run", "last_run"})
        versions = [
            version.model_dump(mode="json") for version in version_service.versions(ctx, view.id)
        ]
        env = [item.model_dump(mode="json") for item in environment.env_list(ctx, view.id)]
        rows.append((shown, versions, env))
    return rows


def run_until(client: TestClient, reconciler: Reconciler, ref: str, wanted_state: str) -> Json:
    def reached() -> Json | None:
        shown: Json = client.get(f"/api/strategies/{ref}").json()
        return shown if shown["state"] == wanted_state else None

    result = wait_until(reached, step=converge(reconciler), message=f"{ref} {wanted_state}")
    assert isinstance(result, dict)
    return result


# ----- authentication -----------------------------------------------------------------


# Health, and the web UI's login: it takes a password (or the session cookie), not a key.
UNKEYED_PATHS = {"/api/health", "/api/ui/login", "/api/ui/logout", "/api/ui/session"}
# Answered with the key by tests/web/test_events.py, against a real host.
ENDLESS_STREAMS = {"/api/events"}


def protected_routes(ctx: ServiceContext) -> list[tuple[str, str]]:
    """Every (method, path template) of the app except health, read from the app itself so
    that a route added later is covered the day it is added."""
    paths: dict[str, dict[str, Any]] = create_app(ctx).openapi()["paths"]
    return [
        (method.upper(), path)
        for path, operations in paths.items()
        if path not in UNKEYED_PATHS
        for method in operations
    ]


def path_values(strategy_id: int) -> dict[str, object]:
    return {
        "ref": strategy_id,
        "strategy_id": strategy_id,
        "key": "SYMBOL",
        "exchange": "NSE",
        "broker": "paper",
        "symbol": "SBIN",
        "token": "3045",
        "position_id": strategy_id,
    }


def test_health_answers_without_a_key(ctx: ServiceContext) -> None:
    with TestClient(create_app(ctx)) as anonymous:
        response = anonymous.get("/api/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_every_route_but_health_needs_a_valid_api_key(ctx: ServiceContext, api_key: str) -> None:
    existing = strategy_service.add(ctx, "loop.py", LOOPING.encode())
    environment.env_set(ctx, existing.id, "SYMBOL", "NIFTY")
    routes = protected_routes(ctx)
    assert ("POST", "/api/strategies") in routes
    assert ("DELETE", "/api/strategies/{ref}") in routes
    assert len(routes) >= 15
    before = state(ctx)

    with TestClient(create_app(ctx)) as anonymous:
        for method, template in routes:
            # Aimed at a strategy that exists: a missing key must not delete or change it.
            path = template.format(**path_values(existing.id))
            missing = anonymous.request(method, path)
            assert_error(missing, 401, "missing API key")
            assert "X-API-Key" in missing.json()["detail"]
            wrong = anonymous.request(method, path, headers={"X-API-Key": "av_" + "x" * 43})
            assert_error(wrong, 401, "invalid API key")
            if template in ENDLESS_STREAMS:  # TestClient waits for a body that never ends
                continue
            # With the right key the same route answers (a strategy that does not exist,
            # so nothing changes): the door is the key, not something else refusing.
            authorised = anonymous.request(
                method,
                template.format(**path_values(999)),
                headers={"X-API-Key": api_key},
            )
            # A contract refresh needs the host's contract manager, absent in this app.
            answers = {200, 404, 422} | ({503} if template.endswith("/refresh") else set())
            assert authorised.status_code in answers, (method, path, authorised.text)

    assert state(ctx) == before


def test_a_revoked_key_is_refused(ctx: ServiceContext, client: TestClient) -> None:
    assert client.get("/api/strategies").status_code == 200
    for key in api_keys.list_keys(ctx):
        api_keys.revoke(ctx, key.id)
    assert_error(client.get("/api/strategies"), 401, "invalid API key")


# ----- strategies, versions, environment ----------------------------------------------


def test_strategy_crud_versions_and_environment(ctx: ServiceContext, client: TestClient) -> None:
    created = upload(client, LOOPING, filename="momentum.py")
    assert created.status_code == 201, created.text
    strategy = created.json()
    assert strategy["name"] == "momentum"  # named after the file when no name is given
    assert strategy["state"] == "stopped"
    assert strategy["intent"] == "stop"
    assert strategy["current_version"] == 1
    other = added(client, "breakout")

    listed = client.get("/api/strategies").json()
    assert [row["name"] for row in listed] == ["momentum", "breakout"]
    by_id = client.get(f"/api/strategies/{strategy['id']}").json()
    by_name = client.get("/api/strategies/momentum").json()
    assert by_id == by_name
    assert by_id["id"] == strategy["id"]
    assert client.get("/api/strategies/breakout").json()["id"] == other["id"]

    # Edit: a new current version with the new content.
    edited = client.put(
        "/api/strategies/momentum/script", files={"file": ("momentum.py", LOOPING_V2.encode())}
    )
    assert edited.status_code == 200, edited.text
    assert edited.json()["number"] == 2
    assert edited.json()["current"] is True
    assert version_service.version_content(ctx, "momentum") == LOOPING_V2.encode()

    # Rollback: version 1's content becomes version 3; history is never rewritten.
    rolled = client.post(f"/api/strategies/{strategy['id']}/rollback", json={"version": 1})
    assert rolled.status_code == 200, rolled.text
    assert rolled.json()["number"] == 3
    assert version_service.version_content(ctx, "momentum") == LOOPING.encode()
    versions = client.get("/api/strategies/momentum/versions").json()
    assert [version["number"] for version in versions] == [1, 2, 3]
    assert [version["current"] for version in versions] == [False, False, True]
    assert versions[2]["sha256"] == versions[0]["sha256"] != versions[1]["sha256"]
    assert "rollback to version 1" in versions[2]["note"]
    assert client.get("/api/strategies/momentum").json()["current_version"] == 3
    assert client.get("/api/strategies/breakout").json()["current_version"] == 1

    # Environment: plain values are shown, secrets are masked everywhere.
    plain = client.put("/api/strategies/momentum/env/SYMBOL", json={"value": "NIFTY"})
    assert plain.json() == {"key": "SYMBOL", "value": "NIFTY", "secret": False}
    secret = client.put(
        "/api/strategies/momentum/env/BROKER_TOKEN", json={"value": "tok-123", "secret": True}
    )
    assert secret.json() == {"key": "BROKER_TOKEN", "value": "****", "secret": True}
    assert client.get("/api/strategies/momentum/env").json() == [
        {"key": "BROKER_TOKEN", "value": "****", "secret": True},
        {"key": "SYMBOL", "value": "NIFTY", "secret": False},
    ]
    replaced = client.put("/api/strategies/momentum/env/SYMBOL", json={"value": "BANKNIFTY"})
    assert replaced.json()["value"] == "BANKNIFTY"
    unset = client.delete("/api/strategies/momentum/env/SYMBOL")
    assert unset.status_code == 200, unset.text
    assert client.get("/api/strategies/momentum/env").json() == [
        {"key": "BROKER_TOKEN", "value": "****", "secret": True}
    ]
    assert client.get("/api/strategies/breakout/env").json() == []

    # Intent only: without a reconciler nothing runs, but the wish is recorded.
    started = client.post("/api/strategies/momentum/start")
    assert started.status_code == 200, started.text
    assert started.json()["strategy"]["intent"] == "run"
    assert started.json()["message"] == "start requested"
    stopped = client.post("/api/strategies/momentum/stop").json()
    assert stopped["strategy"]["intent"] == "stop"
    restarted = client.post("/api/strategies/momentum/restart").json()
    assert restarted["strategy"]["intent"] == "run"
    cleared = client.post("/api/strategies/momentum/clear-error").json()
    assert cleared["strategy"]["intent"] == "stop"
    assert cleared["strategy"]["state"] == "stopped"

    status_rows = client.get("/api/status").json()
    assert [(row["name"], row["state"], row["pid"]) for row in status_rows] == [
        ("momentum", "stopped", None),
        ("breakout", "stopped", None),
    ]

    deleted = client.delete("/api/strategies/momentum")
    assert deleted.status_code == 200, deleted.text
    assert "momentum" in deleted.json()["message"]
    assert_error(client.get("/api/strategies/momentum"), 404, "no strategy")
    assert_error(client.get(f"/api/strategies/{strategy['id']}/versions"), 404, "no strategy")
    assert [row["name"] for row in client.get("/api/strategies").json()] == ["breakout"]
    # Its name is free again.
    assert upload(client, LOOPING, filename="momentum.py").status_code == 201


def test_start_runs_logs_status_restart_and_stop(
    ctx: ServiceContext, client: TestClient, reconciler: Reconciler
) -> None:
    added(client, "looper")
    client.post("/api/strategies/looper/start")
    running = run_until(client, reconciler, "looper", "running")
    pid = running["current_run"]["pid"]
    assert psutil.pid_exists(pid)

    status_row = next(row for row in client.get("/api/status").json() if row["name"] == "looper")
    assert status_row["state"] == "running"
    assert status_row["pid"] == pid

    def log_lines() -> list[str]:
        response = client.get("/api/strategies/looper/logs", params={"lines": 50})
        assert response.status_code == 200, response.text
        lines: list[str] = response.json()["lines"]
        return lines

    wait_until(lambda: "strategy up" in log_lines(), step=converge(reconciler), message="log")
    run_id = running["current_run"]["id"]
    by_run = client.get("/api/strategies/looper/logs", params={"run": run_id}).json()
    assert "strategy up" in by_run["lines"]
    assert_error(
        client.get("/api/strategies/looper/logs", params={"run": "f" * 32}), 404, "has no run"
    )

    client.post("/api/strategies/looper/restart")

    def replaced() -> Json | None:
        shown: Json = client.get("/api/strategies/looper").json()
        run = shown["current_run"]
        return shown if run and run["pid"] and run["pid"] != pid and run["pid"] > 0 else None

    wait_until(replaced, step=converge(reconciler), message="a new process")
    restarted = run_until(client, reconciler, "looper", "running")
    new_pid = restarted["current_run"]["pid"]
    assert new_pid != pid

    client.post("/api/strategies/looper/stop")
    stopped = run_until(client, reconciler, "looper", "stopped")
    assert stopped["current_run"] is None
    assert stopped["last_run"]["end_reason"] == "stopped"
    assert not psutil.pid_exists(new_pid) or psutil.Process(new_pid).status() == "zombie"


def test_logs_of_a_strategy_that_never_ran_is_a_clear_404(client: TestClient) -> None:
    added(client, "idle")
    assert_error(client.get("/api/strategies/idle/logs"), 404, "has not run yet")


def test_error_state_blocks_start_until_cleared(client: TestClient, reconciler: Reconciler) -> None:
    added(client, "broken", SYNTAX_ERROR)
    client.post("/api/strategies/broken/start")
    in_error = run_until(client, reconciler, "broken", "error")
    # The reason a trader needs to fix it: the exception and where it is.
    assert "SyntaxError" in in_error["error_message"]
    assert "line 2" in in_error["error_message"]

    for action in ("start", "restart"):
        body = assert_error(client.post(f"/api/strategies/broken/{action}"), 409, "is in error")
        assert "clear-error" in body["detail"]
    assert client.get("/api/strategies/broken").json()["state"] == "error"

    cleared = client.post("/api/strategies/broken/clear-error")
    assert cleared.status_code == 200, cleared.text
    shown = client.get("/api/strategies/broken").json()
    assert shown["state"] == "stopped"
    assert shown["error_message"] is None
    assert client.post("/api/strategies/broken/start").status_code == 200


# ----- refused while running ------------------------------------------------------------


def test_changes_to_a_running_strategy_are_refused_with_409(
    ctx: ServiceContext, client: TestClient, reconciler: Reconciler
) -> None:
    added(client, "live")
    client.put("/api/strategies/live/script", files={"file": ("live.py", LOOPING_V2.encode())})
    client.put("/api/strategies/live/env/SYMBOL", json={"value": "NIFTY"})
    client.post("/api/strategies/live/start")
    running = run_until(client, reconciler, "live", "running")
    pid = running["current_run"]["pid"]
    before = state(ctx)

    attempts: list[tuple[str, Callable[[], httpx.Response]]] = [
        (
            "edit",
            lambda: client.put(
                "/api/strategies/live/script", files={"file": ("live.py", b"print('new')\n")}
            ),
        ),
        ("roll back", lambda: client.post("/api/strategies/live/rollback", json={"version": 1})),
        (
            "change the environment of",
            lambda: client.put("/api/strategies/live/env/SYMBOL", json={"value": "BANKNIFTY"}),
        ),
        (
            "change the environment of",
            lambda: client.put("/api/strategies/live/env/NEW_KEY", json={"value": "1"}),
        ),
        ("change the environment of", lambda: client.delete("/api/strategies/live/env/SYMBOL")),
        ("delete", lambda: client.delete("/api/strategies/live")),
        ("delete", lambda: client.delete(f"/api/strategies/{running['id']}")),
    ]
    for action, attempt in attempts:
        body = assert_error(attempt(), 409, f"cannot {action} 'live' while it is running")
        assert f"pid {pid}" in body["error"]
        assert "strategy stop live" in body["detail"]

    assert state(ctx) == before
    assert client.get("/api/strategies/live").json()["current_run"]["pid"] == pid
    assert psutil.pid_exists(pid)
    assert ctx.layout.log_dir(running["id"]).exists()

    # Once stopped, the same changes go through: the 409 was about running, nothing else.
    client.post("/api/strategies/live/stop")
    run_until(client, reconciler, "live", "stopped")
    assert client.post("/api/strategies/live/rollback", json={"version": 1}).status_code == 200
    assert client.delete("/api/strategies/live/env/SYMBOL").status_code == 200
    assert client.delete("/api/strategies/live").status_code == 200
    assert not ctx.layout.log_dir(running["id"]).exists()


# ----- bad input --------------------------------------------------------------------------

LIMIT = 4096  # tests/api/conftest.py SCRIPT_LIMIT_BYTES

BAD_SCRIPTS = [
    pytest.param("notes.txt", b"print(1)\n", "not a Python file", id="not-py"),
    pytest.param("script", b"print(1)\n", "not a Python file", id="no-suffix"),
    pytest.param(".py", b"print(1)\n", "not a Python file", id="only-suffix"),
    pytest.param("", b"print(1)\n", "", id="no-filename"),
    pytest.param("big.py", b"#" * (LIMIT + 1), "limit", id="over-limit"),
    pytest.param("latin.py", "print('café')\n".encode("latin-1"), "not UTF-8", id="latin-1"),
    pytest.param("binary.py", b"\xff\xfe\x00\x01", "not UTF-8", id="binary"),
    pytest.param("empty.py", b"", "empty", id="empty"),
    pytest.param("blank.py", b" \n\n\t\n", "empty", id="whitespace-only"),
    pytest.param("nul.py", b"print(1)\x00\n", "NUL", id="nul-byte"),
    pytest.param("a" * 200 + ".py", b"print(1)\n", "longer than 128", id="long-filename"),
]


@pytest.mark.parametrize(("filename", "content", "fragment"), BAD_SCRIPTS)
def test_bad_uploads_are_refused_and_change_nothing(
    ctx: ServiceContext, client: TestClient, filename: str, content: bytes, fragment: str
) -> None:
    added(client, "existing")
    before = state(ctx)

    response = upload(client, content, filename=filename, name="newcomer")
    if filename:
        assert_error(response, 400, fragment)
    else:
        # No file name at all: refused before it reaches algovisor's own checks.
        assert 400 <= response.status_code < 500
        assert set(response.json()) == {"error", "detail", "field"}

    edit = client.put("/api/strategies/existing/script", files={"file": (filename, content)})
    assert 400 <= edit.status_code < 500
    assert set(edit.json()) == {"error", "detail", "field"}
    assert fragment.lower() in edit.json()["error"].lower()
    assert state(ctx) == before


def test_a_script_exactly_at_the_limit_is_accepted(client: TestClient) -> None:
    body = b"x = 1\n" + b"#" * (LIMIT - 7) + b"\n"
    assert len(body) == LIMIT
    response = upload(client, body, filename="edge.py")
    assert response.status_code == 201, response.text


def test_the_upload_path_never_reaches_the_filesystem(
    ctx: ServiceContext, client: TestClient
) -> None:
    response = upload(client, LOOPING, filename="../../../etc/evil name.py", name="traversal")
    assert response.status_code == 201, response.text
    versions = client.get("/api/strategies/traversal/versions").json()
    assert versions[0]["filename"] == "evil_name.py"


BAD_NAMES = [
    pytest.param("a/b", "path separator", id="slash"),
    pytest.param("..\\evil", "path separator", id="backslash"),
    pytest.param("../etc", "path separator", id="dot-dot-slash"),
    pytest.param("bell\x07name", "control characters", id="bell"),
    pytest.param("tab\tname", "control characters", id="tab"),
    pytest.param("line\nbreak", "control characters", id="newline"),
    pytest.param("escape\x1b[31m", "control characters", id="ansi-escape"),
    pytest.param("12345", "only digits", id="digits"),
    pytest.param("x" * 65, "invalid strategy name", id="too-long"),
    pytest.param("-dash", "invalid strategy name", id="leading-dash"),
]


@pytest.mark.parametrize(("name", "fragment"), BAD_NAMES)
def test_bad_names_are_refused(
    ctx: ServiceContext, client: TestClient, name: str, fragment: str
) -> None:
    assert_error(upload(client, LOOPING, name=name), 400, fragment)
    assert state(ctx) == []
    assert not list((ctx.layout.root / "strategies").iterdir())


def test_duplicate_names_are_a_409(ctx: ServiceContext, client: TestClient) -> None:
    added(client, "loop")
    before = state(ctx)
    body = assert_error(upload(client, LOOPING_V2, name="loop"), 409, "already exists")
    assert "--name" in body["detail"]
    # Named after the file, the same clash.
    assert_error(upload(client, LOOPING_V2, filename="loop.py"), 409, "already exists")
    assert state(ctx) == before


def test_an_unknown_broker_is_refused(ctx: ServiceContext, client: TestClient) -> None:
    response = client.post(
        "/api/strategies",
        files={"file": ("loop.py", LOOPING.encode())},
        data={"broker": "nobroker"},
    )
    assert_error(response, 400, "unknown broker")
    assert state(ctx) == []


UNKNOWN_REF_REQUESTS: list[tuple[str, str, Json]] = [
    ("GET", "/api/strategies/{ref}", {}),
    ("GET", "/api/strategies/{ref}/versions", {}),
    ("PUT", "/api/strategies/{ref}/script", {"files": {"file": ("x.py", b"print(1)\n")}}),
    ("POST", "/api/strategies/{ref}/rollback", {"json": {"version": 1}}),
    ("GET", "/api/strategies/{ref}/env", {}),
    ("PUT", "/api/strategies/{ref}/env/KEY", {"json": {"value": "v"}}),
    ("DELETE", "/api/strategies/{ref}/env/KEY", {}),
    ("POST", "/api/strategies/{ref}/start", {}),
    ("POST", "/api/strategies/{ref}/stop", {}),
    ("POST", "/api/strategies/{ref}/restart", {}),
    ("POST", "/api/strategies/{ref}/clear-error", {}),
    ("DELETE", "/api/strategies/{ref}", {}),
    ("GET", "/api/strategies/{ref}/logs", {}),
    ("GET", "/api/strategies/{ref}/logs/stream", {}),
]


@pytest.mark.parametrize(
    "ref",
    [
        "nope",
        "999",
        # Past any integer column: must be "not found", not a driver overflow.
        "99999999999999999999",
        "2147483648",
        "²",  # a Unicode digit that int() refuses
        "a%00b",  # a NUL byte, which PostgreSQL refuses in text
    ],
)
def test_unknown_strategies_are_a_404_everywhere(
    ctx: ServiceContext, client: TestClient, ref: str
) -> None:
    added(client, "known")
    before = state(ctx)
    for method, path, extra in UNKNOWN_REF_REQUESTS:
        response = client.request(method, path.format(ref=ref), **extra)
        body = assert_error(response, 404, "no strategy")
        assert "strategy list" in body["detail"], (method, path)
    assert state(ctx) == before


@pytest.mark.parametrize(
    ("key", "fragment"),
    [
        ("1ABC", "invalid environment variable name"),
        ("A-B", "invalid environment variable name"),
        ("A.B", "invalid environment variable name"),
        ("A%00B", "invalid environment variable name"),
        ("ALGOVISOR_X", "set by algovisor itself"),
        ("algovisor_run_id", "set by algovisor itself"),
        ("PATH", "set by algovisor itself"),
    ],
)
def test_invalid_environment_variable_names_are_refused(
    ctx: ServiceContext, client: TestClient, key: str, fragment: str
) -> None:
    added(client, "envy")
    client.put("/api/strategies/envy/env/GOOD", json={"value": "1"})
    before = state(ctx)
    for secret in (False, True):
        response = client.put(
            f"/api/strategies/envy/env/{key}", json={"value": "v", "secret": secret}
        )
        assert_error(response, 400, fragment)
    assert_error(client.delete(f"/api/strategies/envy/env/{key}"), 400, fragment)
    assert state(ctx) == before


def test_environment_values_and_unknown_keys(ctx: ServiceContext, client: TestClient) -> None:
    added(client, "envy")
    before = state(ctx)
    assert_error(client.put("/api/strategies/envy/env/KEY", json={"value": "a\x00b"}), 400, "NUL")
    assert_error(
        client.put("/api/strategies/envy/env/KEY", json={"value": "x" * 40_000}),
        400,
        "longer than",
    )
    assert_error(client.delete("/api/strategies/envy/env/NEVER_SET"), 404, "has no environment")
    assert state(ctx) == before


def test_rollback_to_a_missing_version(ctx: ServiceContext, client: TestClient) -> None:
    added(client, "rolly")
    before = state(ctx)
    for version in (2, 99, 2**31, 10**20):
        body = assert_error(
            client.post("/api/strategies/rolly/rollback", json={"version": version}),
            404,
            f"has no version {version}",
        )
        assert "strategy versions rolly" in body["detail"]
    assert state(ctx) == before


MALFORMED_REQUESTS: list[tuple[str, str, Json]] = [
    ("POST", "/api/strategies/shape/rollback", {"content": b"{not json"}),
    ("POST", "/api/strategies/shape/rollback", {"content": b""}),
    ("POST", "/api/strategies/shape/rollback", {"json": {}}),
    ("POST", "/api/strategies/shape/rollback", {"json": {"version": "one"}}),
    ("POST", "/api/strategies/shape/rollback", {"json": {"version": 0}}),
    ("POST", "/api/strategies/shape/rollback", {"json": {"version": -1}}),
    ("POST", "/api/strategies/shape/rollback", {"json": [1]}),
    ("PUT", "/api/strategies/shape/env/KEY", {"content": b'{"value": '}),
    ("PUT", "/api/strategies/shape/env/KEY", {"json": {}}),
    ("PUT", "/api/strategies/shape/env/KEY", {"json": {"value": ["a"]}}),
    ("PUT", "/api/strategies/shape/env/KEY", {"json": {"value": "a", "secret": "maybe"}}),
    ("POST", "/api/strategies", {"data": {"name": "no-file"}}),
    ("PUT", "/api/strategies/shape/script", {"data": {"x": "no file"}}),
    ("GET", "/api/strategies/shape/logs?lines=-1", {}),
    ("GET", "/api/strategies/shape/logs?lines=1000000", {}),
    ("GET", "/api/strategies/shape/logs?lines=many", {}),
]


@pytest.mark.parametrize(("method", "path", "extra"), MALFORMED_REQUESTS)
def test_malformed_requests_are_a_422(
    ctx: ServiceContext, client: TestClient, method: str, path: str, extra: Json
) -> None:
    added(client, "shape")
    before = state(ctx)
    headers = {"content-type": "application/json"} if "content" in extra else {}
    response = client.request(method, path, headers=headers, **extra)
    body = assert_error(response, 422, "invalid request")
    assert body["detail"]
    assert state(ctx) == before
