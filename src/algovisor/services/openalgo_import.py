"""Importing an OpenAlgo `strategies/` folder: its scripts, names, intent and schedules.

OpenAlgo keeps one JSON object, `strategy_configs.json`, keyed by its strategy id,
and the scripts in `scripts/`. Each entry becomes one algovisor strategy, all or
nothing: a strategy that cannot be imported is reported and the others still are.

An enabled OpenAlgo schedule (IST times, weekdays, the strategy's exchange)
becomes the strategy's algovisor schedule, stored before the strategy is armed,
so no host ever runs it outside its window. A schedule algovisor cannot accept
(an exchange it has no calendar for, start equal to stop, no days) does not fail
the import: the strategy comes over without one, and the note says why and
gives the `algovisor strategy schedule` command to run once it is fixed. A
disabled schedule is not applied; the note gives the command that would apply it.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy import select

from algovisor.db.models import Strategy
from algovisor.db.queries import current_version
from algovisor.errors import AlgovisorError, InvalidInputError
from algovisor.schedule.windows import Schedule
from algovisor.services import environment, strategies
from algovisor.services.context import ServiceContext
from algovisor.services.openalgo_schedules import (
    OpenAlgoSchedule,
    applied_note,
    as_algovisor_schedule,
    not_applied_note,
    read_schedule,
)
from algovisor.services.schedules import store_schedule
from algovisor.services.validation import (
    validate_env_key,
    validate_env_value,
    validate_name,
    validate_script,
)
from algovisor.services.views import ScheduleView
from algovisor.supervisor.states import Intent

CONFIG_FILE = "strategy_configs.json"
ENV_FILE = "strategy_env.json"
SECURE_ENV_FILE = ".secure_env"
SCRIPTS_DIR = "scripts"
MAX_CONFIG_BYTES = 16 * 1024 * 1024
MAX_NAME_CHARS = 64
NAME_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")

# OpenAlgo's own bookkeeping of its processes: nothing a trader chose, nothing to map.
BOOKKEEPING_FIELDS = frozenset(
    {"file_name", "file_path", "created_at", "user_id", "pid", "last_started", "last_stopped"}
    | {"error_time"}
)
MAPPED_FIELDS = frozenset(
    {"name", "exchange", "is_running", "manually_stopped", "is_error", "error_message"}
    | {"is_scheduled", "schedule_start", "schedule_stop", "schedule_days"}
    | {"paused_reason", "paused_message"}
)

ImportStatus = Literal["imported", "would_import", "already_imported", "failed"]


class StrategyImport(BaseModel):
    """What became of one OpenAlgo strategy."""

    openalgo_id: str
    openalgo_name: str | None = None
    status: ImportStatus = "failed"
    name: str | None = None  # the algovisor name
    strategy_id: int | None = None  # the algovisor id, once imported
    script: str | None = None  # the file it was read from
    intent: Intent = Intent.STOP
    schedule: OpenAlgoSchedule | None = None  # as OpenAlgo had it
    applied: ScheduleView | None = None  # the algovisor schedule it got (or would, in a dry run)
    env_keys: list[str] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)  # what could not be mapped, and why
    error: str | None = None  # why it was not imported

    def describe(self) -> list[str]:
        """Plain lines for people: the outcome, then one line per note."""
        number = f" (id {self.strategy_id})" if self.strategy_id is not None else ""
        if self.status == "failed":
            head = f"failed: {self.openalgo_id}: {self.error}"
        elif self.status == "already_imported":
            head = f"already imported: {self.openalgo_id} as {self.name!r}{number}; left as it is"
        else:
            verb = "imported" if self.status == "imported" else "would import"
            head = f"{verb}: {self.openalgo_id} as {self.name!r}{number}, intent {self.intent}"
        return [head, *(f"  - {note}" for note in self.notes)]


class ImportReport(BaseModel):
    """The outcome of one import; `failed` means the command should exit non-zero."""

    source: str
    dry_run: bool
    strategies: list[StrategyImport] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)

    @property
    def failed(self) -> bool:
        return any(item.status == "failed" for item in self.strategies)

    def describe(self) -> list[str]:
        lines = [f"note: {note}" for note in self.notes]
        for item in self.strategies:
            lines.extend(item.describe())
        counts: dict[str, int] = {}
        for item in self.strategies:
            counts[item.status] = counts.get(item.status, 0) + 1
        summary = ", ".join(
            f"{count} {status.replace('_', ' ')}" for status, count in counts.items()
        )
        prefix = "dry run, nothing changed: " if self.dry_run else ""
        lines.append(f"{prefix}{summary or 'no strategies found'}")
        return lines


@dataclass
class _Planned:
    """A strategy that passed every check, ready to be written."""

    result: StrategyImport
    openalgo_name: str
    filename: str
    content: bytes
    env: dict[str, str]
    manually_stopped: bool = False
    schedule: Schedule | None = None  # the algovisor schedule it gets, if OpenAlgo's is enabled
    schedule_problem: str | None = None  # why OpenAlgo's schedule cannot be algovisor's
    held_back: bool = False  # OpenAlgo ran it, but on a schedule algovisor cannot take
    name: str = ""  # the algovisor name, once chosen


class _EntryError(AlgovisorError):
    """One strategy cannot be imported; the others still can."""


# ----- the use case -------------------------------------------------------------------


def import_folder(ctx: ServiceContext, directory: Path, *, dry_run: bool = False) -> ImportReport:
    """Import every strategy of an OpenAlgo `strategies/` folder.

    Raises InvalidInputError when the folder itself cannot be read; problems with
    one strategy are reported in its result and never stop the others.
    """
    folder, folder_notes = _find_folder(directory)
    configs = _read_json_object(folder / CONFIG_FILE)
    env_path = folder / ENV_FILE
    env_by_id = _read_json_object(env_path) if env_path.is_file() else {}
    report = ImportReport(source=str(folder), dry_run=dry_run, notes=folder_notes)
    if (folder / SECURE_ENV_FILE).exists():
        report.notes.append(
            f"{SECURE_ENV_FILE} not imported: OpenAlgo encrypts it with its own key; set those "
            "variables again with `algovisor strategy env NAME set KEY=VALUE --secret`"
        )
    for key in sorted(env_by_id.keys() - configs.keys()):
        report.notes.append(f"{ENV_FILE} has variables for unknown strategy {key!r}; ignored")

    claimed: set[str] = set()  # names taken by earlier strategies of this import
    for openalgo_id, entry in configs.items():
        result = StrategyImport(openalgo_id=openalgo_id)
        report.strategies.append(result)
        try:
            planned = _plan(ctx, folder, openalgo_id, entry, env_by_id.get(openalgo_id), result)
            _choose_name(ctx, planned, claimed)
            if result.status == "already_imported":
                continue
            if dry_run:
                result.status = "would_import"
            else:
                _write(ctx, planned)
                result.status = "imported"
            _note_schedule(planned, dry_run)
        except AlgovisorError as error:
            result.status = "failed"
            result.error = f"{error.message} ({error.detail})" if error.detail else error.message
    return report


def _find_folder(directory: Path) -> tuple[Path, list[str]]:
    if not directory.exists():
        raise InvalidInputError(f"{directory} does not exist")
    if not directory.is_dir():
        raise InvalidInputError(f"{directory} is not a folder")
    if (directory / CONFIG_FILE).is_file():
        return directory, []
    # Pointing at the OpenAlgo installation instead of its strategies/ folder is an easy slip.
    nested = directory / "strategies"
    if (nested / CONFIG_FILE).is_file():
        return nested, [f"using {nested}, the strategies folder inside {directory}"]
    raise InvalidInputError(
        f"{directory} has no {CONFIG_FILE}",
        detail="Point at OpenAlgo's strategies/ folder (the one holding strategy_configs.json).",
    )


def _read_json_object(path: Path) -> dict[str, Any]:
    try:
        size_bytes = path.stat().st_size
        if size_bytes > MAX_CONFIG_BYTES:
            raise InvalidInputError(
                f"{path} is {size_bytes:,} bytes; an OpenAlgo file is far smaller "
                f"(the limit is {MAX_CONFIG_BYTES:,})"
            )
        text = path.read_bytes().decode("utf-8-sig")  # Windows editors add a BOM
    except OSError as error:
        raise InvalidInputError(f"cannot read {path}: {error.strerror}") from error
    except UnicodeDecodeError as error:
        raise InvalidInputError(
            f"{path} is not UTF-8 text (byte {error.start} is invalid)"
        ) from error
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise InvalidInputError(
            f"{path} is not valid JSON: {error.msg} at line {error.lineno}, column {error.colno}"
        ) from error
    except RecursionError as error:
        raise InvalidInputError(f"{path} is nested too deeply to be an OpenAlgo file") from error
    if not isinstance(data, dict):
        raise InvalidInputError(
            f"{path} holds a JSON {_json_type(data)}, expected an object keyed by strategy id"
        )
    return data


def _json_type(value: object) -> str:
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return "null" if value is None else type(value).__name__


# ----- one strategy -------------------------------------------------------------------


def _plan(
    ctx: ServiceContext,
    folder: Path,
    openalgo_id: str,
    entry: object,
    env: object,
    result: StrategyImport,
) -> _Planned:
    """Check everything about one entry without writing anything."""
    if not isinstance(entry, dict):
        raise _EntryError(f"the entry is a JSON {_json_type(entry)}, not an object")
    name = entry.get("name", openalgo_id)
    if not isinstance(name, str) or not name.strip():
        raise _EntryError(f"its name is {_json_type(name)} {name!r}, not text")
    result.openalgo_name = name

    is_running = _flag(entry, "is_running")
    manually_stopped = _flag(entry, "manually_stopped")
    result.intent = Intent.RUN if is_running and not manually_stopped else Intent.STOP
    result.schedule = read_schedule(entry, _flag(entry, "is_scheduled"), result.notes)
    schedule, problem = as_algovisor_schedule(result.schedule)
    enabled = result.schedule is not None and result.schedule.enabled
    # OpenAlgo ran it inside a window; without one it would run around the clock.
    held_back = enabled and schedule is None and result.intent is Intent.RUN
    if held_back:
        result.intent = Intent.STOP
    if _flag(entry, "is_error"):
        message = entry.get("error_message") or "no message"
        result.notes.append(f"was in error in OpenAlgo: {message}")
    if entry.get("paused_reason") or entry.get("paused_message"):
        result.notes.append(
            f"was paused in OpenAlgo ({entry.get('paused_reason') or 'no reason'}): "
            f"{entry.get('paused_message') or 'no message'}"
        )
    unknown = sorted(entry.keys() - MAPPED_FIELDS - BOOKKEEPING_FIELDS)
    if unknown:
        result.notes.append(f"fields not mapped: {', '.join(unknown)}")

    script = _find_script(folder, openalgo_id, entry)
    result.script = str(script)
    limit = ctx.settings.max_script_bytes
    try:
        size_bytes = script.stat().st_size
        if size_bytes > limit:  # refused before it is read
            raise _EntryError(f"{script.name} is {size_bytes:,} bytes; the limit is {limit:,}")
        content = script.read_bytes()
    except OSError as error:
        raise _EntryError(f"cannot read {script}: {error.strerror}") from error
    filename = validate_script(script.name, content, limit)

    variables = _environment(env)
    result.env_keys = sorted(variables)
    return _Planned(
        result=result,
        openalgo_name=name,
        filename=filename,
        content=content,
        env=variables,
        manually_stopped=manually_stopped,
        schedule=schedule if enabled else None,
        schedule_problem=problem,
        held_back=held_back,
    )


def _flag(entry: dict[str, Any], field: str) -> bool:
    value = entry.get(field, False)
    if value is None:
        return False
    if not isinstance(value, bool):
        # Guessing whether a strategy should trade is worse than not importing it.
        raise _EntryError(f"{field} is {value!r}, expected true or false")
    return value


def _note_schedule(planned: _Planned, dry_run: bool) -> None:
    """Tell the trader what became of OpenAlgo's schedule, and what to run about it."""
    result, openalgo = planned.result, planned.result.schedule
    if openalgo is None:
        return
    if planned.schedule is not None:
        result.applied = ScheduleView.of(planned.schedule)
        note = applied_note(
            planned.schedule,
            planned.name,
            armed=result.intent is Intent.RUN,
            manually_stopped=planned.manually_stopped,
            dry_run=dry_run,
        )
    else:
        note = not_applied_note(
            openalgo, planned.name, planned.schedule_problem, held_back=planned.held_back
        )
    result.notes.append(note)


