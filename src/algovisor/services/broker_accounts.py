"""Broker accounts: the paper broker's API key, and the OpenAlgo server algovisor trades through.

The paper key is made on first use (the host makes it at start), kept as a
Fernet token so `algovisor broker api-key` can print it again, and checked by
its SHA-256 on every request.

The upstream (broker `openalgo`) is a real OpenAlgo server for live trading:
its URL, and its API key as a Fernet token, in the `openalgo` row. The URL is
stored bare (no user name, password or query: it is shown and logged) and the
key is only ever decrypted to be sent to that server or given to strategies.
"""

from __future__ import annotations

import hmac
import unicodedata
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from algovisor.brokers.paper import BROKER as PAPER
from algovisor.brokers.upstream import BROKER as UPSTREAM
from algovisor.brokers.upstream import OpenAlgoUpstream, base_url
from algovisor.db.models import BrokerAccount, MasterContractStatus
from algovisor.errors import InvalidInputError
from algovisor.security.api_keys import generate_api_key, hash_api_key
from algovisor.services.context import ServiceContext

MAX_KEY_CHARS = 256  # OpenAlgo's own limit on `apikey`
CHECK_TIMEOUT_SECS = 10.0


def paper_api_key(ctx: ServiceContext) -> str:
    """The paper broker's API key, made on first use."""
    with ctx.reading() as session:
        row = session.get(BrokerAccount, PAPER)
        if row is not None and row.api_key_secret is not None:
            return ctx.secrets.decrypt(row.api_key_secret)
    key = generate_api_key()
    try:
        with ctx.transaction() as session:
            session.add(
                BrokerAccount(
                    broker=PAPER,
                    api_key_secret=ctx.secrets.encrypt(key),
                    api_key_hash=hash_api_key(key),
                    created_at=ctx.clock.now(),
                )
            )
    except IntegrityError:  # made meanwhile by another process: that one stands
        return paper_api_key(ctx)
    return key


def paper_key_hash(ctx: ServiceContext) -> str | None:
    """The SHA-256 of the paper broker's key, None until it is made."""
    with ctx.reading() as session:
        return session.scalar(
            select(BrokerAccount.api_key_hash).where(BrokerAccount.broker == PAPER)
        )


def is_paper_api_key(ctx: ServiceContext, key: str, stored: str | None = None) -> bool:
    """Whether `key` is the paper broker's (compared in constant time); `stored` is its
    hash if the caller keeps it."""
    stored = stored if stored is not None else paper_key_hash(ctx)
    return stored is not None and hmac.compare_digest(stored, hash_api_key(key))


class PaperKey:
    """Checks a request's key against the paper broker's, reading its hash again only
    every MEMORY_SECS (not on every request)."""

    MEMORY_SECS = 10.0

    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self._hash: str | None = None
        self._read_at = 0.0

    def accepts(self, key: str) -> bool:
        now = self.ctx.clock.monotonic()
        if self._hash is None or now - self._read_at > self.MEMORY_SECS:
            self._hash = paper_key_hash(self.ctx)
            self._read_at = now
        return is_paper_api_key(self.ctx, key, self._hash)


# ----- the upstream OpenAlgo server -----------------------------------------------------


@dataclass(frozen=True)
class UpstreamAccount:
    """The configured OpenAlgo server: its URL and API key (never in repr)."""

    url: str
    key: str = field(repr=False)

    def client(
        self, timeout_secs: float, connect_timeout_secs: float | None = None
    ) -> OpenAlgoUpstream:
        return OpenAlgoUpstream(
            self.url, self.key, timeout_secs, connect_timeout_secs=connect_timeout_secs
        )


@dataclass(frozen=True)
class UpstreamSummary:
    """What may be shown of the upstream: its URL and whether a key is stored, never the key."""

    broker: str
    url: str
    key_set: bool


def check_upstream_url(text: str) -> str:
    """The server's base URL as stored: http(s), a host, no credentials, query or fragment."""
    return base_url(text)


