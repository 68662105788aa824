"""Each broker's position book, for reconciliation (`services.positions.reconcile`).

    openalgo   the configured upstream OpenAlgo server (`brokers.upstream`)
    paper      the paper broker's account, folded from its stored trades (any process)
    others     none: no adapter, so every position there is "unknown"

The upstream is asked with timeouts inside the reconciler's deadline, so that
a server that does not answer is reported by its own URL rather than as a
broker that "did not answer". Use as a context manager: it closes the
connections it opened.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import TracebackType

from algovisor.brokers.paper import BROKER as PAPER
from algovisor.brokers.protocol import BrokerError, PositionBook
from algovisor.brokers.upstream import BROKER as UPSTREAM
from algovisor.brokers.upstream import OpenAlgoUpstream
from algovisor.errors import AlgovisorError
from algovisor.positions.reconcile import BrokerPosition
from algovisor.positions.verify import DEFAULT_BROKER_TIMEOUT_SECS
from algovisor.services import broker_accounts
from algovisor.services.context import ServiceContext
from algovisor.services.paper_store import StoredPaperPositions

# Shares of the reconciler's deadline: connecting, then waiting for the answer.
CONNECT_SHARE = 0.2
ANSWER_SHARE = 0.6


class UnusableBook:
    """A broker algovisor has an adapter for but cannot ask: says why, every time.

    Reconciliation records an error's message alone, so what to do goes in it.
    """

    def __init__(self, reason: str) -> None:
        self._reason = reason

    def positions(self) -> Sequence[BrokerPosition]:
        raise BrokerError(self._reason)


class BrokerBooks:
    """`books(broker)`: the position book of `broker`, or None when algovisor has no adapter."""

    def __init__(
        self, ctx: ServiceContext, deadline_secs: float = DEFAULT_BROKER_TIMEOUT_SECS
    ) -> None:
        self._ctx = ctx
        self._deadline_secs = deadline_secs
        self._opened: list[OpenAlgoUpstream] = []

    def __call__(self, broker: str) -> PositionBook | None:
        if broker == UPSTREAM:
            return self._upstream()
        if broker == PAPER:
            return StoredPaperPositions(self._ctx)
        return None

    def _upstream(self) -> PositionBook:
        try:
            account = broker_accounts.upstream(self._ctx)
        except AlgovisorError as error:  # its key no longer decrypts
            detail = f" ({error.detail})" if error.detail else ""
            return UnusableBook(error.message + detail)
        if account is None:
            return UnusableBook(
                "no OpenAlgo server is configured for the openalgo broker; run "
                "`algovisor broker set-upstream URL` with its API key on standard input"
            )
        book = account.client(
            self._deadline_secs * ANSWER_SHARE,
            connect_timeout_secs=self._deadline_secs * CONNECT_SHARE,
        )
        self._opened.append(book)
        return book

    def close(self) -> None:
        for book in self._opened:
            book.close()
        self._opened.clear()

    def __enter__(self) -> BrokerBooks:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()


def position_books(
    ctx: ServiceContext, deadline_secs: float = DEFAULT_BROKER_TIMEOUT_SECS
) -> BrokerBooks:
    """The books reconciliation asks, for one reconciliation within `deadline_secs`."""
    return BrokerBooks(ctx, deadline_secs)