def _find_script(folder: Path, openalgo_id: str, entry: dict[str, Any]) -> Path:
    """DIR/scripts/<file_name>, else file_path (relative to the OpenAlgo root, or absolute)."""
    candidates: list[Path] = []
    file_name = entry.get("file_name")
    if isinstance(file_name, str) and _is_plain_name(file_name):
        candidates.append(folder / SCRIPTS_DIR / file_name)
    file_path = entry.get("file_path")
    if isinstance(file_path, str) and file_path.strip():
        # Written on Windows or another machine: read it in the syntax it was written in.
        windows = "\\" in file_path or PureWindowsPath(file_path).drive
        parts = PureWindowsPath(file_path).parts if windows else PurePosixPath(file_path).parts
        if windows and PureWindowsPath(file_path).is_absolute():
            pass  # a Windows absolute path names nothing here; its base name is tried below
        elif parts and parts[0] == "/":
            candidates.append(Path(*parts))
        elif ".." not in parts:
            candidates.append(folder.parent.joinpath(*parts))
        if parts and _is_plain_name(parts[-1]):
            candidates.append(folder / SCRIPTS_DIR / parts[-1])
    if not file_name and not file_path:
        candidates.append(folder / SCRIPTS_DIR / f"{openalgo_id}.py")
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    tried = ", ".join(dict.fromkeys(str(candidate) for candidate in candidates)) or "nothing"
    raise _EntryError(f"script file not found (looked for {tried})")


