"""Web UI users: password hashes, login, session expiry and the failed-login limiter."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from algovisor.clock import FakeClock
from algovisor.db.models import User, WebSession
from algovisor.errors import AuthError, InvalidInputError, RateLimitedError
from algovisor.services import users
from algovisor.services.context import ServiceContext
from algovisor.settings import Settings

PASSWORD = "correct horse battery"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 3, 2, 4, 0, tzinfo=UTC))


@pytest.fixture
def clocked(settings: Settings, clock: FakeClock) -> Iterator[ServiceContext]:
    context = ServiceContext.open(settings, clock=clock)
    yield context
    context.close()


def login(
    ctx: ServiceContext, username: str, password: str, limiter: users.LoginLimiter
) -> tuple[str, str]:
    return users.login(ctx, username, password, "10.0.0.7", limiter=limiter)


def test_hashes_are_salted_carry_their_parameters_and_verify() -> None:
    first, second = users.hash_password(PASSWORD), users.hash_password(PASSWORD)
    assert first != second  # a random salt each time
    assert first.startswith("scrypt$n=16384,r=8,p=1$")
    assert PASSWORD not in first
    assert users.verify_password(PASSWORD, first)
    assert not users.verify_password(PASSWORD + "x", first)


def test_a_hash_made_with_other_parameters_still_verifies() -> None:
    salt = b"0123456789abcdef"
    digest = users._scrypt(PASSWORD, salt, 2**12, 4, 2)
    stored = f"scrypt$n=4096,r=4,p=2${users._b64(salt)}${users._b64(digest)}"
    assert users.verify_password(PASSWORD, stored)
    assert not users.verify_password("another password", stored)


@pytest.mark.parametrize(
    "stored",
    [
        "",
        "plain",
        "md5$n=1,r=1,p=1$AA$AA",
        "scrypt$n=4194304,r=8,p=1$AA$AA",
        "scrypt$n=1000,r=8,p=1$AA$AA",
        "scrypt$x$AA$AA",
    ],
)
def test_a_malformed_or_too_costly_hash_matches_nothing(stored: str) -> None:
    assert not users.verify_password(PASSWORD, stored)


def test_first_run_creates_admin_once(clocked: ServiceContext) -> None:
    password = users.ensure_admin(clocked)
    assert password is not None
    assert len(password) >= users.MIN_PASSWORD_LENGTH
    assert users.ensure_admin(clocked) is None
    assert [view.username for view in users.list_users(clocked)] == ["admin"]
    token, csrf = login(clocked, "admin", password, users.LoginLimiter(clocked.clock))
    assert token
    assert csrf
    assert token != csrf
    with clocked.reading() as session:
        stored = session.scalars(select(User.password_hash)).one()
        hashes = session.scalars(select(WebSession.token_hash)).all()
    assert password not in stored
    assert hashes == [users._token_hash(token)]  # the token itself is not stored


def test_wrong_password_and_unknown_user_get_the_same_error(clocked: ServiceContext) -> None:
    users.set_password(clocked, "trader", PASSWORD)
    limiter = users.LoginLimiter(clocked.clock)
    with pytest.raises(AuthError) as wrong:
        login(clocked, "trader", "not the password", limiter)
    with pytest.raises(AuthError) as unknown:
        login(clocked, "nobody", PASSWORD, limiter)
    with pytest.raises(AuthError) as malformed:
        login(clocked, "no such/user", PASSWORD, limiter)
    assert wrong.value.message == unknown.value.message == malformed.value.message
    assert wrong.value.detail == unknown.value.detail == malformed.value.detail


def test_set_password_validates_creates_and_logs_out_everywhere(clocked: ServiceContext) -> None:
    with pytest.raises(InvalidInputError, match="at least 10 characters"):
        users.set_password(clocked, "trader", "short")
    with pytest.raises(InvalidInputError, match="invalid username"):
        users.set_password(clocked, "bad name", PASSWORD)
    assert users.list_users(clocked) == []
    assert users.set_password(clocked, "trader", PASSWORD) is True
    limiter = users.LoginLimiter(clocked.clock)
    token, _ = login(clocked, "trader", PASSWORD, limiter)
    assert users.list_users(clocked)[0].active_sessions == 1
    assert users.set_password(clocked, "trader", "a brand new password") is False
    assert users.session_user(clocked, token) is None
    with pytest.raises(AuthError):
        login(clocked, "trader", PASSWORD, limiter)
    login(clocked, "trader", "a brand new password", limiter)


def test_sessions_expire_when_idle_and_at_the_absolute_limit(
    clocked: ServiceContext, clock: FakeClock
) -> None:
    users.set_password(clocked, "trader", PASSWORD)
    limiter = users.LoginLimiter(clock)
    idle, _ = login(clocked, "trader", PASSWORD, limiter)
    clock.advance(users.SESSION_IDLE - timedelta(seconds=1))
    assert users.session_user(clocked, idle) is not None
    clock.advance(users.SESSION_IDLE - timedelta(seconds=1))  # used just now: idle restarts
    assert users.session_user(clocked, idle) is not None
    clock.advance(users.SESSION_IDLE)
    assert users.session_user(clocked, idle) is None

    busy, csrf = login(clocked, "trader", PASSWORD, limiter)
    view = users.session_user(clocked, busy)
    assert view is not None
    assert view.username == "trader"
    assert view.csrf_token == csrf
    for _ in range(15):  # used every 12 hours minus a minute, past 7 days
        clock.advance(users.SESSION_IDLE - timedelta(minutes=1))
        if clock.now() >= view.expires_at:
            break
        assert users.session_user(clocked, busy) is not None
    assert users.session_user(clocked, busy) is None
    with clocked.reading() as session:  # expired sessions are deleted, not kept
        assert session.scalar(select(func.count()).select_from(WebSession)) == 0


def test_logout_ends_the_session(clocked: ServiceContext) -> None:
    users.set_password(clocked, "trader", PASSWORD)
    token, _ = login(clocked, "trader", PASSWORD, users.LoginLimiter(clocked.clock))
    users.logout(clocked, token)
    assert users.session_user(clocked, token) is None
    assert users.session_user(clocked, "made-up") is None
    assert users.session_user(clocked, None) is None


def test_failed_logins_are_limited_per_username_and_address(
    clocked: ServiceContext, clock: FakeClock
) -> None:
    users.set_password(clocked, "trader", PASSWORD)
    limiter = users.LoginLimiter(clock, max_failures=3, window_secs=300)
    for _ in range(3):
        with pytest.raises(AuthError):
            login(clocked, "trader", "not the password", limiter)
        clock.advance(10)
    with pytest.raises(RateLimitedError) as limited:  # even the right password waits
        login(clocked, "trader", PASSWORD, limiter)
    assert limited.value.retry_after_secs == 300 - 30
    # Another address, or another username, is not held back.
    users.login(clocked, "trader", PASSWORD, "10.0.0.8", limiter=limiter)
    with pytest.raises(AuthError) as other:
        login(clocked, "someone", "not the password", limiter)
    assert not isinstance(other.value, RateLimitedError)
    clock.advance(limited.value.retry_after_secs)
    login(clocked, "trader", PASSWORD, limiter)  # the window has passed
    with pytest.raises(AuthError):  # and a success clears the count
        login(clocked, "trader", "not the password", limiter)
    login(clocked, "trader", PASSWORD, limiter)
