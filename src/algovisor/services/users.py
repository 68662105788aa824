"""Web UI users: scrypt password hashes, browser sessions and a failed-login limiter.

Passwords are hashed with scrypt (memory-hard, in the standard library) and a
random salt; the parameters travel in the stored string (`scrypt$n=..,r=..,p=..$salt$hash`)
so stronger ones can be chosen later without invalidating existing hashes.

A session is a random token in an HttpOnly cookie; the database keeps only its
SHA-256 (the token has 256 bits, so a fast hash is enough), the user, a CSRF
token the browser must echo on every write, and two limits: idle and absolute.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import re
import secrets
import threading
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update

from algovisor.clock import Clock
from algovisor.db.models import User, WebSession
from algovisor.errors import AuthError, InvalidInputError, RateLimitedError
from algovisor.services.context import ServiceContext

ADMIN_USERNAME = "admin"
MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 1024  # scrypt's cost grows with the input: a bound keeps login cheap
USERNAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")

# n=2**14, r=8: 16 MiB and ~50 ms per hash, the interactive-login setting of the scrypt paper.
SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1
SCRYPT_MAX_BYTES = 2**28  # a stored hash asking for more memory is refused, not computed
SALT_BYTES = 16
HASH_BYTES = 32

SESSION_IDLE = timedelta(hours=12)
SESSION_ABSOLUTE = timedelta(days=7)
# Writing last_seen_at on every request would turn reads into writes.
LAST_SEEN_RESOLUTION = timedelta(minutes=1)

LOGIN_FAILED = "wrong username or password"


# ---- password hashing -----------------------------------------------------------------


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        password.encode(), salt=salt, n=n, r=r, p=p, maxmem=256 * r * n, dklen=HASH_BYTES
    )


def hash_password(password: str) -> str:
    """`scrypt$n=16384,r=8,p=1$<salt>$<hash>`: everything needed to check it later."""
    salt = secrets.token_bytes(SALT_BYTES)
    digest = _scrypt(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    return f"scrypt$n={SCRYPT_N},r={SCRYPT_R},p={SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    """Whether `password` matches `stored`; a malformed hash matches nothing."""
    try:
        scheme, params, salt_text, digest_text = stored.split("$")
        values = dict(item.split("=", 1) for item in params.split(","))
        n, r, p = int(values["n"]), int(values["r"]), int(values["p"])
        salt, expected = _unb64(salt_text), _unb64(digest_text)
    except (ValueError, KeyError):
        return False
    if scheme != "scrypt" or not (n > 1 and r > 0 and 0 < p <= 16):
        return False
    if n & (n - 1) or 128 * n * r > SCRYPT_MAX_BYTES:  # n a power of two, memory bounded
        return False
    candidate = _scrypt(password, salt, n, r, p)
    return len(candidate) == len(expected) and secrets.compare_digest(candidate, expected)


@functools.cache
def _dummy_hash() -> str:
    """A hash to check unknown usernames against, so they take as long as wrong passwords.

    Made on first use, not at import: every CLI command imports this module.
    """
    return hash_password(secrets.token_urlsafe(16))


# ---- users ----------------------------------------------------------------------------


@dataclass(frozen=True)
class UserView:
    username: str
    created_at: datetime
    password_changed_at: datetime
    active_sessions: int


def check_username(username: str) -> str:
    if not USERNAME_PATTERN.fullmatch(username):
        raise InvalidInputError(
            f"invalid username {username[:64]!r}",
            detail="Use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit.",
        )
    return username


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInputError(
            f"the password is too short: use at least {MIN_PASSWORD_LENGTH} characters"
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise InvalidInputError(
            f"the password is too long: use at most {MAX_PASSWORD_LENGTH} characters"
        )
    if any(character in password for character in "\r\n\x00"):
        raise InvalidInputError("the password cannot contain line breaks or NUL characters")
    return password


def ensure_admin(ctx: ServiceContext) -> str | None:
    """On first run (no user at all), create `admin` with a random password and return it.

    The caller prints it once; only its hash is kept. None when any user exists.
    """
    with ctx.reading() as session:
        if session.scalars(select(User.id)).first() is not None:
            return None
    password = secrets.token_urlsafe(15)  # 20 characters, 120 bits
    now = ctx.clock.now()
    with ctx.transaction() as session:
        if session.scalars(select(User.id)).first() is not None:
            return None  # another process created one meanwhile
        session.add(
            User(
                username=ADMIN_USERNAME,
                password_hash=hash_password(password),
                created_at=now,
                password_changed_at=now,
            )
        )
    return password


def set_password(ctx: ServiceContext, username: str, password: str) -> bool:
    """Set a user's password, creating the user if missing; returns whether it was created.

    Every session of the user ends: a changed password logs out every browser.
    """
    check_username(username)
    check_password(password)
    password_hash = hash_password(password)
    now = ctx.clock.now()
    with ctx.transaction() as session:
        user = session.scalars(select(User).where(User.username == username)).first()
        if user is None:
            session.add(
                User(
                    username=username,
                    password_hash=password_hash,
                    created_at=now,
                    password_changed_at=now,
                )
            )
            return True
        user.password_hash = password_hash
        user.password_changed_at = now
        session.execute(delete(WebSession).where(WebSession.user_id == user.id))
        return False


def list_users(ctx: ServiceContext) -> list[UserView]:
    now = ctx.clock.now()
    live = (
        select(WebSession.user_id, func.count().label("sessions"))
        .where(WebSession.expires_at > now, WebSession.last_seen_at > now - SESSION_IDLE)
        .group_by(WebSession.user_id)
        .subquery()
    )
    query = (
        select(User, func.coalesce(live.c.sessions, 0))
        .outerjoin(live, live.c.user_id == User.id)
        .order_by(User.username)
    )
    with ctx.reading() as session:
        return [
            UserView(user.username, user.created_at, user.password_changed_at, int(sessions))
            for user, sessions in session.execute(query)
        ]


# ---- failed-login limiter -------------------------------------------------------------


class LoginLimiter:
    """At most `max_failures` failed logins per (username, client IP) per `window_secs`.

    In memory, per process: a restart forgets the counts, and each host process
    counts its own. That is enough against guessing over HTTP, where every try
    costs a round trip and an scrypt hash.
    """

    # Beyond this, keys whose failures have all aged out are dropped. Live keys stay: each
    # failure costs the guesser an scrypt hash, which bounds how many a window can hold.
    MAX_KEYS = 10_000

    def __init__(self, clock: Clock, max_failures: int = 5, window_secs: float = 300.0) -> None:
        self._clock = clock
        self._max_failures = max_failures
        self._window_secs = window_secs
        self._failures: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()

    def retry_after(self, username: str, client_ip: str) -> int:
        """Seconds until this pair may try again; 0 when it may now."""
        now = self._clock.monotonic()
        with self._lock:
            failures = self._recent(self._key(username, client_ip), now)
            if len(failures) < self._max_failures:
                return 0
            return max(1, int(failures[0] + self._window_secs - now + 0.999))

    def failed(self, username: str, client_ip: str) -> None:
        now = self._clock.monotonic()
        with self._lock:
            key = self._key(username, client_ip)
            self._recent(key, now)
            self._failures.setdefault(key, deque()).append(now)
            if len(self._failures) > self.MAX_KEYS:
                for stale in [k for k in self._failures if not self._recent(k, now)]:
                    del self._failures[stale]

    def succeeded(self, username: str, client_ip: str) -> None:
        with self._lock:
            self._failures.pop(self._key(username, client_ip), None)

    @staticmethod
    def _key(username: str, client_ip: str) -> tuple[str, str]:
        return username.casefold()[:MAX_PASSWORD_LENGTH], client_ip

    def _recent(self, key: tuple[str, str], now: float) -> deque[float]:
        failures = self._failures.get(key, deque())
        while failures and failures[0] <= now - self._window_secs:
            failures.popleft()
        return failures


# ---- sessions -------------------------------------------------------------------------


@dataclass(frozen=True)
class SessionView:
    username: str
    csrf_token: str
    expires_at: datetime


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def login(
    ctx: ServiceContext,
    username: str,
    password: str,
    client_ip: str,
    *,
    limiter: LoginLimiter,
) -> tuple[str, str]:
    """A new session for a correct username and password: (session token, CSRF token).

    An unknown user and a wrong password get the same error after the same work,
    so a guesser learns nothing about which usernames exist.
    """
    wait = limiter.retry_after(username, client_ip)
    if wait:
        raise RateLimitedError(
            "too many failed logins",
            retry_after_secs=wait,
            detail=f"Try again in {wait} seconds.",
        )
    stored = None
    if len(password) <= MAX_PASSWORD_LENGTH and USERNAME_PATTERN.fullmatch(username):
        with ctx.reading() as session:
            user = session.scalars(select(User).where(User.username == username)).first()
            if user is not None:
                stored = (user.id, user.password_hash)
    checked_hash = stored[1] if stored else _dummy_hash()
    password_ok = verify_password(password[:MAX_PASSWORD_LENGTH], checked_hash)
    if stored is None or not password_ok:
        limiter.failed(username, client_ip)
        raise AuthError(LOGIN_FAILED)
    limiter.succeeded(username, client_ip)
    token = secrets.token_urlsafe(32)
    csrf_token = secrets.token_urlsafe(32)
    now = ctx.clock.now()
    with ctx.transaction() as session:
        # Each login sweeps the sessions that have expired, so the table stays small.
        session.execute(
            delete(WebSession).where(
                (WebSession.expires_at <= now) | (WebSession.last_seen_at <= now - SESSION_IDLE)
            )
        )
        session.add(
            WebSession(
                token_hash=_token_hash(token),
                user_id=stored[0],
                csrf_token=csrf_token,
                created_at=now,
                expires_at=now + SESSION_ABSOLUTE,
                last_seen_at=now,
            )
        )
    return token, csrf_token


def session_user(ctx: ServiceContext, token: str | None) -> SessionView | None:
    """The session a cookie's token names, if it is still live (idle 12 h, absolute 7 days)."""
    if not token or len(token) > 256:
        return None
    token_hash = _token_hash(token)
    now = ctx.clock.now()
    with ctx.reading() as session:
        row = session.execute(
            select(WebSession, User.username)
            .join(User, User.id == WebSession.user_id)
            .where(WebSession.token_hash == token_hash)
        ).first()
        if row is None:
            return None
        web_session, username = row
        expires_at, last_seen_at = web_session.expires_at, web_session.last_seen_at
        view = SessionView(username, web_session.csrf_token, expires_at)
    if now >= expires_at or now - last_seen_at >= SESSION_IDLE:
        with ctx.transaction() as session:
            session.execute(delete(WebSession).where(WebSession.token_hash == token_hash))
        return None
    if now - last_seen_at > LAST_SEEN_RESOLUTION:
        with ctx.transaction() as session:
            session.execute(
                update(WebSession)
                .where(WebSession.token_hash == token_hash)
                .values(last_seen_at=now)
            )
    return view


def logout(ctx: ServiceContext, token: str | None) -> None:
    """End the session this token names; an unknown token is already logged out."""
    if not token:
        return
    with ctx.transaction() as session:
        session.execute(delete(WebSession).where(WebSession.token_hash == _token_hash(token)))
