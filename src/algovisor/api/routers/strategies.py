"""Strategies: CRUD, versions, environment, intent, logs and status."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Annotated, Literal

from fastapi import APIRouter, File, Form, Query, UploadFile, status
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from algovisor.api.deps import Context, Wake
from algovisor.contracts.sources import BROKERS
from algovisor.errors import InvalidInputError
from algovisor.schedule.calendar import EXCHANGES
from algovisor.services import environment, logs
from algovisor.services import schedules as schedule_service
from algovisor.services import strategies as service
from algovisor.services import versions as version_service
from algovisor.services.views import (
    ActionResult,
    EnvVarView,
    LogLinesView,
    ScriptView,
    StatusRow,
    StrategyView,
    VersionView,
)

router = APIRouter(prefix="/api", tags=["strategies"])

KEEPALIVE_SECS = 5.0


async def _read_upload(upload: UploadFile, limit: int) -> tuple[str, bytes]:
    # Read one byte past the limit so oversize uploads are refused without buffering them all.
    content = await upload.read(limit + 1)
    if len(content) > limit:
        raise InvalidInputError(
            f"{upload.filename} is larger than the {limit:,} byte limit",
            detail="Raise ALGOVISOR_MAX_SCRIPT_BYTES if the script really is that large.",
            field="file",
        )
    return upload.filename or "", content


@router.get("/strategies")
def list_strategies(ctx: Context) -> list[StrategyView]:
    return service.list_strategies(ctx)


@router.get("/status")
def status_rows(ctx: Context) -> list[StatusRow]:
    return service.status(ctx)


@router.post("/strategies", status_code=status.HTTP_201_CREATED)
async def add_strategy(
    ctx: Context,
    file: Annotated[UploadFile, File(description="the strategy's .py script")],
    name: Annotated[str | None, Form()] = None,
    broker: Annotated[str, Form()] = "paper",
    exchange: Annotated[str | None, Form(description="NSE (default), BSE, NFO, ...")] = None,
    start: Annotated[
        str | None, Form(description="HH:MM in IST; none (or empty) runs it on demand")
    ] = None,
    stop: Annotated[str | None, Form(description="HH:MM in IST; none: no closing time")] = None,
    days: Annotated[str | None, Form(description="e.g. mon-fri (default), mon,wed,fri")] = None,
) -> StrategyView:
    """A new strategy, stopped; with a schedule when `start` is given. All is checked first,
    and nothing is stored unless everything is (each error names its form `field`)."""
    filename, content = await _read_upload(file, ctx.settings.max_script_bytes)
    schedule = schedule_service.optional_schedule(start, stop, days, exchange)
    return service.add(ctx, filename, content, name=name, broker=broker, schedule=schedule)


class StrategyOptions(BaseModel):
    """What a new strategy's form offers: the brokers and exchanges the host knows."""

    brokers: list[str]
    default_broker: str
    exchanges: list[str]
    default_exchange: str
    max_script_bytes: int


@router.get("/strategy-options")
def strategy_options(ctx: Context) -> StrategyOptions:
    return StrategyOptions(
        brokers=list(BROKERS),
        default_broker="paper",
        exchanges=list(EXCHANGES),
        default_exchange="NSE",
        max_script_bytes=ctx.settings.max_script_bytes,
    )


@router.get("/strategies/{ref}")
def show_strategy(ctx: Context, ref: str) -> StrategyView:
    return service.show(ctx, ref)


@router.delete("/strategies/{ref}")
def delete_strategy(ctx: Context, ref: str) -> dict[str, str]:
    name = service.delete(ctx, ref)
    return {"message": f"deleted {name}"}


class RunSettings(BaseModel):
    grace_secs: float | None = None
    final_exit_codes: list[int] | None = None
    memory_limit_mb: int | None = None
    broker: str | None = None


@router.patch("/strategies/{ref}")
def configure_strategy(ctx: Context, ref: str, body: RunSettings) -> StrategyView:
    return service.configure(
        ctx,
        ref,
        grace_secs=body.grace_secs,
        final_exit_codes=body.final_exit_codes,
        memory_limit_mb=body.memory_limit_mb,
        broker=body.broker,
    )


@router.put("/strategies/{ref}/script")
async def edit_script(
    ctx: Context,
    ref: str,
    file: Annotated[UploadFile, File()],
    base_version: Annotated[
        int | None,
        Form(ge=1, description="the version edited; refused (409) if another is current now"),
    ] = None,
) -> VersionView:
    filename, content = await _read_upload(file, ctx.settings.max_script_bytes)
    return version_service.edit(ctx, ref, filename, content, base_version=base_version)


