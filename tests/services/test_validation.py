"""What users may send: names, scripts and environment variables (pure checks, no database)."""

from __future__ import annotations

import pytest

from algovisor.errors import InvalidInputError
from algovisor.services.validation import (
    MAX_FILENAME_CHARS,
    parse_assignment,
    validate_env_key,
    validate_env_value,
    validate_name,
    validate_script,
)

LIMIT_BYTES = 1000


@pytest.mark.parametrize(
    "name",
    ["a", "momentum", "Nifty Straddle 9.20", "orb_15-min", "v1.2.py", "x" * 64, "a1", "1a"],
)
def test_good_names_are_kept_as_given(name: str) -> None:
    assert validate_name(name) == name


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("", "invalid strategy name"),
        (" ", "invalid strategy name"),
        ("a/b", "path separator"),
        ("/etc", "path separator"),
        ("a\\b", "path separator"),
        ("..", "invalid strategy name"),
        (".hidden", "invalid strategy name"),
        ("trailing ", "invalid strategy name"),
        ("-flag", "invalid strategy name"),
        ("x" * 65, "invalid strategy name"),
        ("café", "invalid strategy name"),
        ("semi;colon", "invalid strategy name"),
        ("tab\there", "control characters"),
        ("new\nline", "control characters"),
        ("nul\x00", "control characters"),
        ("bell\x07", "control characters"),
        ("escape\x1b[0m", "control characters"),
        ("zero\u200bwidth", "control characters"),  # a format character hides in a terminal
        ("123", "only digits"),  # would be read as an id
        ("7", "only digits"),
    ],
)
def test_bad_names_are_refused_with_the_reason(name: str, fragment: str) -> None:
    with pytest.raises(InvalidInputError) as raised:
        validate_name(name)
    assert fragment in raised.value.message


@pytest.mark.parametrize(
    ("filename", "stored"),
    [
        ("momentum.py", "momentum.py"),
        ("my strategy.py", "my_strategy.py"),
        ("../../etc/passwd.py", "passwd.py"),
        ("C:\\Users\\trader\\orb.py", "orb.py"),
        ("naïve.py", "na_ve.py"),
        (".hidden.py", "script.hidden.py"),  # never a dot file
        ("a" * (MAX_FILENAME_CHARS - 3) + ".py", "a" * (MAX_FILENAME_CHARS - 3) + ".py"),
    ],
)
def test_script_file_names_are_made_safe(filename: str, stored: str) -> None:
    assert validate_script(filename, b"print(1)\n", LIMIT_BYTES) == stored


@pytest.mark.parametrize(
    ("filename", "content", "fragment"),
    [
        ("notes.txt", b"print(1)\n", "not a Python file"),
        ("script", b"print(1)\n", "not a Python file"),
        ("script.PY", b"print(1)\n", "not a Python file"),
        ("script.py.txt", b"print(1)\n", "not a Python file"),
        (".py", b"print(1)\n", "not a Python file"),
        ("", b"print(1)\n", "not a Python file"),
        ("dir/", b"print(1)\n", "not a Python file"),
        ("big.py", b"#" * (LIMIT_BYTES + 1), "the limit is 1,000"),
        ("empty.py", b"", "is empty"),
        ("blank.py", b"\n \t\r\n", "is empty"),
        ("latin.py", "x = 'café'\n".encode("latin-1"), "not UTF-8 text (byte 8"),
        ("utf16.py", "x = 1\n".encode("utf-16"), "not UTF-8"),
        ("nul.py", b"x = 1\x00\n", "NUL bytes"),
        ("a" * MAX_FILENAME_CHARS + ".py", b"x = 1\n", "longer than 128"),
    ],
)
def test_bad_scripts_are_refused_with_the_reason(
    filename: str, content: bytes, fragment: str
) -> None:
    with pytest.raises(InvalidInputError) as raised:
        validate_script(filename, content, LIMIT_BYTES)
    assert fragment in raised.value.message


def test_the_size_limit_is_inclusive() -> None:
    assert validate_script("edge.py", b"#" * LIMIT_BYTES, LIMIT_BYTES) == "edge.py"


def test_utf8_with_a_byte_order_mark_and_non_ascii_text_is_accepted() -> None:
    content = "\ufeff# स्ट्रैटेजी\nprint('₹')\n".encode()
    assert validate_script("rupee.py", content, LIMIT_BYTES) == "rupee.py"


@pytest.mark.parametrize("key", ["A", "_PRIVATE", "SYMBOL", "broker_token", "X1", "A" * 128])
def test_good_environment_names(key: str) -> None:
    assert validate_env_key(key) == key


@pytest.mark.parametrize(
    ("key", "fragment"),
    [
        ("", "invalid environment variable name"),
        ("1ABC", "invalid environment variable name"),
        ("A-B", "invalid environment variable name"),
        ("A.B", "invalid environment variable name"),
        ("A B", "invalid environment variable name"),
        ("A=B", "invalid environment variable name"),
        ("ÄPFEL", "invalid environment variable name"),
        ("A\x00", "invalid environment variable name"),
        ("A" * 129, "invalid environment variable name"),
        ("ALGOVISOR_X", "set by algovisor itself"),
        ("algovisor_run_id", "set by algovisor itself"),
        ("PATH", "set by algovisor itself"),
        ("HOME", "set by algovisor itself"),
        ("PYTHONPATH", "set by algovisor itself"),
        ("LD_PRELOAD", "set by algovisor itself"),
    ],
)
def test_bad_environment_names_are_refused(key: str, fragment: str) -> None:
    with pytest.raises(InvalidInputError) as raised:
        validate_env_key(key)
    assert fragment in raised.value.message


def test_environment_values() -> None:
    assert validate_env_value("K", "") == ""
    assert validate_env_value("K", "a=b c'\"$HOME") == "a=b c'\"$HOME"
    assert validate_env_value("K", "x" * 32_768) == "x" * 32_768
    for value, fragment in (("a\x00b", "NUL"), ("x" * 32_769, "longer than")):
        with pytest.raises(InvalidInputError) as raised:
            validate_env_value("K", value)
        assert fragment in raised.value.message
        assert value not in raised.value.message  # a secret's value is never echoed


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("SYMBOL=NIFTY", ("SYMBOL", "NIFTY")),
        ("EMPTY=", ("EMPTY", "")),
        ("URL=https://x/?a=1&b=2", ("URL", "https://x/?a=1&b=2")),
        ("SPACED=  kept  ", ("SPACED", "  kept  ")),
    ],
)
def test_key_value_assignments(text: str, expected: tuple[str, str]) -> None:
    assert parse_assignment(text) == expected


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("NOVALUE", "expected KEY=VALUE"),
        ("=value", "invalid environment variable name"),
        ("1ABC=x", "invalid environment variable name"),
        ("A-B=x", "invalid environment variable name"),
        ("ALGOVISOR_X=x", "set by algovisor itself"),
        ("KEY=a\x00b", "NUL"),
    ],
)
def test_bad_assignments(text: str, fragment: str) -> None:
    with pytest.raises(InvalidInputError) as raised:
        parse_assignment(text)
    assert fragment in raised.value.message
