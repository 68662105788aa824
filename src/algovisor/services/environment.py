"""A strategy's environment variables: plain ones, and secrets encrypted at rest."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from algovisor.db.models import Strategy, StrategyEnvVar
from algovisor.errors import NotFoundError
from algovisor.services.context import ServiceContext
from algovisor.services.strategies import refuse_while_running, resolve
from algovisor.services.validation import validate_env_key, validate_env_value
from algovisor.services.views import EnvVarView

SECRET_MASK = "****"  # noqa: S105 - the mask shown instead of a secret


def env_list(ctx: ServiceContext, ref: str | int) -> list[EnvVarView]:
    with ctx.reading() as session:
        strategy = resolve(session, ref)
        return [
            EnvVarView(
                key=variable.key,
                value=SECRET_MASK if variable.is_secret else variable.value,
                secret=variable.is_secret,
            )
            for variable in strategy.env_vars
        ]


def env_set(
    ctx: ServiceContext, ref: str | int, key: str, value: str, *, secret: bool = False
) -> EnvVarView:
    validate_env_key(key)
    validate_env_value(key, value)
    stored = ctx.secrets.encrypt(value) if secret else value
    with ctx.transaction() as session:
        strategy, variable = _changeable_variable(session, ref, key)
        if variable is None:
            variable = StrategyEnvVar(strategy_id=strategy.id, key=key)
            session.add(variable)
        variable.value = stored
        variable.is_secret = secret
        strategy.updated_at = ctx.clock.now()
        return EnvVarView(key=key, value=SECRET_MASK if secret else value, secret=secret)


def env_unset(ctx: ServiceContext, ref: str | int, key: str) -> None:
    validate_env_key(key)
    with ctx.transaction() as session:
        strategy, variable = _changeable_variable(session, ref, key)
        if variable is None:
            raise NotFoundError(f"{strategy.name!r} has no environment variable {key}")
        session.delete(variable)
        strategy.updated_at = ctx.clock.now()


def _changeable_variable(
    session: Session, ref: str | int, key: str
) -> tuple[Strategy, StrategyEnvVar | None]:
    """The strategy, locked and not running, and its variable `key` if it has one."""
    strategy = resolve(session, ref, for_update=True)
    refuse_while_running(session, strategy, "change the environment of")
    variable = session.scalars(
        select(StrategyEnvVar).where(
            StrategyEnvVar.strategy_id == strategy.id, StrategyEnvVar.key == key
        )
    ).first()
    return strategy, variable
