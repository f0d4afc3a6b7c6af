"""Sniff a stream's compression from its first bytes and open a decompressing reader.

Names and media types lie (``layer.tar`` that is gzipped, ``+gzip`` that is plain), so
the decision is always made from the magic bytes.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import queue
import threading
import zlib
from typing import IO, cast

import zstandard
from isal import igzip, isal_zlib

from slimview.errors import InputError
from slimview.source.model import ByteStream

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
BZIP2_MAGIC = b"BZh"
XZ_MAGIC = b"\xfd7zXZ\x00"

# Errors the decompressors raise on corrupt or truncated input.
DECOMPRESSION_ERRORS: tuple[type[BaseException], ...] = (  # type: ignore[assignment]  # isal's stub types error as an instance
    gzip.BadGzipFile,
    zlib.error,
    isal_zlib.error,
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

    def __init__(self, raw: ByteStream):
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


class ZstdFraming(io.RawIOBase):
    """Pass a zstd stream through unchanged while following its framing, to notice a cut.

    zstandard's stream reader ends quietly when its input stops mid-frame, so a truncated
    layer would read as a short one. Frame and block headers carry their sizes, so the
    framing can be followed without decompressing; EOFError when the input ends inside it.
    """

    _MAGIC, _FRAME_HEADER, _FRAME_REST, _BLOCK, _CHECKSUM, _SKIPPABLE, _UNKNOWN = range(7)

    def __init__(self, raw: ByteStream):
        self._raw = raw
        self._state = self._MAGIC
        self._need = 4  # header bytes the current state wants
        self._head = b""
        self._skip = 0  # bytes of a block (or skippable frame) still to pass
        self._checksum = False

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        data = self._raw.read(n)
        if data:
            self._follow(data)
        elif self._state != self._UNKNOWN and (self._skip or self._head or self._state != self._MAGIC):
            raise EOFError("zstd data is truncated (the stream ends inside a frame)")
        return data

    def readinto(self, buffer) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def _follow(self, data: bytes) -> None:
        pos, end = 0, len(data)
        while pos < end and self._state != self._UNKNOWN:
            if self._skip:
                step = min(self._skip, end - pos)
                self._skip -= step
                pos += step
                continue
            take = min(self._need - len(self._head), end - pos)
            self._head += data[pos : pos + take]
            pos += take
            if len(self._head) == self._need:
                head, self._head = self._head, b""
                self._advance(head)

    def _advance(self, head: bytes) -> None:
        state = self._state
        if state == self._MAGIC:
            if head == ZSTD_MAGIC:
                self._state, self._need = self._FRAME_HEADER, 1
            elif head[1:] == b"\x2a\x4d\x18" and head[0] & 0xF0 == 0x50:
                self._state, self._need = self._SKIPPABLE, 4
            else:
                self._state = self._UNKNOWN  # not zstd framing: the decompressor will say so
        elif state == self._FRAME_HEADER:
            descriptor = head[0]
            single_segment = descriptor >> 5 & 1
            self._checksum = bool(descriptor >> 2 & 1)
            content_size = (1 if single_segment else 0, 2, 4, 8)[descriptor >> 6]
            rest = (0 if single_segment else 1) + (0, 1, 2, 4)[descriptor & 3] + content_size
            self._state, self._need = (self._FRAME_REST, rest) if rest else (self._BLOCK, 3)
        elif state == self._FRAME_REST:
            self._state, self._need = self._BLOCK, 3
        elif state == self._BLOCK:
            value = int.from_bytes(head, "little")
            block_type = value >> 1 & 3
            if block_type == 3:
                self._state = self._UNKNOWN  # reserved: corrupt, the decompressor will say so
                return
            self._skip = 1 if block_type == 1 else value >> 3
            if value & 1:  # the frame's last block
                self._state, self._need = (self._CHECKSUM, 4) if self._checksum else (self._MAGIC, 4)
        elif state == self._CHECKSUM:
            self._state, self._need = self._MAGIC, 4
        elif state == self._SKIPPABLE:
            self._skip = int.from_bytes(head, "little")
            self._state, self._need = self._MAGIC, 4


def media_type_compression(media_type: str) -> str:
    """The compression a layer's media type declares (``…tar+zstd`` → zstd); "none" for plain
    tars and for layers known by no media type (an engine's)."""
    if media_type.endswith("+zstd"):
        return "zstd"
    if media_type.endswith(("+gzip", ".tar.gzip")):
        return "gzip"
    return "none"


def open_decompressed(raw: ByteStream) -> tuple[DecompressAhead | PeekableReader, str]:
    """Wrap ``raw`` in a decompressor chosen from its magic bytes, decompressing ahead on a
    thread of its own (see DecompressAhead); returns (reader, kind). Close the reader when
    done with it before its end."""
    peekable = raw if isinstance(raw, PeekableReader) else PeekableReader(raw)
    kind = sniff(peekable.peek(6))
    if kind == "none":
        return peekable, kind
    return DecompressAhead(_decompressor(peekable, kind)), kind


def _decompressor(peekable: PeekableReader, kind: str) -> IO[bytes]:
    # The decompressors want a file object; they only ever call its read().
    fileobj = cast(IO[bytes], peekable)
    if kind == "gzip":
        # ISA-L's inflate: 2.5 times the throughput of zlib's on layer data (bench/README).
        return cast(IO[bytes], igzip.GzipFile(fileobj=fileobj, mode="rb"))
    if kind == "zstd":
        framed = cast(IO[bytes], ZstdFraming(peekable))
        return cast(IO[bytes], zstandard.ZstdDecompressor().stream_reader(framed, read_across_frames=True))
    if kind == "xz":
        return cast(IO[bytes], lzma.LZMAFile(fileobj))
    if kind == "bzip2":
        return cast(IO[bytes], bz2.BZ2File(fileobj))
    raise InputError(f"unsupported compression {kind}")  # pragma: no cover - sniff is exhaustive


AHEAD_CHUNK = 1 << 20
AHEAD_DEPTH = 4  # chunks decompressed and not yet read, at most


class DecompressAhead(io.RawIOBase):
    """A decompressor's output, produced on a thread of its own a few chunks ahead.

    Every decompressor here (ISA-L, zstd, xz, bzip2) releases the GIL while it works, so
    a compressed layer is inflated on one CPU while the tar it yields is parsed and
    hashed on another, instead of in turn: the gzip sample's largest layer (577 MB) took
    inflate plus parse, now about the inflate alone. The thread stops at the end of the
    stream, on the decompressor's error (raised here, to the reader, in order), or when
    this reader is closed (or collected).
    """

    def __init__(self, source: IO[bytes]):
        self._queue: queue.Queue[bytes | BaseException] = queue.Queue(maxsize=AHEAD_DEPTH)
        self._stop = threading.Event()
        self._chunk = b""
        self._at = 0
        self._ended = False
        # The thread holds no reference to this reader, so dropping it stops the thread.
        self._thread = threading.Thread(
            target=_decompress_into, args=(source, self._queue, self._stop), name="decompress-ahead", daemon=True
        )
        self._thread.start()

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        if n < 0:
            return b"".join(iter(lambda: self.read(AHEAD_CHUNK), b""))
        while self._at >= len(self._chunk):
            if self._ended:
                return b""
            item = self._queue.get()
            if isinstance(item, BaseException):
                self._ended = True
                raise item
            if not item:
                self._ended = True
                return b""
            self._chunk, self._at = item, 0
        if self._at == 0 and n >= len(self._chunk):
            data, self._chunk = self._chunk, b""
            return data
        data = self._chunk[self._at : self._at + n]
        self._at += len(data)
        return data

    def close(self) -> None:
        if not self.closed:
            self._stop.set()
            while self._thread.is_alive():
                try:
                    self._queue.get(timeout=0.05)  # unblock a put
                except queue.Empty:
                    pass
            self._thread.join()
        super().close()


def _decompress_into(source: IO[bytes], out: queue.Queue, stop: threading.Event) -> None:
    """Read ``source`` a chunk at a time into ``out``: b"" at its end, or the error it raised."""

    def put(item: bytes | BaseException) -> bool:
        while not stop.is_set():
            try:
                out.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    try:
        while not stop.is_set():
            data = source.read(AHEAD_CHUNK)
            if not put(data) or not data:
                return
    except BaseException as exc:  # handed to the reader, who raises it
        put(exc)
