"""CalendarStore: library data plus the override file, reloaded on change, never a bad file."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest

from algovisor.schedule.calendar import DayKind
from algovisor.schedule.overrides import TEMPLATE, parse_overrides
from algovisor.schedule.store import CalendarStore

REPUBLIC_DAY = date(2026, 1, 26)  # an NSE holiday in the library data
EXTRA = date(2026, 2, 4)  # an ordinary Wednesday

GOOD = "exchange,date,change,opens,closes,name\nNSE,2026-01-26,trading,,,\n"
BAD = "exchange,date,change,opens,closes,name\nNSE,2026-01-26,trading,,,\nNSE,2026-02-31,holiday\n"
FIXED = "NSE,2026-02-04,holiday,,,Fixed Holiday\n"


@dataclass
class Paths:
    overrides: Path
    last_good: Path
    cache: Path

    def store(self) -> CalendarStore:
        return CalendarStore(self.overrides, self.last_good, self.cache)

    def write(self, text: str) -> None:
        before = self.overrides.stat().st_size if self.overrides.exists() else None
        self.overrides.write_text(text, encoding="utf-8")
        # the store notices a change by (mtime, size): every edit here changes the size
        assert self.overrides.stat().st_size != before


@pytest.fixture
def paths(tmp_path: Path, calendar_cache: Path) -> Paths:
    (tmp_path / "calendars").mkdir()
    cache = tmp_path / "calendars" / "library-cache.json"
    shutil.copyfile(calendar_cache, cache)
    return Paths(
        tmp_path / "calendar-overrides.csv",
        tmp_path / "calendars" / "overrides.last-good.csv",
        cache,
    )


def test_no_file_is_the_library_alone(paths: Paths) -> None:
    store = paths.store()
    book = store.current()
    assert book.problem is None
    assert book["NSE"].day(REPUBLIC_DAY).kind is DayKind.HOLIDAY
    assert book["NSE"].source == "pandas_market_calendars XNSE"
    assert store.current() is book  # unchanged file: the same book, memo and all
    assert store.check() is None
    assert not paths.last_good.exists()


def test_a_good_file_is_applied_and_kept(paths: Paths) -> None:
    paths.write(GOOD)
    store = paths.store()
    book = store.current()
    assert book.problem is None
    assert book["NSE"].day(REPUBLIC_DAY).kind is DayKind.TRADING
    assert book["NFO"].day(REPUBLIC_DAY).kind is DayKind.TRADING  # NFO follows NSE
    assert book["BSE"].day(REPUBLIC_DAY).kind is DayKind.HOLIDAY  # BSE does not
    assert paths.last_good.read_text(encoding="utf-8") == GOOD
    assert store.current() is book


def test_bad_edit_keeps_the_last_good_until_fixed(paths: Paths) -> None:
    paths.write(GOOD)
    store = paths.store()
    good = store.current()
    assert good.problem is None

    # the trader saves a typo: the calendars in force do not change
    paths.write(BAD)
    bad = store.current()
    assert bad.calendars is good.calendars
    assert bad["NSE"].day(REPUBLIC_DAY).kind is DayKind.TRADING
    assert bad.problem is not None
    assert str(paths.overrides) in bad.problem
    assert "line 3" in bad.problem
    assert "2026-02-31" in bad.problem
    assert "the overrides loaded before" in bad.problem
    assert store.current() is bad
    assert store.check() is not None
    assert "line 3" in (store.check() or "")
    assert paths.last_good.read_text(encoding="utf-8") == GOOD  # the bad file never lands there

    # the host restarts while the file is still bad: the copy on disk is used
    restarted = paths.store()
    after_restart = restarted.current()
    assert after_restart.problem is not None
    assert "line 3" in after_restart.problem
    assert "the last good copy of the overrides" in after_restart.problem
    assert after_restart["NSE"].day(REPUBLIC_DAY).kind is DayKind.TRADING

    # a second bad edit still reports, and still keeps the good calendars
    paths.write(BAD + "LSE,2026-03-01,holiday\n")
    again = restarted.current()
    assert again.problem is not None
    assert "line 3" in again.problem
    assert again["NSE"].day(REPUBLIC_DAY).kind is DayKind.TRADING

    # fixed: the problem clears and the new file is in force
    paths.write(FIXED)
    for current in (store, restarted):
        fixed = current.current()
        assert fixed.problem is None
        assert fixed["NSE"].day(REPUBLIC_DAY).kind is DayKind.HOLIDAY
        assert fixed["NSE"].day(EXTRA).kind is DayKind.HOLIDAY
        assert fixed["NSE"].day(EXTRA).name == "Fixed Holiday"
    assert store.check() is None
    assert paths.last_good.read_text(encoding="utf-8") == FIXED


def test_a_bad_file_with_no_good_copy_uses_the_library(paths: Paths) -> None:
    paths.write(BAD)
    book = paths.store().current()
    assert book.problem is not None
    assert "line 3" in book.problem
    assert "library holiday data without overrides" in book.problem
    assert book["NSE"].day(REPUBLIC_DAY).kind is DayKind.HOLIDAY
    assert not paths.last_good.exists()


def test_an_unreadable_file_is_a_problem_not_a_crash(paths: Paths) -> None:
    paths.overrides.write_bytes(b"NSE,2026-01-26,trading\n\xff\xfe\n")
    store = paths.store()
    book = store.current()
    assert book.problem is not None
    assert str(paths.overrides) in book.problem
    assert book["NSE"].day(REPUBLIC_DAY).kind is DayKind.HOLIDAY
    assert store.check() is not None


def test_deleting_the_file_drops_the_overrides(paths: Paths) -> None:
    paths.write(GOOD)
    store = paths.store()
    assert store.current()["NSE"].day(REPUBLIC_DAY).kind is DayKind.TRADING
    paths.overrides.unlink()
    book = store.current()
    assert book.problem is None
    assert book["NSE"].day(REPUBLIC_DAY).kind is DayKind.HOLIDAY


def test_write_template(paths: Paths) -> None:
    store = paths.store()
    assert store.write_template()
    text = paths.overrides.read_text(encoding="utf-8")
    assert text == TEMPLATE
    assert parse_overrides(text) == []
    assert store.check() is None
    book = store.current()
    assert book.problem is None
    assert book["NSE"].day(REPUBLIC_DAY).kind is DayKind.HOLIDAY
    assert book["MCX"].covered_through is None
    # never over a trader's own file
    paths.write(GOOD)
    assert not store.write_template()
    assert paths.overrides.read_text(encoding="utf-8") == GOOD


def test_write_template_creates_the_folder(tmp_path: Path, paths: Paths) -> None:
    nested = tmp_path / "new" / "dir" / "overrides.csv"
    store = CalendarStore(nested, paths.last_good, paths.cache)
    assert store.write_template()
    assert nested.read_text(encoding="utf-8") == TEMPLATE
