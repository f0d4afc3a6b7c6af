"""rpm's database: one header blob per installed package, in ``rpmdb.sqlite`` (rpm 4.16+:
Fedora 33+, RHEL/UBI/Rocky/Alma 9) or a Berkeley DB hash file ``Packages`` (RHEL/CentOS 7
and 8, Amazon Linux 2). SUSE's ndb ``Packages.db`` is not read yet.

A header is rpm's tagged record: a count of index entries and the size of the data that
follows, then (tag, type, offset, count) per entry. It carries the name, version, sizes,
what the package requires and provides, and its file list as directory names, base
names and the index of each file's directory. The storage formats differ only in how
they hold these blobs; each reader below yields the blobs and one parser reads them.
"""

from __future__ import annotations

import sqlite3
import struct
from collections.abc import Iterator

from slimview.index.model import ImageIndex
from slimview.packages.attribution import attribute
from slimview.packages.history import Listings, captured, mark_history, snapshots
from slimview.packages.model import Manager, Package, PackageDatabase
from slimview.packages.paths import RPM_BDB, RPM_DATABASES, RPM_SQLITE

# Header tags (rpmtag.h) and types.
NAME, VERSION, RELEASE, EPOCH, SIZE, ARCH = 1000, 1001, 1002, 1003, 1009, 1022
FILESIZES, FILEFLAGS, PROVIDENAME, REQUIRENAME = 1028, 1037, 1047, 1049
DIRINDEXES, BASENAMES, DIRNAMES, LONGSIZE, RECOMMENDNAME = 1116, 1117, 1118, 5009, 5046
_INT8, _INT16, _INT32, _INT64, _STRING, _BIN, _STRING_ARRAY, _I18NSTRING = 2, 3, 4, 5, 6, 7, 8, 9
_INT_FORMATS = {_INT8: "b", _INT16: "h", _INT32: "i", _INT64: "q"}
_WANTED = frozenset({NAME, VERSION, RELEASE, EPOCH, SIZE, ARCH, FILEFLAGS, PROVIDENAME, REQUIRENAME, DIRINDEXES,
                     BASENAMES, DIRNAMES, LONGSIZE, RECOMMENDNAME})
_GHOST = 0x40  # RPMFILE_GHOST: listed, never installed by the package
_MAX_ENTRIES = 1 << 16  # rpm's own limit on index entries per header


class HeaderError(ValueError):
    """A header blob that does not parse."""


def parse_header(blob: bytes) -> dict[int, object]:
    """The tags of one header blob slimview reads: ints (or lists of them), strings, lists of strings."""
    if len(blob) < 8:
        raise HeaderError("header shorter than its preamble")
    count, data_len = struct.unpack_from(">II", blob)
    start = 8 + 16 * count
    end = start + data_len
    if count > _MAX_ENTRIES or end > len(blob):
        raise HeaderError("header sizes do not fit its blob")
    out: dict[int, object] = {}
    for tag, type_, offset, n in struct.iter_unpack(">iIiI", blob[8:start]):
        if tag not in _WANTED or not 0 <= offset <= data_len:
            continue
        at = start + offset
        if type_ in _INT_FORMATS:
            fmt = _INT_FORMATS[type_]
            if at + n * struct.calcsize(fmt) > end:
                raise HeaderError(f"tag {tag} runs past the data")
            values = list(struct.unpack_from(f">{n}{fmt}", blob, at))
            out[tag] = values if tag in (FILEFLAGS, DIRINDEXES) else (values[0] if values else 0)
        elif type_ in (_STRING, _STRING_ARRAY, _I18NSTRING):
            strings = []
            for _ in range(n if type_ == _STRING_ARRAY else 1):
                stop = blob.find(b"\0", at, end)
                if stop < 0:
                    raise HeaderError(f"tag {tag} has an unterminated string")
                strings.append(blob[at:stop].decode("utf-8", "surrogateescape"))
                at = stop + 1
            out[tag] = strings if type_ == _STRING_ARRAY else strings[0]
    return out


