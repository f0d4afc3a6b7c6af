"""A forward-only tar reader built for speed and for hostile input.

``tarfile`` is general but slow per entry and raises a zoo of exceptions on bad input.
This reader parses ustar, GNU (long names, base-256 numbers, old sparse) and PAX
(long names, large sizes, sparse 0.x/1.0) headers straight out of a large read buffer,
hashes file bodies without copying them, and turns every malformation into one
:class:`~slimview.errors.InputError`. It never writes anything to disk.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterator
from zlib import adler32

import xxhash

from slimview.errors import InputError, LimitExceeded
from slimview.source.model import ByteStream

BLOCK = 512
CHUNK = 1 << 20
# Largest GNU long-name or PAX block accepted; real ones are a few hundred bytes.
MAX_META_BYTES = 1 << 20


class EntryType:
    """Entry types, numbered like tar's typeflag digits."""

    FILE = 0
    HARDLINK = 1
    SYMLINK = 2
    CHAR = 3
    BLOCK = 4
    DIR = 5
    FIFO = 6

    NAMES = ("file", "hardlink", "symlink", "char", "block", "dir", "fifo")


_TYPEFLAGS = {
    b"0": EntryType.FILE,
    b"\0": EntryType.FILE,
    b"7": EntryType.FILE,
    b"1": EntryType.HARDLINK,
    b"2": EntryType.SYMLINK,
    b"3": EntryType.CHAR,
    b"4": EntryType.BLOCK,
    b"5": EntryType.DIR,
    b"D": EntryType.DIR,
    b"6": EntryType.FIFO,
    b"S": EntryType.FILE,
}


class TarError(InputError):
    """The stream is not a well-formed tar. Callers add where it happened: see :func:`located`."""


class TarLimitExceeded(TarError, LimitExceeded):
    """A tar header or member exceeds a safety limit."""


class TruncatedError(TarError):
    """The stream ended inside a header or an entry's data."""


def located(exc: TarError, where: str) -> InputError:
    """``exc`` as a plain InputError (LimitExceeded for limits) that names what was being read."""
    cls = LimitExceeded if isinstance(exc, LimitExceeded) else InputError
    return cls(f"{where}: {exc}")


# Sizes and ids are kept in 64-bit columns; a header claiming more is malformed.
INT64_LIMIT = 1 << 63


class TarEntry:
    """One member: metadata plus where its data starts in the (decompressed) stream."""

    __slots__ = ("name", "type", "size", "mode", "uid", "gid", "linkname", "offset", "stored", "sparse", "xattrs")

    def __init__(self, name, type_, size, mode, uid, gid, linkname, offset, stored, sparse, xattrs):
        self.name: str = name
        self.type: int = type_
        self.size: int = size  # logical size (a sparse file's apparent size)
        self.mode: int = mode
        self.uid: int = uid
        self.gid: int = gid
        self.linkname: str = linkname
        self.offset: int = offset  # where the stored data begins
        self.stored: int = stored  # bytes of data stored in the archive
        self.sparse: bool = sparse
        self.xattrs: tuple[str, ...] = xattrs

    def __repr__(self) -> str:
        return f"TarEntry({self.name!r}, {EntryType.NAMES[self.type]}, size={self.size})"


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


def _cstr(field: bytes) -> bytes:
    end = field.find(b"\0")
    return field if end < 0 else field[:end]


def _number(field: bytes, what: str) -> int:
    if field and field[0] & 0x80:
        # GNU base-256: 0x80 marks a positive, 0xff a negative two's-complement number.
        value = int.from_bytes(field[1:], "big")
        if field[0] == 0xFF:
            value -= 1 << (8 * (len(field) - 1))
        return value
    try:
        return int(field.strip(b" \0") or b"0", 8)  # the common case: NUL/space padded octal
    except ValueError:
        pass
    text = _cstr(field).strip(b" \0")
    if not text:
        return 0
    try:
        return int(text, 8)
    except ValueError:
        raise TarError(f"tar header has a malformed {what} field {field!r}") from None


