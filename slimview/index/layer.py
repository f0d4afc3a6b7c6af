"""Index one layer: every entry of its tar, columnar, with content hashes.

A layer is read exactly once, front to back. Columns (``array``/``bytearray``) rather
than one object per entry keep a million-entry image well under a gigabyte and make the
on-disk cache a handful of ``tobytes()`` calls.
"""

from __future__ import annotations

import hashlib
import io
import posixpath
import queue
import threading
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import NamedTuple

import xxhash

from slimview.display import quoted_path
from slimview.elf import Program, read_program
from slimview.errors import InputError, LimitExceeded
from slimview.index.capture import KEY_MARKER, KEY_SCAN_MAX, BodyUse, capture, holds_private_key, not_a_key_file
from slimview.index.secretscan import scan
from slimview.source.compression import DECOMPRESSION_ERRORS, DecompressAhead, PeekableReader, open_decompressed
from slimview.source.model import ByteStream
from slimview.source.tarstream import EntryType, TarError, TarReader, located

WHITEOUT_PREFIX = ".wh."
OPAQUE_MARKER = ".wh..wh..opq"
MAX_PATH_BYTES = 4096
DEFAULT_MAX_ENTRIES = 5_000_000
ZERO_HASH = bytes(16)
# estargz's table of contents and prefetch landmarks: root entries of a gzip layer that
# lazy-pulling snapshotters drop on unpacking; they are not part of the image's files.
ESTARGZ_EXTRAS = frozenset({"stargz.index.json", ".prefetch.landmark", ".no.prefetch.landmark"})


class Entry(NamedTuple):
    """A view of one layer entry (made on demand from the columns)."""

    path: str
    type: int
    size: int
    mode: int
    uid: int
    gid: int
    hash: bytes
    link: str

    @property
    def is_dir(self) -> bool:
        return self.type == EntryType.DIR


@dataclass
class LayerFiles:
    """Everything one layer tar holds, in tar order."""

    paths: list[str] = field(default_factory=list)
    types: bytearray = field(default_factory=bytearray)
    sizes: array = field(default_factory=lambda: array("q"))
    modes: array = field(default_factory=lambda: array("H"))  # permission bits only (tarstream masks 0o7777)
    uids: array = field(default_factory=lambda: array("q"))
    gids: array = field(default_factory=lambda: array("q"))
    hashes: bytearray = field(default_factory=bytearray)  # 16 bytes per entry
    links: dict[int, str] = field(default_factory=dict)  # entry → symlink/hardlink target
    whiteouts: list[str] = field(default_factory=list)  # paths a ``.wh.`` entry deletes
    opaque_dirs: list[str] = field(default_factory=list)  # dirs whose lower children are hidden
    captured: dict[int, bytes] = field(default_factory=dict)  # entry → body kept (see capture.py)
    programs: dict[int, Program] = field(default_factory=dict)  # entry → what its ELF file says (slimview/elf.py)
    # programs passed over, to read later (index/workers.py): (entry, data offset in the tar, bytes)
    unread_programs: list[tuple[int, int, int]] = field(default_factory=list)
    # entry → redacted secret matches (kind, name, fingerprint, line); bodies holding
    # secrets are never kept (see secretscan.py)
    secrets: dict[int, list[tuple[str, str, str, int]]] = field(default_factory=dict)
    tar_digest: str = ""  # sha256 of the uncompressed tar (the layer's diff_id), "" if not digested
    source_key: str = ""  # what identifies this layer's bytes: tar_digest, else a blob fingerprint
    blob_fingerprint: str = ""  # identity of the stored blob, when it was read from a file
    # estargz's own entries left out of the files (path, size): dive counts them as files,
    # so its figures (waste.py) do too
    estargz_extras: list[tuple[str, int]] = field(default_factory=list)
    tar_bytes: int = 0  # length of the uncompressed tar
    compression: str = "none"
    notes: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.paths)

    def entry(self, i: int) -> Entry:
        return Entry(
            self.paths[i],
            self.types[i],
            self.sizes[i],
            self.modes[i],
            self.uids[i],
            self.gids[i],
            bytes(self.hashes[16 * i : 16 * i + 16]),
            self.links.get(i, ""),
        )

    def __iter__(self) -> Iterator[Entry]:
        return (self.entry(i) for i in range(len(self.paths)))

    def hash_at(self, i: int) -> bytes:
        return bytes(self.hashes[16 * i : 16 * i + 16])

    @property
    def file_bytes(self) -> int:
        """Sum of regular file sizes (the layer's size, as dive reports it)."""
        return sum(self.sizes)


