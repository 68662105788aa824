"""Checks on what users send, each failing with a message that says how to fix it."""

from __future__ import annotations

import re
import unicodedata

from algovisor.db.limits import MAX_INTEGER
from algovisor.errors import InvalidInputError

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,62}[A-Za-z0-9._-]$|^[A-Za-z0-9]$")
ENV_KEY_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
RESERVED_ENV_PREFIXES = ("ALGOVISOR_",)
RESERVED_ENV_KEYS = frozenset({"PATH", "HOME", "PYTHONPATH", "PYTHONHOME", "LD_PRELOAD"})
SCRIPT_SUFFIX = ".py"
MAX_FILENAME_CHARS = 128  # the width of strategy_versions.filename
MAX_DATABASE_INT = MAX_INTEGER  # INTEGER columns (ids, version numbers) on PostgreSQL


def validate_name(name: str) -> str:
    if any(unicodedata.category(character).startswith("C") for character in name):
        raise InvalidInputError("the strategy name contains control characters", field="name")
    if "/" in name or "\\" in name:
        raise InvalidInputError(
            f"the strategy name {name!r} contains a path separator", field="name"
        )
    if not NAME_PATTERN.match(name):
        raise InvalidInputError(
            f"invalid strategy name {name!r}",
            detail="Use 1-64 letters, digits, spaces, '.', '_' or '-', "
            "starting and ending with a letter or digit.",
            field="name",
        )
    if name.isdigit():
        raise InvalidInputError(
            f"the strategy name {name!r} is only digits and would be mistaken for an id",
            field="name",
        )
    return name


def validate_script(filename: str, content: bytes, max_bytes: int) -> str:
    """The safe file name to store; raises if the script cannot be accepted."""
    base = filename.replace("\\", "/").rsplit("/", 1)[-1]
    if not base.endswith(SCRIPT_SUFFIX) or base == SCRIPT_SUFFIX:
        raise InvalidInputError(
            f"{base or filename!r} is not a Python file",
            detail="Upload a .py script.",
            field="file",
        )
    if len(base) > MAX_FILENAME_CHARS:
        raise InvalidInputError(
            f"the file name is longer than {MAX_FILENAME_CHARS} characters",
            detail="Rename the script to something shorter.",
            field="file",
        )
    if len(content) > max_bytes:
        raise InvalidInputError(
            f"{base} is {len(content):,} bytes; the limit is {max_bytes:,}",
            detail="Raise ALGOVISOR_MAX_SCRIPT_BYTES if the script really is that large.",
            field="file",
        )
    if not content.strip():
        raise InvalidInputError(f"{base} is empty", field="file")
    try:
        content.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InvalidInputError(
            f"{base} is not UTF-8 text (byte {error.start} is invalid)",
            detail="Save the script as UTF-8.",
            field="file",
        ) from error
    if b"\x00" in content:
        raise InvalidInputError(f"{base} contains NUL bytes; it is not a text file", field="file")
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", base)
    return safe if not safe.startswith(".") else f"script{safe}"


def validate_env_key(key: str) -> str:
    if not ENV_KEY_PATTERN.match(key):
        raise InvalidInputError(
            f"invalid environment variable name {key!r}",
            detail="Use letters, digits and '_', not starting with a digit.",
            field="key",
        )
    if key.upper().startswith(RESERVED_ENV_PREFIXES) or key.upper() in RESERVED_ENV_KEYS:
        raise InvalidInputError(
            f"{key} is set by algovisor itself and cannot be overridden", field="key"
        )
    return key


def validate_env_value(key: str, value: str) -> str:
    if "\x00" in value:
        raise InvalidInputError(f"the value of {key} contains a NUL character", field="value")
    if len(value) > 32_768:
        raise InvalidInputError(
            f"the value of {key} is longer than 32768 characters", field="value"
        )
    return value


def parse_assignment(text: str) -> tuple[str, str]:
    """`KEY=VALUE` as given on the command line."""
    key, separator, value = text.partition("=")
    if not separator:
        raise InvalidInputError(f"expected KEY=VALUE, got {text!r}")
    return validate_env_key(key), validate_env_value(key, value)
