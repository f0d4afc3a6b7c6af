"""The tar reader's fast paths give exactly what the plain code they replaced gave.

checksum_ok sums header bytes with adler32 instead of sum(); the reader joins only the
bytes a header or body needs across a chunk boundary instead of copying each new chunk
onto the leftover; mode, uid and gid are parsed once per distinct header field.
"""

from __future__ import annotations

import io
import random

import pytest
import xxhash

from slimview.source.tarstream import EntryType, TarError, TarReader, TruncatedError, checksum_ok

from hostile import base256, gnu_long, header, member, pax, tar


def reference_checksum_ok(block: bytes) -> bool:
    """checksum_ok as first written, with sum(): the definition the fast one must match."""
    field = block[148:156]
    end = field.find(b"\0")
    stored = (field if end < 0 else field[:end]).strip(b" \0")
    try:
        expected = int(stored, 8)
    except ValueError:
        return False
    unsigned = sum(block) - sum(block[148:156]) + 8 * 0x20
    if expected == unsigned:
        return True
    high = sum(1 for b in block[:148] + block[156:] if b > 127)
    return expected == unsigned - 256 * high


def _with_checksum(block: bytes, value: int, form: bytes = b"%06o\0 ") -> bytes:
    field = (form % value)[:8] if value >= 0 else b"-%o\0" % -value
    return block[:148] + field.ljust(8, b"\0") + block[156:]


def _unsigned(block: bytes) -> int:
    return sum(block[:148]) + 8 * 0x20 + sum(block[156:])


def _signed(block: bytes) -> int:
    return sum(b - 256 if b > 127 else b for b in block[:148] + block[156:]) + 8 * 0x20


def _blocks() -> list[bytes]:
    rng = random.Random(20240611)
    bases = [bytes(512), b"\xff" * 512, b"\x80" * 512, b"\x7f" * 512, header("etc/passwd", size=1234)]
    bases += [rng.randbytes(512) for _ in range(300)]
    bases += [bytes(rng.choice([0, 0x7F, 0x80, 0xFF]) for _ in range(512)) for _ in range(100)]
    blocks = []
    for base in bases:
        blocks.append(base)
        for value in (_unsigned(base), _signed(base), _unsigned(base) + 1, _signed(base) - 256):
            for form in (b"%06o\0 ", b"%07o\0", b"%o", b" %o ", b"%08o"):
                blocks.append(_with_checksum(base, value, form))
    # Fields with NULs inside, and blocks shorter or longer than a header.
    blocks += [_with_checksum(bytes(512), 256, b"\0%06o "), _with_checksum(bytes(512), 256, b"%o\0 99")]
    blocks += [bytes(100), b"\xff" * 150, header("x")[:300], header("x") + b"\xff" * 700, b""]
    return blocks


def test_checksum_ok_matches_the_sum_definition_on_every_block():
    blocks = _blocks()
    results = [checksum_ok(block) for block in blocks]
    assert results == [reference_checksum_ok(block) for block in blocks]
    # Both verdicts occur, through both the unsigned and the signed (old writers') sums.
    assert sum(results) > 1000 and results.count(False) > 1000
    assert checksum_ok(_with_checksum(b"\xff" * 512, _signed(b"\xff" * 512)))
    assert checksum_ok(_with_checksum(b"\x80" * 512, _unsigned(b"\x80" * 512)))
    assert not checksum_ok(_with_checksum(b"\x80" * 512, _unsigned(b"\x80" * 512) - 1))


ARCHIVE = tar(
    member("etc/os-release", b"ID=debian\n"),
    header("etc", typeflag=b"5", mode=0o755),
    member("bin/sh", b"\x7fELF" + bytes(1500), mode=0o755),
    header("bin/bash", typeflag=b"2", linkname="sh", mode=0o777, uid=1000, gid=1000),
    gnu_long("deep/" * 30 + "file"),
    member("ignored", b"x" * 700, uid=base256(1 << 40, 8)),
    pax({"path": "pax/name", "uid": "70000", "SCHILY.xattr.user.a": "b"}),
    member("p", b"-----BEGIN RSA PRIVATE KEY-----\n" + bytes(900)),
    member("base", b"", mode=base256(0o100644, 8), gid=base256(-2, 8)),
    member("a/" + "n" * 90, b"y" * 5000, prefix="long/prefix"),
)
EXPECTED = [
    ("etc/os-release", EntryType.FILE, 10, 0o644, 0, 0, ""),
    ("etc", EntryType.DIR, 0, 0o755, 0, 0, ""),
    ("bin/sh", EntryType.FILE, 1504, 0o755, 0, 0, ""),
    ("bin/bash", EntryType.SYMLINK, 0, 0o777, 1000, 1000, "sh"),
    ("deep/" * 30 + "file", EntryType.FILE, 700, 0o644, 1 << 40, 0, ""),
    ("pax/name", EntryType.FILE, 932, 0o644, 70000, 0, ""),
    ("base", EntryType.FILE, 0, 0o644, 0, -2, ""),
    ("long/prefix/a/" + "n" * 90, EntryType.FILE, 5000, 0o644, 0, 0, ""),
]


class _ShortReads(io.RawIOBase):
    """Returns at most ``most`` bytes per read, as pipes and decompressors may."""

    def __init__(self, data: bytes, most: int):
        self._data = io.BytesIO(data)
        self._most = most

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        return self._data.read(min(n, self._most))


