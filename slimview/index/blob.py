"""Reading a stored layer blob, and its fingerprint.

A blob's fingerprint (its identity in the cache when its diff_id was not verified) is a
hash over fixed 16 MiB segments: sha256 of the size and each segment's xxh3-128. Fixed
segments let several processes index parts of one large layer and each hash only its
own segments, and the result is the same however the work was divided.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import deque

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

    Every byte read that falls inside ``window`` (segment-aligned; empty when no fingerprint
    is wanted) is hashed once, segment by segment; ``segment_digests()`` finishes the window
    (reading what was not read) and returns them.
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


class ReadAhead:
    """Has the kernel read the byte ranges that jobs will parse into the page cache ahead
    of them (``posix_fadvise(WILLNEED)``), from a thread of the process that only waits
    for the jobs otherwise.

    Workers parsing small files keep the CPUs busy while the disk would sit idle, and a
    worker hashing a big file reads one stream at a time; asked ahead, the disk reads
    throughout. ``ranges`` are ``(path, offset, size)`` in the order the jobs were
    submitted; at most ``budget`` bytes are asked for beyond the jobs that are done, so
    pages are not evicted again before their job reads them.
    """

    STEP = 8 << 20
    DEPTH = 4  # steps asked for and not known to have arrived

    def __init__(self, ranges: list[tuple[str, int, int]], budget: int):
        self._ranges = ranges
        self._budget = budget
        self._asked = [0] * len(ranges)  # bytes asked for, per job
        self._done = [False] * len(ranges)
        self._outstanding = 0  # bytes asked for whose job is not done
        self._stopped = False
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="read-ahead", daemon=True)

    def __enter__(self) -> ReadAhead:
        if hasattr(os, "posix_fadvise") and self._ranges and self._budget >= self.STEP:
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        with self._changed:
            self._stopped = True
            self._changed.notify()
        if self._thread.is_alive():
            self._thread.join()

    def done(self, job: int) -> None:
        """Job ``job`` has read its bytes: they no longer count against the budget."""
        with self._changed:
            self._done[job] = True
            self._outstanding -= self._asked[job]
            self._changed.notify()

    def _run(self) -> None:
        fds: dict[str, int] = {}
        in_flight: deque[tuple[int, int, int]] = deque()  # (fd, 1, offset): each step's last byte
        try:
            for job, (path, offset, size) in enumerate(self._ranges):
                if path not in fds:
                    fds[path] = os.open(path, os.O_RDONLY)
                pos, end = offset, offset + size
                while pos < end:
                    step = min(self.STEP, end - pos)
                    with self._changed:
                        while not self._stopped and not self._done[job] and self._outstanding + step > self._budget:
                            self._changed.wait()
                        if self._stopped:
                            return
                        if self._done[job]:
                            break
                        self._asked[job] += step
                        self._outstanding += step
                    os.posix_fadvise(fds[path], pos, step, os.POSIX_FADV_WILLNEED)
                    in_flight.append((fds[path], 1, pos + step - 1))
                    if len(in_flight) > self.DEPTH:
                        # Wait for the oldest step to arrive (its last byte does last), so only
                        # a few steps queue up ahead of what the jobs read themselves: a slow
                        # disk would otherwise serve seconds of read-ahead first.
                        os.pread(*in_flight.popleft())
                    pos += step
        except OSError:
            return  # only a hint: the jobs read (and report) for themselves
        finally:
            for fd in fds.values():
                os.close(fd)


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
