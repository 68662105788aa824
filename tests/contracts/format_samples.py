"""Shared by the format parser tests: the real broker samples, and small ways to feed parsers."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import pytest

from algovisor.contracts.records import Instrument, ParseOutcome

# /work/shared/fixtures/master_contracts, seen from tests/contracts/.
SAMPLES = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "master_contracts"

Parser = Callable[[BinaryIO], ParseOutcome]


def sample(file_name: str) -> Path:
    """A real broker sample (see SOURCES.md there); the test is skipped if it is absent."""
    path = SAMPLES / file_name
    if not path.is_file():
        pytest.skip(f"broker sample {file_name} not found under {SAMPLES}")
    return path


def parse_bytes(parser: Parser, data: bytes | str) -> ParseOutcome:
    return parser(io.BytesIO(data.encode() if isinstance(data, str) else data))


def parse_json(parser: Parser, document: object) -> ParseOutcome:
    return parse_bytes(parser, json.dumps(document))


def by_token(outcome: ParseOutcome) -> dict[tuple[str, str], Instrument]:
    """Rows keyed by (exchange, token): tokens alone repeat across exchanges."""
    return {(row.exchange, row.token): row for row in outcome.rows}


def data_line_count(path: Path) -> int:
    """Non-blank lines after the header."""
    lines = path.read_bytes().splitlines()
    return sum(1 for line in lines[1:] if line.strip())
