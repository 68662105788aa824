"""A database that is locked or unreachable: the API answers 503 with a clear JSON error,
changes nothing, and works again once the database is back."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import make_url

from algovisor.api.app import create_app
from algovisor.db import engine as engine_module
from algovisor.db.engine import DatabaseUnavailableError, make_engine
from algovisor.services import api_keys, environment
from algovisor.services import strategies as strategy_service
from algovisor.services import versions as version_service
from algovisor.services.context import ServiceContext
from algovisor.settings import Settings
from tests.conftest import exclusive_lock

SCRIPT = b"import time\nwhile True:\n    time.sleep(0.1)\n"
# A closed port: nothing listens on 1, so connecting fails at once.
UNREACHABLE_URL = "postgresql+psycopg://algovisor:hunter2@127.0.0.1:1/algovisor"


def assert_unavailable(response: httpx.Response, fragment: str) -> None:
    assert response.status_code == 503, response.text
    body = response.json()
    assert set(body) == {"error", "detail", "field"}
    assert fragment in body["error"], body
    assert body["detail"]
    assert response.headers["retry-after"]
    assert "Traceback" not in response.text


def test_a_locked_sqlite_database_is_a_503_and_changes_nothing(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    if make_url(settings.resolved_database_url).get_backend_name() != "sqlite":
        pytest.skip("file locking is SQLite's; PostgreSQL has row locks")
    # A request waits this long for the lock before giving up; the default 5 s is for people.
    monkeypatch.setattr(engine_module, "SQLITE_BUSY_TIMEOUT_MS", 200)
    ctx = ServiceContext.open(settings)
    key, _ = api_keys.create(ctx, "tests")
    try:
        with TestClient(create_app(ctx), headers={"X-API-Key": key}) as client:
            assert (
                client.post("/api/strategies", files={"file": ("s.py", SCRIPT)}).status_code == 201
            )
            assert client.get("/api/strategies").status_code == 200  # key use recorded
            before = strategy_service.show(ctx, "s")

            database_path = Path(make_url(settings.resolved_database_url).database or "")
            started = time.monotonic()
            with exclusive_lock(database_path):
                writes = [
                    client.post("/api/strategies", files={"file": ("other.py", SCRIPT)}),
                    client.post("/api/strategies/s/start"),
                    client.put("/api/strategies/s/env/KEY", json={"value": "v"}),
                    client.put("/api/strategies/s/script", files={"file": ("s.py", b"x = 2\n")}),
                    client.post("/api/strategies/s/rollback", json={"version": 1}),
                    client.delete("/api/strategies/s"),
                ]
                for response in writes:
                    assert_unavailable(response, "is locked")
                # Reads may get through (WAL) or wait for the write lock; either way an
                # answer, never a 500.
                listed = client.get("/api/strategies")
                if listed.status_code != 200:
                    assert_unavailable(listed, "is locked")
            assert time.monotonic() - started < 5, "each request must give up quickly"

            after = strategy_service.show(ctx, "s")
            assert after == before
            assert [view.name for view in strategy_service.list_strategies(ctx)] == ["s"]
            assert environment.env_list(ctx, "s") == []
            assert len(version_service.versions(ctx, "s")) == 1
            # And once the lock is gone, the same request works.
            assert client.post("/api/strategies/s/start").status_code == 200
    finally:
        ctx.close()


def unreachable_context(tmp_path: Path) -> ServiceContext:
    """What a running host holds when its PostgreSQL server goes away."""
    settings = Settings(data_dir=tmp_path / "data", database_url=UNREACHABLE_URL)
    return ServiceContext.from_engine(settings, make_engine(UNREACHABLE_URL))


def test_an_unreachable_database_is_a_503_without_the_password(tmp_path: Path) -> None:
    ctx = unreachable_context(tmp_path)
    with TestClient(create_app(ctx), headers={"X-API-Key": "av_some-key"}) as client:
        assert client.get("/api/health").status_code == 200  # the process itself is alive
        for response in (
            client.get("/api/strategies"),
            client.get("/api/status"),
            client.post("/api/strategies/s/start"),
            client.post("/api/strategies", files={"file": ("s.py", SCRIPT)}),
        ):
            assert_unavailable(response, "cannot use the database")
            assert "127.0.0.1:1" in response.json()["error"]
            assert "hunter2" not in response.text
    ctx.close()


def test_opening_an_unreachable_database_says_so(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", database_url=UNREACHABLE_URL)
    with pytest.raises(DatabaseUnavailableError) as raised:
        ServiceContext.open(settings)
    assert "cannot use the database" in raised.value.message
    assert "hunter2" not in raised.value.message
