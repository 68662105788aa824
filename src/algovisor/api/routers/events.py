"""Live updates for the web UI: Server-Sent Events with the full strategy and contract lists.

One poller per app reads the database every `POLL_SECS` while at least one browser
listens, whatever the number of browsers; each stream sends an event only when its
list changed since it last sent one, plus a heartbeat comment so proxies keep it open.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from algovisor.api.deps import Context
from algovisor.errors import AlgovisorError
from algovisor.services import contracts as contract_service
from algovisor.services import strategies as strategy_service
from algovisor.services.context import ServiceContext

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/api", tags=["events"])

POLL_SECS = 0.4
HEARTBEAT_SECS = 15.0
# Values that change on every read without anything having happened: left out of the
# comparison (the page counts uptime on from the value it was last sent).
VOLATILE_KEYS = frozenset({"uptime_secs"})


def _read_snapshot(ctx: ServiceContext) -> dict[str, list[dict[str, Any]]]:
    """The lists the dashboard shows, as JSON-ready dictionaries."""
    return {
        "strategies": [
            view.model_dump(mode="json") for view in strategy_service.list_strategies(ctx)
        ],
        "contracts": [view.model_dump(mode="json") for view in contract_service.statuses(ctx)],
    }


def _fingerprint(value: Any) -> Any:
    """`value` without the volatile keys, for deciding whether anything changed."""
    if isinstance(value, dict):
        return {k: _fingerprint(v) for k, v in value.items() if k not in VOLATILE_KEYS}
    if isinstance(value, list):
        return [_fingerprint(item) for item in value]
    return value


class EventHub:
    """Shares one database poll between every open stream of an app."""

    def __init__(self, ctx: ServiceContext, poll_secs: float = POLL_SECS) -> None:
        self._ctx = ctx
        self._poll_secs = poll_secs
        self._listeners = 0
        self._task: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()
        # event name -> (version, fingerprint, serialized data)
        self._latest: dict[str, tuple[int, Any, str]] = {}
        self._version = 0

    def subscribe(self) -> None:
        self._listeners += 1
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._poll())

    def unsubscribe(self) -> None:
        self._listeners -= 1

    @property
    def listeners(self) -> int:
        return self._listeners

    @property
    def polling(self) -> bool:
        return self._task is not None and not self._task.done()

    def latest(self) -> dict[str, tuple[int, str]]:
        return {name: (version, data) for name, (version, _, data) in self._latest.items()}

    async def wait_for_change(self, timeout_secs: float) -> None:
        changed = self._changed
        try:
            await asyncio.wait_for(changed.wait(), timeout_secs)
        except TimeoutError:
            return

    async def _poll(self) -> None:
        while self._listeners > 0:
            try:
                snapshot = await run_in_threadpool(_read_snapshot, self._ctx)
            except AlgovisorError as error:  # database briefly unavailable: try next tick
                logger.warning("live updates could not read the database: %s", error.message)
            else:
                self._publish(snapshot)
            await asyncio.sleep(self._poll_secs)
        # Nobody listens: forget the lists, so the next browser is not first sent stale ones.
        self._latest.clear()

    def _publish(self, snapshot: dict[str, list[dict[str, Any]]]) -> None:
        changed = False
        for name, items in snapshot.items():
            fingerprint = _fingerprint(items)
            previous = self._latest.get(name)
            if previous is not None and previous[1] == fingerprint:
                continue
            self._version += 1
            self._latest[name] = (self._version, fingerprint, json.dumps(items))
            changed = True
        if changed:
            # Wake every waiting stream, and give later waiters a fresh event.
            done, self._changed = self._changed, asyncio.Event()
            done.set()


def hub_of(request: Request, ctx: ServiceContext) -> EventHub:
    hub: EventHub | None = getattr(request.app.state, "event_hub", None)
    if hub is None:
        hub = EventHub(ctx)
        request.app.state.event_hub = hub
    return hub


async def _stream(request: Request, hub: EventHub) -> AsyncIterator[str]:
    hub.subscribe()
    try:
        yield "retry: 2000\n\n"
        sent: dict[str, int] = {}
        last_sent = time.monotonic()
        while not await request.is_disconnected():
            for name, (version, data) in hub.latest().items():
                if sent.get(name) != version:
                    sent[name] = version
                    last_sent = time.monotonic()
                    yield f"event: {name}\ndata: {data}\n\n"
            if time.monotonic() - last_sent >= HEARTBEAT_SECS:
                last_sent = time.monotonic()
                yield ": heartbeat\n\n"
            # Wake at least once a second to notice a browser that went away.
            await hub.wait_for_change(1.0)
    finally:
        hub.unsubscribe()


@router.get("/events")
async def events(ctx: Context, request: Request) -> StreamingResponse:
    """`event: strategies` and `event: contracts`, each the full current list, on change."""
    return StreamingResponse(
        _stream(request, hub_of(request, ctx)),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