def check_upstream_key(text: str) -> str:
    """The API key as typed or piped, surrounding white space removed."""
    key = text.strip()
    if not key:
        raise InvalidInputError(
            "no API key was given; pipe it on standard input, e.g. "
            "`algovisor broker set-upstream URL < keyfile`"
        )
    if len(key) > MAX_KEY_CHARS:
        raise InvalidInputError(
            f"the API key is {len(key)} characters; OpenAlgo's are at most {MAX_KEY_CHARS}"
        )
    if any(
        character.isspace() or unicodedata.category(character).startswith("C") for character in key
    ):
        raise InvalidInputError(
            "the API key contains spaces, line breaks or control characters; give one key"
        )
    return key


def verify_upstream(url: str, key: str, timeout_secs: float = CHECK_TIMEOUT_SECS) -> None:
    """Ask the server for the account's funds: raises BrokerError unless it answers with them."""
    with OpenAlgoUpstream(check_upstream_url(url), check_upstream_key(key), timeout_secs) as server:
        server.funds()


def set_upstream(ctx: ServiceContext, url: str, key: str) -> UpstreamAccount:
    """Store (or replace) the OpenAlgo server strategies on broker `openalgo` trade through."""
    account = UpstreamAccount(check_upstream_url(url), check_upstream_key(key))
    secret = ctx.secrets.encrypt(account.key)
    try:
        _store_upstream(ctx, account.url, secret)
    except IntegrityError:  # the row was made meanwhile by another process: update that one
        _store_upstream(ctx, account.url, secret)
    return account


def _store_upstream(ctx: ServiceContext, url: str, secret: str) -> None:
    with ctx.transaction() as session:
        row = session.get(BrokerAccount, UPSTREAM, with_for_update=True)
        if row is None:
            session.add(
                BrokerAccount(
                    broker=UPSTREAM,
                    upstream_url=url,
                    upstream_key_secret=secret,
                    created_at=ctx.clock.now(),
                )
            )
        else:
            row.upstream_url, row.upstream_key_secret = url, secret


def upstream(ctx: ServiceContext) -> UpstreamAccount | None:
    """The configured OpenAlgo server with its key decrypted, or None if there is none."""
    with ctx.reading() as session:
        row = session.get(BrokerAccount, UPSTREAM)
        if row is None or not row.upstream_url or row.upstream_key_secret is None:
            return None
        url, secret = row.upstream_url, row.upstream_key_secret
    return UpstreamAccount(url, ctx.secrets.decrypt(secret))


def upstream_summary(ctx: ServiceContext) -> UpstreamSummary | None:
    """What `broker show` prints; nothing is decrypted."""
    with ctx.reading() as session:
        row = session.get(BrokerAccount, UPSTREAM)
        if row is None or not row.upstream_url:
            return None
        return UpstreamSummary(UPSTREAM, row.upstream_url, row.upstream_key_secret is not None)


def remove_upstream(ctx: ServiceContext) -> bool:
    """Forget the OpenAlgo server and its key; whether there was one.

    The `openalgo` contract's remembered source (that server's URL and a copy of the
    key, kept by the download) is forgotten with them. The host refreshes that contract
    from the configured upstream only, so none is asked for it until one is set again;
    the contract loaded stays in force for its trading day.
    """
    with ctx.transaction() as session:
        row = session.get(BrokerAccount, UPSTREAM, with_for_update=True)
        if row is None or (row.upstream_url is None and row.upstream_key_secret is None):
            return False
        if row.api_key_secret is None:
            session.delete(row)
        else:  # not ours alone: keep what else it holds
            row.upstream_url = row.upstream_key_secret = None
        contract = session.get(MasterContractStatus, UPSTREAM, with_for_update=True)
        if contract is not None and contract.source_kind == "url":
            contract.source_kind = contract.source_format = None
            contract.source_location = contract.source_secret = None
        return True
