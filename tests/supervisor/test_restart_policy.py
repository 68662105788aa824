"""How a run ended and what happens next: the pure decision tables of the restart policy."""

from __future__ import annotations

import signal

import pytest

from algovisor.supervisor.restart_policy import (
    Classified,
    EndReason,
    NextStep,
    RestartPolicy,
    RunEnd,
    classify_end,
    next_step,
)

FINAL_CODES = frozenset({3, 42})

# (what happened, how it is classified, words a trader reads)
CLASSIFY_CASES: list[tuple[str, RunEnd, EndReason, str]] = [
    ("stop requested", RunEnd(exit_code=0, stop_requested=True), EndReason.STOPPED, "stopped"),
    (
        "stop requested wins over a crash code",
        RunEnd(exit_code=1, exit_signal=signal.SIGKILL, stop_requested=True),
        EndReason.STOPPED,
        "stopped on request",
    ),
    (
        "memory limit restart",
        RunEnd(exit_code=143, stop_requested=True, stop_reason=EndReason.MEMORY_LIMIT),
        EndReason.MEMORY_LIMIT,
        "memory limit",
    ),
    ("clean exit", RunEnd(exit_code=0, has_exit_record=True), EndReason.EXITED, "code 0"),
    ("declared final code", RunEnd(exit_code=42), EndReason.FINAL_EXIT, "final code 42"),
    (
        "syntax error with its line",
        RunEnd(
            exit_code=1,
            exception_type="SyntaxError",
            exception_message="invalid syntax",
            location="strategy.py:7",
        ),
        EndReason.FATAL,
        "SyntaxError: invalid syntax at strategy.py:7",
    ),
    (
        "missing module",
        RunEnd(exit_code=1, exception_type="ModuleNotFoundError", exception_message="talib"),
        EndReason.FATAL,
        "ModuleNotFoundError: talib",
    ),
    (
        "indentation error",
        RunEnd(exit_code=1, exception_type="IndentationError", exception_message="bad"),
        EndReason.FATAL,
        "IndentationError",
    ),
    ("script file gone", RunEnd(script_missing=True), EndReason.FATAL, "script file is missing"),
    (
        "unhandled exception",
        RunEnd(
            exit_code=1,
            exception_type="ZeroDivisionError",
            exception_message="division by zero",
            location="strategy.py:12",
        ),
        EndReason.CRASHED,
        "ZeroDivisionError: division by zero at strategy.py:12",
    ),
    ("killed by a signal", RunEnd(exit_signal=signal.SIGSEGV), EndReason.CRASHED, "SIGSEGV"),
    ("unknown signal number", RunEnd(exit_signal=200), EndReason.CRASHED, "signal 200"),
    ("non-zero exit", RunEnd(exit_code=2), EndReason.CRASHED, "exited with code 2"),
    (
        "SIGTERM from someone else",
        RunEnd(exit_code=128 + signal.SIGTERM),
        EndReason.CRASHED,
        "SIGTERM from outside algovisor",
    ),
    ("vanished without a record", RunEnd(), EndReason.VANISHED, "SIGKILL or out of memory"),
    (
        "machine rebooted",
        RunEnd(boot_changed=True, exit_code=None),
        EndReason.HOST_REBOOTED,
        "machine restarted",
    ),
    (
        "recorded before a host crash, never started",
        RunEnd(never_started=True, boot_changed=True),
        EndReason.LOST,
        "never started",
    ),
]


@pytest.mark.parametrize(
    ("end", "reason", "words"),
    [case[1:] for case in CLASSIFY_CASES],
    ids=[case[0] for case in CLASSIFY_CASES],
)
def test_classify_end(end: RunEnd, reason: EndReason, words: str) -> None:
    classified = classify_end(end, FINAL_CODES)
    assert classified.reason is reason
    assert words in classified.description


def test_every_end_reason_has_a_case() -> None:
    assert {case[2] for case in CLASSIFY_CASES} == set(EndReason)


def test_a_final_code_is_final_only_when_declared() -> None:
    assert classify_end(RunEnd(exit_code=3), frozenset()).reason is EndReason.CRASHED
    assert classify_end(RunEnd(exit_code=3), frozenset({3})).reason is EndReason.FINAL_EXIT


# ----- next_step ----------------------------------------------------------------------

POLICY = RestartPolicy()  # 1 s start, x2, 60 s cap, 300 s stable, 5 unstable exits
CRASH = Classified(EndReason.CRASHED, "exited with code 1")