def checksum_ok(block: bytes) -> bool:
    """Does a 512-byte header block carry a valid checksum (unsigned, or old writers' signed)?"""
    end = block.find(0, 148, 156)
    stored = block[148 : end if end >= 0 else 156].strip(b" \0")
    try:
        expected = int(stored, 8)
    except ValueError:
        return False
    if len(block) <= BLOCK:
        # The sum in C, five times faster than sum(): adler32's low half is 1 + the byte sum
        # mod 65521, which is the exact sum for pieces of at most 256 bytes (256 * 255 < 65521).
        unsigned = (adler32(block[:148]) & 0xFFFF) + (adler32(block[156:404]) & 0xFFFF) + (adler32(block[404:]) & 0xFFFF) - 3 + 8 * 0x20
    else:
        unsigned = sum(block) - sum(block[148:156]) + 8 * 0x20
    if expected == unsigned:
        return True
    high = sum(1 for b in block[:148] + block[156:] if b > 127)
    return expected == unsigned - 256 * high


def _parse_pax(data: bytes) -> dict[str, str]:
    records: dict[str, str] = {}
    pos = 0
    while pos < len(data):
        if data[pos] == 0:
            break  # some writers pad the block with NULs
        space = data.find(b" ", pos)
        if space < 0:
            raise TarError("tar has a malformed PAX header (no length)")
        try:
            length = int(data[pos:space])
        except ValueError:
            raise TarError("tar has a malformed PAX header (bad length)") from None
        end = pos + length
        if length <= 0 or end > len(data) or data[end - 1 : end] != b"\n":
            raise TarError("tar has a malformed PAX header (record overruns)")
        key, eq, value = data[space + 1 : end - 1].partition(b"=")
        if not eq:
            raise TarError("tar has a malformed PAX header (no '=')")
        records[_decode(key)] = _decode(value)
        pos = end
    return records


