"""Names of the files a run leaves behind, shared by the runner and the host.

Standard library only: the runner imports this module.
"""

from __future__ import annotations

import os

EXIT_RECORD = "exit.json"
HEARTBEAT = "heartbeat"
ACTIVE_SUFFIX = ".log"

# India has kept one offset, without daylight saving, since 1945; a constant
# is exact for Asia/Kolkata and spares the runner a time-zone database.
IST_OFFSET_SECS = 5 * 3600 + 30 * 60


def active_log_name(run_id: str) -> str:
    return f"{run_id}{ACTIVE_SUFFIX}"


def segment_log_name(run_id: str, sequence: int) -> str:
    """A rotated-out piece of a run's log; sequence 1 is the oldest."""
    return f"{run_id}.{sequence:04d}{ACTIVE_SUFFIX}"


def ist_day_number(epoch_secs: float) -> int:
    """Days since the epoch, counted at midnight IST."""
    return int((epoch_secs + IST_OFFSET_SECS) // 86400)


def write_atomically(path: str, data: bytes) -> None:
    """Replace `path` with `data` so a reader sees the old or the new file, never half."""
    temporary = f"{path}.tmp"
    with open(temporary, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
