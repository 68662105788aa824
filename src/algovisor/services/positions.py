"""Operator tools for strategies' positions: crashes, lists, the event trail, the broker, retention.

    crashed        positions a crash affected in a time range, as the crash left them
    list / show    positions by status and strategy; one with its trail and order intents
    reconcile      every open position checked against its broker's account
    close_position an operator records an exit by hand (closed at the broker)
    (retention: position_retention.py)

Reads go through SQLAlchemy; writes through the positions store (the SDK's own
statements) or one SQLAlchemy transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import Session, aliased

from algovisor.brokers.protocol import PositionBook
from algovisor.db.models import (
    OrderIntentRow,
    PositionEventRow,
    StrategyPositionRow,
    StrategySessionRow,
)
from algovisor.errors import InvalidInputError
from algovisor.positions.reconcile import Finding
from algovisor.positions.records import STATUSES, PositionNotFoundError
from algovisor.positions.validation import check_price, check_quantity
from algovisor.positions.verify import DEFAULT_BROKER_TIMEOUT_SECS, check_against_broker
from algovisor.schedule.calendar import INDIA
from algovisor.services.context import ServiceContext
from algovisor.services.validation import MAX_DATABASE_INT
from algovisor.services.views import (
    CrashedPositionView,
    CrashView,
    OrderIntentView,
    PositionCloseView,
    PositionDetailView,
    PositionEventView,
    PositionSessionView,
    PositionView,
    ReconcileFindingView,
)

PositionBooks = Callable[[str], PositionBook | None]

DEFAULT_CLOSE_REASON = "closed by hand"
MAX_REASON_CHARS = 128  # strategy_positions.exit_reason
# What a CRASH event's details hold of the position as it was (older crashes lack them).
_SNAPSHOT = ("side", "quantity", "stop_price", "target_price", "current_price", "state")


# ----- time ---------------------------------------------------------------------------


def parse_time(text: str | None, what: str = "time") -> datetime | None:
    """An ISO date or date and time; without an offset it is IST, the exchanges' time zone."""
    if text is None or not text.strip():
        return None
    try:
        instant = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInputError(
            f"{what} {text!r} is not a date or a date and time",
            detail="Write it like 2025-11-28, 2025-11-28T15:30 or 2025-11-28T15:30+05:30 "
            "(no offset means IST).",
        ) from None
    return instant if instant.tzinfo else instant.replace(tzinfo=INDIA)


def _aware(moment: datetime | None, what: str) -> datetime | None:
    if moment is not None and moment.tzinfo is None:
        raise InvalidInputError(
            f"{what} {moment.isoformat()} has no time zone",
            detail="Give an offset, e.g. 2025-11-28T15:30+05:30.",
        )
    return moment


# ----- reads ----------------------------------------------------------------------------


