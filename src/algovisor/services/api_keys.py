"""API keys: create (shown once), verify, list, revoke."""

from __future__ import annotations

import unicodedata
from datetime import timedelta

from sqlalchemy import func, select, update

from algovisor.db.models import ApiKey
from algovisor.errors import AuthError, InvalidInputError, NotFoundError
from algovisor.security.api_keys import display_prefix, generate_api_key, hash_api_key
from algovisor.services.context import ServiceContext
from algovisor.services.validation import MAX_DATABASE_INT
from algovisor.services.views import ApiKeyView

# Writing last_used_at on every request would turn reads into writes.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def create(ctx: ServiceContext, name: str = "default") -> tuple[str, ApiKeyView]:
    """A new key: the plaintext is returned here and never again."""
    if not name.strip() or len(name) > 64:
        raise InvalidInputError("an API key name must be 1-64 characters")
    if any(unicodedata.category(character).startswith("C") for character in name):
        raise InvalidInputError("an API key name cannot contain control characters")
    key = generate_api_key()
    with ctx.transaction() as session:
        row = ApiKey(
            name=name.strip(),
            prefix=display_prefix(key),
            key_hash=hash_api_key(key),
            created_at=ctx.clock.now(),
        )
        session.add(row)
        session.flush()
        return key, _view(row)


def verify(ctx: ServiceContext, key: str | None) -> ApiKeyView:
    if not key:
        raise AuthError("missing API key", detail="Send it in the X-API-Key header.")
    now = ctx.clock.now()
    key_hash = hash_api_key(key)
    with ctx.reading() as session:
        row = session.scalars(select(ApiKey).where(ApiKey.key_hash == key_hash)).first()
        if row is None:
            raise AuthError("invalid API key", detail="Create one with `algovisor api-key create`.")
        view = _view(row)
    if view.last_used_at is None or now - view.last_used_at > LAST_USED_RESOLUTION:
        # Rarely, and in its own transaction: checking a key must not take the write lock.
        with ctx.transaction() as session:
            session.execute(update(ApiKey).where(ApiKey.id == view.id).values(last_used_at=now))
        view.last_used_at = now
    return view


def list_keys(ctx: ServiceContext) -> list[ApiKeyView]:
    with ctx.reading() as session:
        return [_view(row) for row in session.scalars(select(ApiKey).order_by(ApiKey.id))]


def revoke(ctx: ServiceContext, key_id: int) -> None:
    with ctx.transaction() as session:
        # An id past the column's range cannot exist (and would be a driver error).
        row = session.get(ApiKey, key_id) if 1 <= key_id <= MAX_DATABASE_INT else None
        if row is None:
            raise NotFoundError(f"no API key with id {key_id}")
        session.delete(row)


def count(ctx: ServiceContext) -> int:
    with ctx.reading() as session:
        return session.scalar(select(func.count(ApiKey.id))) or 0


def _view(row: ApiKey) -> ApiKeyView:
    return ApiKeyView(
        id=row.id,
        name=row.name,
        prefix=row.prefix,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
    )
