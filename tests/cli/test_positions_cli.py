"""`algovisor positions ...` on a real database: crashed (times typed in IST, positions as the
crash left them), list, show with its trail and traceback, reconcile without broker adapters,
closing by hand, purge, and text that looks like Rich markup printed as it is.

Positions are written through the store on a stopped clock in November 2025; the CLI runs on
the system clock, so every one of them is older than "yesterday".
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import update

from algovisor.db.models import StrategyPositionRow, StrategySessionRow
from algovisor.schedule.calendar import INDIA
from algovisor.services.context import ServiceContext
from tests.cli.conftest import CliCall
from tests.cli.test_contracts_cli import failed, flat, json_of, ok
from tests.services.test_positions_service import CRASH_AT, Book, Desk, crash_book


@pytest.fixture
def book(ctx: ServiceContext) -> Iterator[Book]:
    with crash_book(ctx) as positions:
        yield positions


def ids_of(rows: list[dict[str, Any]]) -> list[int]:
    return [row["position"]["id"] if "position" in row else row["id"] for row in rows]


def test_crashed_answers_which_positions_the_1530_crash_affected(cli: CliCall, book: Book) -> None:
    window = ("--since", "2025-11-28T15:25", "--until", "2025-11-28 15:35")
    rows = json_of(cli("positions", "crashed", *window, "--json"))
    assert ids_of(rows) == book.crashed
    sbin = rows[0]
    assert sbin["position"]["stop_price"] == 790.0
    assert sbin["position"]["state"] == {"trail": 795.5}
    assert sbin["crash"]["at"] == "2025-11-28T10:00:00Z"
    assert sbin["crash"]["exception_type"] == "RuntimeError"
    assert sbin["crash"]["run_id"] == "run-7"
    assert sbin["now"] == "CRASHED"

    text = flat(ok(cli("positions", "crashed", *window)).stdout)
    assert "trend crashed 2025-11-28 15:30:00 IST (session 2, run run-7): RuntimeError" in text
    assert "NSE:SBIN MIS" in text
    assert "SHORT 5 NSE:INFY MIS 1500 at 2025-11-20 10:00:00 IST 1520" in text
    assert '{"trail":795.5}' in text
    assert "TCS" not in text

    later = json_of(cli("positions", "crashed", "--since", "2025-11-28T15:35", "--json"))
    assert ids_of(later) == [book.later]
    scalper = json_of(cli("positions", "crashed", "--strategy", "scalper", "--json"))
    assert ids_of(scalper) == [book.later]
    # With an offset, the instant is taken as written: 10:00 UTC is 15:30 IST.
    utc = json_of(cli("positions", "crashed", "--until", "2025-11-28T10:00:01+00:00", "--json"))
    assert ids_of(utc) == book.crashed
    none = ok(cli("positions", "crashed", "--since", "2025-11-29"))
    assert "no crashed positions in that range" in none.stdout


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("--since", "28/11/2025"), "--since '28/11/2025' is not a date"),
        (("--until", "tomorrow"), "--until 'tomorrow' is not a date"),
        (("--since", "2025-11-28T16:00", "--until", "2025-11-28T15:00"), "must be before"),
    ],
)
def test_crashed_refuses_bad_times(
    cli: CliCall, book: Book, args: tuple[str, ...], fragment: str
) -> None:
    failed(cli("positions", "crashed", *args), fragment, 2)


def test_list_by_status_and_strategy(cli: CliCall, book: Book) -> None:
    everything = json_of(cli("positions", "list", "--json"))
    assert ids_of(everything) == sorted([*book.crashed, book.later, book.closed, book.active])
    crashed = json_of(cli("positions", "list", "--status", "crashed", "--json"))
    assert ids_of(crashed) == [*book.crashed, book.later]
    assert ids_of(json_of(cli("positions", "list", "--status", "CLOSED", "--json"))) == [
        book.closed
    ]
    trend = json_of(cli("positions", "list", "--status", "CRASHED", "-s", "trend", "--json"))
    assert ids_of(trend) == book.crashed

    text = flat(ok(cli("positions", "list", "--status", "ACTIVE")).stdout)
    assert f"{book.active} swing NSE:WIPRO MIS LONG 10 100" in text
    failed(cli("positions", "list", "--status", "OPEN"), "unknown position status 'OPEN'", 2)


def test_show_prints_the_trail_and_the_traceback(cli: CliCall, book: Book) -> None:
    position = book.crashed[0]
    detail = json_of(cli("positions", "show", str(position), "--json"))
    assert detail["position"]["id"] == position
    assert [event["kind"] for event in detail["events"]] == ["ENTRY", "CRASH"]
    assert "RuntimeError: feed died" in detail["crashes"][0]["traceback"]

    output = ok(cli("positions", "show", str(position))).stdout
    text = flat(output)
    assert "status CRASHED" in text
    assert "stop 790" in text
    assert "ENTRY" in text
    assert "CRASH" in text
    assert "crash of session" in text
    assert 'File "trend.py", line 9' in output  # the traceback, verbatim
    assert "verdict not checked" in text


def test_an_unknown_position_is_an_error_without_a_traceback(cli: CliCall, book: Book) -> None:
    huge = str(2**63)  # past any database integer: still "no position", never a crash
    for position in ("999999", "0", huge):
        failed(cli("positions", "show", position), f"no position has id {position}", 1)
        failed(
            cli("positions", "close", position, "--price", "100", "--yes"),
            f"no position has id {position}",
            1,
        )
    assert cli("positions", "show", "abc").exit_code == 2


def test_reconcile_asks_the_paper_broker(cli: CliCall, book: Book) -> None:
    # The paper account has traded nothing: every position we hold is a ghost there.
    findings = json_of(cli("positions", "reconcile", "--json"))
    assert {finding["verdict"] for finding in findings} == {"closed_at_broker"}
    assert sorted(i for finding in findings for i in finding["position_ids"]) == sorted(
        [*book.crashed, book.later, book.active]
    )
    assert {finding["broker_quantity"] for finding in findings} == {0}
    detail = json_of(cli("positions", "show", str(book.active), "--json"))
    assert detail["events"][-1]["kind"] == "RECONCILE"


def test_reconcile_without_an_adapter_reports_unknown_never_flat(
    cli: CliCall, book: Book, ctx: ServiceContext
) -> None:
    with ctx.transaction() as session:  # the same positions, at a broker with no adapter
        session.execute(update(StrategySessionRow).values(broker="angel"))
        session.execute(update(StrategyPositionRow).values(broker="angel"))
    findings = json_of(cli("positions", "reconcile", "--json"))
    assert {finding["verdict"] for finding in findings} == {"unknown"}
    assert {finding["problem"] for finding in findings} == {"no broker adapter for 'angel' yet"}
    assert all(finding["broker_quantity"] is None for finding in findings)
    text = flat(ok(cli("positions", "reconcile")).stdout)
    assert "NSE SBIN MIS unknown +10 ?" in text
    assert "unknown angel: no broker adapter for 'angel' yet; not read as flat" in text


def test_close_by_hand_and_crashed_still_shows_what_the_crash_left_open(
    cli: CliCall, book: Book
) -> None:
    sbin, infy = book.crashed  # LONG 10 at 100, stop 790; SHORT 5 at 1500, stop 1520
    result = ok(
        cli(
            "positions",
            "close",
            str(sbin),
            "--price",
            "104.5",
            "--reason",
            "closed at Zerodha",
            "--yes",
        )
    )
    assert f"position {sbin} closed: 10 at 104.5 (closed at Zerodha), P&L +45" in result.stdout
    partial = json_of(
        cli("positions", "close", str(infy), "--price", "1490", "-q", "2", "--yes", "--json")
    )
    assert (partial["quantity"], partial["remaining"], partial["pnl"]) == (2, 3, 20.0)
    assert partial["position"]["status"] == "CRASHED"
    trail = json_of(cli("positions", "show", str(sbin), "--json"))["events"]
    assert (trail[-1]["kind"], trail[-1]["details"]["reason"]) == ("EXIT", "closed at Zerodha")
    assert (
        json_of(cli("positions", "show", str(infy), "--json"))["events"][-1]["details"]["reason"]
        == "closed by hand"
    )

    rows = json_of(cli("positions", "crashed", "-s", "trend", "--json"))
    assert [(row["position"]["quantity"], row["now"]) for row in rows] == [
        (10, "CLOSED"),
        (5, "CRASHED"),
    ]
    text = flat(ok(cli("positions", "crashed", "-s", "trend")).stdout)
    assert f"{sbin} LONG 10 NSE:SBIN MIS 100 at 2025-11-20 10:00:00 IST 790" in text
    assert "CLOSED" in text
    assert f"{infy} SHORT 5 NSE:INFY MIS" in text

    failed(cli("positions", "close", str(sbin), "--price", "104.5", "--yes"), "already closed", 1)
    failed(
        cli("positions", "close", str(book.active), "--price", "101", "--yes"),
        "held by a live session",
        1,
    )
    failed(
        cli("positions", "close", str(infy), "--price", "1490", "-q", "4", "--yes"),
        "cannot exit 4",
        1,
    )
    assert (
        json_of(cli("positions", "show", str(book.active), "--json"))["position"]["status"]
        == "ACTIVE"
    )


def test_close_asks_first_and_refuses_bad_input_before_asking(cli: CliCall, book: Book) -> None:
    position = str(book.later)
    unconfirmed = cli("positions", "close", position, "--price", "101")  # no one to say yes
    assert unconfirmed.exit_code == 1
    assert f"Record position {position} (LONG 10 NSE:TCS NRML, CRASHED)" in unconfirmed.output
    for args, fragment in (
        (("--price", "0"), "exit price must be a finite number above zero"),
        (("--price", "nan"), "exit price must be a finite number above zero"),
        (("--price", "101", "--quantity", "0"), "quantity must be above zero"),
        (("--price", "101", "--reason", "  "), "the reason must be 1-128 characters"),
    ):
        failed(cli("positions", "close", position, *args), fragment, 2)  # unasked
    assert cli("positions", "close", position).exit_code == 2  # --price is required
    detail = json_of(cli("positions", "show", position, "--json"))
    assert detail["position"]["status"] == "CRASHED"
    assert [event["kind"] for event in detail["events"]] == ["ENTRY", "CRASH"]


def test_text_that_looks_like_markup_is_printed_as_it_is(cli: CliCall, ctx: ServiceContext) -> None:
    desk = Desk(ctx, CRASH_AT - timedelta(hours=1))
    try:
        session = desk.session("[bold]trend[/bold]")
        position = desk.enter(session, "SBIN", state={"note": "[red]trail[/red] [/NIFTY]"})
        desk.at(CRASH_AT).crash(session, "bad tick [/NIFTY] in [link=x]feed")
        desk.store.sessions.end(desk.session("[/]"))
    finally:
        desk.close()
    crashed = ok(cli("positions", "crashed")).stdout
    assert "[bold]trend[/bold] crashed" in crashed
    assert "RuntimeError: bad tick [/NIFTY] in [link=x]feed" in crashed
    assert '"[red]trail[/red] [/NIFTY]"' in crashed
    shown = ok(cli("positions", "show", str(position))).stdout
    assert "bad tick [/NIFTY] in [link=x]feed" in flat(shown)
    assert "[bold]trend[/bold]" in shown
    listed = ok(cli("positions", "list")).stdout
    assert "[bold]trend[/bold]" in listed
    closed = ok(
        cli(
            "positions",
            "close",
            str(position),
            "--price",
            "99",
            "--reason",
            "[/x] by hand",
            "--yes",
        )
    )
    assert "([/x] by hand)" in closed.stdout
    assert "[/x] by hand" in flat(ok(cli("positions", "show", str(position))).stdout)
    failed(cli("positions", "list", "--status", "[/OPEN]"), "unknown position status '[/OPEN]'", 2)


def test_purge_keeps_open_positions_and_refuses_today(cli: CliCall, book: Book) -> None:
    today = datetime.now(INDIA).date()
    failed(cli("positions", "purge", "--before", today.isoformat()), "refusing", 2)  # unasked
    failed(cli("positions", "purge", "--before", "2100-01-01", "--yes"), "refusing", 2)
    failed(cli("positions", "purge", "--before", "last week", "--yes"), "is not a date", 2)

    yesterday = (today - timedelta(days=1)).isoformat()
    unconfirmed = cli("positions", "purge", "--before", yesterday)  # no one to say yes
    assert unconfirmed.exit_code == 1
    assert len(json_of(cli("positions", "list", "--json"))) == 5

    result = json_of(cli("positions", "purge", "--before", yesterday, "--yes", "--json"))
    assert (result["positions"], result["sessions"]) == (1, 1)
    remaining = json_of(cli("positions", "list", "--json"))
    assert ids_of(remaining) == sorted([*book.crashed, book.later, book.active])

    text = flat(ok(cli("positions", "purge", "--before", yesterday, "--yes")).stdout)
    assert "deleted 0 closed positions, 0 events, 0 order intents and 0 sessions" in text


def test_every_positions_command_prints_json(cli: CliCall, book: Book) -> None:
    for args in (
        ("crashed",),
        ("list",),
        ("show", str(book.active)),
        ("reconcile",),
        ("close", str(book.later), "--price", "101", "--yes"),
    ):
        assert json.loads(ok(cli("positions", *args, "--json")).stdout) is not None