def _is_plain_name(name: str) -> bool:
    return bool(name) and name not in (".", "..") and not any(c in name for c in "/\\\x00")


def _environment(env: object) -> dict[str, str]:
    if env is None:
        return {}
    if not isinstance(env, dict):
        raise _EntryError(f"its {ENV_FILE} entry is a JSON {_json_type(env)}, not an object")
    variables: dict[str, str] = {}
    for key, value in env.items():
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise _EntryError(f"environment variable {key} is {_json_type(value)}, not text")
        try:
            validate_env_key(key)
            variables[key] = validate_env_value(key, str(value))
        except InvalidInputError as error:
            raise _EntryError(f"environment: {error.message}") from error
    return variables


# ----- names --------------------------------------------------------------------------


def sanitize_name(name: str, openalgo_id: str) -> str:
    """An algovisor name made from OpenAlgo's display name (which allows nearly anything)."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    cleaned = " ".join(NAME_UNSAFE.sub(" ", ascii_name).split())
    cleaned = cleaned[:MAX_NAME_CHARS].strip(" ._-")
    if not cleaned or cleaned.isdigit():
        cleaned = " ".join(NAME_UNSAFE.sub(" ", openalgo_id).split())[:MAX_NAME_CHARS]
        cleaned = cleaned.strip(" ._-") or "openalgo"
        if cleaned.isdigit():
            cleaned = f"openalgo-{cleaned}"[:MAX_NAME_CHARS]
    return validate_name(cleaned)


def _with_suffix(base: str, suffix: str) -> str:
    return validate_name(f"{base[: MAX_NAME_CHARS - len(suffix)].rstrip(' ')}{suffix}")


def _choose_name(ctx: ServiceContext, planned: _Planned, claimed: set[str]) -> None:
    """A free name, or the existing strategy this very script was imported as before."""
    result = planned.result
    base = sanitize_name(planned.openalgo_name, result.openalgo_id)
    if base != planned.openalgo_name:
        result.notes.insert(0, f"renamed from {planned.openalgo_name!r} to fit algovisor's names")
    id_suffix = "-" + sanitize_name(result.openalgo_id, "openalgo")
    candidates = [base, _with_suffix(base, id_suffix)]
    candidates += [_with_suffix(base, f"{id_suffix}-{number}") for number in range(2, 100)]
    with ctx.transaction() as session:
        for candidate in candidates:
            if candidate in claimed:
                continue
            existing = session.scalars(select(Strategy).where(Strategy.name == candidate)).first()
            if existing is None:
                claimed.add(candidate)
                planned.name = result.name = candidate
                if candidate != base:
                    result.notes.append(f"{base!r} is taken; named {candidate!r}")
                return
            version = current_version(session, existing.id)
            if version is not None and version.content == planned.content:
                # Importing the same folder again must not duplicate what already came over.
                claimed.add(candidate)
                planned.name = result.name = candidate
                result.strategy_id = existing.id
                result.status = "already_imported"
                return
    raise _EntryError(f"no free name for {base!r}")


# ----- writing ------------------------------------------------------------------------


def _write(ctx: ServiceContext, planned: _Planned) -> None:
    """Create the strategy with its schedule, variables and intent, or leave nothing behind."""
    result = planned.result
    # With a schedule or variables to set, it is created stopped and armed last, so no
    # host can run it without its variables or outside its window.
    arm_last = result.intent is Intent.RUN and bool(planned.env or planned.schedule)
    first_intent = Intent.STOP if arm_last else result.intent
    view = strategies.add(
        ctx, planned.filename, planned.content, name=planned.name, intent=first_intent
    )
    try:
        if planned.schedule is not None:
            with ctx.transaction() as session:
                strategy = strategies.resolve(session, view.id, for_update=True)
                store_schedule(strategy, planned.schedule)
                strategy.updated_at = ctx.clock.now()
        for key, value in planned.env.items():
            environment.env_set(ctx, view.id, key, value)
        if arm_last:
            strategies.start(ctx, view.id)
    except AlgovisorError as error:
        try:
            strategies.delete(ctx, view.id)
        except AlgovisorError as cleanup_error:
            raise _EntryError(
                f"{error.message}; removing the half-imported strategy {planned.name!r} "
                f"failed too: {cleanup_error.message}"
            ) from error
        raise
    result.strategy_id = view.id