class TarReader:
    """Iterate the members of a tar stream, reading it exactly once, front to back.

    ``on_chunk`` sees every byte read from ``raw`` (used to digest a whole layer while
    indexing it). With ``seekable=True`` large skips seek instead of reading.
    """

    def __init__(
        self,
        raw: ByteStream,
        *,
        on_chunk: Callable[[bytes], object] | None = None,
        seekable: bool = False,
        chunk_size: int = CHUNK,
        start_offset: int = 0,
    ):
        self._raw = raw
        self._on_chunk = on_chunk
        # Large skips seek in a file read directly (nothing watches the bytes go by).
        self._file = raw if seekable and on_chunk is None and isinstance(raw, io.IOBase) else None
        self._chunk = chunk_size
        self._buf = b""
        self._pos = 0
        self.offset = start_offset  # stream offset of the next unread byte
        self._pending: TarEntry | None = None  # entry whose data is not consumed yet
        self._global_pax: dict[str, str] = {}
        self._global_bytes = 0
        # Parsed (mode, uid, gid) by their raw 24 header bytes: a layer repeats a handful.
        self._ids: dict[bytes, tuple[int, int, int]] = {}
        self.ended_cleanly = False

    @property
    def has_global_pax(self) -> bool:
        """Has a global PAX header been read (it applies to every later entry)?"""
        return bool(self._global_pax)

    # -- buffer ---------------------------------------------------------------------------
    def _fill(self) -> bool:
        """Replace the used-up buffer with the next chunk."""
        data = self._raw.read(self._chunk)
        if not data:
            return False
        if self._on_chunk is not None:
            self._on_chunk(data)
        self._buf = data
        self._pos = 0
        return True

    def _take(self, n: int) -> bytes:
        return b"".join(self._take_chunks(n))

    def _take_chunks(self, n: int) -> list[bytes]:
        pos = self._pos
        if pos + n <= len(self._buf):
            self._pos = pos + n
            self.offset += n
            return [self._buf[pos : pos + n]]
        data = self._chunks_across(n)
        if data is None:
            raise TruncatedError("archive is truncated (ended inside a tar header or entry)")
        return data

    def _take_across(self, n: int) -> bytes | None:
        """The next ``n`` bytes when they run past the buffer; None if the stream ends first."""
        parts = self._chunks_across(n)
        return None if parts is None else b"".join(parts)

    def _chunks_across(self, n: int) -> list[bytes] | None:
        """:meth:`_take_across`, as the chunks the bytes were read in (joining a large body
        would hold it twice for a moment).

        The last chunk read becomes the buffer as it is rather than being copied onto the
        leftover. At the end of the stream all that was read stays buffered.
        """
        parts = [self._buf[self._pos :]]
        need = n - len(parts[0])
        while True:
            data = self._raw.read(self._chunk)
            if not data:
                self._buf = b"".join(parts)
                self._pos = 0
                return None
            if self._on_chunk is not None:
                self._on_chunk(data)
            if len(data) >= need:
                parts.append(data[:need])
                self._buf = data
                self._pos = need
                self.offset += n
                return parts
            parts.append(data)
            need -= len(data)

    def _skip(self, n: int) -> None:
        avail = len(self._buf) - self._pos
        if n <= avail:
            self._pos += n
            self.offset += n
            return
        self._pos = len(self._buf)
        self.offset += avail
        n -= avail
        if self._file is not None and n > self._chunk:
            here = self._file.tell()
            end = self._file.seek(0, io.SEEK_END)
            if here + n > end:
                raise TruncatedError("archive is truncated (an entry's data runs past the end)")
            self._file.seek(here + n)
            self.offset += n
            return
        while n > 0:
            data = self._raw.read(min(n, self._chunk))
            if not data:
                raise TruncatedError("archive is truncated (an entry's data runs past the end)")
            if self._on_chunk is not None:
                self._on_chunk(data)
            n -= len(data)
            self.offset += len(data)

    def _padding(self, size: int) -> int:
        return -size % BLOCK

    # -- data access for the current entry --------------------------------------------------
    def read_data(self, limit: int) -> bytes:
        """Read the current entry's whole data (at most ``limit`` bytes, else LimitExceeded)."""
        return b"".join(self.read_chunks(limit))

    def read_chunks(self, limit: int) -> list[bytes]:
        """:meth:`read_data`, as the pieces the data was read in (one when it was buffered)."""
        entry = self._pending
        if entry is None:
            raise RuntimeError("no current entry")
        if entry.stored > limit:
            raise TarLimitExceeded(f"archive member {entry.name!r} is {entry.stored} bytes, over the {limit}-byte limit")
        data = self._take_chunks(entry.stored)
        self._skip(self._padding(entry.stored))
        self._pending = None
        return data

    def hash_data(self) -> bytes:
        """Consume the current entry's data, returning its 128-bit xxh3 digest."""
        entry = self._pending
        if entry is None:
            raise RuntimeError("no current entry")
        self._pending = None
        n = entry.stored
        pos = self._pos
        avail = len(self._buf) - pos
        if n <= avail:
            digest = xxhash.xxh3_128_digest(memoryview(self._buf)[pos : pos + n])
            self._pos = pos + n
            self.offset += n
        else:
            hasher = xxhash.xxh3_128()
            hasher.update(memoryview(self._buf)[self._pos :])
            self.offset += avail
            self._pos = len(self._buf)
            left = n - avail
            while left > 0:
                data = self._raw.read(self._chunk)
                if not data:
                    raise TruncatedError(f"archive is truncated (inside the data of {entry.name!r})")
                if self._on_chunk is not None:
                    self._on_chunk(data)
                if len(data) > left:
                    # Read past this entry: keep the rest buffered for the next header.
                    hasher.update(memoryview(data)[:left])
                    self._buf = data
                    self._pos = left
                    self.offset += left
                    left = 0
                else:
                    hasher.update(data)
                    self.offset += len(data)
                    left -= len(data)
            digest = hasher.digest()
        self._skip(self._padding(n))
        return digest

    def hash_and_find(self, marker: bytes, skip: Callable[[bytes], bool] = lambda head: False) -> tuple[bytes, bytes | None]:
        """Digest the current (small) entry; also return its body if it contains ``marker``,
        unless ``skip`` says from its first 8 bytes that it is not worth searching."""
        entry = self._pending
        if entry is None:
            raise RuntimeError("no current entry")
        n = entry.stored
        buf = self._buf
        start = self._pos
        end = start + n
        if end <= len(buf):
            self._pos = end
            self.offset += n
        else:
            joined = self._take_across(n)
            if joined is None:
                raise TruncatedError(f"archive is truncated (inside the data of {entry.name!r})")
            buf, start, end = joined, 0, n
        self._pending = None
        digest = xxhash.xxh3_128_digest(memoryview(buf)[start:end])
        body = None
        if not skip(buf[start : start + 8]) and buf.find(marker, start, end) >= 0:
            body = buf[start:end]
        self._skip(self._padding(n))
        return digest, body

    def open_data(self) -> EntryReader:
        """A reader over the current entry's data (for nested archives read in stream)."""
        entry = self._pending
        if entry is None:
            raise RuntimeError("no current entry")
        self._pending = None
        return EntryReader(self, entry.stored)

    def _finish_pending(self) -> None:
        if self._pending is not None:
            entry, self._pending = self._pending, None
            if entry.stored:
                self._skip(entry.stored + self._padding(entry.stored))

    def drain(self) -> None:
        """Read to the end of the stream (so ``on_chunk`` sees every byte)."""
        self._finish_pending()
        self._pos = len(self._buf)
        while True:
            data = self._raw.read(self._chunk)
            if not data:
                return
            if self._on_chunk is not None:
                self._on_chunk(data)

    # -- headers -----------------------------------------------------------------------------
    def __iter__(self) -> Iterator[TarEntry]:
        return self

    def __next__(self) -> TarEntry:
        if self._pending is not None:
            self._finish_pending()
        long_name: str | None = None
        long_link: str | None = None
        pax: dict[str, str] = {}
        meta_bytes = 0
        while True:
            start = self.offset
            pos = self._pos
            if pos + BLOCK <= len(self._buf):
                block = self._buf[pos : pos + BLOCK]
                self._pos = pos + BLOCK
                self.offset = start + BLOCK
            else:
                joined = self._take_across(BLOCK)
                if joined is None:
                    if len(self._buf) - self._pos == 0 and long_name is None and not pax:
                        raise StopIteration  # EOF on a block boundary without end markers
                    raise TruncatedError("archive is truncated (ended inside a tar header)")
                block = joined
            # Only a block starting with NUL can be all zeros (headers start with their name).
            if not block[0] and block.count(0) == BLOCK:
                self.ended_cleanly = True
                raise StopIteration
            if not checksum_ok(block):
                raise TarError(f"not a tar archive (bad header checksum at byte {start})")
            flag = block[156:157]
            try:
                # _number's common case without the call; int() rejects the bytes >= 0x80
                # that mark base-256, so those still reach _number.
                size = int(block[124:136].strip(b" \0") or b"0", 8)
            except ValueError:
                size = _number(block[124:136], "size")
            if size < 0:
                raise TarError(f"tar header at byte {start} has a negative size")
            if flag in (b"L", b"K", b"x", b"g"):
                # Bounded in total, not per block: metadata accumulates until its entry (or,
                # for global headers, for the rest of the stream).
                meta_bytes += size
                if flag == b"g":
                    self._global_bytes += size
                if meta_bytes > MAX_META_BYTES or self._global_bytes > MAX_META_BYTES:
                    raise TarLimitExceeded(f"tar metadata at byte {start} adds up to over the 1 MiB limit")
                data = self._take(size)
                self._skip(self._padding(size))
                if flag == b"L":
                    long_name = _decode(_cstr(data))
                elif flag == b"K":
                    long_link = _decode(_cstr(data))
                elif flag == b"x":
                    pax.update(_parse_pax(data))
                else:
                    self._global_pax.update(_parse_pax(data))
                continue
            if flag in (b"V", b"M"):
                self._skip(size + self._padding(size))
                continue
            return self._entry(block, flag, size, long_name, long_link, pax)

    def _entry(self, block, flag, size, long_name, long_link, pax) -> TarEntry:
        if self._global_pax:
            pax = {**self._global_pax, **pax}
        if long_name is None:
            end = block.find(0, 0, 100)
            name_raw = block[: end if end >= 0 else 100]
            if block[345] and block[257:263] == b"ustar\x00":
                name_raw = _cstr(block[345:500]) + b"/" + name_raw
            name = name_raw.decode("utf-8", "surrogateescape")
        else:
            name = long_name
        if long_link is not None:
            linkname = long_link
        elif block[157]:
            linkname = _decode(_cstr(block[157:257]))
        else:
            linkname = ""
        ids = self._ids.get(block[100:124])
        if ids is None:
            ids = (_number(block[100:108], "mode") & 0o7777, _number(block[108:116], "uid"), _number(block[116:124], "gid"))
            if len(self._ids) < 4096:  # hostile input could make every header differ
                self._ids[block[100:124]] = ids
        mode, uid, gid = ids
        type_ = _TYPEFLAGS.get(flag, EntryType.FILE)
        if type_ == EntryType.FILE and flag in (b"0", b"\0") and name.endswith("/"):
            type_ = EntryType.DIR  # old V7 archives mark directories by a trailing slash
        stored = size
        sparse = False
        xattrs: tuple[str, ...] = ()
        logical = size
        if pax:
            name = pax.get("path", name)
            linkname = pax.get("linkpath", linkname)
            try:
                if "size" in pax:
                    stored = logical = int(pax["size"])
                if "uid" in pax:
                    uid = int(pax["uid"])
                if "gid" in pax:
                    gid = int(pax["gid"])
                if "GNU.sparse.realsize" in pax or "GNU.sparse.size" in pax:
                    sparse = True
                    logical = int(pax.get("GNU.sparse.realsize") or pax.get("GNU.sparse.size", ""))
                    name = pax.get("GNU.sparse.name", name)
            except ValueError:
                raise TarError(f"tar entry {name!r} has a malformed PAX number") from None
            xattrs = tuple(k[len("SCHILY.xattr.") :] for k in pax if k.startswith("SCHILY.xattr."))
        if flag == b"S":
            sparse = True
            logical = _number(block[483:495], "sparse realsize")
            if block[482]:
                self._skip_gnu_sparse_extensions()
        if not (0 <= stored < INT64_LIMIT and 0 <= logical < INT64_LIMIT and -INT64_LIMIT <= uid < INT64_LIMIT and -INT64_LIMIT <= gid < INT64_LIMIT):
            raise TarError(f"tar entry {name!r} has an out-of-range size, uid or gid")
        if type_ != EntryType.FILE:
            # Only regular files carry data, but a hostile header may claim a size anyway:
            # the bytes are still there and must be skipped, yet they are not file content.
            logical = 0
        entry = TarEntry(name, type_, logical, mode, uid, gid, linkname, self.offset, stored, sparse, xattrs)
        self._pending = entry
        return entry

    def _skip_gnu_sparse_extensions(self) -> None:
        for _ in range(1 << 16):
            ext = self._take(BLOCK)
            if not ext[504]:
                return
        raise TarLimitExceeded("GNU sparse header has too many extension blocks")


