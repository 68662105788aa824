"""Is a host running, and waiting for a strategy to reach a state."""

from __future__ import annotations

import time

from algovisor.errors import AlgovisorError
from algovisor.services.context import ServiceContext
from algovisor.services.strategies import show
from algovisor.services.views import StrategyView
from algovisor.supervisor.lease import running_host
from algovisor.supervisor.states import StrategyState

WAIT_POLL_SECS = 0.2
# "running" means the process exists; a script that fails on import (syntax error, missing
# module) dies within this, so `--wait` watches that long before it says the start worked.
RUNNING_SETTLE_SECS = 1.0


class WaitFailedError(AlgovisorError):
    """The strategy did not reach the state waited for."""


def host_running(ctx: ServiceContext) -> str | None:
    """A description of the live host, or None when no host is reconciling."""
    with ctx.reading() as session:
        lease = running_host(session, ctx.clock.now())
        if lease is None:
            return None
        return f"{lease.host} pid {lease.pid} at {lease.api_url}"


def no_host_message(ctx: ServiceContext) -> str:
    return (
        f"no algovisor host is running for {ctx.settings.data_dir}; the change is recorded "
        "and takes effect when one starts: algovisor serve"
    )


OUTSIDE_WINDOW = {StrategyState.SCHEDULED.value, StrategyState.PAUSED.value}


def wait_for(
    ctx: ServiceContext,
    ref: str | int,
    target: StrategyState,
    timeout_secs: float,
    settle_secs: float = RUNNING_SETTLE_SECS,
) -> StrategyView:
    """Poll until the strategy is in `target`; fail early with the reason if it cannot get there.

    `running` counts only once the same run has stayed up for `settle_secs`, so a
    script that dies on its first line is reported as failing, not as started.
    """
    deadline = time.monotonic() + timeout_secs
    failing = (
        {StrategyState.ERROR, StrategyState.BACKOFF} if target is StrategyState.RUNNING else set()
    )
    running_since: tuple[str, float] | None = None
    while True:
        view = show(ctx, ref)
        now = time.monotonic()
        if view.state == target.value:
            if target is not StrategyState.RUNNING:
                return view
            run_id = view.current_run.id if view.current_run else ""
            if running_since is None or running_since[0] != run_id:
                running_since = (run_id, now)
            elif now - running_since[1] >= settle_secs:
                return view
        else:
            running_since = None
        if view.state in failing:
            reason = view.error_message or (view.last_run.message if view.last_run else view.state)
            raise WaitFailedError(f"{view.name} did not start: {view.state}: {reason}")
        if (
            target is StrategyState.RUNNING
            and view.state == StrategyState.STOPPED.value
            and view.intent == "stop"
        ):
            raise WaitFailedError(f"{view.name} stopped: {view.state_message}")
        if target is StrategyState.RUNNING and view.state in OUTSIDE_WINDOW:
            raise WaitFailedError(
                f"{view.name} is armed but {view.state} ({view.state_message}); "
                "it starts when its window opens"
            )
        if now >= deadline:
            raise WaitFailedError(
                f"{view.name} is still {view.state} after {timeout_secs:.0f} s"
                + ("" if host_running(ctx) else f"; {no_host_message(ctx)}")
            )
        time.sleep(WAIT_POLL_SECS)
