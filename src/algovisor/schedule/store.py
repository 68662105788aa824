"""The calendars in force: library data plus the trader's override file, reloaded when it changes.

A bad override file never takes effect: the store keeps the last good calendars
(in memory, and as a copy on disk so a restart keeps them too) and reports the
line that failed in `CalendarBook.problem`, which status, API and log all show.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from algovisor.runner.files import write_atomically
from algovisor.schedule.calendar import CalendarBook, ExchangeCalendar
from algovisor.schedule.library import load_library_calendars
from algovisor.schedule.overrides import TEMPLATE, OverrideError, apply_overrides, parse_overrides

logger = logging.getLogger(__name__)


class CalendarStore:
    def __init__(self, overrides_path: Path, last_good_path: Path, cache_path: Path | None) -> None:
        self.overrides_path = overrides_path
        self._last_good_path = last_good_path
        self._cache_path = cache_path
        self._lock = threading.Lock()
        self._library: dict[str, ExchangeCalendar] | None = None
        self._book: CalendarBook | None = None
        self._signature: tuple[int, int] | None = None  # the file's (mtime_ns, size) last read

    def current(self) -> CalendarBook:
        """The calendars in force now; cheap (one stat) unless the override file changed."""
        signature = self._file_signature()
        book = self._book
        if book is not None and signature == self._signature:
            return book
        with self._lock:
            if self._book is None or signature != self._signature:
                self._book = self._reload(signature)
                self._signature = signature
            return self._book

    def write_template(self) -> bool:
        """Create a commented override file if there is none; True if one was written."""
        if self.overrides_path.exists():
            return False
        self.overrides_path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(str(self.overrides_path), TEMPLATE.encode())
        return True

    def check(self) -> str | None:
        """Why the override file on disk cannot be used, or None if it can."""
        try:
            parse_overrides(self._read(self.overrides_path) or "")
        except (OverrideError, OSError, UnicodeDecodeError) as error:
            return f"{self.overrides_path}: {error}"
        return None

    def _file_signature(self) -> tuple[int, int] | None:
        try:
            stat = self.overrides_path.stat()
        except FileNotFoundError:
            return None
        return (stat.st_mtime_ns, stat.st_size)

    def _reload(self, signature: tuple[int, int] | None) -> CalendarBook:
        if self._library is None:
            self._library = load_library_calendars(self._cache_path)
        library = self._library
        try:
            text = self._read(self.overrides_path)
            overrides = parse_overrides(text or "")
        except (OverrideError, OSError, UnicodeDecodeError) as error:
            return self._keep_last_good(library, f"{self.overrides_path}: {error}")
        if text is not None and self._read(self._last_good_path) != text:
            write_atomically(str(self._last_good_path), text.encode())
        if signature is not None:
            logger.info("calendar overrides loaded: %s changes", len(overrides))
        return CalendarBook(apply_overrides(library, overrides))

    def _keep_last_good(self, library: dict[str, ExchangeCalendar], error: str) -> CalendarBook:
        if self._book is not None and self._book.problem is None:
            calendars, kept = self._book.calendars, "the overrides loaded before"
        else:
            try:
                saved = self._read(self._last_good_path)
                calendars = apply_overrides(library, parse_overrides(saved or ""))
                kept = "the last good copy of the overrides"
            except (OverrideError, OSError, UnicodeDecodeError):
                saved = None
            if saved is None:  # no good copy was ever saved, or it is unreadable
                calendars, kept = library, "library holiday data without overrides"
        # Not logged here: the CLI reads calendars too and prints the problem itself;
        # the host's reconciler logs it once when it appears.
        return CalendarBook(calendars, f"{error}; fix the file; until then the host uses {kept}")

    @staticmethod
    def _read(path: Path) -> str | None:
        try:
            return path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