def normalise_path(name: str, where: str) -> str:
    """A tar entry name as a clean relative path; '' for the root. Escapes are errors.

    Names are read the way the Docker engine applies a layer (moby's archive.UnpackLayer
    cleans each name and roots it at the layer): a leading ``/`` or ``./`` makes no
    difference, so kaniko's ``/`` root entry and the buildpacks lifecycle's
    ``/workspace/…`` names are the root and ``workspace/…``. A name that still climbs
    out of the root once cleaned (``../x``, ``a/../../x``, ``/../x``) is refused.
    """
    if "\0" in name:
        raise InputError(f"{where}: entry name {name[:80]!r} contains a NUL byte")
    if len(name) > MAX_PATH_BYTES // 4 and len(name.encode("utf-8", "surrogateescape")) > MAX_PATH_BYTES:
        raise LimitExceeded(f"{where}: entry name is {len(name)} characters, over the {MAX_PATH_BYTES}-byte path limit")
    if not name.startswith((".", "/")) and "//" not in name and "/." not in name and not name.endswith("/") and name:
        return name  # already clean: the common case, decided without normpath
    relative = name.lstrip("/")
    path = posixpath.normpath(relative) if relative else "."
    if path == ".":
        return ""
    if path == ".." or path.startswith("../"):
        raise InputError(f"{where}: entry {quoted_path(name)} escapes the image root with '..' (archive corrupt or crafted)")
    return path


def index_layer_stream(
    raw: ByteStream,
    *,
    where: str,
    verify: bool | None = True,
    max_entries: int = DEFAULT_MAX_ENTRIES,
    programs_later: bool = False,
) -> LayerFiles:
    """Read one (possibly compressed) layer stream into a :class:`LayerFiles`.

    ``verify`` digests the whole uncompressed tar with sha256 so it can be checked
    against the config's diff_id (``None``, the default for a blob on disk: not digested;
    with ISA-L inflating, the digest would be a third of a gzip layer's work).
    ``programs_later``: note where programs are instead of reading them now (see
    :func:`read_programs_again`; the stream must be one that can be read again).
    """
    peek = raw if isinstance(raw, PeekableReader) else PeekableReader(raw)
    digester = None
    counter = _Counter()
    stream: DecompressAhead | PeekableReader = peek
    try:
        stream, compression = open_decompressed(peek)
        if verify:
            digester = _BackgroundDigest()
        on_chunk = digester.update if digester else counter.add
        reader = TarReader(stream, on_chunk=on_chunk)
        files = _read_entries(reader, where, max_entries, ESTARGZ_EXTRAS if compression == "gzip" else frozenset(), programs_later)
        reader.drain()
    except _LAYER_ERRORS as exc:
        raise _read_error(exc, where) from None
    finally:
        digest = digester.finish() if digester else None
        if stream is not peek:
            stream.close()  # stops the decompressing thread of a layer read only in part
    files.compression = compression
    if digest is not None:
        files.tar_digest, files.tar_bytes = digest
    else:
        files.tar_bytes = counter.n
    return files


