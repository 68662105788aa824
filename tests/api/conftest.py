"""Fixtures for the REST API tests: the real app in-process, with a real API key."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from algovisor.api.app import create_app
from algovisor.services import api_keys
from algovisor.services.context import ServiceContext

# Small, so that "over the limit" costs a few kilobytes, not a megabyte per test.
SCRIPT_LIMIT_BYTES = 4096


@pytest.fixture
def script_limit_bytes() -> int:
    return SCRIPT_LIMIT_BYTES


@pytest.fixture
def api_key(ctx: ServiceContext) -> str:
    key, _ = api_keys.create(ctx, "tests")
    return key


@pytest.fixture
def client(ctx: ServiceContext, api_key: str) -> Iterator[TestClient]:
    """The API as a trader's script calls it, authenticated. Server errors are raised, so a
    500 fails the test with its traceback instead of hiding behind a status code."""
    with TestClient(create_app(ctx), headers={"X-API-Key": api_key}) as test_client:
        yield test_client
