"""High-frequency position updates: coalesced in memory, written in one batch per interval.

    queue_position_update()  ->  PendingUpdates.put()     a dict write under a lock
    every flush_interval_ms  ->  BatchWriter: take() the batch, write it in one
                                 transaction; on failure give it back (newer values
                                 win) and retry, never drop it

Per position the last value of each field wins and the strategy's `state` dicts
are merged key by key, so an update arriving inside the interval is coalesced,
never discarded. If writes keep failing longer than a limit, the strategy is told
(`WriterStalledError` on its next call) rather than trading blind.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from algovisor.errors import UnavailableError

logger = logging.getLogger(__name__)

Fields = dict[str, Any]
Batch = dict[int, Fields]


class WriterStalledError(UnavailableError):
    """Position updates have not reached the database for too long."""


def merged(older: Fields, newer: Fields) -> Fields:
    """`newer` over `older`: last value wins, except `state`, merged key by key, and
    `stop_from`, where the first stays (the stored stop the coalesced moves replaced)."""
    result = dict(older)
    for key, value in newer.items():
        if key == "stop_from" and key in result:
            continue  # the stop the first of the coalesced moves replaced
        if key == "state" and isinstance(result.get("state"), dict) and isinstance(value, dict):
            result["state"] = {**result["state"], **value}
        else:
            result[key] = value
    return result


class PendingUpdates:
    """Updates not yet written, one merged set of fields per position."""

    def __init__(self) -> None:
        self._pending: Batch = {}
        self._lock = threading.Lock()

    def put(self, position_id: int, fields: Fields) -> None:
        with self._lock:
            current = self._pending.get(position_id)
            self._pending[position_id] = fields if current is None else merged(current, fields)

    def take(self) -> Batch:
        with self._lock:
            batch, self._pending = self._pending, {}
        return batch

    def give_back(self, batch: Batch) -> None:
        """Return an unwritten batch; anything put since is newer and wins."""
        with self._lock:
            for position_id, fields in batch.items():
                newer = self._pending.get(position_id)
                self._pending[position_id] = fields if newer is None else merged(fields, newer)

    def __len__(self) -> int:
        return len(self._pending)


class BatchWriter:
    """Writes pending updates every interval on its own thread, one batch at a time."""

    def __init__(
        self,
        pending: PendingUpdates,
        write: Callable[[Batch], None],
        interval_secs: float,
        stall_limit_secs: float = 30.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._pending = pending
        self._write = write
        self._interval_secs = interval_secs
        self._stall_limit_secs = stall_limit_secs
        self._monotonic = monotonic
        # One batch in flight at a time: an older batch must never land after a newer one.
        self._flush_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failing_since: float | None = None
        self._last_error: BaseException | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="position-writer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread, then write what is left (raising if that fails)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self.flush()

    def flush(self) -> None:
        """Write everything pending now, on the caller's thread; raises if it cannot."""
        error = self._write_pending()
        if error is not None:
            raise error

    def _write_pending(self) -> Exception | None:
        """Write the pending batch; on failure keep it, record why, and return the error."""
        with self._flush_lock:
            started = self._monotonic()
            batch: Batch = {}
            try:
                batch = self._pending.take()  # inside: a signal landing here loses nothing
                if not batch:
                    return None
                self._write(batch)
            except Exception as error:  # noqa: BLE001 (any failure: kept, retried, surfaced)
                self._pending.give_back(batch)
                self._failed(error, started)
                return error
            except BaseException:
                # SIGTERM's SystemExit landing mid-flush: keep the batch for the exit flush.
                self._pending.give_back(batch)
                raise
            if self._failing_since is not None:
                logger.warning("position updates are written again")
            self._failing_since = None
            self._last_error = None
            return None

    def check(self) -> None:
        """Raise WriterStalledError if writes have failed for longer than the limit."""
        since = self._failing_since
        if since is not None and self._monotonic() - since > self._stall_limit_secs:
            raise WriterStalledError(
                f"position updates have not been written for {self._monotonic() - since:.0f} s "
                f"({len(self._pending)} positions pending): {self._last_error!r}",
                detail="The updates are kept and retried; check the database.",
            )

    def _failed(self, error: BaseException, started: float) -> None:
        if self._failing_since is None:  # said once; `check` tells the strategy if it lasts
            logger.warning("position updates not written (kept, retrying): %r", error)
            # From the start of the failed attempt: a write may retry for a while first.
            self._failing_since = started
        self._last_error = error

    def _run(self) -> None:
        # An update queued just after a batch was taken waits for that batch's
        # write, the pause, and the next batch's write. Shortening the pause by the
        # last write's time and a slowly decaying peak of recent ones keeps the
        # total within one interval. The floor stops a slow database from turning
        # the writer into a busy loop.
        floor_secs = self._interval_secs / 4
        last_secs = peak_secs = 0.0
        while not self._stop.wait(max(floor_secs, self._interval_secs - last_secs - peak_secs)):
            started = self._monotonic()
            self._write_pending()
            last_secs = self._monotonic() - started
            peak_secs = max(last_secs, peak_secs * 0.95)
