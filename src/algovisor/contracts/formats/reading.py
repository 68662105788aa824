"""From bytes to text, CSV rows or JSON records, refusing what is not the declared format.

Structural problems raise `ContractFormatError` (the whole file is refused):
not UTF-8, binary, empty, a header without the columns the format needs, JSON
of the wrong shape, JSON cut short. Problems confined to one row (a blank line
in the middle, a wrong field count, an element that is not an object) are
rejected on the `ParseOutcome` with their row number, and reading goes on.

Row numbers are what a person finds in an editor: the 1-based line number for
CSV (the header is line 1), the 1-based element position for JSON.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Sequence
from typing import BinaryIO

from algovisor.contracts.records import ContractFormatError, ParseOutcome

_PREVIEW_CHARS = 120


def _preview(text: str) -> str:
    return text if len(text) <= _PREVIEW_CHARS else text[: _PREVIEW_CHARS - 3] + "..."


def read_text(stream: BinaryIO, label: str) -> str:
    """The whole stream as text: UTF-8, with or without a byte-order mark.

    `label` names the expected format in messages: "a Zerodha instruments CSV".
    """
    data = stream.read()
    if not data.strip():
        raise ContractFormatError(f"not {label}: the file is empty")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ContractFormatError(
            f"not {label}: the file is not UTF-8 text "
            f"(byte 0x{data[error.start]:02x} at offset {error.start}); is it binary or compressed?"
        ) from error
    if "\x00" in text:
        raise ContractFormatError(f"not {label}: the file holds NUL bytes, so it is binary")
    return text


class CsvTable:
    """A CSV file's header, and its data rows with their line numbers."""

    def __init__(self, text: str, label: str) -> None:
        self._label = label
        self._ending = text[-_PREVIEW_CHARS:]
        self._first_line = text.lstrip("\r\n").split("\n", 1)[0].rstrip("\r")
        # Not strict: a stray quote inside one name must not refuse a whole file.
        self._reader = csv.reader(io.StringIO(text, newline=""))
        try:
            header = next(self._reader, [])
            while not any(field.strip() for field in header):
                header = next(self._reader)
        except StopIteration:
            raise ContractFormatError(f"not {label}: the file has no header line") from None
        except csv.Error as error:
            raise ContractFormatError(
                f"not {label}: the header cannot be read ({error})"
            ) from error
        self.header = [name.strip() for name in header]

    def columns(self, required: Sequence[str]) -> dict[str, int]:
        """Column positions by name; refuses the file if a required column is missing."""
        positions: dict[str, int] = {}
        for position, name in enumerate(self.header):
            positions.setdefault(name, position)
        missing = [name for name in required if name not in positions]
        if missing:
            hint = " (this looks like JSON)" if self._first_line.lstrip()[:1] in ("[", "{") else ""
            raise ContractFormatError(
                f"not {self._label}: the header lacks {', '.join(missing)}; "
                f"found: {_preview(self._first_line)}{hint}"
            )
        return positions

    def rows(self, outcome: ParseOutcome) -> Iterator[tuple[int, list[str]]]:
        """Data rows with the header's field count, each with its line number.

        Counts every row read on `outcome`. A blank line is rejected only if data
        follows it: trailing blank lines are how many tools end a file.
        """
        # Every broker's file ends its last line. One that does not was cut short
        # (a partial download or copy), and may be missing any number of rows.
        if not self._ending.endswith("\n"):
            last = self._ending.rsplit("\n", 1)[-1]
            raise ContractFormatError(
                f"the file is cut short: its last line has no end ({_preview(last)!r}); "
                "download it again"
            )
        width = len(self.header)
        blank_lines: list[int] = []
        try:
            for row in self._reader:
                line_number = self._reader.line_num
                if not row or (len(row) == 1 and not row[0].strip()):
                    blank_lines.append(line_number)
                    continue
                for blank_line in blank_lines:
                    outcome.rows_read += 1
                    outcome.reject(blank_line, "blank row")
                blank_lines.clear()
                outcome.rows_read += 1
                if len(row) != width:
                    outcome.reject(
                        line_number,
                        "wrong field count",
                        f"{len(row)} fields, the header has {width}",
                    )
                    continue
                yield line_number, row
        except csv.Error as error:
            raise ContractFormatError(
                f"not {self._label}, or cut short: line {self._reader.line_num} "
                f"cannot be read ({error})"
            ) from error


def read_json(stream: BinaryIO, label: str) -> object:
    """The whole stream as one JSON document; a document cut short is refused as such."""
    text = read_text(stream, label)
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        ending = text.rstrip()
        starts_as_json = text.lstrip()[:1] in ("[", "{")
        if starts_as_json and (error.pos >= len(ending) or ending[-1:] not in ("]", "}")):
            raise ContractFormatError(
                f"the file is cut short: the JSON ends after {len(ending)} characters, "
                f"before its last value is closed (expected {label})"
            ) from error
        first_line = text.lstrip().split("\n", 1)[0].rstrip("\r")
        raise ContractFormatError(
            f"not {label}: invalid JSON at line {error.lineno} column {error.colno} "
            f"({error.msg}); the file starts: {_preview(first_line)}"
        ) from error
    except RecursionError as error:
        raise ContractFormatError(f"not {label}: the JSON is nested too deeply") from error


def describe_json(value: object) -> str:
    """What a JSON value is, for a message: "an object with keys status, data"."""
    if isinstance(value, dict):
        keys = ", ".join(str(key) for key in list(value)[:8])
        return f"an object with keys {keys}" if keys else "an empty object"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return f"a string {_preview(repr(value))}"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"the boolean {json.dumps(value)}"
    return f"the number {value!r}"


def json_records(
    items: object,
    label: str,
    required: Sequence[str],
    outcome: ParseOutcome,
) -> Iterator[tuple[int, dict[str, object]]]:
    """The objects of a JSON list, each with its 1-based position and the keys it must have.

    The first element decides the format: if it lacks a required key, the file is
    another format and is refused. A later element that is not an object, or that
    lacks a key, is rejected on its own.
    """
    if not isinstance(items, list):
        raise ContractFormatError(
            f"not {label}: expected a JSON list of instruments, found {describe_json(items)}"
        )
    if items:
        first = items[0]
        if not isinstance(first, dict):
            raise ContractFormatError(
                f"not {label}: expected a list of objects, the first element is "
                f"{describe_json(first)}"
            )
        missing = [key for key in required if key not in first]
        if missing:
            raise ContractFormatError(
                f"not {label}: the first instrument lacks {', '.join(missing)}; "
                f"found {describe_json(first)}"
            )
    for position, item in enumerate(items, start=1):
        outcome.rows_read += 1
        if not isinstance(item, dict):
            outcome.reject(position, "not an object", describe_json(item)[:40])
            continue
        missing = [key for key in required if key not in item]
        if missing:
            outcome.reject(position, "missing field", ", ".join(missing))
            continue
        yield position, item
