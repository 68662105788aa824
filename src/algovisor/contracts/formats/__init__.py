"""Broker master-contract parsers: one module per file format, each `parse(stream) -> ParseOutcome`.

    zerodha    Kite `instruments` CSV               token = instrument_token
    angel      SmartAPI OpenAPIScripMaster.json     token = token
    dhan       api-scrip-master(-detailed).csv      token = security id (unique per segment)
    upstox     complete.json(.gz)                   token = instrument_key (NSE_FO|43919)
    openalgo   an OpenAlgo server's /api/v1/instruments answer

Every parser reads UTF-8 with or without a byte-order mark, CRLF or LF, and
yields `Instrument`s in OpenAlgo's symbol format. A file that is not the declared
format, or is cut short, raises `ContractFormatError`; a bad row is counted on
the outcome. Parsers neither deduplicate nor validate across rows.
`parse_file` and `parse_bytes_stream` also gunzip, since Upstox serves gzip.
"""

from __future__ import annotations

import gzip
import io
import zlib
from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import BinaryIO

from algovisor.contracts.formats import angel, dhan, openalgo, upstox, zerodha
from algovisor.contracts.records import ContractFormatError, ParseOutcome

Parser = Callable[[BinaryIO], ParseOutcome]

FORMATS: Mapping[str, Parser] = MappingProxyType(
    {
        "zerodha": zerodha.parse,
        "angel": angel.parse,
        "dhan": dhan.parse,
        "upstox": upstox.parse,
        "openalgo": openalgo.parse,
    }
)

_GZIP_MAGIC = b"\x1f\x8b"


def parser_for(format_name: str) -> Parser:
    """The parser of a format by name; an unknown name is refused with the known ones."""
    parser = FORMATS.get(format_name)
    if parser is None:
        known = ", ".join(FORMATS)
        raise ContractFormatError(
            f"unknown master-contract format {format_name!r}; known formats: {known}"
        )
    return parser


def parse_bytes_stream(stream: BinaryIO, format_name: str) -> ParseOutcome:
    """Parse a byte stream in the named format, gunzipping it first if it is gzip data."""
    parser = parser_for(format_name)
    return parser(_gunzipped(stream))


def parse_file(path: Path, format_name: str) -> ParseOutcome:
    """Parse a downloaded master-contract file (plain or gzip) in the named format."""
    parser = parser_for(format_name)
    with path.open("rb") as stream:
        return parser(_gunzipped(stream))


def _gunzipped(stream: BinaryIO) -> BinaryIO:
    """The stream itself, or its decompressed bytes if it starts with the gzip magic.

    Decompressed whole and up front, so a truncated or corrupt archive is reported
    as such here instead of surfacing as EOFError in the middle of a parser.
    """
    if stream.seekable():
        start = stream.tell()
        magic = stream.read(len(_GZIP_MAGIC))
        stream.seek(start)
    else:
        data = stream.read()
        magic = data[: len(_GZIP_MAGIC)]
        stream = io.BytesIO(data)
    if magic != _GZIP_MAGIC:
        return stream
    try:
        return io.BytesIO(gzip.decompress(stream.read()))
    except EOFError as error:
        raise ContractFormatError(
            "the file is cut short: the gzip data ends before its end-of-stream marker"
        ) from error
    except (gzip.BadGzipFile, zlib.error) as error:
        raise ContractFormatError(f"the gzip data is corrupt: {error}") from error