def _read_all(raw, chunk_size: int, how: str):
    seen: list[bytes] = []
    reader = TarReader(raw, on_chunk=seen.append, chunk_size=chunk_size)
    rows, digests, bodies = [], [], []
    for entry in reader:
        rows.append((entry.name, entry.type, entry.size, entry.mode, entry.uid, entry.gid, entry.linkname))
        if how == "hash":
            digests.append(reader.hash_data())
        elif how == "find":
            digest, body = reader.hash_and_find(b"PRIVATE KEY-----")
            digests.append(digest)
            bodies.append(body)
        elif how == "read":
            digests.append(xxhash.xxh3_128_digest(reader.read_data(1 << 20)))
        elif how == "open":
            data, parts = reader.open_data(), []
            while part := data.read(333):
                parts.append(part)
            digests.append(xxhash.xxh3_128_digest(b"".join(parts)))
    reader.drain()
    return rows, digests, bodies, reader.ended_cleanly, b"".join(seen)


@pytest.mark.parametrize("how", ["skip", "hash", "find", "read", "open"])
@pytest.mark.parametrize("chunk_size", [1, 511, 512, 513, 700, 1024, 4096, 1 << 20])
def test_every_chunk_size_gives_the_same_entries_and_every_byte_once(chunk_size, how):
    rows, digests, bodies, ended, seen = _read_all(io.BytesIO(ARCHIVE), chunk_size, how)
    assert rows == EXPECTED
    assert ended
    assert seen == ARCHIVE  # on_chunk saw every byte exactly once, in order
    if how != "skip":
        datas = [b"ID=debian\n", b"", b"\x7fELF" + bytes(1500), b"", b"x" * 700,
                 b"-----BEGIN RSA PRIVATE KEY-----\n" + bytes(900), b"", b"y" * 5000]
        assert digests == [xxhash.xxh3_128_digest(d) for d in datas]
    if how == "find":
        assert bodies == [None, None, None, None, None, b"-----BEGIN RSA PRIVATE KEY-----\n" + bytes(900), None, None]


@pytest.mark.parametrize("most", [1, 100, 513, 3000])
def test_short_reads_give_the_same_entries(most):
    rows, digests, _bodies, ended, seen = _read_all(_ShortReads(ARCHIVE, most), 1 << 20, "find")
    assert (rows, ended, seen) == (EXPECTED, True, ARCHIVE)
    assert digests == _read_all(io.BytesIO(ARCHIVE), 1 << 20, "find")[1]


def _outcome(data: bytes, chunk_size: int, how: str) -> tuple[int, str]:
    """How many entries came out, then the error (or how the stream ended)."""
    reader = TarReader(io.BytesIO(data), chunk_size=chunk_size)
    count = 0
    try:
        for _entry in reader:
            count += 1
            if how == "find":
                reader.hash_and_find(b"KEY")
            elif how == "read":
                reader.read_data(1 << 20)
    except TarError as exc:
        return count, f"{type(exc).__name__}: {exc}"
    return count, "clean end" if reader.ended_cleanly else "end without end blocks"


def test_a_cut_anywhere_gives_the_same_error_whatever_the_chunk_size():
    archive = tar(member("a", b"1" * 600), gnu_long("l" * 200), member("b", b"2" * 10))
    for how in ("skip", "find", "read"):
        for cut in range(0, len(archive) + 1, 25):
            outcomes = {_outcome(archive[:cut], size, how) for size in (1, 512, 700, 1 << 20)}
            assert len(outcomes) == 1, (how, cut, outcomes)
    header_cut = "TruncatedError: archive is truncated (ended inside a tar header)"
    entry_cut = "TruncatedError: archive is truncated (ended inside a tar header or entry)"
    expected = {  # where the cut is: (entries out, outcome when reading the data)
        0: (0, "end without end blocks"),
        100: (0, header_cut),
        700: (1, entry_cut),  # inside a's data
        1536: (1, "end without end blocks"),  # after a, on a block boundary
        2048: (1, entry_cut),  # inside the long name's data
        2560: (1, header_cut),  # after the long name: its entry is missing
        3072: (2, entry_cut),  # inside b's data
        3584: (2, "end without end blocks"),
        4000: (2, header_cut),  # inside the end blocks
        4608: (2, "clean end"),
    }
    assert len(archive) == 4608
    for cut, outcome in expected.items():
        assert _outcome(archive[:cut], 700, "read") == outcome, cut
    assert _outcome(archive[:700], 700, "find") == (1, "TruncatedError: archive is truncated (inside the data of 'a')")


def test_many_distinct_ids_past_the_cache_bound_are_all_parsed():
    members = [member(f"f{i}", b"", mode=0o600 + i % 64, uid=i, gid=3 * i) for i in range(5000)]
    reader = TarReader(io.BytesIO(tar(*members)))
    assert [(e.name, e.mode, e.uid, e.gid) for e in reader] == [(f"f{i}", 0o600 + i % 64, i, 3 * i) for i in range(5000)]


def test_a_malformed_id_field_is_reported_after_the_same_bytes_parsed_well_elsewhere():
    good = member("a", b"", uid=7)
    bad = member("b", b"", uid=b"7x\0")
    reader = TarReader(io.BytesIO(tar(good, good, bad)))
    assert [e.uid for e in (next(reader), next(reader))] == [7, 7]
    with pytest.raises(TarError, match=r"^tar header has a malformed uid field b'7x\\x00\\x00\\x00\\x00\\x00\\x00'$"):
        next(reader)


def test_a_block_of_zeros_ends_but_a_header_starting_with_nul_is_read():
    nameless = member(b"", b"data")
    reader = TarReader(io.BytesIO(tar(nameless)))
    assert [(e.name, e.size) for e in reader] == [("", 4)]
    assert reader.ended_cleanly
    with pytest.raises(TruncatedError):
        list(TarReader(io.BytesIO(header("x", size=10))))
