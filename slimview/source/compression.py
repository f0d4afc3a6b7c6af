"""Sniff a stream's compression from its first bytes and open a decompressing reader.

Names and media types lie (``layer.tar`` that is gzipped, ``+gzip`` that is plain), so
the decision is always made from the magic bytes.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import zlib
from typing import BinaryIO

import zstandard

from slimview.errors import InputError

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
BZIP2_MAGIC = b"BZh"
XZ_MAGIC = b"\xfd7zXZ\x00"

# Errors the decompressors raise on corrupt or truncated input.
DECOMPRESSION_ERRORS = (
    gzip.BadGzipFile,
    zlib.error,
    EOFError,
    zstandard.ZstdError,
    lzma.LZMAError,
    OSError,
)


def sniff(head: bytes) -> str:
    """Name the compression of a stream starting with ``head``: gzip, zstd, bzip2, xz or none."""
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    if head.startswith(ZSTD_MAGIC):
        return "zstd"
    if head.startswith(XZ_MAGIC):
        return "xz"
    if head.startswith(BZIP2_MAGIC) and len(head) >= 4 and head[3:4].isdigit():
        return "bzip2"
    return "none"


class PeekableReader(io.RawIOBase):
    """A forward-only reader that lets the first bytes be looked at before reading."""

    def __init__(self, raw: BinaryIO):
        self._raw = raw
        self._head = b""

    def peek(self, n: int) -> bytes:
        while len(self._head) < n:
            more = self._raw.read(n - len(self._head))
            if not more:
                break
            self._head += more
        return self._head[:n]

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        if self._head:
            if n < 0:
                data, self._head = self._head + self._raw.read(), b""
                return data
            data, self._head = self._head[:n], self._head[n:]
            if len(data) < n:
                data += self._raw.read(n - len(data))
            return data
        return self._raw.read(n)

    def readinto(self, buffer) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def open_decompressed(raw: BinaryIO) -> tuple[BinaryIO, str]:
    """Wrap ``raw`` in a decompressor chosen from its magic bytes; returns (reader, kind)."""
    peekable = raw if isinstance(raw, PeekableReader) else PeekableReader(raw)
    kind = sniff(peekable.peek(6))
    if kind == "none":
        return peekable, kind
    if kind == "gzip":
        return gzip.GzipFile(fileobj=peekable, mode="rb"), kind
    if kind == "zstd":
        return zstandard.ZstdDecompressor().stream_reader(peekable, read_across_frames=True), kind
    if kind == "xz":
        return lzma.LZMAFile(peekable), kind
    if kind == "bzip2":
        return bz2.BZ2File(peekable), kind
    raise InputError(f"unsupported compression {kind}")  # pragma: no cover - sniff is exhaustive