@router.get("/strategies/{ref}/script")
def show_script(
    ctx: Context,
    ref: str,
    version: Annotated[int | None, Query(ge=1, description="default: the current one")] = None,
) -> ScriptView:
    return version_service.script(ctx, ref, version)


@router.get("/strategies/{ref}/versions")
def list_versions(ctx: Context, ref: str) -> list[VersionView]:
    return version_service.versions(ctx, ref)


class RollbackRequest(BaseModel):
    version: int = Field(ge=1)


@router.post("/strategies/{ref}/rollback")
def rollback(ctx: Context, ref: str, body: RollbackRequest) -> VersionView:
    return version_service.rollback(ctx, ref, body.version)


@router.get("/strategies/{ref}/env")
def env_list(ctx: Context, ref: str) -> list[EnvVarView]:
    return environment.env_list(ctx, ref)


class EnvValue(BaseModel):
    value: str
    secret: bool = False


@router.put("/strategies/{ref}/env/{key}")
def env_set(ctx: Context, ref: str, key: str, body: EnvValue) -> EnvVarView:
    return environment.env_set(ctx, ref, key, body.value, secret=body.secret)


@router.delete("/strategies/{ref}/env/{key}")
def env_unset(ctx: Context, ref: str, key: str) -> dict[str, str]:
    environment.env_unset(ctx, ref, key)
    return {"message": f"unset {key}"}


@router.post("/strategies/{ref}/start")
def start(ctx: Context, wake: Wake, ref: str) -> ActionResult:
    result = service.start(ctx, ref)
    wake()
    return result


@router.post("/strategies/{ref}/stop")
def stop(
    ctx: Context,
    wake: Wake,
    ref: str,
    until: Annotated[
        Literal["start", "next-window"],
        Query(description="hold until started again (default) or until the next window"),
    ] = "start",
) -> ActionResult:
    if until == "next-window":
        result = schedule_service.stop_for_this_window(ctx, ref)
    else:
        result = service.stop(ctx, ref)
    wake()
    return result


@router.post("/strategies/{ref}/restart")
def restart(ctx: Context, wake: Wake, ref: str) -> ActionResult:
    result = service.restart(ctx, ref)
    wake()
    return result


@router.post("/strategies/{ref}/clear-error")
def clear_error(ctx: Context, wake: Wake, ref: str) -> ActionResult:
    result = service.clear_error(ctx, ref)
    wake()
    return result


@router.get("/strategies/{ref}/logs")
def tail_logs(
    ctx: Context,
    ref: str,
    lines: Annotated[int, Query(ge=0, le=logs.MAX_TAIL_LINES)] = 100,
    run: str | None = None,
    q: Annotated[
        str | None,
        Query(
            max_length=logs.MAX_QUERY_CHARS,
            description="only lines containing this text (ASCII case ignored), newest kept",
        ),
    ] = None,
) -> LogLinesView:
    """The last lines of the latest (or the named) run's log; with `q`, the last lines
    containing it, searching back through at most a fixed amount of log."""
    if q is None:
        return LogLinesView(lines=logs.tail(ctx, ref, lines, run))
    found = logs.search(ctx, ref, q, lines, run)
    return LogLinesView(
        lines=found.lines,
        query=q,
        scanned_bytes=found.scanned_bytes,
        limit_reached=found.limit_reached,
    )


@router.get("/strategies/{ref}/logs/stream")
def stream_logs(
    ctx: Context,
    ref: str,
    run: str | None = None,
    lines: Annotated[
        int,
        Query(ge=0, le=logs.MAX_TAIL_LINES, description="send the last lines written first"),
    ] = 0,
) -> StreamingResponse:
    """Server-Sent Events: one `data:` event per new log line (after the last `lines`)."""
    followed = logs.stream(ctx, ref, run, recent_lines=lines)

    def events() -> Iterator[str]:
        last_sent = time.monotonic()
        yield ": following\n\n"
        for line in followed:
            now = time.monotonic()
            if line:
                # A carriage return would end the event's line early (progress bars use it).
                yield f"data: {line.replace(chr(13), '')}\n\n"
                last_sent = now
            elif now - last_sent >= KEEPALIVE_SECS:
                yield ": keepalive\n\n"
                last_sent = now

    return StreamingResponse(events(), media_type="text/event-stream")
