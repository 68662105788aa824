"""`GET /api/events`: the full lists on connect, then an event only when one changes."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from algovisor.api.app import create_app
from algovisor.api.routers.events import EventHub
from algovisor.services import api_keys, strategies
from algovisor.services.context import ServiceContext
from tests.conftest import HostProcess, free_port, wait_until

LOOPING = "import time\nwhile True:\n    time.sleep(0.1)\n"


def events_of(lines: Iterator[str]) -> Iterator[tuple[str, str]]:
    """(event name, data) pairs from an SSE line stream; comments come as ("", text)."""
    name, data = "", ""
    for line in lines:
        if line.startswith(":"):
            yield "", line
        elif line.startswith("event: "):
            name = line.removeprefix("event: ")
        elif line.startswith("data: "):
            data = line.removeprefix("data: ")
        elif line == "" and name:
            yield name, data
            name, data = "", ""


def test_events_send_both_lists_then_only_changes(
    ctx: ServiceContext, host: HostProcess, write_script: Callable[[str, str], Path]
) -> None:
    strategies.add(ctx, "first.py", write_script("first.py", LOOPING).read_bytes())
    host.start()
    timeout = httpx.Timeout(10, read=1.5)
    with (
        httpx.Client(base_url=host.url, headers={"X-API-Key": host.api_key}) as client,
        client.stream("GET", "/api/events", timeout=timeout) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        stream = events_of(response.iter_lines())
        first = dict(next(stream) for _ in range(2))
        assert [item["name"] for item in json.loads(first["strategies"])] == ["first"]
        assert "paper" in [item["broker"] for item in json.loads(first["contracts"])]

        # Nothing changes: nothing is sent (the read times out rather than repeat the lists).
        with pytest.raises(httpx.ReadTimeout):
            next(stream)

    with (
        httpx.Client(base_url=host.url, headers={"X-API-Key": host.api_key}) as client,
        client.stream("GET", "/api/events", timeout=timeout) as response,
    ):
        stream = events_of(response.iter_lines())
        dict(next(stream) for _ in range(2))
        strategies.add(ctx, "second.py", write_script("second.py", LOOPING).read_bytes())
        changed_at = time.monotonic()
        name, data = next(stream)
        assert time.monotonic() - changed_at < 1.0
        assert name == "strategies"
        assert [item["name"] for item in json.loads(data)] == ["first", "second"]


def test_events_need_a_key_or_a_session(host: HostProcess) -> None:
    host.start()
    assert httpx.get(f"{host.url}/api/events", timeout=5).status_code == 401


def test_pages_and_assets_are_served_without_shadowing_the_api(host: HostProcess) -> None:
    host.start()
    with httpx.Client(base_url=host.url, timeout=5) as client:
        for page in ("/", "/login"):
            answer = client.get(page)
            assert answer.status_code == 200
            assert "text/html" in answer.headers["content-type"]
            assert "default-src 'self'" in answer.headers["content-security-policy"]
        for asset in ("app.js", "api.js", "login.js", "style.css"):
            assert client.get(f"/static/{asset}").status_code == 200
        assert client.get("/api/strategies").status_code == 401  # still the API, not a page
        assert (
            client.get("/api/no-such-route").headers["content-type"].startswith("application/json")
        )


def test_closed_streams_stop_the_poller_and_many_streams_share_one(ctx: ServiceContext) -> None:
    """Browsers that leave must not keep the database poll going; three share one poll."""
    api_key, _ = api_keys.create(ctx, "tests")
    app = create_app(ctx)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        wait_until(lambda: server.started, 10, message="uvicorn started")
        url = f"http://127.0.0.1:{port}/api/events"
        with contextlib.ExitStack() as stack:
            client = stack.enter_context(httpx.Client(headers={"X-API-Key": api_key}, timeout=5))
            streams = []  # kept: a dropped line iterator closes its connection
            for _ in range(3):
                response = stack.enter_context(client.stream("GET", url))
                streams.append(events_of(response.iter_lines()))
                assert next(streams[-1])[0] == "strategies"
            hub: EventHub = app.state.event_hub
            assert hub.listeners == 3
            assert hub.polling
        wait_until(lambda: hub.listeners == 0 and not hub.polling, 5, message="poll stopped")
        assert hub.latest() == {}  # nothing stale kept for the next browser

        # A change while nobody listened: the next browser's first lists already have it.
        strategies.add(ctx, "later.py", LOOPING.encode())
        headers = {"X-API-Key": api_key}
        with httpx.Client(headers=headers, timeout=5) as client, client.stream("GET", url) as got:
            name, data = next(events_of(got.iter_lines()))
        assert name == "strategies"
        assert [item["name"] for item in json.loads(data)] == ["later"]
    finally:
        server.should_exit = True
        thread.join(timeout=10)
