"""A row lock held elsewhere on PostgreSQL gives a clear 'busy' error, never a hang."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from algovisor.db.engine import DatabaseUnavailableError
from algovisor.services import strategies
from algovisor.services.context import ServiceContext


def test_a_locked_strategy_row_is_reported_busy_on_postgresql(
    ctx: ServiceContext, write_script: Callable[[str, str], Path]
) -> None:
    if ctx.engine.dialect.name != "postgresql":
        pytest.skip("row locks with lock_timeout are PostgreSQL's; SQLite has its own test")
    view = strategies.add(ctx, "s.py", write_script("s.py", "print(1)\n").read_bytes())
    other = create_engine(ctx.settings.resolved_database_url)
    try:
        with other.connect() as holder:
            holder.execute(
                text("SELECT id FROM strategies WHERE id = :id FOR UPDATE"), {"id": view.id}
            )
            started = time.monotonic()
            with pytest.raises(DatabaseUnavailableError, match="lock"):
                strategies.start(ctx, view.id)
            assert time.monotonic() - started < 15
            holder.rollback()
    finally:
        other.dispose()
    # Nothing was changed by the refused request, and it works once the lock is gone.
    assert strategies.show(ctx, view.id).intent == "stop"
    assert strategies.start(ctx, view.id).strategy.intent == "run"
