"""Whether the process that opened a positions session still runs (for standalone sessions).

psutil is imported when asked, not by the SDK's import: only `recover()` and the
host's sweep need it.
"""

from __future__ import annotations

from datetime import datetime

# create_time is rounded by the kernel's clock ticks; the session row is written after.
START_SLACK_SECS = 1.0


def process_alive(pid: int, session_started_at: datetime) -> bool:
    """True while `pid` is alive, not a zombie, and started before its session did.

    A pid reused by a younger process, or a zombie nobody reaped, is not the
    strategy: its session's positions must not wait for ever to be marked.
    """
    import psutil

    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return False
        return process.create_time() <= session_started_at.timestamp() + START_SLACK_SECS
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True  # another user's process with that pid: cannot tell, so wait
