"""Run one strategy script: `python -m algovisor.runner RUN_DIR LOG_PATH MAX_LOG_BYTES SCRIPT`.

The host opens LOG_PATH as our stdout and stderr before we start; from then on
the runner rotates it by size and at midnight IST by renaming the file and
pointing file descriptors 1 and 2 at a fresh one, so nothing written by the
script, its C extensions or its children is ever held in a pipe.
"""

from __future__ import annotations

# `_thread`, not `threading`: the friendly wrapper pulls in collections and
# weakref sets, memory every strategy process would pay for.
import _thread
import os
import signal
import sys
import time
from types import FrameType

from algovisor.runner.files import (
    EXIT_RECORD,
    HEARTBEAT,
    ist_day_number,
    segment_log_name,
    write_atomically,
)

TERMINATED_EXIT_CODE = 128 + signal.SIGTERM
MAINTENANCE_INTERVAL_SECS = 1.0
HEARTBEAT_INTERVAL_SECS = 5.0


class LogRotator:
    """Rotates the file behind fds 1 and 2; called from the maintenance thread."""

    def __init__(self, log_path: str, max_bytes: int) -> None:
        self.log_path = log_path
        self.max_bytes = max_bytes
        self.sequence = 0
        self.day = ist_day_number(time.time())

    def maybe_rotate(self, now: float) -> None:
        day = ist_day_number(now)
        if day == self.day and os.fstat(1).st_size < self.max_bytes:
            return
        self.day = day
        if os.fstat(1).st_size == 0:
            return
        self.rotate()

    def rotate(self) -> None:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        self.sequence += 1
        directory, name = os.path.split(self.log_path)
        run_id = name.rsplit(".", 1)[0]
        os.replace(self.log_path, os.path.join(directory, segment_log_name(run_id, self.sequence)))
        fresh = os.open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
        os.dup2(fresh, 1)
        os.dup2(fresh, 2)
        os.close(fresh)


def _maintain(run_dir: str, rotator: LogRotator) -> None:
    heartbeat = os.path.join(run_dir, HEARTBEAT)
    next_heartbeat = 0.0
    while True:
        now = time.time()
        try:
            rotator.maybe_rotate(now)
            if now >= next_heartbeat:
                os.utime(heartbeat)
                next_heartbeat = now + HEARTBEAT_INTERVAL_SECS
        except OSError as error:
            # A full disk must not kill the strategy; say it where the trader looks.
            print(f"algovisor runner: log maintenance failed: {error}", file=sys.stderr)
        time.sleep(MAINTENANCE_INTERVAL_SECS)


class _Terminator:
    """Turns the first SIGTERM into SystemExit so `finally` blocks and atexit run."""

    def __init__(self) -> None:
        self.received = False

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        if self.received:
            return
        self.received = True
        raise SystemExit(TERMINATED_EXIT_CODE)


def _exit_code(error: SystemExit) -> int:
    if error.code is None:
        return 0
    if isinstance(error.code, int):
        return error.code
    print(error.code, file=sys.stderr)
    return 1


def _record_exception(error: BaseException, script: str) -> dict[str, object]:
    import traceback

    frames = traceback.extract_tb(error.__traceback__)
    # Drop the runner's frames: the trader wants their own code.
    while frames and frames[0].filename != script:
        frames.pop(0)
    lines = ["Traceback (most recent call last):\n", *traceback.format_list(frames)]
    lines += traceback.format_exception_only(type(error), error)
    text = "".join(lines)
    print(text, file=sys.stderr, end="")
    record: dict[str, object] = {
        "exception_type": type(error).__name__,
        "exception_message": str(error),
        "traceback": text,
    }
    if isinstance(error, SyntaxError):
        record["exception_message"] = (
            f"{error.msg} ({os.path.basename(error.filename or script)}, line {error.lineno})"
        )
    elif frames:
        last = frames[-1]
        record["location"] = f"{os.path.basename(last.filename)}, line {last.lineno}"
    return record


def _mark_positions_crashed(error: BaseException, traceback: str) -> None:
    """If the strategy used the positions SDK, its open positions are CRASHED now, with why.

    Looked up, never imported: a strategy without the SDK pays nothing. Should
    this fail, the host still marks them when it sees the run end.
    """
    crashes = sys.modules.get("algovisor.sdk.crashes")
    if crashes is None:
        return
    try:
        crashes.mark_crashed_everywhere(error, traceback)
    except Exception as failure:  # noqa: BLE001 - the exit record must still be written
        print(f"algovisor runner: could not mark positions crashed: {failure}", file=sys.stderr)


def _run_as_main(script: str) -> None:
    """Execute `script` as `python script.py` would, in a fresh `__main__` module.

    Done by hand: runpy.run_path imports pkgutil, typing and re, over a
    megabyte in every strategy process.
    """
    with open(script, "rb") as handle:
        code = compile(handle.read(), script, "exec")
    module = type(sys)("__main__")
    module.__dict__.update(__file__=script, __builtins__=__builtins__, __cached__=None)
    # Stays registered after the script ends: atexit handlers and pickling need it.
    sys.modules["__main__"] = module
    exec(code, module.__dict__)  # noqa: S102 - running the trader's script is the job


def main(argv: list[str]) -> int:
    run_dir, log_path, max_log_bytes, script = argv
    terminator = _Terminator()
    signal.signal(signal.SIGTERM, terminator)
    with open(os.path.join(run_dir, HEARTBEAT), "ab"):
        pass
    rotator = LogRotator(log_path, int(max_log_bytes))
    _thread.start_new_thread(_maintain, (run_dir, rotator))

    sys.argv = [script]
    sys.path[0] = os.path.dirname(script)
    record: dict[str, object] = {}
    try:
        _run_as_main(script)
        code = 0
    except SystemExit as error:
        code = _exit_code(error)
        if code != 0 and not terminator.received:  # sys.exit(1) after an error: a crash
            _mark_positions_crashed(error, f"the script exited with code {code}\n")
    except BaseException as error:  # noqa: BLE001 - every way a script can end is recorded
        record = _record_exception(error, script)
        _mark_positions_crashed(error, str(record["traceback"]))
        code = 1
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if terminator.received:
        record["terminated_by"] = "SIGTERM"
    record["exit_code"] = code
    record["ended_at"] = time.time()

    import json

    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    write_atomically(os.path.join(run_dir, EXIT_RECORD), json.dumps(record).encode())
    # SIGTERM stays ignored through atexit: the positions SDK flushes and ends its
    # session there, and a second stop signal must not turn that into a crash.
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
