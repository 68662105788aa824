"""Launching one run (its script on disk, its environment, its process) and reading how it ended."""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from algovisor.brokers.paper import BROKER as PAPER
from algovisor.brokers.upstream import BROKER as UPSTREAM
from algovisor.data_layout import DataLayout
from algovisor.db.models import BrokerAccount, Run, Strategy, StrategyEnvVar, StrategyVersion
from algovisor.errors import AlgovisorError
from algovisor.runner.files import EXIT_RECORD, write_atomically
from algovisor.security.encryption import SecretBox
from algovisor.supervisor.processes import build_environment, runner_command, spawn


class ScriptTamperedError(AlgovisorError):
    """The stored copy of a script no longer matches its version."""


@dataclass(frozen=True, slots=True)
class LaunchSettings:
    host_environment: Mapping[str, str]
    database_url: str
    log_max_bytes: int
    api_url: str | None = None


def launch(
    session: Session,
    layout: DataLayout,
    secrets: SecretBox,
    settings: LaunchSettings,
    strategy: Strategy,
    version: StrategyVersion,
    run: Run,
) -> subprocess.Popen[bytes]:
    """Start `run` of `strategy` at `version` under the runner; raises if it cannot."""
    script = materialize_script(layout, version)
    run_dir = layout.run_dir(run.id)
    run_dir.mkdir(parents=True, exist_ok=True)
    work_dir = layout.work_dir(strategy.id)
    work_dir.mkdir(parents=True, exist_ok=True)
    environment = build_environment(
        settings.host_environment,
        openalgo_variables(session, secrets, strategy.broker, settings.api_url),
        strategy_variables(session, secrets, strategy.id),
        {
            "ALGOVISOR_STRATEGY_ID": str(strategy.id),
            "ALGOVISOR_STRATEGY_NAME": strategy.name,
            "ALGOVISOR_RUN_ID": run.id,
            "ALGOVISOR_BROKER": strategy.broker,
            "ALGOVISOR_DATABASE_URL": settings.database_url,
            "ALGOVISOR_DATA_DIR": str(layout.root),
        },
    )
    log_path = Path(run.log_path)
    command = runner_command(run_dir, log_path, settings.log_max_bytes, script)
    return spawn(command, environment, work_dir, log_path)


def openalgo_variables(
    session: Session, secrets: SecretBox, broker: str, api_url: str | None
) -> dict[str, str]:
    """How an unmodified OpenAlgo strategy finds its broker: the names OpenAlgo uses.

    On the paper broker, this host's API and the paper key; on `openalgo`, the
    configured upstream server and its key (none configured: nothing given).
    Both spellings of the key are in use (OpenAlgo's own examples read
    OPENALGO_APIKEY). They are defaults: a strategy's own variables win.
    """
    if broker not in (PAPER, UPSTREAM):
        return {}
    account = session.get(BrokerAccount, broker)
    if account is None:
        return {}
    if broker == UPSTREAM:
        host, secret = account.upstream_url, account.upstream_key_secret
    else:
        host, secret = api_url, account.api_key_secret
    if not host or secret is None:
        return {}
    key = secrets.decrypt(secret)
    return {
        "OPENALGO_API_KEY": key,
        "OPENALGO_APIKEY": key,
        "OPENALGO_HOST": host.rstrip("/"),
    }


def materialize_script(layout: DataLayout, version: StrategyVersion) -> Path:
    """The version's script on disk, written from the database if missing."""
    path = layout.script_path(version.strategy_id, version.number, version.filename)
    if path.exists():
        if hashlib.sha256(path.read_bytes()).hexdigest() != version.sha256:
            raise ScriptTamperedError(
                f"{path} was changed outside algovisor; make a new version with "
                "`algovisor strategy edit` instead of editing the stored copy"
            )
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(str(path), version.content)
    return path


def strategy_variables(session: Session, secrets: SecretBox, strategy_id: int) -> dict[str, str]:
    """The strategy's own variables, secrets decrypted (only ever into its process)."""
    variables = session.scalars(
        select(StrategyEnvVar).where(StrategyEnvVar.strategy_id == strategy_id)
    )
    return {
        variable.key: secrets.decrypt(variable.value) if variable.is_secret else variable.value
        for variable in variables
    }


def read_exit_record(run_dir: str) -> dict[str, Any] | None:
    """What the runner recorded about how the run ended, or None if it could not."""
    try:
        record = json.loads((Path(run_dir) / EXIT_RECORD).read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {"exception_type": None, "exception_message": "exit record unreadable"}
    if not isinstance(record, dict):
        return None
    return {key: value for key, value in record.items() if value is not None}