def _strings(header: dict[int, object], tag: int) -> list[str]:
    value = header.get(tag, [])
    return value if isinstance(value, list) else [str(value)]


def header_package(header: dict[int, object]) -> tuple[Package, str, list[str]]:
    """The package a header describes, its architecture, and the files (relative paths) it installed."""
    name = str(header.get(NAME, ""))
    epoch = header.get(EPOCH)
    version = f"{header.get(VERSION, '')}-{header.get(RELEASE, '')}"
    if isinstance(epoch, int) and epoch:
        version = f"{epoch}:{version}"
    size = header.get(LONGSIZE, header.get(SIZE, 0))
    requires = [r for r in _strings(header, REQUIRENAME) if not r.startswith("rpmlib(")]
    pkg = Package(
        name=name,
        version=version,
        installed_bytes=size if isinstance(size, int) and size > 0 else 0,
        depends=[[r] for r in dict.fromkeys(requires)],
        recommends=[[r] for r in _strings(header, RECOMMENDNAME)],
        provides=[p for p in _strings(header, PROVIDENAME) if p != name],
    )
    dirs, bases = _strings(header, DIRNAMES), _strings(header, BASENAMES)
    indexes, flags = header.get(DIRINDEXES, []), header.get(FILEFLAGS, [])
    assert isinstance(indexes, list) and isinstance(flags, list)
    files = []
    for k, base in enumerate(bases):
        if k < len(flags) and flags[k] & _GHOST or k >= len(indexes) or not 0 <= indexes[k] < len(dirs):
            continue
        files.append((dirs[indexes[k]] + base).lstrip("/"))
    return pkg, str(header.get(ARCH, "")), files


# -- storage formats -------------------------------------------------------------------------


def sqlite_blobs(body: bytes) -> Iterator[bytes]:
    """Header blobs of an ``rpmdb.sqlite`` (table Packages: hnum, blob)."""
    if body[18:20] == b"\x02\x02":
        # WAL mode (rpm opens its database so): an in-memory copy reads as a rollback journal.
        body = body[:18] + b"\x01\x01" + body[20:]
    con = sqlite3.connect(":memory:")
    con.text_factory = bytes
    try:
        con.deserialize(body)
        rows = con.execute("SELECT blob FROM Packages ORDER BY hnum").fetchall()
    except UnicodeDecodeError:  # sqlite's message about a corrupt schema, in the corrupt bytes
        raise HeaderError("corrupt sqlite database") from None
    finally:
        con.close()
    for (blob,) in rows:
        if isinstance(blob, bytes):
            yield blob


_BDB_HASH_MAGIC = 0x061561
_P_HASH_UNSORTED, _P_HASH = 2, 13
_H_OFFPAGE = 3


def bdb_blobs(body: bytes) -> Iterator[bytes]:
    """Header blobs of a Berkeley DB hash file ``Packages`` (the values; keys are package numbers).

    Page 0 is the hash metadata (magic, page size, last page); hash pages hold key/data
    items, and each header, being larger than a page, is an off-page item: the first page
    and length of a chain of overflow pages."""
    if len(body) < 512:
        raise HeaderError("Berkeley DB file shorter than its metadata page")
    for order in ("<", ">"):
        magic, = struct.unpack_from(order + "I", body, 12)
        if magic == _BDB_HASH_MAGIC:
            break
    else:
        raise HeaderError("not a Berkeley DB hash file")
    page_size, = struct.unpack_from(order + "I", body, 20)
    last_page, = struct.unpack_from(order + "I", body, 32)
    if page_size < 512 or page_size & (page_size - 1) or (last_page + 1) * page_size > len(body) + page_size:
        raise HeaderError("Berkeley DB page size or count out of range")
    for pgno in range(1, last_page + 1):
        page = body[pgno * page_size:(pgno + 1) * page_size]
        if len(page) < 26 or page[25] not in (_P_HASH_UNSORTED, _P_HASH):
            continue
        entries, = struct.unpack_from(order + "H", page, 20)
        offsets = struct.unpack_from(f"{order}{entries}H", page, 26) if 26 + 2 * entries <= len(page) else ()
        for k in range(1, len(offsets), 2):  # items alternate key, data
            at = offsets[k]
            if at + 12 <= len(page) and page[at] == _H_OFFPAGE:
                first, length = struct.unpack_from(order + "II", page, at + 4)
                yield _bdb_overflow(body, page_size, order, first, length)