def crashed(
    ctx: ServiceContext,
    strategy: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[CrashedPositionView]:
    """Positions a crash affected with the crash in [since, until), oldest crash first.

    Every crash is on the trail (a CRASH event of the session that crashed), so a
    position that crashed, was resumed and crashed again is found by either
    crash, with that crash's session, reason and exception. The position is
    shown as that crash left it: its quantity, stop, target, last price and
    state from the crash's snapshot (the last flushed before the crash), even
    when it was resumed, trailed further and closed since; `now` is its status
    now.
    """
    since = _aware(since, "since")
    until = _aware(until, "until")
    if since is not None and until is not None and since >= until:
        raise InvalidInputError(
            f"since ({since.isoformat()}) must be before until ({until.isoformat()})"
        )
    crashed_session = aliased(StrategySessionRow)
    query = (
        select(PositionEventRow, crashed_session, StrategyPositionRow, StrategySessionRow.run_id)
        .join(StrategyPositionRow, StrategyPositionRow.id == PositionEventRow.position_id)
        .join(StrategySessionRow, StrategySessionRow.id == StrategyPositionRow.session_id)
        .outerjoin(crashed_session, crashed_session.id == PositionEventRow.session_id)
        .where(PositionEventRow.kind == "CRASH")
        .order_by(PositionEventRow.at, PositionEventRow.id)
    )
    if strategy is not None:
        query = query.where(StrategyPositionRow.strategy_name == strategy)
    if since is not None:
        query = query.where(PositionEventRow.at >= since)
    if until is not None:
        query = query.where(PositionEventRow.at < until)
    with ctx.reading() as session:
        return [
            CrashedPositionView(
                position=_at_crash(_position_view(position, run_id), event),
                crash=_crash_view(event, crash_session, position, with_traceback=False),
                now=position.status,
            )
            for event, crash_session, position, run_id in session.execute(query).all()
        ]


def _at_crash(view: PositionView, event: PositionEventRow) -> PositionView:
    """The position with its figures from a CRASH event's snapshot, where it has them."""
    details = event.details or {}
    figures: dict[str, Any] = {key: details[key] for key in _SNAPSHOT if key in details}
    if "state" in figures:
        figures["state"] = figures["state"] or {}
    # Validated, not copied: the snapshot is JSON (a price may have been stored as 790).
    return PositionView.model_validate(
        {
            **view.model_dump(),
            **figures,
            "status": "CRASHED",
            "crashed_at": event.at,
            "crash_reason": details.get("reason") or view.crash_reason,
        }
    )


def list_positions(
    ctx: ServiceContext, status: str | None = None, strategy: str | None = None
) -> list[PositionView]:
    """Positions in id order, of one status (ACTIVE, CRASHED, CLOSED, RECOVERED) and strategy."""
    query = (
        select(StrategyPositionRow, StrategySessionRow.run_id)
        .join(StrategySessionRow, StrategySessionRow.id == StrategyPositionRow.session_id)
        .order_by(StrategyPositionRow.id)
    )
    if status is not None:
        query = query.where(StrategyPositionRow.status == check_status(status))
    if strategy is not None:
        query = query.where(StrategyPositionRow.strategy_name == strategy)
    with ctx.reading() as session:
        return [_position_view(row, run_id) for row, run_id in session.execute(query).all()]


def check_status(status: str) -> str:
    word = status.strip().upper()
    if word not in STATUSES:
        raise InvalidInputError(
            f"unknown position status {status!r}",
            detail=f"Use one of {', '.join(STATUSES)}.",
        )
    return word


def show(ctx: ServiceContext, position_id: int) -> PositionDetailView:
    """One position with its session, its crashes (with tracebacks), trail and order intents."""
    with ctx.reading() as session:
        position = _position_row(session, position_id)
        owner = session.get(StrategySessionRow, position.session_id)
        if owner is None:  # the foreign key keeps it; a damaged database would not
            raise PositionNotFoundError(f"position {position_id} has no session")
        events = session.scalars(
            select(PositionEventRow)
            .where(PositionEventRow.position_id == position.id)
            .order_by(PositionEventRow.at, PositionEventRow.id)
        ).all()
        crash_sessions = {
            row.id: row
            for row in session.scalars(
                select(StrategySessionRow).where(
                    StrategySessionRow.id.in_(
                        {event.session_id for event in events if event.kind == "CRASH"}
                    )
                )
            )
        }
        intent_matches: list[ColumnElement[bool]] = [OrderIntentRow.position_id == position.id]
        if position.client_order_id:
            intent_matches.append(OrderIntentRow.client_order_id == position.client_order_id)
        intents = session.scalars(
            select(OrderIntentRow)
            .where(or_(*intent_matches))
            .order_by(OrderIntentRow.created_at, OrderIntentRow.id)
        ).all()
        return PositionDetailView(
            position=_position_view(position, owner.run_id),
            session=_session_view(owner),
            crashes=[
                _crash_view(
                    event,
                    crash_sessions.get(event.session_id or -1),
                    position,
                    with_traceback=True,
                )
                for event in events
                if event.kind == "CRASH"
            ],
            events=[
                PositionEventView(
                    id=event.id,
                    kind=event.kind,
                    at=event.at,
                    session_id=event.session_id,
                    details=event.details,
                )
                for event in events
            ],
            order_intents=[_intent_view(intent) for intent in intents],
        )


# ----- the broker -----------------------------------------------------------------------


def reconcile(
    ctx: ServiceContext,
    books: PositionBooks,
    timeout_secs: float = DEFAULT_BROKER_TIMEOUT_SECS,
) -> list[ReconcileFindingView]:
    """Check every broker account that has open positions; verdicts are stored as events.

    `books(broker)` gives the broker's position book, or None when there is no
    adapter for it: then every position on that account is "unknown" with that
    reason (recorded), never "flat". A broker that fails or does not answer
    within `timeout_secs` is "unknown" too.
    """
    store = ctx.position_store()
    try:
        views: list[ReconcileFindingView] = []
        for broker in sorted({record.broker for record in store.open_positions()}):
            findings, problem = check_against_broker(store, broker, books(broker), timeout_secs)
            views += [_finding_view(broker, finding, problem) for finding in findings]
        return views
    finally:
        store.close()


# ----- writes ---------------------------------------------------------------------------


def check_close(
    position_id: int, exit_price: object, reason: str | None, quantity: object = None
) -> tuple[float, str, int | None]:
    """The exit as it will be recorded: (price, reason, quantity or None for all).

    Raises InvalidInputError (or PositionNotFoundError for an id no position can
    have) before anything is written; the CLI checks before it asks.
    """
    _check_id(position_id)
    price = check_price(exit_price, "exit price")
    text = (reason or "").strip()
    if not text or len(text) > MAX_REASON_CHARS:
        raise InvalidInputError(
            f"the reason must be 1-{MAX_REASON_CHARS} characters, not {len(text)}",
            detail="Say what happened, e.g. 'closed at the broker by hand'.",
        )
    return price, text, None if quantity is None else check_quantity(quantity)


def close_position(
    ctx: ServiceContext,
    position_id: int,
    exit_price: float,
    reason: str,
    quantity: int | None = None,
) -> PositionCloseView:
    """Record an exit the operator made by hand at the broker: all of it, or `quantity`.

    Only algovisor's records change; no order is sent. The exit is written like
    a strategy's (an EXIT, or PARTIAL_EXIT, event; P&L from the entry price), so
    the strategy's next `recover()` no longer hands the position back. Refused
    (ConflictError) while a live session holds the position (stop the strategy
    first, or let it exit) and for a closed position, or an exit larger than
    what is open.
    """
    price, text, closing = check_close(position_id, exit_price, reason, quantity)
    store = ctx.position_store()
    try:
        remaining, pnl = store.record_exit(
            position_id,
            quantity=closing,
            exit_price=price,
            exit_reason=text,
            exit_order_id=None,
            pnl=None,
            session_id=None,
        )
    finally:
        store.close()
    detail = show(ctx, position_id)
    closed = closing
    if closed is None:  # all that was open: the position is closed, so its EXIT is this one
        closed = next(
            (
                int(event.details.get("quantity") or 0)
                for event in reversed(detail.events)
                if event.kind == "EXIT"
            ),
            0,
        )
    view = detail.position
    message = (
        f"position {position_id} closed: {closed} at {price:g} ({text}), P&L {pnl:+g}"
        if remaining == 0
        else f"position {position_id}: {closed} closed at {price:g} ({text}), P&L {pnl:+g}; "
        f"{remaining} still open"
    )
    return PositionCloseView(
        position=view, quantity=closed, remaining=remaining, price=price, pnl=pnl, message=message
    )


# ----- rows into views ------------------------------------------------------------------


def _position_row(session: Session, position_id: int) -> StrategyPositionRow:
    row = session.get(StrategyPositionRow, _check_id(position_id))
    if row is None:
        raise _not_found(position_id)
    return row


def _check_id(position_id: int) -> int:
    """Ids fit the database's INTEGER; a larger one is no position's (never a database error)."""
    if not 0 < position_id <= MAX_DATABASE_INT:
        raise _not_found(position_id)
    return position_id


def _not_found(position_id: int) -> PositionNotFoundError:
    return PositionNotFoundError(
        f"no position has id {position_id}",
        detail="`algovisor positions list` shows the positions there are.",
    )


def _position_view(row: StrategyPositionRow, run_id: str | None) -> PositionView:
    return PositionView(
        id=row.id,
        strategy=row.strategy_name,
        session_id=row.session_id,
        run_id=run_id,
        broker=row.broker,
        symbol=row.symbol,
        exchange=row.exchange,
        product=row.product,
        side=row.side,
        quantity=row.quantity,
        initial_quantity=row.initial_quantity,
        entry_price=row.entry_price,
        entry_time=row.entry_time,
        stop_price=row.stop_price,
        target_price=row.target_price,
        current_price=row.current_price,
        leg=row.leg,
        state=row.state or {},
        status=row.status,
        exit_price=row.exit_price,
        exit_time=row.exit_time,
        exit_reason=row.exit_reason,
        realized_pnl=row.realized_pnl,
        updated_at=row.updated_at,
        crashed_at=row.crashed_at,
        crash_reason=row.crash_reason,
        recovered_at=row.recovered_at,
        broker_verdict=row.broker_verdict,
        broker_checked_at=row.broker_checked_at,
    )


def _crash_view(
    event: PositionEventRow,
    crashed: StrategySessionRow | None,
    position: StrategyPositionRow,
    *,
    with_traceback: bool,
) -> CrashView:
    details = event.details or {}
    return CrashView(
        session_id=event.session_id if event.session_id is not None else position.session_id,
        run_id=crashed.run_id if crashed else None,
        strategy=crashed.strategy_name if crashed else position.strategy_name,
        at=event.at,
        reason=details.get("reason") or (crashed.crash_reason if crashed else None),
        exception_type=details.get("exception_type")
        or (crashed.exception_type if crashed else None),
        has_traceback=bool(crashed and crashed.traceback),
        traceback=crashed.traceback if crashed and with_traceback else None,
        status_before=details.get("status_before"),
    )


def _session_view(row: StrategySessionRow) -> PositionSessionView:
    return PositionSessionView(
        id=row.id,
        strategy=row.strategy_name,
        run_id=row.run_id,
        broker=row.broker,
        label=row.label,
        status=row.status,
        hostname=row.hostname,
        pid=row.pid,
        started_at=row.started_at,
        ended_at=row.ended_at,
        crashed_at=row.crashed_at,
        crash_reason=row.crash_reason,
        exception_type=row.exception_type,
    )


def _intent_view(row: OrderIntentRow) -> OrderIntentView:
    return OrderIntentView(
        client_order_id=row.client_order_id,
        session_id=row.session_id,
        position_id=row.position_id,
        symbol=row.symbol,
        exchange=row.exchange,
        action=row.action,
        quantity=row.quantity,
        price=row.price,
        purpose=row.purpose,
        status=row.status,
        broker_order_id=row.broker_order_id,
        message=row.message,
        created_at=row.created_at,
        confirmed_at=row.confirmed_at,
    )


def _finding_view(broker: str, finding: Finding, problem: str) -> ReconcileFindingView:
    return ReconcileFindingView(
        broker=broker,
        symbol=finding.key.symbol,
        exchange=finding.key.exchange,
        product=finding.key.product,
        verdict=finding.verdict.value,
        expected_quantity=finding.expected_quantity,
        broker_quantity=finding.broker_quantity,
        position_ids=list(finding.position_ids),
        strategies=list(finding.strategies),
        detail=finding.detail,
        problem=problem or None,
    )
