"""The level-triggered loop: compare desired state with live processes and converge.

Every tick (each second, and at once when woken by a user action or a process
exit) it decides each strategy's desired state from facts alone and acts:
spawn, SIGTERM, SIGKILL after the grace period, or finalize an ended run.
The database is the source of truth; `LiveRun` only holds OS handles.
"""

from __future__ import annotations

import contextlib
import logging
import os
import selectors
import shutil
import socket
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime, timedelta

import psutil
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from algovisor.clock import Clock
from algovisor.contracts.readiness import Readiness, read_board
from algovisor.data_layout import DataLayout
from algovisor.db.models import Run, Strategy, StrategyVersion
from algovisor.db.queries import current_version
from algovisor.errors import AlgovisorError
from algovisor.positions.liveness import process_alive
from algovisor.positions.store import PositionStore
from algovisor.schedule.calendar import CalendarBook
from algovisor.schedule.windows import window_close
from algovisor.security.encryption import SecretBox
from algovisor.supervisor.chores import PeriodicChores
from algovisor.supervisor.config import SupervisorConfig
from algovisor.supervisor.facts import facts_of, schedule_of
from algovisor.supervisor.identity import (
    ProcessIdentity,
    find_by_marker,
    prove,
    start_time_since_boot,
)
from algovisor.supervisor.launch import LaunchSettings, launch, read_exit_record
from algovisor.supervisor.processes import LiveRun, ProcessTree, open_pidfd
from algovisor.supervisor.restart_policy import (
    EndReason,
    RunEnd,
    classify_end,
    next_step,
)
from algovisor.supervisor.states import (
    ACTIVE_RUN_STATUSES,
    PROCESS_STATES,
    DesiredState,
    Intent,
    RunStatus,
    StrategyState,
    desired_state,
)

logger = logging.getLogger(__name__)

MEMORY_BREACHES_BEFORE_RESTART = 3

# Reads every broker's contract readiness once per tick (tests may stand in their own).
ContractBoard = Callable[[Session, datetime, CalendarBook], Callable[[str], Readiness]]


