"""Compressed streams are decompressed ahead on a thread (source/compression.py): the
reader sees exactly the bytes, the errors and the end a plain decompressor gives, and the
thread never outlives a reader that stopped early."""

from __future__ import annotations

import gzip
import io
import threading

import pytest
import zstandard

from slimview.source import compression
from slimview.source.compression import DECOMPRESSION_ERRORS, DecompressAhead, PeekableReader, open_decompressed

DATA = bytes(range(256)) * 20_000 + b"tail"  # 5 MB: several chunks


def _threads() -> int:
    return sum(1 for t in threading.enumerate() if t.name == "decompress-ahead")


@pytest.mark.parametrize("pack", [gzip.compress, lambda d: zstandard.ZstdCompressor().compress(d)])
@pytest.mark.parametrize("size", [1, 511, 4096, 1 << 20, (1 << 20) + 3, -1])
def test_the_reader_gets_exactly_the_decompressed_bytes(pack, size):
    stream, _kind = open_decompressed(io.BytesIO(pack(DATA)))
    assert isinstance(stream, DecompressAhead)
    got = bytearray()
    if size < 0:
        got += stream.read()
    else:
        for _ in range(200) if size == 1 else iter(int, 1):
            chunk = stream.read(size)
            if not chunk:
                break
            got += chunk
        if size == 1:  # a byte at a time, then the rest
            got += stream.read()
    assert bytes(got) == DATA and stream.read(10) == b""
    stream.close()


def test_a_corrupt_stream_raises_after_the_good_bytes_as_the_plain_decompressor_does(monkeypatch):
    monkeypatch.setattr(compression, "AHEAD_CHUNK", 1000)
    packed = bytearray(gzip.compress(DATA))
    packed[len(packed) // 2] ^= 0xFF
    plain = compression._decompressor(PeekableReader(io.BytesIO(bytes(packed))), "gzip")  # ISA-L, read in turn
    want = bytearray()
    with pytest.raises(DECOMPRESSION_ERRORS):
        while chunk := plain.read(1000):
            want += chunk
    stream, _kind = open_decompressed(io.BytesIO(bytes(packed)))
    got = bytearray()
    with pytest.raises(DECOMPRESSION_ERRORS):
        while chunk := stream.read(1000):
            got += chunk
    assert got == want and stream.read(10) == b""
    stream.close()


def test_a_truncated_stream_raises_at_its_end():
    stream, _kind = open_decompressed(io.BytesIO(gzip.compress(DATA)[:-1000]))
    with pytest.raises(DECOMPRESSION_ERRORS):
        stream.read()
    stream.close()


def test_closing_early_stops_the_thread():
    before = _threads()
    stream, _kind = open_decompressed(io.BytesIO(gzip.compress(DATA * 4)))
    assert stream.read(10) == DATA[:10]
    assert _threads() == before + 1
    stream.close()
    assert _threads() == before


def test_a_reader_dropped_without_closing_stops_its_thread():
    before = _threads()
    stream, _kind = open_decompressed(io.BytesIO(gzip.compress(DATA * 4)))
    stream.read(10)
    thread = next(t for t in threading.enumerate() if t.name == "decompress-ahead")
    del stream
    thread.join(timeout=5)
    assert not thread.is_alive() and _threads() == before
