"""Immutable script versions: a new one for every edit and rollback, the newest is current."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from algovisor.db.models import Strategy, StrategyVersion
from algovisor.db.queries import current_version
from algovisor.errors import NotFoundError
from algovisor.services.context import ServiceContext
from algovisor.services.strategies import (
    add_version,
    refuse_while_running,
    resolve,
)
from algovisor.services.validation import MAX_DATABASE_INT, validate_script
from algovisor.services.views import VersionView


def edit(ctx: ServiceContext, ref: str | int, filename: str, content: bytes) -> VersionView:
    """A new current version of the script."""
    safe_filename = validate_script(filename, content, ctx.settings.max_script_bytes)
    now = ctx.clock.now()
    with ctx.transaction() as session:
        strategy = resolve(session, ref, for_update=True)
        refuse_while_running(session, strategy, "edit")
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
