"""How a strategy's death reaches its position managers, in-process.

    runner (under the host)   catches the script's exception, or a sys.exit with a
                              failure code, and calls mark_crashed_everywhere
    standalone                sys.excepthook does the same; SIGTERM becomes SystemExit
                              so atexit can flush and end the sessions cleanly

The runner looks this module up in sys.modules, never imports it: a strategy
without the SDK pays nothing.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import traceback as traceback_module
from types import TracebackType
from typing import Protocol

TERMINATED = 128 + signal.SIGTERM


class CrashMarker(Protocol):
    def handle_crash(
        self, error: BaseException | None, reason: str | None = None, traceback: str | None = None
    ) -> int: ...


# Live managers of this process, so a crash reaching the runner or
# sys.excepthook marks each of them (as atexit keeps its handlers).
_live: list[CrashMarker] = []
_hooks_installed = threading.Event()


def register(manager: CrashMarker) -> None:
    _live.append(manager)


def unregister(manager: CrashMarker) -> None:
    if manager in _live:
        _live.remove(manager)


def is_crash(error: BaseException) -> bool:
    """An exception, or an exit with a failure code; not a clean or SIGTERM exit."""
    if isinstance(error, GeneratorExit):
        return False
    if isinstance(error, SystemExit):
        return error.code not in (None, 0, TERMINATED)
    return True


def mark_crashed_everywhere(error: BaseException, traceback: str | None) -> None:
    """Called by the runner (or sys.excepthook) when the strategy dies of an exception."""
    for manager in list(_live):
        try:
            manager.handle_crash(error, traceback=traceback)
        except Exception as failure:  # noqa: BLE001 - the host marks it when the run ends
            print(f"algovisor: could not mark the crash: {failure}", file=sys.stderr)


def install_process_hooks() -> None:
    """Standalone, let SIGTERM and an uncaught exception reach the managers (once)."""
    if _hooks_installed.is_set():
        return
    _hooks_installed.set()
    if os.environ.get("ALGOVISOR_RUN_ID"):
        return  # the runner turns SIGTERM into SystemExit and reports exceptions itself
    previous = sys.excepthook

    def excepthook(
        kind: type[BaseException], error: BaseException, trace: TracebackType | None
    ) -> None:
        mark_crashed_everywhere(
            error, "".join(traceback_module.format_exception(kind, error, trace))
        )
        previous(kind, error, trace)

    sys.excepthook = excepthook
    if (
        threading.current_thread() is threading.main_thread()
        and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    ):
        signal.signal(signal.SIGTERM, _exit_on_sigterm)


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(TERMINATED)
