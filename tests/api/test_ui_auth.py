"""The web UI's login over HTTP: the session cookie, CSRF on writes, and the API key still."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from algovisor.api.app import create_app
from algovisor.services import environment, users
from algovisor.services import strategies as strategy_service
from algovisor.services.context import ServiceContext
from tests.api.test_strategies_api import (
    LOOPING,
    assert_error,
    path_values,
    protected_routes,
    state,
)

PASSWORD = "correct horse battery"
COOKIE = "algovisor_session"


@pytest.fixture
def browser(ctx: ServiceContext) -> Iterator[TestClient]:
    """A browser without an API key, for a user `trader`."""
    users.set_password(ctx, "trader", PASSWORD)
    with TestClient(create_app(ctx)) as test_client:
        yield test_client


def log_in(browser: TestClient) -> str:
    response = browser.post("/api/ui/login", json={"username": "trader", "password": PASSWORD})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["username"] == "trader"
    csrf: str = body["csrf_token"]
    return csrf


def test_login_sets_a_strict_http_only_cookie_and_session_answers(browser: TestClient) -> None:
    assert_error(browser.get("/api/ui/session"), 401, "not logged in")
    response = browser.post("/api/ui/login", json={"username": "trader", "password": PASSWORD})
    assert response.status_code == 200, response.text
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=")
    flags = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "samesite=strict", "path=/"} <= flags
    assert "secure" not in flags  # plain http on 127.0.0.1: a Secure cookie would never return
    assert PASSWORD not in response.text
    session = browser.get("/api/ui/session")
    assert session.status_code == 200
    assert session.json() == response.json()


def test_the_cookie_is_secure_over_https(ctx: ServiceContext) -> None:
    users.set_password(ctx, "trader", PASSWORD)
    with TestClient(create_app(ctx), base_url="https://testserver") as secure_browser:
        response = secure_browser.post(
            "/api/ui/login", json={"username": "trader", "password": PASSWORD}
        )
    assert response.status_code == 200
    assert "secure" in {part.strip().lower() for part in response.headers["set-cookie"].split(";")}


def test_wrong_password_and_unknown_user_get_the_same_401(browser: TestClient) -> None:
    wrong = browser.post("/api/ui/login", json={"username": "trader", "password": "not it!!!!"})
    unknown = browser.post("/api/ui/login", json={"username": "nobody", "password": PASSWORD})
    assert_error(wrong, 401, "wrong username or password")
    assert wrong.json() == unknown.json()
    assert unknown.status_code == 401
    assert "set-cookie" not in wrong.headers
    assert "set-cookie" not in unknown.headers
    assert_error(browser.post("/api/ui/login", json={"username": "trader"}), 422, "invalid")


def test_failed_logins_are_rate_limited_with_retry_after(browser: TestClient) -> None:
    for _ in range(5):
        response = browser.post("/api/ui/login", json={"username": "trader", "password": "x" * 12})
        assert response.status_code == 401
    limited = browser.post("/api/ui/login", json={"username": "trader", "password": PASSWORD})
    assert_error(limited, 429, "too many failed logins")
    assert 0 < int(limited.headers["retry-after"]) <= 300
    assert "set-cookie" not in limited.headers


def test_logout_needs_the_csrf_token_then_ends_the_session(browser: TestClient) -> None:
    csrf = log_in(browser)
    token = browser.cookies[COOKIE]
    assert_error(browser.post("/api/ui/logout"), 403, "CSRF token missing or wrong")
    assert browser.get("/api/ui/session").status_code == 200
    response = browser.post("/api/ui/logout", headers={"X-CSRF-Token": csrf})
    assert response.status_code == 204
    assert (
        f'{COOKIE}=""' in response.headers["set-cookie"]
        or "Max-Age=0" in (response.headers["set-cookie"])
    )
    assert COOKIE not in browser.cookies
    assert_error(browser.get("/api/ui/session"), 401, "not logged in")
    # The old cookie, replayed, is dead on the server too.
    browser.cookies.set(COOKIE, token)
    assert_error(browser.get("/api/strategies"), 401, "not logged in")


def test_api_routes_take_the_cookie_and_writes_need_csrf(
    ctx: ServiceContext, browser: TestClient, api_key: str
) -> None:
    existing = strategy_service.add(ctx, "loop.py", LOOPING.encode())
    assert_error(browser.get("/api/strategies"), 401, "missing API key")
    csrf = log_in(browser)
    listed = browser.get("/api/strategies")
    assert listed.status_code == 200
    assert [item["name"] for item in listed.json()] == [existing.name]

    path = f"/api/strategies/{existing.id}/env/SYMBOL"
    refused = browser.put(path, json={"value": "NIFTY"})
    assert_error(refused, 403, "CSRF token missing or wrong")
    wrong = browser.put(path, json={"value": "NIFTY"}, headers={"X-CSRF-Token": "x" + csrf})
    assert_error(wrong, 403, "CSRF token missing or wrong")
    assert environment.env_list(ctx, existing.id) == []
    accepted = browser.put(path, json={"value": "NIFTY"}, headers={"X-CSRF-Token": csrf})
    assert accepted.status_code == 200, accepted.text
    assert [item.key for item in environment.env_list(ctx, existing.id)] == ["SYMBOL"]

    # A script's X-API-Key works as before, and needs no CSRF token.
    with TestClient(create_app(ctx), headers={"X-API-Key": api_key}) as script:
        assert script.get("/api/strategies").status_code == 200
        removed = script.delete(path)
        assert removed.status_code == 200, removed.text
    # A wrong key is judged by itself, even beside a good cookie.
    assert_error(
        browser.get("/api/strategies", headers={"X-API-Key": "av_" + "x" * 43}),
        401,
        "invalid API key",
    )


def test_no_write_route_accepts_the_cookie_without_csrf(
    ctx: ServiceContext, browser: TestClient
) -> None:
    existing = strategy_service.add(ctx, "loop.py", LOOPING.encode())
    environment.env_set(ctx, existing.id, "SYMBOL", "NIFTY")
    routes = [
        (method, template)
        for method, template in protected_routes(ctx)
        if method in {"POST", "PUT", "PATCH", "DELETE"} and not template.startswith("/api/ui/")
    ]
    assert ("POST", "/api/strategies") in routes
    assert len(routes) >= 10
    before = state(ctx)
    log_in(browser)
    for method, template in routes:
        response = browser.request(method, template.format(**path_values(existing.id)))
        assert_error(response, 403, "CSRF token missing or wrong")
    assert state(ctx) == before


def test_an_expired_or_forged_cookie_is_refused(browser: TestClient) -> None:
    browser.cookies.set(COOKIE, "forged-token")
    assert_error(browser.get("/api/strategies"), 401, "not logged in")
    assert_error(browser.get("/api/ui/session"), 401, "not logged in")
    assert_error(browser.post("/api/ui/logout", headers={"X-CSRF-Token": "x"}), 401, "not")
