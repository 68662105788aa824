"""Immutable script versions: a new one for every edit and rollback, the newest is current."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from algovisor.db.models import Strategy, StrategyVersion
from algovisor.db.queries import current_version
from algovisor.errors import ConflictError, NotFoundError
from algovisor.services.context import ServiceContext
from algovisor.services.strategies import (
    add_version,
    refuse_while_running,
    resolve,
)
from algovisor.services.validation import MAX_DATABASE_INT, validate_script
from algovisor.services.views import ScriptView, VersionView


def edit(
    ctx: ServiceContext,
    ref: str | int,
    filename: str,
    content: bytes,
    *,
    base_version: int | None = None,
) -> VersionView:
    """A new current version of the script.

    `base_version`, when given, is the version the edit was made from: if another version
    became current since, the edit is refused rather than silently replacing it.
    """
    safe_filename = validate_script(filename, content, ctx.settings.max_script_bytes)
    now = ctx.clock.now()
    with ctx.transaction() as session:
        strategy = resolve(session, ref, for_update=True)
        refuse_while_running(session, strategy, "edit")
        if base_version is not None:
            latest = current_version(session, strategy.id)
            if latest is not None and latest.number != base_version:
                raise ConflictError(
                    f"{strategy.name!r} is at version {latest.number} now; "
                    f"this edit was made on version {base_version}",
                    detail="Someone saved another version meanwhile. Compare them on the "
                    "strategy's page; saving again replaces it with this edit.",
                    field="base_version",
                )
        version = add_version(session, strategy, safe_filename, content, "edited", now)
        session.flush()
        return _version_view(version, current=True)


def versions(ctx: ServiceContext, ref: str | int) -> list[VersionView]:
    with ctx.reading() as session:
        strategy = resolve(session, ref)
        rows = session.scalars(
            select(StrategyVersion)
            .where(StrategyVersion.strategy_id == strategy.id)
            .order_by(StrategyVersion.number)
        ).all()
        return [_version_view(row, current=row is rows[-1]) for row in rows]


def script(ctx: ServiceContext, ref: str | int, number: int | None = None) -> ScriptView:
    """A version's script as text (the current one by default)."""
    with ctx.reading() as session:
        strategy = resolve(session, ref)
        version = _version(session, strategy, number)
        latest = current_version(session, strategy.id)
        return ScriptView(
            version=version.number,
            filename=version.filename,
            # Stored scripts were checked to be UTF-8 when they came in.
            content=version.content.decode("utf-8", errors="replace"),
            current=latest is not None and latest.id == version.id,
        )


def version_content(ctx: ServiceContext, ref: str | int, number: int | None = None) -> bytes:
    with ctx.reading() as session:
        strategy = resolve(session, ref)
        return _version(session, strategy, number).content


def _version(session: Session, strategy: Strategy, number: int | None) -> StrategyVersion:
    if number is None:
        version = current_version(session, strategy.id)
    elif not 1 <= number <= MAX_DATABASE_INT:
        version = None
    else:
        version = session.scalars(
            select(StrategyVersion).where(
                StrategyVersion.strategy_id == strategy.id, StrategyVersion.number == number
            )
        ).first()
    if version is None:
        raise NotFoundError(
            f"{strategy.name!r} has no version {number}",
            detail=f"`algovisor strategy versions {strategy.name}` lists them.",
        )
    return version


def rollback(ctx: ServiceContext, ref: str | int, number: int) -> VersionView:
    """Make an old version current again, as a new version (history is never rewritten)."""
    now = ctx.clock.now()
    with ctx.transaction() as session:
        strategy = resolve(session, ref, for_update=True)
        refuse_while_running(session, strategy, "roll back")
        old = _version(session, strategy, number)
        version = add_version(
            session, strategy, old.filename, old.content, f"rollback to version {number}", now
        )
        session.flush()
        return _version_view(version, current=True)


def _version_view(version: StrategyVersion, *, current: bool) -> VersionView:
    return VersionView(
        number=version.number,
        filename=version.filename,
        sha256=version.sha256,
        size_bytes=version.size_bytes,
        note=version.note,
        created_at=version.created_at,
        current=current,
    )