class EntryReader(io.RawIOBase):
    """Read one entry's data from a TarReader, then skip its padding."""

    def __init__(self, reader: TarReader, size: int):
        self._reader = reader
        self._left = size
        self._size = size

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        if self._left <= 0:
            return b""
        r = self._reader
        if n < 0 or n > self._left:
            n = self._left
        avail = len(r._buf) - r._pos
        if avail == 0:
            if not r._fill():
                raise TruncatedError("archive is truncated (inside a nested archive)")
            avail = len(r._buf) - r._pos
        n = min(n, avail)
        data = r._buf[r._pos : r._pos + n]
        r._pos += n
        r.offset += n
        self._left -= n
        if self._left == 0:
            r._skip(r._padding(self._size))
        return data

    def readinto(self, buffer) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def skip_rest(self) -> None:
        if self._left > 0:
            left, self._left = self._left, 0
            self._reader._skip(left + self._reader._padding(self._size))


class RangeReader(io.RawIOBase):
    """A byte range of a file, read through its own descriptor (safe across processes)."""

    def __init__(self, path: str, offset: int, size: int):
        self._fd = os.open(path, os.O_RDONLY)
        self._start = self._pos = offset
        self._end = offset + size

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos - self._start

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: self._start, io.SEEK_CUR: self._pos, io.SEEK_END: self._end}[whence]
        self._pos = max(self._start, base + offset)
        return self._pos - self._start

    def read(self, n: int = -1) -> bytes:
        left = self._end - self._pos
        if left <= 0:
            return b""
        if n < 0 or n > left:
            n = left
        data = os.pread(self._fd, n, self._pos)
        self._pos += len(data)
        return data

    def readinto(self, buffer) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        super().close()
