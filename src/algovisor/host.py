"""`algovisor serve`: the composition root that wires API, reconciler and database together.

One process holds the API and the reconciler thread. Stopping it never stops
strategies: they run in their own sessions and are re-adopted on the next start.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable
from pathlib import Path

import uvicorn
from sqlalchemy import select

from algovisor.api.app import create_app
from algovisor.contracts.manager import ContractManager
from algovisor.db.models import Strategy
from algovisor.services import api_keys, broker_accounts, paper_broker, users
from algovisor.services import contracts as contract_service
from algovisor.services import strategies as strategy_service
from algovisor.services.context import ServiceContext
from algovisor.settings import Settings
from algovisor.supervisor.config import SupervisorConfig
from algovisor.supervisor.identity import current_boot_id
from algovisor.supervisor.lease import HostLock, claim_lease, default_host_name, release_lease
from algovisor.supervisor.logfiles import RetentionLimits
from algovisor.supervisor.reconciler import Reconciler
from algovisor.supervisor.states import Intent

logger = logging.getLogger("algovisor.host")


def configure_logging(data_dir: Path) -> None:
    formatter = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    handlers: list[logging.Handler] = [logging.StreamHandler()]
    handlers.append(logging.FileHandler(data_dir / "host.log"))
    for handler in handlers:
        handler.setFormatter(formatter)
    logging.basicConfig(level=logging.INFO, handlers=handlers, force=True)


def supervisor_config(settings: Settings) -> SupervisorConfig:
    return SupervisorConfig(
        host_name=settings.host_name or default_host_name(),
        boot_id=current_boot_id(),
        database_url=settings.resolved_database_url,
        interval_secs=settings.reconcile_interval_secs,
        resource_sample_secs=settings.resource_sample_secs,
        resource_history_secs=settings.resource_history_secs,
        resource_history_hours=settings.resource_history_hours,
        log_max_bytes=settings.log_max_bytes,
        retention=RetentionLimits(
            settings.log_keep_files, settings.log_keep_days, settings.log_keep_total_bytes
        ),
        api_url=settings.api_url,
    )


def add_examples(ctx: ServiceContext, examples_dir: Path) -> list[str]:
    """On an empty database, add and start every example strategy."""
    with ctx.reading() as session:
        if session.scalars(select(Strategy.id)).first() is not None:
            return []
    added = []
    for script in sorted(examples_dir.glob("*.py")):
        view = strategy_service.add(ctx, script.name, script.read_bytes(), intent=Intent.RUN)
        added.append(view.name)
    return added


STREAM_SHUTDOWN_SECS = 2  # uvicorn takes whole seconds


def run_until_signalled(server: uvicorn.Server) -> None:
    """Run uvicorn until SIGINT/SIGTERM, then return instead of dying.

    uvicorn re-raises the signal that stopped it once it has shut down; under the
    default handlers that kills this process before it stops the reconciler and
    releases its lease, so the CLI would go on reporting a host that is gone.
    """
    if threading.current_thread() is not threading.main_thread():
        server.run()
        return
    handled = (signal.SIGINT, signal.SIGTERM)
    previous = {signum: signal.signal(signum, server.handle_exit) for signum in handled}
    try:
        server.run()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def serve(
    settings: Settings, examples_dir: Path | None = None, say: Callable[[str], None] = print
) -> None:
    """Run the host until SIGINT/SIGTERM."""
    ctx = ServiceContext.open(settings)
    configure_logging(settings.data_dir)
    lock = HostLock(ctx.layout.host_lock)
    lock.acquire()
    config = supervisor_config(settings)
    claim_lease(ctx.sessions, config.host_name, config.boot_id, settings.api_url, ctx.clock.now())
    try:
        broker_accounts.paper_api_key(ctx)  # strategies on the paper broker are given it
        if api_keys.count(ctx) == 0:
            key, _ = api_keys.create(ctx, "first-run")
            say(f"API key (shown once, keep it): {key}")
        admin_password = users.ensure_admin(ctx)
        if admin_password is not None:
            say(
                f"Web UI: {settings.api_url}/ — user {users.ADMIN_USERNAME}, "
                f"password (shown once, keep it): {admin_password}"
            )
        if examples_dir is not None:
            for name in add_examples(ctx, examples_dir):
                say(f"added example strategy: {name}")
        if ctx.calendars.write_template():
            say(f"calendar overrides: edit {ctx.calendars.overrides_path} to add holidays")
        ctx.calendars.current()  # load calendars before the first tick; reports a bad file
        reconciler = Reconciler(
            ctx.sessions,
            ctx.layout,
            ctx.secrets,
            ctx.clock,
            config,
            os.environ,
            ctx.calendars.current,
            ctx.position_store(),
        )
        manager = ContractManager(
            ctx.sessions,
            ctx.read_sessions,
            ctx.clock,
            ctx.calendars.current,
            contract_service.make_refresh(ctx),
            contract_service.pipeline_settings(ctx),
            contract_service.refresh_time(ctx),
            on_ready=reconciler.wake,
            configured_sources=lambda: contract_service.configured_sources(ctx),
        )
        paper = paper_broker.open_account(ctx)
        stop = threading.Event()
        threads = [
            threading.Thread(
                target=paper.serve_forever,
                args=(stop, settings.paper_match_interval_secs),
                name="paper-broker",
                daemon=True,
            ),
            threading.Thread(
                target=reconciler.serve_forever, args=(stop,), name="reconciler", daemon=True
            ),
            threading.Thread(
                target=manager.serve_forever, args=(stop,), name="contracts", daemon=True
            ),
        ]
        for thread in threads:
            thread.start()
        say(f"algovisor is serving on {settings.api_url} (data: {settings.data_dir})")
        app = create_app(
            ctx, wake=reconciler.wake, refresh_contract=manager.refresh_now, paper=paper
        )
        server = uvicorn.Server(
            uvicorn.Config(
                app,
                host=settings.bind_host,
                port=settings.port,
                log_config=None,
                access_log=False,
                # Open event streams (a browser tab, `logs --follow`) never end by
                # themselves: without a limit they would hold the host's shutdown forever.
                timeout_graceful_shutdown=STREAM_SHUTDOWN_SECS,
            )
        )
        run_until_signalled(server)
        logger.info("host stopping; strategies keep running and are re-adopted on next start")
        stop.set()
        reconciler.wake()
        for thread in threads:
            thread.join(timeout=10)
        release_lease(ctx.sessions)
    finally:
        lock.release()
        ctx.close()
