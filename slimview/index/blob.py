"""Reading a stored layer blob, and its fingerprint.

A blob's fingerprint (its identity in the cache when its diff_id was not verified) is a
hash over fixed 16 MiB segments: sha256 of the size and each segment's xxh3-128. Fixed
segments let several processes index parts of one large layer and each hash only its
own segments, and the result is the same however the work was divided.
"""

from __future__ import annotations

import hashlib
import os

import xxhash

from slimview.errors import InputError
from slimview.source.compression import sniff
from slimview.source.model import BlobRef
from slimview.source.tarstream import RangeReader

SEGMENT = 16 << 20
CHUNK = 1 << 20


def fingerprint_from(size: int, segment_digests: list[bytes]) -> str:
    """The fingerprint of ``size`` bytes whose segments hash to ``segment_digests``."""
    if len(segment_digests) != segment_count(size):
        raise ValueError(f"{len(segment_digests)} segment digests for {size} bytes")
    h = hashlib.sha256(f"blob-v2:{size}:".encode())
    for digest in segment_digests:
        h.update(digest)
    return h.hexdigest()


def segment_count(size: int) -> int:
    return max(1, -(-size // SEGMENT))


class BlobReader(RangeReader):
    """Bytes ``[start, size)`` of a blob stored at ``offset`` in ``path``; positions here are
    relative to the blob.

    Every byte read that falls inside ``window`` (segment-aligned) is hashed once, segment
    by segment; ``segment_digests()`` finishes the window (reading what was not read) and
    returns them.
    """

    def __init__(self, path: str, offset: int, size: int, start: int = 0, window: tuple[int, int] | None = None):
        super().__init__(path, offset + start, size - start)
        self._base = offset
        self._size = size
        self._lo, self._hi = window if window is not None else (0, size)
        if self._lo % SEGMENT or (self._hi % SEGMENT and self._hi != size):
            raise ValueError("the hash window must be segment-aligned")
        self._hashed = self._lo  # next window byte to hash
        self._hasher = xxhash.xxh3_128()
        self._digests: list[bytes] = []

    def read(self, n: int = -1) -> bytes:
        pos = self._pos - self._base
        data = super().read(n)  # short only if the file shrank: a truncated tar
        if pos <= self._hashed < pos + len(data) and self._hashed < self._hi:
            self._hash(memoryview(data)[self._hashed - pos : self._hi - pos])
        return data

    def _hash(self, view: memoryview) -> None:
        """Hash ``view``, the window bytes starting at ``self._hashed``, closing each segment."""
        while len(view):
            room = SEGMENT - self._hashed % SEGMENT
            piece, view = view[:room], view[room:]
            self._hasher.update(piece)
            self._hashed += len(piece)
            if self._hashed % SEGMENT == 0 or self._hashed == self._size:
                self._digests.append(self._hasher.digest())
                self._hasher.reset()

    def segment_digests(self) -> list[bytes]:
        """The window's segment digests, after hashing whatever of it was not read yet."""
        while self._hashed < self._hi:
            pos = self._hashed
            data = os.pread(self._fd, min(CHUNK, self._hi - pos), self._base + pos)
            if not data:
                raise InputError(f"{self._hi - pos} bytes of a layer are missing (the archive shrank while it was read)")
            self._hash(memoryview(data))
        if self._lo == self._hi == self._size == 0 and not self._digests:
            self._digests.append(self._hasher.digest())  # the empty blob: one empty segment
        return self._digests


def blob_bytes(blob: BlobRef, offset: int, n: int) -> bytes:
    """Up to ``n`` bytes of ``blob`` from ``offset`` (relative to the blob)."""
    fd = os.open(blob.path, os.O_RDONLY)
    try:
        return os.pread(fd, max(0, min(n, blob.size - offset)), blob.offset + offset)
    finally:
        os.close(fd)


def stored_compression(blob: BlobRef) -> str:
    """How ``blob`` is stored (gzip, zstd, … or none), from its first bytes."""
    return sniff(blob_bytes(blob, 0, 8))


def blob_fingerprint(path: str, offset: int, size: int) -> str:
    """Read a whole blob and return its fingerprint (for callers outside the index)."""
    reader = BlobReader(path, offset, size)
    try:
        return fingerprint_from(size, reader.segment_digests())
    finally:
        reader.close()