class Reconciler:
    def __init__(
        self,
        session_factory: sessionmaker[Session],
        layout: DataLayout,
        secret_box: SecretBox,
        clock: Clock,
        config: SupervisorConfig,
        host_environment: Mapping[str, str],
        calendars: Callable[[], CalendarBook],
        positions: PositionStore,
        contracts: ContractBoard = read_board,
    ) -> None:
        self._sessions = session_factory
        self._positions = positions
        self._calendars = calendars
        self._contracts = contracts
        self._warned: set[str] = set()  # calendar warnings already logged
        self._layout = layout
        self._secrets = secret_box
        self._clock = clock
        self._config = config
        self._host_environment = dict(host_environment)
        self._live: dict[str, LiveRun] = {}
        self._selector = selectors.DefaultSelector()
        self._wake_read, self._wake_write = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._selector.register(self._wake_read, selectors.EVENT_READ)
        self._exited: set[str] = set()  # run ids whose pidfd became readable
        self._chores = PeriodicChores(layout, clock, config)

    # ----- the loop -----------------------------------------------------------------

    def wake(self) -> None:
        """Ask for a tick now (user action); safe from any thread."""
        with contextlib.suppress(BlockingIOError):
            os.write(self._wake_write, b"x")

    def serve_forever(self, stop: threading.Event) -> None:
        """Recover, then tick until `stop` is set. Never lets an error end the loop."""
        recovered = False
        while not stop.is_set():
            try:
                if not recovered:
                    self.recover()
                    recovered = True
                self.tick()
            except Exception:
                logger.exception("reconciler tick failed; retrying")
            self.wait(self._config.interval_secs)
        self.close()

    def wait(self, timeout_secs: float) -> None:
        """Sleep until the timeout, a wake-up, or a watched process exiting."""
        for key, _ in self._selector.select(timeout_secs):
            if key.fd == self._wake_read:
                with contextlib.suppress(BlockingIOError):
                    while os.read(self._wake_read, 4096):
                        pass
            else:
                self._exited.add(key.data)

    def close(self) -> None:
        """Let go of OS handles; the strategy processes themselves keep running."""
        for live in list(self._live.values()):
            self._forget(live)
        self._selector.close()
        self._positions.close()
        os.close(self._wake_read)
        os.close(self._wake_write)

    # ----- startup sweep ------------------------------------------------------------

    def recover(self) -> None:
        """Re-adopt this host's recorded runs that provably still live; end the rest.

        The first tick does this too; calling it first just makes start-up explicit.
        """
        with self._sessions.begin() as session:
            self._adopt_unwatched(session, self._active_runs(session))
        self._mark_crashed_sessions()

    def _active_runs(self, session: Session) -> list[Run]:
        return list(
            session.scalars(
                select(Run).where(
                    Run.host == self._config.host_name, Run.status.in_(ACTIVE_RUN_STATUSES)
                )
            )
        )

    def _adopt_unwatched(self, session: Session, runs: list[Run]) -> None:
        """Adopt or end every recorded run this reconciler holds no handle for."""
        unwatched = [run for run in runs if run.id not in self._live]
        unrecorded = {run.id for run in unwatched if run.pid is None}
        found = find_by_marker(unrecorded) if unrecorded else {}
        for run in unwatched:
            self._recover_run(session, run, found.get(run.id))

    def _recover_run(self, session: Session, run: Run, marked: psutil.Process | None) -> None:
        if run.pid is None:
            if marked is None:
                logger.warning("run %s was recorded but never started; declaring it lost", run.id)
                self._finalize(session, run, RunEnd(never_started=True))
                return
            run.pid = marked.pid
            run.process_start_time = start_time_since_boot(marked.pid)
            run.boot_id = self._config.boot_id
            run.started_at = run.started_at or self._clock.now()
            if run.status == RunStatus.SPAWNING:
                run.status = RunStatus.RUNNING
        pidfd = open_pidfd(run.pid)  # opened before proving, so it names the proven process
        recorded = ProcessIdentity(run.pid, run.process_start_time or 0.0, run.boot_id or "")
        proof = prove(run.id, recorded, self._config.boot_id)
        if not proof.proven:
            if pidfd is not None:
                os.close(pidfd)
            logger.info("run %s (pid %s) is not alive: %s", run.id, run.pid, proof.reason)
            self._finalize(
                session,
                run,
                RunEnd(boot_changed=recorded.boot_id != self._config.boot_id),
            )
            return
        live = LiveRun(
            run.id, run.strategy_id, ProcessTree(psutil.Process(run.pid), run.id), None, pidfd
        )
        self._watch(live)
        if run.status == RunStatus.STOPPING:
            self._arm_kill_deadline(session, live, run)
        logger.info("re-adopted run %s (pid %s)", run.id, run.pid)

    # ----- one tick -----------------------------------------------------------------

    def tick(self) -> None:
        now = self._clock.now()
        calendars = self._calendars()
        if calendars.problem is not None:
            self._warn_once((f"overrides not applied: {calendars.problem}",))
        with self._sessions.begin() as session:
            self._finalize_exited(session)
            runs = self._active_runs(session)
            # Level-triggered: a recorded run without a handle (start-up, or a
            # failed earlier tick) is proven and adopted, or ended, right here.
            self._adopt_unwatched(session, runs)
            active = {run.strategy_id: run for run in runs if run.status != RunStatus.ENDED}
            strategies = session.scalars(select(Strategy)).all()
            contracts = self._contracts(session, now, calendars)
            to_spawn: list[Strategy] = []
            for strategy in strategies:
                run = active.get(strategy.id)
                desired = desired_state(facts_of(strategy, contracts), now, calendars)
                if desired.should_run and run is None:
                    to_spawn.append(strategy)
                elif run is not None and run.id in self._live:
                    self._converge_run(strategy, run, desired)
                self._show(strategy, run, desired)
                self._warn_once(desired.warnings)
            self._escalate_kills()
            self._chores.sample(session, active, self._live)
            self._chores.renew_lease(session, now)
        # After the commit above: a run ended in this tick (kill -9, OOM) has its
        # positions marked CRASHED in the same tick, well within 2 s of the exit.
        self._mark_crashed_sessions()
        if to_spawn:
            self._spawn_all([strategy.id for strategy in to_spawn])
        self._chores.apply_retention(self._live.values())

    def _mark_crashed_sessions(self) -> None:
        """Positions sessions whose process is gone without ending them become CRASHED.

        Never lets a failure here stop recovery, spawning or retention: it is
        logged and tried again on the next tick.
        """
        try:
            # The SDK records the OS host name (ALGOVISOR_HOST_NAME may differ from it).
            marked = self._positions.sessions.sweep_crashed(socket.gethostname(), process_alive)
        except Exception:
            logger.exception("marking crashed positions sessions failed; retrying next tick")
            return
        for session_id, positions in marked:
            logger.warning(
                "positions session %s ended without a clean record: %s open positions marked "
                "CRASHED",
                session_id,
                positions,
            )

    def _converge_run(self, strategy: Strategy, run: Run, desired: DesiredState) -> None:
        if run.status == RunStatus.STOPPING:
            return
        # Waiting holds a start back; a running strategy is never stopped because
        # its broker's next contract is still being fetched.
        if not desired.should_run and desired.idle_state is not StrategyState.WAITING:
            scheduled = desired.idle_state in (StrategyState.SCHEDULED, StrategyState.PAUSED)
            self._request_stop(strategy, run, "window closed" if scheduled else "requested")
        elif run.restart_generation < strategy.restart_generation:
            self._request_stop(strategy, run, "restart")
        elif strategy.memory_limit_mb and run.memory_breaches >= MEMORY_BREACHES_BEFORE_RESTART:
            logger.warning(
                "strategy %s used more than %s MB %s times in a row; restarting it",
                strategy.name,
                strategy.memory_limit_mb,
                run.memory_breaches,
            )
            self._request_stop(strategy, run, EndReason.MEMORY_LIMIT.value)

    def _warn_once(self, warnings: tuple[str, ...]) -> None:
        for warning in warnings:
            if warning not in self._warned:
                self._warned.add(warning)
                logger.warning("calendar: %s", warning)

    def _show(self, strategy: Strategy, run: Run | None, desired: DesiredState) -> None:
        if run is not None:
            state = PROCESS_STATES[RunStatus(run.status)].value
            notes = [f"pid {run.pid}" if run.pid else "starting"]
            message = "; ".join(notes + [f"warning: {text}" for text in desired.warnings])
        else:
            state, message = desired.idle_state.value, desired.message
        if strategy.state != state:
            strategy.state = state
        if strategy.state_message != message:
            strategy.state_message = message

    # ----- stopping -----------------------------------------------------------------

    def _request_stop(self, strategy: Strategy, run: Run, reason: str) -> None:
        live = self._live[run.id]
        run.status = RunStatus.STOPPING
        run.stop_requested_at = self._clock.now()
        run.stop_reason = reason
        strategy.state = PROCESS_STATES[RunStatus.STOPPING].value
        live.kill_at_monotonic = self._clock.monotonic() + strategy.grace_secs
        live.tree.terminate()
        logger.info("stopping %s (run %s, pid %s): %s", strategy.name, run.id, run.pid, reason)

    def _arm_kill_deadline(self, session: Session, live: LiveRun, run: Run) -> None:
        strategy = session.get_one(Strategy, run.strategy_id)
        elapsed = (self._clock.now() - (run.stop_requested_at or self._clock.now())).total_seconds()
        live.kill_at_monotonic = self._clock.monotonic() + max(0.0, strategy.grace_secs - elapsed)

    def _escalate_kills(self) -> None:
        now = self._clock.monotonic()
        for live in self._live.values():
            if live.kill_at_monotonic is not None and now >= live.kill_at_monotonic:
                killed = live.tree.kill()
                logger.warning(
                    "run %s ignored SIGTERM for its grace period; sent SIGKILL to %s processes",
                    live.run_id,
                    killed,
                )
                live.kill_at_monotonic = now + 1.0  # try again if something survived

    # ----- ended runs ---------------------------------------------------------------

    def _finalize_exited(self, session: Session) -> None:
        signalled, self._exited = self._exited, set()
        for live in [
            live for live in self._live.values() if live.has_exited(live.run_id in signalled)
        ]:
            run = session.get(Run, live.run_id)
            returncode = live.popen.returncode if live.popen is not None else None
            # The run ends with its leader. Whatever it left behind (a child in its
            # own process group, or one orphaned by a crash) would run unmanaged,
            # perhaps trading beside the next run.
            leftovers = live.tree.kill()
            if leftovers:
                logger.warning(
                    "run %s left %s processes behind; killed them", live.run_id, leftovers
                )
            self._forget(live)
            if run is None or run.status == RunStatus.ENDED:
                continue
            end = RunEnd(
                exit_code=returncode if returncode is not None and returncode >= 0 else None,
                exit_signal=-returncode if returncode is not None and returncode < 0 else None,
            )
            self._finalize(session, run, end)

    def _finalize(self, session: Session, run: Run, end: RunEnd) -> None:
        """Record how a run ended and apply the restart policy to its strategy."""
        record = read_exit_record(str(self._layout.run_dir(run.id)))
        if record:
            code = end.exit_code if end.exit_code is not None else record.get("exit_code")
            end = replace(
                end,
                exit_code=None if end.exit_signal else int(code or 0),
                exception_type=record.get("exception_type"),
                exception_message=record.get("exception_message"),
                location=record.get("location"),
                has_exit_record=True,
            )
        end = replace(
            end, stop_requested=run.stop_requested_at is not None, stop_reason=run.stop_reason
        )
        strategy = session.get_one(Strategy, run.strategy_id)
        ended = classify_end(end, frozenset(strategy.final_exit_codes))
        now = self._clock.now()
        run.status = RunStatus.ENDED
        run.ended_at = now
        run.exit_code = end.exit_code
        run.exit_signal = end.exit_signal
        run.end_reason = ended.reason.value
        run.exception_type = end.exception_type
        run.exception_message = ended.description
        run.traceback = record.get("traceback") if record else None
        uptime_secs = (now - run.started_at).total_seconds() if run.started_at else 0.0
        step = next_step(self._config.policy, ended, uptime_secs, strategy.consecutive_failures)
        strategy.consecutive_failures = step.consecutive_failures
        strategy.backoff_until = None
        if step.error_message:
            strategy.error_message = step.error_message
        elif step.stop_message:
            self._hold_after_exit(strategy, step.stop_message, now)
        elif step.restart_after_secs is not None:
            strategy.restart_count += 1
            if step.restart_after_secs > 0:
                strategy.backoff_until = now + timedelta(seconds=step.restart_after_secs)
        logger.info("run %s of %s ended: %s", run.id, strategy.name, ended.description)
        shutil.rmtree(self._layout.run_dir(run.id), ignore_errors=True)

    def _hold_after_exit(self, strategy: Strategy, message: str, now: datetime) -> None:
        """A run that ended itself is done: for the rest of its window, or until started."""
        schedule = schedule_of(strategy)
        closes = (
            window_close(schedule, self._calendars()[schedule.exchange], now) if schedule else None
        )
        if closes is not None:
            strategy.window_skipped_until = closes
        else:
            strategy.intent = Intent.STOP.value
        strategy.stop_message = message

    # ----- starting -----------------------------------------------------------------

    def _spawn_all(self, strategy_ids: list[int]) -> None:
        """Record every run's intent in one commit, then spawn, then record the pids."""
        planned: list[tuple[str, int]] = []
        with self._sessions.begin() as session:
            for strategy_id in strategy_ids:
                strategy = session.get(Strategy, strategy_id)
                version = current_version(session, strategy_id)
                if strategy is None or version is None:
                    continue
                run_id = uuid.uuid4().hex
                session.add(
                    Run(
                        id=run_id,
                        strategy_id=strategy_id,
                        version_id=version.id,
                        restart_generation=strategy.restart_generation,
                        host=self._config.host_name,
                        status=RunStatus.SPAWNING,
                        log_path=str(self._layout.log_path(strategy_id, run_id)),
                        created_at=self._clock.now(),
                        memory_breaches=0,
                    )
                )
                strategy.state = PROCESS_STATES[RunStatus.SPAWNING].value
                strategy.backoff_until = None  # the wait is over; do not show a stale time
                planned.append((run_id, strategy_id))
        with self._sessions.begin() as session:
            for run_id, _strategy_id in planned:
                self._spawn_one(session, session.get_one(Run, run_id))

    def _spawn_one(self, session: Session, run: Run) -> None:
        strategy = session.get_one(Strategy, run.strategy_id)
        version = session.get_one(StrategyVersion, run.version_id)
        try:
            popen = launch(
                session,
                self._layout,
                self._secrets,
                LaunchSettings(
                    self._host_environment,
                    self._config.database_url,
                    self._config.log_max_bytes,
                    self._config.api_url,
                ),
                strategy,
                version,
                run,
            )
        except (OSError, AlgovisorError) as error:
            logger.exception("could not start %s", strategy.name)
            self._finalize(
                session,
                run,
                RunEnd(script_missing=isinstance(error, FileNotFoundError)),
            )
            if isinstance(error, AlgovisorError):
                strategy.error_message = error.message
            elif not strategy.error_message:
                strategy.error_message = f"could not start the process: {error}"
            return
        leader = psutil.Process(popen.pid)
        run.pid = popen.pid
        run.process_start_time = start_time_since_boot(popen.pid)
        run.boot_id = self._config.boot_id
        run.started_at = self._clock.now()
        run.status = RunStatus.RUNNING
        strategy.state = PROCESS_STATES[RunStatus.RUNNING].value
        strategy.state_message = f"pid {popen.pid}"
        live = LiveRun(
            run.id, strategy.id, ProcessTree(leader, run.id), popen, open_pidfd(popen.pid)
        )
        self._watch(live)
        logger.info("started %s (run %s, pid %s)", strategy.name, run.id, popen.pid)

    # ----- watching -----------------------------------------------------------------

    def _watch(self, live: LiveRun) -> None:
        self._live[live.run_id] = live
        if live.pidfd is not None:
            self._selector.register(live.pidfd, selectors.EVENT_READ, live.run_id)

    def _forget(self, live: LiveRun) -> None:
        self._live.pop(live.run_id, None)
        if live.pidfd is not None:
            with contextlib.suppress(KeyError, ValueError):
                self._selector.unregister(live.pidfd)
            os.close(live.pidfd)
            live.pidfd = None
