"""The format registry and the gzip handling every download goes through."""

from __future__ import annotations

import gzip
import io
from pathlib import Path
from typing import BinaryIO

import pytest

from algovisor.contracts.formats import FORMATS, parse_bytes_stream, parse_file, parser_for
from algovisor.contracts.records import ContractFormatError
from tests.contracts.format_samples import sample


class OneWayStream(io.RawIOBase):
    """A response body: readable once, not seekable."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        chunk = self._data.read(len(buffer))
        buffer[: len(chunk)] = chunk
        return len(chunk)


def test_the_registry_names_every_format_and_cannot_be_changed() -> None:
    assert set(FORMATS) == {"zerodha", "angel", "dhan", "upstox", "openalgo"}
    with pytest.raises(TypeError):
        FORMATS["fyers"] = FORMATS["zerodha"]  # type: ignore[index]


def test_an_unknown_format_is_refused_naming_the_known_ones() -> None:
    with pytest.raises(ContractFormatError) as refused:
        parser_for("fyers")
    assert str(refused.value) == (
        "unknown master-contract format 'fyers'; known formats: "
        "zerodha, angel, dhan, upstox, openalgo"
    )


def test_gzip_is_read_transparently_like_upstox_serves_it(tmp_path: Path) -> None:
    plain_path = sample("upstox_NSE_FO.json")
    gzip_path = tmp_path / "complete.json.gz"
    gzip_path.write_bytes(gzip.compress(plain_path.read_bytes()))

    plain = parse_file(plain_path, "upstox")
    from_file = parse_file(gzip_path, "upstox")
    from_stream = parse_bytes_stream(OneWayStream(gzip_path.read_bytes()), "upstox")  # type: ignore[arg-type]

    assert len(plain.rows) == 1521
    assert from_file.rows == plain.rows
    assert from_stream.rows == plain.rows


@pytest.mark.parametrize("cut_at", [0.5, 0.99])
def test_a_truncated_gzip_is_refused_as_cut_short(cut_at: float) -> None:
    whole = gzip.compress(sample("zerodha_instruments.csv").read_bytes())
    with pytest.raises(ContractFormatError, match="the file is cut short"):
        parse_bytes_stream(io.BytesIO(whole[: int(len(whole) * cut_at)]), "zerodha")


def test_a_corrupt_gzip_is_refused() -> None:
    whole = bytearray(gzip.compress(b"instrument_token,tradingsymbol\n" * 100))
    whole[20:30] = bytes(10)
    with pytest.raises(ContractFormatError, match="gzip data is corrupt"):
        parse_bytes_stream(io.BytesIO(bytes(whole)), "zerodha")


@pytest.mark.parametrize(
    ("file_name", "format_name", "rows"),
    [
        ("zerodha_instruments.csv", "zerodha", 1817),
        ("angelone_OpenAPIScripMaster.json", "angel", 16),
        ("dhan_dhan_master.csv", "dhan", 755),
        ("upstox_NSE_FO.json", "upstox", 1521),
    ],
)
def test_parse_file_reads_each_sample(file_name: str, format_name: str, rows: int) -> None:
    assert len(parse_file(sample(file_name), format_name).rows) == rows


def test_a_stream_is_read_from_where_it_stands() -> None:
    """A caller that already consumed a prefix (say, its own header) is respected."""
    data = b"ignored prefix|" + sample("zerodha_instruments.csv").read_bytes()
    stream: BinaryIO = io.BytesIO(data)
    stream.read(len(b"ignored prefix|"))
    assert len(parse_bytes_stream(stream, "zerodha").rows) == 1817
