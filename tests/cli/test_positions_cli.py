"""`algovisor positions ...` on a real database: crashed (times typed in IST), list, show with
its trail and traceback, reconcile without broker adapters, recovery by hand and purge.

Positions are written through the store on a stopped clock in November 2025; the CLI runs on
the system clock, so every one of them is older than "yesterday".
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from algovisor.schedule.calendar import INDIA
from algovisor.services.context import ServiceContext
from tests.cli.conftest import CliCall
from tests.cli.test_contracts_cli import failed, flat, json_of, ok
from tests.services.test_positions_service import Book, crash_book


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
    failed(cli("positions", "show", "999999"), "no position has id 999999", 1)
    failed(cli("positions", "recovered", "999999"), "no position has id 999999", 1)
    assert cli("positions", "show", "abc").exit_code == 2


def test_reconcile_without_adapters_reports_unknown_never_flat(cli: CliCall, book: Book) -> None:
    findings = json_of(cli("positions", "reconcile", "--json"))
    assert {finding["verdict"] for finding in findings} == {"unknown"}
    assert sorted(i for finding in findings for i in finding["position_ids"]) == sorted(
        [*book.crashed, book.later, book.active]
    )
    assert {finding["problem"] for finding in findings} == {"no broker adapter for 'paper' yet"}
    assert all(finding["broker_quantity"] is None for finding in findings)

    text = flat(ok(cli("positions", "reconcile")).stdout)
    assert "NSE SBIN MIS unknown +10 ?" in text
    assert "NSE INFY MIS unknown -5 ?" in text
    assert "unknown paper: no broker adapter for 'paper' yet; not read as flat" in text
    detail = json_of(cli("positions", "show", str(book.active), "--json"))
    assert detail["events"][-1]["details"]["problem"] == "no broker adapter for 'paper' yet"


def test_recovered_marks_a_crashed_position_and_refuses_a_closed_one(
    cli: CliCall, book: Book
) -> None:
    position = book.crashed[1]
    result = ok(cli("positions", "recovered", str(position), "--notes", "closed by phone"))
    assert f"position {position} marked recovered" in result.stdout
    again = json_of(cli("positions", "recovered", str(position), "--json"))
    assert again["changed"] is False
    assert again["position"]["status"] == "RECOVERED"
    event = json_of(cli("positions", "show", str(position), "--json"))["events"][-1]
    assert (event["kind"], event["details"]["notes"]) == ("RECOVERY", "closed by phone")
    failed(cli("positions", "recovered", str(book.closed)), "is closed", 1)
    failed(cli("positions", "recovered", str(book.active)), "held by a live session", 1)


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
        ("recovered", str(book.later)),
    ):
        assert json.loads(ok(cli("positions", *args, "--json")).stdout) is not None