class _BackgroundDigest:
    """sha256 of the whole stream, computed on another thread.

    hashlib releases the GIL on large updates, so digesting overlaps with parsing; the
    bounded queue caps the memory held when the digest falls behind (8 chunks).
    """

    def __init__(self):
        self._queue: queue.Queue = queue.Queue(maxsize=8)
        self._sha = hashlib.sha256()
        self._bytes = 0
        self._thread = threading.Thread(target=self._run, name="layer-digest", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        sha = self._sha
        get = self._queue.get
        while True:
            chunk = get()
            if chunk is None:
                return
            sha.update(chunk)
            self._bytes += len(chunk)

    def update(self, chunk: bytes) -> None:
        self._queue.put(chunk)

    def finish(self) -> tuple[str, int]:
        self._queue.put(None)
        self._thread.join()
        return "sha256:" + self._sha.hexdigest(), self._bytes


class _Counter:
    __slots__ = ("n",)

    def __init__(self):
        self.n = 0

    def add(self, data: bytes) -> None:
        self.n += len(data)


_LAYER_ERRORS: tuple[type[BaseException], ...] = (TarError, *DECOMPRESSION_ERRORS)


def _read_error(exc: BaseException, where: str) -> InputError:
    """A tar or decompression error of the layer ``where`` names, as one line."""
    if isinstance(exc, TarError):
        return located(exc, where)
    detail = str(exc).splitlines()[0][:100] if str(exc) else exc.__class__.__name__
    return InputError(f"{where}: corrupt or truncated layer data ({detail})")


def keep_program(files: LayerFiles, i: int, body: list[bytes] | io.RawIOBase) -> None:
    """Keep what entry ``i``'s body says if it is a program (slimview/elf.py), not the body."""
    if (program := read_program(body)) is not None:
        files.programs[i] = program


def read_programs_again(files: LayerFiles, raw: ByteStream, where: str) -> None:
    """Read the programs :func:`index_layer_stream` passed over (``programs_later``) from
    the layer's (possibly compressed) stream, read again to the last of them."""
    todo = {offset: i for i, offset, _stored in files.unread_programs}
    stream: DecompressAhead | PeekableReader = PeekableReader(raw)
    try:
        stream, _ = open_decompressed(stream)
        reader = TarReader(stream)
        for entry in reader:
            if (i := todo.pop(entry.offset, -1)) >= 0:
                keep_program(files, i, reader.read_chunks(entry.stored))
            if not todo:
                break
    except _LAYER_ERRORS as exc:
        raise _read_error(exc, where) from None
    finally:
        stream.close()


def _scan_for_secrets(files: LayerFiles, i: int, path: str, body: bytes) -> bool:
    """Record the secrets in ``body``; whether there were any."""
    matches = scan(path, body)
    if matches:
        files.secrets[i] = [(m.kind, m.name, m.fingerprint, m.line) for m in matches]
    return bool(matches)


class Scan:
    """What reading a run of entries found besides the entries themselves (see parts.py)."""

    __slots__ = ("files", "duplicates", "sparse", "extra", "unresolved", "stop")

    def __init__(self, files: LayerFiles):
        self.files = files
        self.duplicates = 0
        self.sparse = 0
        self.extra = 0  # what the entry limit counts besides entries (see scan_entries)
        self.unresolved = False  # a hard link whose target was not among these entries
        self.stop: int | None = None  # where the next entry's headers begin, when stopped early


def _read_entries(
    reader: TarReader, where: str, max_entries: int, skip: frozenset[str] = frozenset(), programs_later: bool = False
) -> LayerFiles:
    scan = scan_entries(reader, where, max_entries, skip, programs_later=programs_later)
    files = scan.files
    if len(files.paths) + scan.extra > max_entries:
        raise LimitExceeded(too_many_entries(where, max_entries))
    files.notes.extend(entry_notes(scan.duplicates, scan.sparse))
    return files


def entry_notes(duplicates: int, sparse: int) -> list[str]:
    notes = []
    if duplicates:
        notes.append(f"{duplicates} path(s) appear more than once; the last copy wins")
    if sparse:
        notes.append(f"{sparse} sparse file(s): sizes are apparent sizes, holes included (never expanded)")
    return notes


def _until(reader: TarReader, stop_at: int, scan: Scan) -> Iterator:
    """The entries of ``reader`` up to the first whose headers begin at or after ``stop_at``."""
    for entry in reader:
        yield entry
        end = entry.offset + entry.stored + (-entry.stored % 512)
        if end >= stop_at:
            scan.stop = end
            return


def scan_entries(
    reader: TarReader,
    where: str,
    max_entries: int,
    skip: frozenset[str] = frozenset(),
    stop_at: int | None = None,
    programs_later: bool = False,
) -> Scan:
    """Read entries into columns, to the end of the archive or (``stop_at``) to the first
    entry boundary at or after that offset."""
    files = LayerFiles()
    scan = Scan(files)
    paths = files.paths
    types = files.types
    sizes = files.sizes
    modes = files.modes
    uids = files.uids
    gids = files.gids
    hashes = files.hashes
    links = files.links
    seen: dict[str, int] = {}
    duplicates = 0
    sparse = 0
    # What the entry limit counts besides entries, so that memory stays bounded whatever
    # the shape: whiteouts, directories only implied by deeper paths (a path 2,000 levels
    # deep implies 2,000 of them), and one more for every 256 bytes of a long path.
    extra = 0
    implied: set[str] = set()
    last_parent = None
    for tar_entry in (reader if stop_at is None else _until(reader, stop_at, scan)):
        path = normalise_path(tar_entry.name, where)
        if not path:
            continue  # the root directory itself
        if path in skip:
            files.estargz_extras.append((path, tar_entry.size if tar_entry.type == EntryType.FILE else 0))
            continue
        if len(paths) + extra >= max_entries:
            raise LimitExceeded(too_many_entries(where, max_entries))
        extra += len(path) >> 8
        parent, _, base = path.rpartition("/")
        if parent != last_parent:
            last_parent = d = parent
            while d and d not in seen and d not in implied:
                implied.add(d)
                extra += 1 + (len(d) >> 8)
                d = d.rpartition("/")[0]
        if base.startswith(WHITEOUT_PREFIX):
            extra += 1
            if base == OPAQUE_MARKER:
                files.opaque_dirs.append(parent)
            elif base == WHITEOUT_PREFIX:
                files.notes.append(f"bare whiteout {quoted_path(path)} ignored")
            else:
                name = base[len(WHITEOUT_PREFIX) :]
                files.whiteouts.append(f"{parent}/{name}" if parent else name)
            continue
        type_ = tar_entry.type
        link = ""
        if type_ == EntryType.FILE:
            size = tar_entry.size
            limit, use = capture(path, base, size)
            if limit and tar_entry.stored <= limit and not tar_entry.sparse:
                if use is BodyUse.PROGRAM and programs_later:
                    files.unread_programs.append((len(paths), tar_entry.offset, tar_entry.stored))
                    digest = reader.hash_data()
                elif use is BodyUse.PROGRAM:  # read where it lies: joined, a large body is held twice
                    pieces = reader.read_chunks(limit)
                    hasher = xxhash.xxh3_128()
                    for piece in pieces:
                        hasher.update(piece)
                    digest = hasher.digest()
                    keep_program(files, len(paths), pieces)
                    del pieces
                else:
                    body = reader.read_data(limit)
                    digest = xxhash.xxh3_128_digest(body)
                    secret = bool(use & BodyUse.SCAN) and _scan_for_secrets(files, len(paths), path, body)
                    if use & BodyUse.KEEP and not secret:
                        files.captured[len(paths)] = body
            elif tar_entry.stored <= KEY_SCAN_MAX and not tar_entry.sparse:
                digest, found = reader.hash_and_find(KEY_MARKER, not_a_key_file)
                if found is not None and holds_private_key(found):
                    _scan_for_secrets(files, len(paths), path, found)
            else:
                digest = reader.hash_data()
            if tar_entry.sparse:
                sparse += 1
        else:
            size = 0
            if type_ == EntryType.SYMLINK:
                link = tar_entry.linkname
                digest = xxhash.xxh3_128_digest(link.encode("utf-8", "surrogateescape"))
            elif type_ == EntryType.HARDLINK:
                link = normalise_path(tar_entry.linkname, f"{where}: hard link {quoted_path(path)}")
                if not link:
                    raise InputError(f"{where}: hard link {quoted_path(path)} has an empty or root target")
                target = seen.get(link)
                # Hard links share their target's bytes: size 0 here (as in the tar), same hash.
                if target is not None:
                    digest = bytes(hashes[16 * target : 16 * target + 16])
                else:
                    digest = ZERO_HASH
                    scan.unresolved = True
                if tar_entry.stored:
                    reader.hash_data()  # some writers store the body again; it is not new content
            else:
                digest = ZERO_HASH
        if path in seen:
            duplicates += 1
        seen[path] = len(paths)
        paths.append(path)
        types.append(type_)
        sizes.append(size)
        modes.append(tar_entry.mode)
        uids.append(tar_entry.uid)
        gids.append(tar_entry.gid)
        hashes += digest
        if link:
            links[len(paths) - 1] = link
    scan.duplicates, scan.sparse, scan.extra = duplicates, sparse, extra
    return scan


def too_many_entries(where: str, max_entries: int) -> str:
    return (
        f"{where}: more than {max_entries:,} entries, counting whiteouts, implied directories and long paths "
        "(raise --max-entries if this image is real)"
    )
