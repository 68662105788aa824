"""The script text the web UI's editor opens (`GET /api/strategies/{ref}/script`), and saving
an edit made on an older version than the current one (`base_version`)."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi.testclient import TestClient

from algovisor.services.context import ServiceContext
from tests.api.test_strategies_api import added, state

Json = dict[str, Any]

FIRST = "# first\nprint('v1: ünïcode ₹')\n"
SECOND = "# second\nprint('v2')\n"


def save(client: TestClient, ref: str, body: str, **form: str) -> httpx.Response:
    files = {"file": ("edited.py", body.encode())}
    return client.put(f"/api/strategies/{ref}/script", files=files, data=form)


def test_the_script_of_the_current_and_of_a_given_version(client: TestClient) -> None:
    added(client, "reader", FIRST)
    assert client.get("/api/strategies/reader/script").json() == {
        "version": 1,
        "filename": "loop.py",
        "content": FIRST,
        "current": True,
    }
    saved = save(client, "reader", SECOND)
    assert saved.status_code == 200, saved.text
    assert saved.json()["number"] == 2

    assert client.get("/api/strategies/reader/script").json() == {
        "version": 2,
        "filename": "edited.py",
        "content": SECOND,
        "current": True,
    }
    old: Json = client.get("/api/strategies/reader/script", params={"version": 1}).json()
    assert old == {"version": 1, "filename": "loop.py", "content": FIRST, "current": False}


def test_unknown_versions_and_strategies_are_a_404_and_bad_numbers_a_422(
    client: TestClient,
) -> None:
    added(client, "lonely")
    missing = client.get("/api/strategies/lonely/script", params={"version": 2})
    assert missing.status_code == 404, missing.text
    assert "no version 2" in missing.json()["error"]
    huge = client.get("/api/strategies/lonely/script", params={"version": 2**40})
    assert huge.status_code == 404, huge.text
    assert client.get("/api/strategies/nobody/script").status_code == 404
    zero = client.get("/api/strategies/lonely/script", params={"version": 0})
    assert zero.status_code == 422, zero.text
    assert zero.json()["field"] == "version"


def test_an_edit_of_an_outdated_version_is_refused_and_stores_nothing(
    ctx: ServiceContext, client: TestClient
) -> None:
    added(client, "shared", FIRST)
    assert save(client, "shared", SECOND).status_code == 200  # someone else saved version 2
    before = state(ctx)

    stale = save(client, "shared", "# made on version 1\n", base_version="1")
    assert stale.status_code == 409, stale.text
    body: Json = stale.json()
    assert body["field"] == "base_version"
    assert "version 2" in body["error"]
    assert state(ctx) == before

    current = save(client, "shared", "# made on version 2\n", base_version="2")
    assert current.status_code == 200, current.text
    assert current.json()["number"] == 3
    assert client.get("/api/strategies/shared/script").json()["content"] == "# made on version 2\n"