def crash_sequence(policy: RestartPolicy, count: int, uptime_secs: float = 1.0) -> list[NextStep]:
    """The steps after `count` crashes in a row, each after `uptime_secs` of uptime."""
    steps = []
    failures = 0
    for _ in range(count):
        step = next_step(policy, CRASH, uptime_secs, failures)
        steps.append(step)
        failures = step.consecutive_failures
    return steps


def test_backoff_doubles_from_one_second() -> None:
    steps = crash_sequence(POLICY, 4)
    assert [step.restart_after_secs for step in steps] == [1.0, 2.0, 4.0, 8.0]
    assert [step.consecutive_failures for step in steps] == [1, 2, 3, 4]
    assert all(step.error_message is None for step in steps)


def test_backoff_is_capped() -> None:
    patient = RestartPolicy(max_unstable_exits=100)
    delays = [step.restart_after_secs for step in crash_sequence(patient, 9)]
    assert delays == [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0, 60.0]


def test_fifth_unstable_exit_in_a_row_is_an_error() -> None:
    fifth = crash_sequence(POLICY, 5)[-1]
    assert fifth.restart_after_secs is None
    assert fifth.consecutive_failures == 5
    assert fifth.error_message is not None
    assert "crash loop: 5 unstable exits in a row" in fifth.error_message
    assert "exited with code 1" in fifth.error_message


@pytest.mark.parametrize(
    ("uptime_secs", "failures_after", "delay_secs"),
    [(299.9, 4, 8.0), (300.0, 1, 1.0), (3600.0, 1, 1.0)],
)
def test_stable_uptime_forgives_earlier_crashes(
    uptime_secs: float, failures_after: int, delay_secs: float
) -> None:
    step = next_step(POLICY, CRASH, uptime_secs, consecutive_failures=3)
    assert step == NextStep(failures_after, delay_secs)


def test_crashes_after_stable_runs_never_reach_error() -> None:
    steps = crash_sequence(POLICY, 20, uptime_secs=POLICY.stable_uptime_secs)
    assert {step.restart_after_secs for step in steps} == {1.0}
    assert all(step.error_message is None for step in steps)


def test_a_custom_policy_is_honoured() -> None:
    policy = RestartPolicy(
        initial_delay_secs=0.2, factor=3.0, max_delay_secs=1.0, max_unstable_exits=4
    )
    steps = crash_sequence(policy, 4)
    assert [step.restart_after_secs for step in steps[:3]] == pytest.approx([0.2, 0.6, 1.0])
    assert steps[3].error_message is not None


@pytest.mark.parametrize(
    "description",
    ["SyntaxError: invalid syntax at strategy.py:7", "script file is missing"],
)
def test_fatal_ends_go_to_error_at_once(description: str) -> None:
    step = next_step(POLICY, Classified(EndReason.FATAL, description), 0.5, 0)
    assert step.restart_after_secs is None
    assert step.error_message == description
    assert step.consecutive_failures == 1


@pytest.mark.parametrize(
    "reason", [EndReason.HOST_REBOOTED, EndReason.MEMORY_LIMIT, EndReason.LOST]
)
def test_ends_that_are_not_failures_restart_at_once_and_count_nothing(reason: EndReason) -> None:
    step = next_step(POLICY, Classified(reason, "not its fault"), 1.0, consecutive_failures=4)
    assert step == NextStep(4, 0.0)


def test_a_requested_stop_resets_and_stays_stopped() -> None:
    step = next_step(POLICY, Classified(EndReason.STOPPED, "stopped on request"), 1.0, 4)
    assert step == NextStep(0, None)


@pytest.mark.parametrize(
    ("reason", "description"),
    [
        (EndReason.EXITED, "exited cleanly (code 0)"),
        (EndReason.FINAL_EXIT, "exited with final code 42"),
    ],
)
def test_a_clean_or_final_exit_stops_with_the_reason(reason: EndReason, description: str) -> None:
    step = next_step(POLICY, Classified(reason, description), 1.0, 3)
    assert step == NextStep(0, None, stop_message=f"last run {description}")


def test_vanished_counts_as_a_crash() -> None:
    vanished = classify_end(RunEnd(), FINAL_CODES)
    step = next_step(POLICY, vanished, 1.0, consecutive_failures=1)
    assert step == NextStep(2, 2.0)