def _bdb_overflow(body: bytes, page_size: int, order: str, pgno: int, length: int) -> bytes:
    out = bytearray()
    seen = set()
    while pgno and len(out) < length:
        if pgno in seen or (pgno + 1) * page_size > len(body):
            raise HeaderError("Berkeley DB overflow chain broken")
        seen.add(pgno)
        page = body[pgno * page_size:(pgno + 1) * page_size]
        next_pgno, = struct.unpack_from(order + "I", page, 16)
        used, = struct.unpack_from(order + "H", page, 22)
        out += page[26:26 + used]
        pgno = next_pgno
    return bytes(out[:length])


def _blobs(path: str, body: bytes) -> Iterator[bytes]:
    if path in RPM_SQLITE:
        return sqlite_blobs(body)
    assert path in RPM_BDB, path
    return bdb_blobs(body)


def parse_rpmdb(path: str, body: bytes) -> tuple[dict[str, Package], dict[str, list[str]]]:
    """Packages of one rpm database file (named by its path: which format) and the files each installed.

    Raises HeaderError (or sqlite3.DatabaseError) when the database does not read."""
    packages: dict[str, Package] = {}
    files: dict[str, list[str]] = {}
    for blob in _blobs(path, body):
        pkg, arch, owned = header_package(parse_header(blob))
        if not pkg.name:
            continue
        # Several architectures of one package (glibc.i686 beside .x86_64), or versions
        # (kernels): told apart as dpkg's multi-arch packages are, after a colon.
        key = next(k for k in (pkg.name, f"{pkg.name}:{arch}", f"{pkg.name}:{pkg.version}.{arch}", f"{pkg.name}:{len(packages)}")
                   if k not in packages)
        pkg.name = key
        packages[key] = pkg
        files[key] = owned
    _file_provides(packages, files)
    return packages, files


def _file_provides(packages: dict[str, Package], files: dict[str, list[str]]) -> None:
    """rpm satisfies a requirement on a path (``/bin/sh``) with the package that owns it:
    record those paths as what the owners provide, so dependency walks find them."""
    wanted = {dep[0] for pkg in packages.values() for dep in pkg.depends if dep[0].startswith("/")}
    if not wanted:
        return
    for name, owned in files.items():
        for path in owned:
            if "/" + path in wanted:
                packages[name].provides.append("/" + path)


def _database(index: ImageIndex) -> tuple[str, bytes] | None:
    """The path and body of the final image's rpm database, if it has one the index kept."""
    for path in RPM_DATABASES:
        body = index.kept_body(path)
        if body is not None:
            return path, body
    return None


def _listings(index: ImageIndex) -> Listings:
    listings: Listings = []
    for layer in index.layers:
        got = captured(index, layer.index, lambda p: p in RPM_DATABASES)
        if not got:
            continue
        _i, path, body = got[-1]
        try:
            listings.append((layer.index, parse_rpmdb(path, body)[0]))
        except (HeaderError, sqlite3.DatabaseError, struct.error):
            continue  # a layer's unreadable copy only loses that layer's history
    return listings


def read_rpm(index: ImageIndex) -> PackageDatabase | None:
    """The final image's rpm database, or None when it has none (or it does not read)."""
    found = _database(index)
    if found is None:
        return None
    try:
        packages, owned = parse_rpmdb(*found)
    except (HeaderError, sqlite3.DatabaseError, struct.error):
        return None
    listings = _listings(index)
    removals = mark_history(packages, listings)
    owner = attribute(index, packages, owned)
    return PackageDatabase(Manager.RPM, packages, owner, removals, snapshots(listings))
