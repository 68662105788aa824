"""Secret environment variables reach the strategy and nowhere else: not the database
(in plaintext), not a log file, not an API response; the key file is private."""

from __future__ import annotations

import hashlib
import signal
import stat
import uuid
from pathlib import Path

import httpx
from sqlalchemy import MetaData, select
from sqlalchemy.engine import make_url

from algovisor.db.models import StrategyEnvVar
from algovisor.services.context import ServiceContext
from tests.conftest import HostProcess, wait_until

PRINTS_A_DIGEST = """
import hashlib, os, time
token = os.environ["BROKER_TOKEN"]
print("token sha256", hashlib.sha256(token.encode()).hexdigest(), flush=True)
print("symbol", os.environ["SYMBOL"], flush=True)
while True:
    time.sleep(0.1)
"""


def files_under(root: Path) -> list[Path]:
    return [path for path in root.rglob("*") if path.is_file()]


def database_dump(ctx: ServiceContext) -> str:
    """Every row of every table, as text: what a stolen backup would show."""
    metadata = MetaData()
    with ctx.engine.connect() as connection:
        metadata.reflect(bind=connection)
        assert "strategy_env_vars" in metadata.tables
        return "\n".join(
            repr(connection.execute(select(table)).all()) for table in metadata.sorted_tables
        )


def test_a_secret_reaches_the_strategy_and_nothing_else(
    ctx: ServiceContext, host: HostProcess
) -> None:
    secret = f"s3cr3t-{uuid.uuid4().hex}"
    digest = hashlib.sha256(secret.encode()).hexdigest()
    host.start()
    responses: list[httpx.Response] = []

    def keep(response: httpx.Response) -> httpx.Response:
        assert response.status_code < 500, response.text
        responses.append(response)
        return response

    with host.client() as http:
        keep(http.post("/api/strategies", files={"file": ("vault.py", PRINTS_A_DIGEST.encode())}))
        stored = keep(
            http.put(
                "/api/strategies/vault/env/BROKER_TOKEN", json={"value": secret, "secret": True}
            )
        )
        assert stored.json() == {"key": "BROKER_TOKEN", "value": "****", "secret": True}
        keep(http.put("/api/strategies/vault/env/SYMBOL", json={"value": "NIFTY"}))
        # Wrong requests carrying the secret must not echo it back either.
        keep(http.put("/api/strategies/vault/env/1BAD", json={"value": secret, "secret": True}))
        keep(http.put("/api/strategies/vault/env/KEY", json={"value": [secret], "secret": True}))
        keep(http.put("/api/strategies/vault/env/KEY", json={"value": secret, "secret": secret}))

        keep(http.post("/api/strategies/vault/start"))

        def digest_logged() -> bool:
            lines = keep(http.get("/api/strategies/vault/logs")).json().get("lines", [])
            return f"token sha256 {digest}" in lines

        # The strategy got the real value (it prints only a digest of it).
        wait_until(digest_logged, timeout_secs=15, message="the strategy's digest line")
        running = keep(http.get("/api/strategies/vault")).json()
        assert running["state"] == "running"
        assert "symbol NIFTY" in keep(http.get("/api/strategies/vault/logs")).json()["lines"]

        keep(http.get("/api/strategies"))
        keep(http.get(f"/api/strategies/{running['id']}"))
        keep(http.get("/api/strategies/vault/versions"))
        keep(http.get("/api/status"))
        env = keep(http.get("/api/strategies/vault/env")).json()
        assert {"key": "BROKER_TOKEN", "value": "****", "secret": True} in env
        assert {"key": "SYMBOL", "value": "NIFTY", "secret": False} in env

        keep(http.post("/api/strategies/vault/stop"))
        wait_until(
            lambda: keep(http.get("/api/strategies/vault")).json()["state"] == "stopped",
            message="stopped",
        )
        keep(http.get("/api/strategies/vault"))
    host.kill(signal.SIGTERM)

    for response in responses:
        assert secret not in response.text, (response.request.url, response.text)

    # On disk: database files (db, -wal, -shm), host log, run logs, scripts, run records.
    scanned = [*files_under(ctx.settings.data_dir), host.log_path]
    for path in scanned:
        if path.name != "secret.key":
            assert secret.encode() not in path.read_bytes(), path
    names = {path.name for path in scanned}
    assert "host.log" in names
    assert any(path.suffix == ".log" and "logs" in path.parts for path in scanned)
    if make_url(ctx.settings.resolved_database_url).get_backend_name() == "sqlite":
        assert "algovisor.db" in names

    assert secret not in database_dump(ctx)
    with ctx.transaction() as session:
        row = session.scalars(
            select(StrategyEnvVar).where(StrategyEnvVar.key == "BROKER_TOKEN")
        ).one()
        assert row.is_secret
        # Stored, but only as a token that the key file opens.
        assert ctx.secrets.decrypt(row.value) == secret

    key_file = ctx.settings.data_dir / "secret.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(ctx.settings.data_dir.stat().st_mode) == 0o700
