"""Broker accounts: the key outside clients and strategies use for the paper broker's OpenAlgo API.

The paper key is made on first use (the host makes it at start), kept as a
Fernet token so `algovisor broker api-key` can print it again, and checked by
its SHA-256 on every request.
"""

from __future__ import annotations

import hmac

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from algovisor.brokers.paper import BROKER as PAPER
from algovisor.db.models import BrokerAccount
from algovisor.security.api_keys import generate_api_key, hash_api_key
from algovisor.services.context import ServiceContext


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


def is_paper_api_key(ctx: ServiceContext, key: str) -> bool:
    """Whether `key` is the paper broker's (compared in constant time)."""
    with ctx.reading() as session:
        stored = session.scalar(
            select(BrokerAccount.api_key_hash).where(BrokerAccount.broker == PAPER)
        )
    return stored is not None and hmac.compare_digest(stored, hash_api_key(key))
