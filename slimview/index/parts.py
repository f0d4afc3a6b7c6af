"""Index one large uncompressed layer in parts, in parallel processes.

A tar can only be parsed front to back, yet one layer often holds most of an image. So
a large stored-uncompressed layer is cut at fixed offsets into parts, and each part is
indexed on its own:

* the first part starts at the layer's start; every other part *resyncs*: it starts at
  the first 512-byte-aligned block after its cut that looks like a ustar header;
* every part but the last stops at the first entry boundary at or after its end, and
  reports that offset.

The parts are then checked against each other: each part must have started exactly where
the one before it stopped. A part stops only at a real boundary (it parsed its way
there from a real one), so a part that started there read what a single pass would have
read. A resync that landed on something else (a tar stored inside the layer, a long-name
header's entry) fails the check, and the layer is indexed in one pass instead: the parts
can only ever be faster, never different. What a single pass carries from one entry to
the next is carried across the cut: hard-link targets, duplicate paths; a global PAX
header (never seen in layers) sends the layer to one pass.

Each part also hashes its own fixed segments of the blob for the layer's fingerprint
(see blob.py), so the fingerprint does not depend on how the work was divided; without a
cache to file the layer under it, no part hashes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from slimview.errors import InputError, LimitExceeded
from slimview.index.blob import CHUNK, SEGMENT, BlobReader, blob_bytes, fingerprint_from, segment_count, stored_compression
from slimview.index.layer import LayerFiles, Scan, entry_notes, scan_entries, too_many_entries
from slimview.index.memory import tune_allocator
from slimview.source.model import BlobRef
from slimview.source.tarstream import BLOCK, EntryType, TarReader, checksum_ok

PART_MIN = 4 * SEGMENT  # smaller parts cost more in hand-over than they save
# Larger parts than this are cut smaller even when few workers share a large image: a
# layer of many small files costs far more per byte than one of a few big ones, and cut
# by bytes alone it went whole to one worker (a 10 GB image: 500,000 small files in one
# 500 MB part kept one CPU busy for 20 s while the other finished early).
PART_MAX = 8 * SEGMENT
MAX_PARTS = 64
SAMPLE = 64 << 10


@dataclass(frozen=True)
class Part:
    layer: int
    lo: int  # blob-relative, segment-aligned
    hi: int  # the next part's lo, or the blob's size

    @property
    def size(self) -> int:
        return self.hi - self.lo


@dataclass
class PartResult:
    part: Part
    files: LayerFiles | None = None
    start: int | None = None  # where this part's first entry begins (None: no header found)
    stop: int | None = None  # where the entry after its last begins (None: the archive ended)
    scan: Scan | None = None
    global_pax: bool = False
    failed: bool = False  # the part raised: a single pass decides whether that is real
    # No header begins in the part: an entry that began before it spans it (a big file).
    spanned: bool = False
    digests: list[bytes] = field(default_factory=list)


def splittable(blob: BlobRef) -> bool:
    """A blob worth cutting: large, and stored uncompressed (a compressed stream cannot be
    entered in the middle)."""
    return blob.size >= 2 * PART_MIN and stored_compression(blob) == "none"


def plan(blobs: list[tuple[int, int]], workers: int) -> list[Part]:
    """Cut ``(layer, size)`` blobs into parts, a few per worker so the pool can balance them;
    the largest first."""
    total = sum(size for _layer, size in blobs)
    target = min(max(PART_MIN, total // (4 * max(workers, 1))), PART_MAX)
    parts: list[Part] = []
    for layer, size in blobs:
        segments = segment_count(size)
        n = max(1, min(max(size // target, -(-size // PART_MAX)), MAX_PARTS, segments))
        cuts = [round(segments * k / n) * SEGMENT for k in range(n)] + [size]
        parts.extend(Part(layer, lo, hi) for lo, hi in zip(cuts, cuts[1:]))
    return sorted(parts, key=lambda p: p.size, reverse=True)


def sampled_entries(blob: BlobRef, part: Part) -> int:
    """How many entries begin in ``part``, estimated from the headers in its first 64 KiB:
    what a part costs in CPU, which its size does not tell (a part of small files costs
    a hundred times one that a big file spans)."""
    sample = blob_bytes(blob, part.lo, min(SAMPLE, part.size))
    return sum(1 for _ in _magic_blocks(sample)) * part.size // max(len(sample), 1)


class _Prefixed:
    """``head`` (bytes already read), then the rest of ``raw``."""

    def __init__(self, head: bytes, raw: BlobReader):
        self._head = head
        self._raw = raw

    def read(self, n: int = -1) -> bytes:
        if self._head:
            data, self._head = self._head, b""
            return data
        return self._raw.read(n)


def _resync(reader: BlobReader, lo: int, hi: int) -> tuple[int | None, bytes]:
    """The first aligned block in [``lo``, ``hi``) that passes as a ustar header, and the bytes
    read from it on; (None, b"") when there is none. Looking further would read on to the
    end of whatever big file spans the part, once for every part it spans."""
    pos = lo
    while pos < hi:
        chunk = reader.read(CHUNK)
        if not chunk:
            return None, b""
        for start in _magic_blocks(chunk):
            if pos + start >= hi:
                return None, b""
            if start + BLOCK <= len(chunk) and checksum_ok(chunk[start : start + BLOCK]):
                return pos + start, chunk[start:]
        pos += len(chunk)
    return None, b""


def _magic_blocks(chunk: bytes) -> Iterator[int]:
    """Where in ``chunk`` (which starts on a block boundary) the blocks begin that carry
    ustar's magic at byte 257, in order. Only each block's byte 257 is searched for the
    magic's first letter: 25 times faster than searching every byte for the word (2 GB/s),
    which made the parts a big file spans cost as much CPU as 500,000 small files."""
    column = chunk[257::BLOCK]
    j = column.find(b"u")
    while j >= 0:
        start = j * BLOCK
        if chunk[start + 257 : start + 262] == b"ustar":
            yield start
        j = column.find(b"u", j + 1)


def index_part(blob: BlobRef, part: Part, where: str, max_entries: int, fingerprint: bool = True) -> PartResult:
    """Index the entries of ``blob`` whose headers begin in ``part`` (see the module doc),
    hashing the part's segments for the blob's fingerprint if asked."""
    tune_allocator()
    result = PartResult(part)
    last = part.hi == blob.size
    window = (part.lo, part.hi if fingerprint else part.lo)
    reader = BlobReader(blob.path, blob.offset, blob.size, start=part.lo, window=window)
    try:
        try:
            start, head = (0, b"") if part.lo == 0 else _resync(reader, part.lo, blob.size if last else part.hi)
            result.start = start
            if start is None and not last:
                result.files, result.spanned = LayerFiles(), True
            elif start is not None:
                tar = TarReader(_Prefixed(head, reader), start_offset=start)
                scan = scan_entries(tar, where, max_entries, stop_at=None if last else part.hi)
                result.files, result.scan, result.stop = scan.files, scan, scan.stop
                result.global_pax = tar.has_global_pax
        except InputError:
            result.failed = True
            result.files = result.scan = None
        if fingerprint:
            result.digests = reader.segment_digests()
    finally:
        reader.close()
    return result


def combine(results: list[PartResult], blob: BlobRef, where: str, max_entries: int) -> LayerFiles | None:
    """The layer's index from its parts' (in order), or None when they do not join up
    exactly (the caller then indexes the layer in one pass)."""
    used: list[PartResult] = []
    for k, result in enumerate(results):
        if result.failed or result.start is None and k == 0:
            return None
        if k > 0:
            before = used[-1]
            if before.stop is None or _ends_at(blob, before.stop):
                break  # the archive ended in (or right after) the part before: the rest is not part of it
            if result.spanned:
                if before.stop < result.part.hi:
                    return None  # a single pass has an entry beginning in this part; the part found none
                continue
            if result.start != before.stop:
                return None
        used.append(result)
    if any(r.global_pax for r in used[:-1]):
        return None
    files = LayerFiles()
    extra = sparse = 0
    for result in used:
        assert result.files is not None, "a part that did not fail has its files"
        _append(files, result.files, result.scan is not None and result.scan.unresolved)
        if result.scan is not None:
            extra += result.scan.extra
            sparse += result.scan.sparse
        result.files = result.scan = None  # appended: let the part's columns go
    if len(files.paths) + extra > max_entries:
        raise LimitExceeded(too_many_entries(where, max_entries))
    files.notes.extend(entry_notes(len(files.paths) - len(set(files.paths)), sparse))
    files.tar_bytes = blob.size
    files.compression = "none"
    digests = [d for r in results for d in r.digests]
    if digests:  # none when the parts were not asked to hash (see index_part)
        files.blob_fingerprint = fingerprint_from(blob.size, digests)
    return files


def _ends_at(blob: BlobRef, offset: int) -> bool:
    """Does a single pass end the archive at ``offset`` (its end, or an end-of-archive block)?"""
    if offset == blob.size:
        return True
    block = blob_bytes(blob, offset, BLOCK)
    return len(block) == BLOCK and block.count(0) == BLOCK


def _append(files: LayerFiles, part: LayerFiles, unresolved: bool) -> None:
    base = len(files.paths)
    files.paths.extend(part.paths)
    files.types.extend(part.types)
    files.sizes.extend(part.sizes)
    files.modes.extend(part.modes)
    files.uids.extend(part.uids)
    files.gids.extend(part.gids)
    files.hashes.extend(part.hashes)
    files.whiteouts.extend(part.whiteouts)
    files.opaque_dirs.extend(part.opaque_dirs)
    files.notes.extend(part.notes)
    for i, link in part.links.items():
        files.links[base + i] = link
    for i, body in part.captured.items():
        files.captured[base + i] = body
    for i, found in part.secrets.items():
        files.secrets[base + i] = found
    for i, program in part.programs.items():
        files.programs[base + i] = program
    if unresolved and base:
        _relink(files, base)


def _relink(files: LayerFiles, base: int) -> None:
    """Give the hard links from ``base`` on their targets' hashes, as one pass would have:
    the target is the path's latest entry before the link, possibly in an earlier part."""
    latest = {path: i for i, path in enumerate(files.paths[:base])}
    hashes, types, paths, links = files.hashes, files.types, files.paths, files.links
    zero = bytes(16)
    for i in range(base, len(paths)):
        if types[i] == EntryType.HARDLINK:
            target = latest.get(links[i])
            hashes[16 * i : 16 * i + 16] = hashes[16 * target : 16 * target + 16] if target is not None else zero
        latest[paths[i]] = i

