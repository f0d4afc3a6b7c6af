"""Generators of malformed, strange and hostile image archives, byte by byte.

``tarfile`` refuses to write most of what an attacker can: NUL bytes in names, bad
checksums, base-256 numbers where octal fits, sparse files, PAX records with lies in
them. These helpers write tar headers field by field so the tests and the fuzzers can
make exactly the input they describe. Nothing here touches slimview.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field

import zstandard

BLOCK = 512
EPOCH = 1_700_000_000
END = bytes(2 * BLOCK)


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _b(text: str | bytes) -> bytes:
    return text if isinstance(text, bytes) else text.encode("utf-8", "surrogateescape")


def octal(value: int, width: int) -> bytes:
    """A NUL-terminated octal field, as POSIX writers make them."""
    return b"%0*o\0" % (width - 1, value)


def base256(value: int, width: int) -> bytes:
    """GNU's binary number encoding (0x80 then big-endian; 0xff marks a negative)."""
    if value < 0:
        return b"\xff" + (value % (1 << (8 * (width - 1)))).to_bytes(width - 1, "big")
    return b"\x80" + value.to_bytes(width - 1, "big")


def _field(value: int | bytes, width: int) -> bytes:
    data = octal(value, width) if isinstance(value, int) else value
    if len(data) > width:
        raise ValueError(f"field {data!r} wider than {width}")
    return data.ljust(width, b"\0")


def checksum(block: bytes | bytearray) -> int:
    return sum(block[:148]) + 8 * 0x20 + sum(block[156:])


def header(
    name: str | bytes,
    *,
    size: int | bytes = 0,
    typeflag: bytes = b"0",
    linkname: str | bytes = b"",
    mode: int | bytes = 0o644,
    uid: int | bytes = 0,
    gid: int | bytes = 0,
    mtime: int | bytes = EPOCH,
    magic: bytes = b"ustar\x0000",
    prefix: str | bytes = b"",
    chksum: int | bytes | None = None,
    extra: dict[int, bytes] | None = None,
) -> bytes:
    """One 512-byte header. Integers become octal fields; bytes are written verbatim."""
    block = bytearray(BLOCK)
    block[0:100] = _b(name)[:100].ljust(100, b"\0")
    block[100:108] = _field(mode, 8)
    block[108:116] = _field(uid, 8)
    block[116:124] = _field(gid, 8)
    block[124:136] = _field(size, 12)
    block[136:148] = _field(mtime, 12)
    block[156:157] = typeflag
    block[157:257] = _b(linkname)[:100].ljust(100, b"\0")
    block[257:265] = magic.ljust(8, b"\0")[:8]
    block[329:337] = octal(0, 8)
    block[337:345] = octal(0, 8)
    block[345:500] = _b(prefix)[:155].ljust(155, b"\0")
    for at, data in (extra or {}).items():
        block[at : at + len(data)] = data
    block[148:156] = b" " * 8
    if chksum is None:
        block[148:156] = b"%06o\0 " % checksum(block)
    else:
        block[148:156] = _field(chksum, 8)
    return bytes(block)


def pad(data: bytes) -> bytes:
    return data + bytes(-len(data) % BLOCK)


def member(name: str | bytes, data: bytes = b"", *, typeflag: bytes = b"0", **kw) -> bytes:
    """A header plus its (padded) data; ``size`` defaults to the data's length."""
    kw.setdefault("size", len(data))
    return header(name, typeflag=typeflag, **kw) + pad(data)


def directory(name: str | bytes, **kw) -> bytes:
    return header(name, typeflag=b"5", mode=kw.pop("mode", 0o755), **kw)


def symlink(name: str | bytes, target: str | bytes, **kw) -> bytes:
    return header(name, typeflag=b"2", linkname=target, mode=0o777, **kw)


def hardlink(name: str | bytes, target: str | bytes, **kw) -> bytes:
    return header(name, typeflag=b"1", linkname=target, **kw)


def pax_record(key: str | bytes, value: str | bytes) -> bytes:
    body = b" " + _b(key) + b"=" + _b(value) + b"\n"
    length = len(body) + 1
    while len(str(length)) + len(body) != length:
        length = len(str(length)) + len(body)
    return str(length).encode() + body


def pax(records: dict | list, *, global_: bool = False, name: str = "PaxHeader") -> bytes:
    """An extended header (``x``, or ``g`` for global) carrying ``records``."""
    items = records.items() if isinstance(records, dict) else records
    body = b"".join(pax_record(k, v) for k, v in items)
    return member(name, body, typeflag=b"g" if global_ else b"x")


def gnu_long(value: str | bytes, *, flag: bytes = b"L") -> bytes:
    """A GNU ``././@LongLink`` member carrying a long name (``L``) or link target (``K``)."""
    return member("././@LongLink", _b(value) + b"\0", typeflag=flag, magic=b"ustar  \0")


def tar(*members: bytes, end: bool = True) -> bytes:
    return b"".join(members) + (END if end else b"")


def sparse_pax_member(name: str, real_size: int, chunks: list[tuple[int, bytes]]) -> bytes:
    """A PAX 1.0 sparse file (GNU tar --sparse --format=posix): map first, then the data."""
    sparse_map = f"{len(chunks)}\n" + "".join(f"{off}\n{len(data)}\n" for off, data in chunks)
    stored = pad(sparse_map.encode()) + b"".join(data for _off, data in chunks)
    records = {
        "GNU.sparse.major": "1",
        "GNU.sparse.minor": "0",
        "GNU.sparse.name": name,
        "GNU.sparse.realsize": str(real_size),
        "size": str(len(stored)),
    }
    return pax(records) + member("GNUSparseFile.0/" + name[-80:], stored, typeflag=b"0")


def sparse_gnu_member(name: str, real_size: int, chunks: list[tuple[int, bytes]]) -> bytes:
    """An old GNU sparse file (typeflag ``S``), map in the header's sparse slots."""
    extra = {}
    for k, (off, data) in enumerate(chunks[:4]):
        extra[386 + 24 * k] = octal(off, 12)
        extra[386 + 24 * k + 12] = octal(len(data), 12)
    extra[483] = octal(real_size, 12) if real_size < 8**11 else base256(real_size, 12)
    stored = b"".join(data for _off, data in chunks)
    return header(name, typeflag=b"S", size=len(stored), magic=b"ustar  \0", extra=extra) + pad(stored)


# ---------------------------------------------------------------------------------------
# Whole images


def gzip_bytes(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


def zstd_bytes(data: bytes) -> bytes:
    return zstandard.ZstdCompressor(level=3).compress(data)


def decompress(data: bytes) -> bytes:
    """Best effort: the uncompressed tar behind a layer blob (the blob itself if that fails)."""
    try:
        if data[:2] == b"\x1f\x8b":
            return gzip.decompress(data)
        if data[:4] == b"\x28\xb5\x2f\xfd":
            return zstandard.ZstdDecompressor().decompressobj().decompress(data)
    except Exception:
        pass
    return data


def config_doc(diff_ids: list[str], history: list[dict] | None = None) -> dict:
    if history is None:
        history = [{"created_by": f"RUN step {i}"} for i in range(len(diff_ids))]
    return {
        "architecture": "amd64",
        "os": "linux",
        "config": {"Env": ["PATH=/usr/bin:/bin"], "Cmd": ["sh"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": history,
    }


@dataclass
class Archive:
    """A docker-archive (legacy layout) whose every part can be replaced or left out."""

    layers: list[bytes]
    tags: list[str] = field(default_factory=lambda: ["hostile:latest"])
    diff_ids: list[str] | None = None  # default: sha256 of each decompressed layer
    config: bytes | dict | None = None  # default: a config naming the diff_ids
    config_name: str | None = None  # default: <sha256 of config>.json
    manifest: bytes | list | None = None  # default: one entry naming config and layers
    layer_names: list[str] | None = None
    omit: set[str] = field(default_factory=set)  # member names to leave out
    extra: list[bytes] = field(default_factory=list)  # raw members appended before the end

    def parts(self) -> tuple[bytes, str, list[str], list[str], bytes]:
        """(config bytes, config member name, layer member names, diff_ids, manifest bytes)."""
        diff_ids = self.diff_ids if self.diff_ids is not None else [sha(decompress(t)) for t in self.layers]
        config = self.config if self.config is not None else config_doc(diff_ids)
        config_bytes = config if isinstance(config, bytes) else json.dumps(config).encode()
        config_name = self.config_name or sha(config_bytes)[7:] + ".json"
        names = self.layer_names or [f"{hashlib.sha256(b'%d' % i + t[:64]).hexdigest()}/layer.tar" for i, t in enumerate(self.layers)]
        if self.manifest is None:
            manifest = json.dumps([{"Config": config_name, "RepoTags": self.tags, "Layers": names}]).encode()
        elif isinstance(self.manifest, bytes):
            manifest = self.manifest
        else:
            manifest = json.dumps(self.manifest).encode()
        return config_bytes, config_name, names, diff_ids, manifest

    def build(self) -> bytes:
        config_bytes, config_name, names, _diff_ids, manifest = self.parts()
        members = []
        for name, blob in zip(names, self.layers):
            if name not in self.omit:
                members.append(member(name, blob))
        if config_name not in self.omit:
            members.append(member(config_name, config_bytes))
        if "manifest.json" not in self.omit:
            members.append(member("manifest.json", manifest))
        return tar(*members, *self.extra)

    def write(self, path: str | os.PathLike) -> str:
        with open(path, "wb") as fh:
            fh.write(self.build())
        return str(path)


def one_layer(*members: bytes, end: bool = True) -> bytes:
    """An image archive whose single layer holds ``members``."""
    return Archive([tar(*members, end=end)]).build()


def simple_layer() -> bytes:
    return tar(directory("etc"), member("etc/hostname", b"box\n"), member("bin/sh", b"\x7fELF" + bytes(100), mode=0o755))


def simple_archive(**kw) -> Archive:
    return Archive([simple_layer(), tar(member("app/main.py", b"print('hi')\n"))], **kw)


def sparse_file_bytes(path: str | os.PathLike, size: int) -> None:
    """A real sparse file of ``size`` bytes on the host filesystem (no blocks written)."""
    with open(path, "wb") as fh:
        fh.truncate(size)


def garbage(seed: str, size: int) -> bytes:
    """Deterministic random-looking bytes."""
    return hashlib.shake_256(seed.encode()).digest(size)


# ---------------------------------------------------------------------------------------
# Running the real CLI


def cli_env(home: str | os.PathLike, **extra: str) -> dict[str, str]:
    """An environment with a private HOME and cache, and no debug tracebacks."""
    env = {k: v for k, v in os.environ.items() if k not in ("SLIMVIEW_DEBUG", "XDG_CACHE_HOME")}
    env.update(HOME=str(home), XDG_CACHE_HOME=os.path.join(str(home), ".cache"), COLUMNS="100", **extra)
    return env


def run_cli(args: list[str], home: str | os.PathLike, *, timeout: float = 120, cwd=None, env: dict | None = None):
    """``slimview ARGS`` in a subprocess; returns CompletedProcess with text output."""
    script = shutil.which("slimview")  # the installed console script, as users run it
    command = [script] if script else [sys.executable, "-m", "slimview"]
    return subprocess.run(
        [*command, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd or str(home),
        env=env or cli_env(home),
        check=False,
    )


def error_line(proc) -> str:
    """The single stderr line of a failed run, without the 'slimview: error: ' prefix.

    Asserts the shape every user error must have: exit 2, nothing on stdout, exactly one
    line on stderr, no traceback.
    """
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert proc.stdout == "", proc.stdout[:500]
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert proc.stderr.endswith("\n")
    prefix = "slimview: error: "
    assert lines[0].startswith(prefix), lines[0]
    return lines[0][len(prefix) :]


_MEASURE = r"""
import os, resource, sys
cap, report = int(sys.argv[1]), sys.argv[2]
pid = os.fork()
if pid == 0:
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    os.execv(sys.argv[3], sys.argv[3:])
_, status, usage = os.wait4(pid, 0)
with open(report, "w") as fh:
    fh.write(str(usage.ru_maxrss))
sys.exit(os.waitstatus_to_exitcode(status) % 256)
"""


def run_cli_measured(args: list[str], home: str | os.PathLike, *, address_space: int, timeout: float = 120):
    """Run the CLI under an address-space cap; returns (exit status, stdout, stderr, peak RSS bytes).

    The cap (RLIMIT_AS) keeps a regression from exhausting the machine: it turns into
    MemoryError, which the CLI reports, so the caller's message check fails loudly. The CLI
    is started from a minimal interpreter (python -S), not from the test process: a child
    forked from a large parent starts with the parent's pages resident, and Linux carries
    that high-water mark into ru_maxrss across exec.
    """
    import tempfile

    script = shutil.which("slimview")
    command = [script] if script else [sys.executable, "-m", "slimview"]
    with tempfile.TemporaryDirectory() as scratch:
        report = os.path.join(scratch, "maxrss")
        proc = subprocess.run(
            [sys.executable, "-S", "-c", _MEASURE, str(address_space), report, *command, *args],
            capture_output=True, text=True, cwd=str(home), env=cli_env(home), timeout=timeout, check=False,
        )
        with open(report) as fh:
            rss = int(fh.read()) * 1024
    return proc.returncode, proc.stdout, proc.stderr, rss


def empty_entries_layer(count: int, *, prefix: str = "f", whiteouts: bool = False) -> bytes:
    """A gzip layer of ``count`` empty files (or whiteouts) with distinct names, made fast.

    One header template; only the name digits and the checksum change per entry.
    """
    import zlib

    width = len(str(count))
    stem = (".wh." if whiteouts else "") + prefix
    template = bytearray(header(stem + "0" * width))
    base_sum = checksum(template) - sum((stem + "0" * width).encode())
    squeeze = zlib.compressobj(1, zlib.DEFLATED, 31)
    out, batch = [], []
    for i in range(count):
        name = (stem + str(i).zfill(width)).encode()
        template[0 : len(name)] = name
        template[148:156] = b"%06o\0 " % (base_sum + sum(name))
        batch.append(bytes(template))
        if len(batch) == 20_000:
            out.append(squeeze.compress(b"".join(batch)))
            batch = []
    out.append(squeeze.compress(b"".join(batch) + END))
    out.append(squeeze.flush())
    return b"".join(out)


def gzip_layer_diff_id(blob: bytes) -> str:
    """diff_id of a gzip layer, digested as a stream (bombs are too big to hold)."""
    import zlib

    inflate = zlib.decompressobj(31)
    digest = hashlib.sha256()
    for at in range(0, len(blob), 1 << 20):
        digest.update(inflate.decompress(blob[at : at + (1 << 20)]))
    digest.update(inflate.flush())
    return "sha256:" + digest.hexdigest()


# ---------------------------------------------------------------------------------------
# Fuzzing: seeds, mutators and targets shared by tests/test_fuzz_*.py and bench/fuzz_long.py
#
# A target takes one generated input and runs it through slimview the way a user's input
# goes: only SlimviewError (one clear line) may come out. Anything else is a bug.

INTERESTING_NUMBERS = [b"0", b"", b"7" * 11, b"-1", b"\x80" + b"\xff" * 11, b"\xff" * 12, b"\x80" + b"\x00" * 10 + b"\x01",
                       b"00000000000", b"77777777777", b" 1 2 ", b"0x10", b"9" * 11, b"\x00" * 12, b"1_0", b"+1"]
INTERESTING_NAMES = [b"..", b"../x", b"/etc/passwd", b"a/../../b", b".wh.", b".wh..wh..opq", b"a/.wh..wh..opq", b".wh.a",
                     b"./", b"/", b"", b"a\x00b", b"\xff\xfe", b"a//b", b"a/./b", b"x" * 100, b"./.wh.x", b"d/" * 50,
                     b"\x1b[31m", b"var/lib/dpkg/status", b"etc/os-release", b"app/.env", b"id_rsa", b"GNUSparseFile.0/x"]
TYPEFLAGS = b"0125634789LKxgSVMD7\0AZ"
PAX_KEYS = ["path", "linkpath", "size", "uid", "gid", "mtime", "GNU.sparse.realsize", "GNU.sparse.size", "GNU.sparse.name",
            "GNU.sparse.major", "GNU.sparse.minor", "SCHILY.xattr.security.capability", "comment", "uname", "hdrcharset"]


class Hang(Exception):
    """A target ran longer than its time limit."""


def fuzz_seeds() -> list[tuple[str, bytes]]:
    """Small valid archives in every layout and compression, plus the catalogue's shapes."""
    import tempfile

    from slimview.sample.builder import ImageSpec, Layer, oci_layout_files, write_docker_archive

    base = (
        Layer("ADD rootfs /")
        .dir("etc").file("etc/os-release", "ID=debian\nVERSION_ID=12\n").dir("bin").file("bin/sh", b"\x7fELF" + bytes(300), mode=0o755)
        .symlink("bin/bash", "sh").hardlink("bin/dash", "bin/sh").dir("var").dir("var/lib").dir("var/lib/dpkg")
        .file("var/lib/dpkg/status", "Package: gcc-12\nStatus: install ok installed\nVersion: 12\n\n")
        .dir("app").file("app/.env", "API_KEY=not-a-real-secret-0123456789\n").file("app/big.bin", garbage("big", 3000))
    )
    second = Layer("RUN rm -rf /app/big.bin && chmod 700 /etc").whiteout("app/big.bin").dir("etc", mode=0o700).opaque("var/lib")
    third = Layer("COPY . /app # buildkit").file("app/main.py", "print('hi')\n").file("app/big.bin", b"again")
    spec = ImageSpec([base, second, third], cmd=["python", "/app/main.py"], empty_history={1: ["ENV A=b"]})
    seeds = []
    with tempfile.TemporaryDirectory() as tmp:
        for layout in ("legacy", "oci", "skopeo"):
            for compression in (None, "gzip", "zstd"):
                path = os.path.join(tmp, f"{layout}-{compression}.tar")
                write_docker_archive(spec, path, ["fuzz:latest"], layout=layout, compression=compression)
                seeds.append((f"docker-{layout}-{compression}", open(path, "rb").read()))
        path = os.path.join(tmp, "whole.tar.gz")
        write_docker_archive(spec, path, ["fuzz:latest"], whole="gzip")
        seeds.append(("docker-whole-gzip", open(path, "rb").read()))
    layout = oci_layout_files([(spec, "latest", None)], compression="gzip")
    seeds.append(("oci-archive", tar(*(member(name, data) for name, data in sorted(layout.items())))))
    seeds.append(("hostile-sparse", one_layer(sparse_pax_member("d/big", 1 << 40, [(0, b"x")]), sparse_gnu_member("d/old", 1 << 33, [(5, b"y")]))))
    seeds.append(("hostile-longnames", one_layer(gnu_long("l/" * 60 + "name"), member("x", b"1"), gnu_long("t" * 150, flag=b"K"), symlink("s", "x"),
                                                 pax({"path": "p/" * 70 + "q", "uid": "70000", "SCHILY.xattr.user.a": "b"}), member("y", b"22"))))
    seeds.append(("hostile-base256", one_layer(member("n", b"123", uid=base256(1 << 40, 8), size=base256(3, 12)), pax({"x": "y"}, global_=True), member("m", b""))))
    return seeds


def _valid_header(block: bytes) -> bool:
    if len(block) < BLOCK or not any(block):
        return False
    try:
        stored = int(block[148:156].split(b"\0")[0].strip() or b"x", 8)
    except ValueError:
        return False
    return stored == checksum(block)


def tar_members(data: bytes) -> list[tuple[int, int, int]]:
    """(header offset, data offset, size) of each member a simple ustar walk finds."""
    out = []
    pos = 0
    while pos + BLOCK <= len(data):
        block = data[pos : pos + BLOCK]
        if not _valid_header(block):
            break
        try:
            size = int(block[124:136].split(b"\0")[0].strip() or b"0", 8)
        except ValueError:
            break
        out.append((pos, pos + BLOCK, size))
        pos += BLOCK + size + (-size % BLOCK)
    return out


def _refit(block: bytes, size: int | None = None) -> bytes:
    """A header with its size replaced (when given) and its checksum recomputed."""
    block = bytearray(block)
    if size is not None:
        block[124:136] = octal(size, 12)
    block[148:156] = b" " * 8
    block[148:156] = b"%06o\0 " % checksum(block)
    return bytes(block)


def replace_member_data(data: bytes, at: tuple[int, int, int], new: bytes) -> bytes:
    header_at, data_at, size = at
    end = data_at + size + (-size % BLOCK)
    return data[:header_at] + _refit(data[header_at:data_at], len(new)) + pad(new) + data[end:]


class Mutator:
    """Random, structure-aware changes to archives: bytes, tar headers, nested layers, JSON."""

    def __init__(self, rng):
        self.rng = rng

    def mutate(self, data: bytes, depth: int = 0) -> bytes:
        rng = self.rng
        for _ in range(rng.choice((1, 1, 1, 2, 2, 3, 5))):
            ops = [self.flip, self.overwrite, self.truncate, self.insert, self.delete, self.splice_block]
            if depth < 2:
                ops += [self.header_field, self.header_field, self.nested, self.nested, self.nested, self.drop_member, self.duplicate_member]
            data = rng.choice(ops)(data, depth)
        return data

    # -- bytes ------------------------------------------------------------------------------
    def flip(self, data, depth):
        if not data:
            return b"\x00"
        data = bytearray(data)
        for _ in range(self.rng.randint(1, 8)):
            i = self.rng.randrange(len(data))
            data[i] ^= 1 << self.rng.randrange(8)
        return bytes(data)

    def overwrite(self, data, depth):
        if not data:
            return data
        i = self.rng.randrange(len(data))
        value = self.rng.choice([b"\x00" * 8, b"\xff" * 8, b"0" * 12, b"7" * 11, b" " * 4, self.rng.randbytes(self.rng.randint(1, 32))])
        return data[:i] + value + data[i + len(value) :]

    def truncate(self, data, depth):
        return data[: self.rng.randrange(len(data) + 1)] if data else data

    def insert(self, data, depth):
        i = self.rng.randrange(len(data) + 1)
        return data[:i] + self.rng.choice([self.rng.randbytes(self.rng.randint(1, 600)), bytes(BLOCK), bytes(2 * BLOCK)]) + data[i:]

    def delete(self, data, depth):
        if not data:
            return data
        i = self.rng.randrange(len(data))
        return data[:i] + data[i + self.rng.randint(1, 1024) :]

    def splice_block(self, data, depth):
        blocks = len(data) // BLOCK
        if blocks < 2:
            return data
        a, b = self.rng.randrange(blocks), self.rng.randrange(blocks)
        return data[: a * BLOCK] + data[b * BLOCK : (b + 1) * BLOCK] + data[a * BLOCK :]

    # -- tar structure ----------------------------------------------------------------------
    def header_field(self, data, depth):
        members = tar_members(data)
        if not members:
            return self.flip(data, depth)
        header_at, data_at, _size = self.rng.choice(members)
        block = bytearray(data[header_at:data_at])
        field = self.rng.choice(["name", "size", "mode", "uid", "type", "link", "magic", "prefix", "sparse"])
        rng = self.rng
        if field == "name":
            block[0:100] = rng.choice(INTERESTING_NAMES)[:100].ljust(100, b"\0")
        elif field == "size":
            block[124:136] = rng.choice(INTERESTING_NUMBERS + [octal(rng.randrange(1 << 20), 12)]).ljust(12, b"\0")[:12]
        elif field == "mode":
            block[100:108] = rng.choice(INTERESTING_NUMBERS).ljust(8, b"\0")[:8]
        elif field == "uid":
            block[108:116] = rng.choice(INTERESTING_NUMBERS).ljust(8, b"\0")[:8]
        elif field == "type":
            block[156] = rng.choice(TYPEFLAGS)
        elif field == "link":
            block[157:257] = rng.choice(INTERESTING_NAMES)[:100].ljust(100, b"\0")
        elif field == "magic":
            block[257:265] = rng.choice([b"ustar\x0000", b"ustar  \0", b"\0" * 8, b"garbage!"])
        elif field == "prefix":
            block[345:500] = rng.choice(INTERESTING_NAMES)[:155].ljust(155, b"\0")
        else:
            block[482:495] = bytes([rng.choice((0, 1))]) + rng.choice(INTERESTING_NUMBERS).ljust(12, b"\0")[:12]
        fixed = bytes(block) if rng.random() < 0.15 else _refit(bytes(block))
        return data[:header_at] + fixed + data[data_at:]

    def drop_member(self, data, depth):
        members = tar_members(data)
        if not members:
            return data
        header_at, data_at, size = self.rng.choice(members)
        return data[:header_at] + data[data_at + size + (-size % BLOCK) :]

    def duplicate_member(self, data, depth):
        members = tar_members(data)
        if not members:
            return data
        header_at, data_at, size = self.rng.choice(members)
        chunk = data[header_at : data_at + size + (-size % BLOCK)]
        at = self.rng.choice(members)[0]
        return data[:at] + chunk + data[at:]

    def nested(self, data, depth):
        """Mutate what a member holds: a layer (through its compression) or a JSON document."""
        members = [m for m in tar_members(data) if m[2]]
        if not members:
            return self.flip(data, depth)
        at = self.rng.choice(members)
        body = data[at[1] : at[1] + at[2]]
        if body[:1] in (b"{", b"["):
            new = self.mutate_json(body)
        elif body[:2] == b"\x1f\x8b" or body[:4] == b"\x28\xb5\x2f\xfd":
            inner = decompress(body)
            if inner is body or self.rng.random() < 0.2:
                new = self.mutate(body, depth + 1)  # the compressed bytes themselves
            else:
                new = self.mutate(inner, depth + 1)
                new = gzip_bytes(new) if body[:2] == b"\x1f\x8b" else zstd_bytes(new)
        else:
            new = self.mutate(body, depth + 1)
        return replace_member_data(data, at, new)

    # -- JSON -------------------------------------------------------------------------------
    def json_value(self, level=0):
        rng = self.rng
        kind = rng.randrange(9 if level < 3 else 6)
        if kind == 0:
            return None
        if kind == 1:
            return rng.choice([True, False])
        if kind == 2:
            return rng.choice([0, -1, 1 << 70, 3.5, float("1e308"), 7])
        if kind in (3, 4, 5):
            return rng.choice(["", "sha256:" + "0" * 64, "sha256:zz", "../etc", "blobs/sha256/" + "a" * 64, "\udcff", "x" * 300,
                               "application/vnd.oci.image.index.v1+json", "linux", "amd64", "latest", "RUN x"])
        if kind in (6, 7):
            return [self.json_value(level + 1) for _ in range(rng.randint(0, 3))]
        return {rng.choice(["Config", "Layers", "RepoTags", "manifests", "digest", "mediaType", "config", "layers", "rootfs",
                            "diff_ids", "history", "platform", "annotations", "size", "os", "created_by", "empty_layer"]):
                self.json_value(level + 1) for _ in range(rng.randint(0, 3))}

    def mutate_json(self, body: bytes) -> bytes:
        try:
            return self._mutate_json(body)
        except RecursionError:  # a document an earlier mutation nested too deeply to walk
            return self.flip(body, 0)

    def _mutate_json(self, body: bytes) -> bytes:
        try:
            doc = json.loads(body)
        except ValueError:
            return self.flip(body, 0)
        if self.rng.random() < 0.02:  # nesting deeper than any parser's recursion limit
            depth = self.rng.choice([900, 5000, 50_000])
            return b"[" * depth + body + b"]" * depth if self.rng.random() < 0.5 else b'{"a":' * depth + b"1" + b"}" * depth
        for _ in range(self.rng.randint(1, 3)):
            doc = self._mutate_node(doc)
        text = json.dumps(doc, ensure_ascii=self.rng.random() < 0.5)
        return text.encode("utf-8", "surrogateescape")

    def _mutate_node(self, node):
        rng = self.rng
        if isinstance(node, dict) and node and rng.random() < 0.7:
            key = rng.choice(list(node))
            action = rng.randrange(4)
            if action == 0:
                del node[key]
            elif action == 1:
                node[key] = self.json_value()
            else:
                node[key] = self._mutate_node(node[key])
            return node
        if isinstance(node, list) and node and rng.random() < 0.7:
            i = rng.randrange(len(node))
            action = rng.randrange(4)
            if action == 0:
                del node[i]
            elif action == 1:
                node.insert(i, self.json_value())
            else:
                node[i] = self._mutate_node(node[i])
            return node
        return self.json_value()


def exercise_index(index) -> None:
    """Everything a user's report, TUI and rewrite reach from an index."""
    from slimview.report.jsondoc import render_json
    from slimview.report.text import render_text
    from slimview.session import analyse

    report = analyse(index)
    render_text(report)
    render_json(report)
    try:
        from slimview.report.markdown import render_markdown
    except ImportError:
        pass
    else:
        render_markdown(report)
    index.directory_sizes()
    for path, _entry, _layer in list(index.final_files())[:50]:
        index.path_history(path)
        index.content_entry(path)
    history = index.source.history
    index.source.layer_history()
    try:
        from slimview.rewrite.reconstruct import reconstruct
    except ImportError:
        return
    reconstruct(history, len(index.layers))


def metadata_variant(mutator: Mutator, layers: list[bytes]) -> bytes:
    """An archive with intact layers whose manifest and config were mutated as JSON documents.

    The config member is named after its (mutated) bytes and the manifest points at it, so
    the readers get past the digest checks into the shapes of the documents.
    """
    archive = Archive(layers)
    config, _name, names, diff_ids, _manifest = archive.parts()
    rng = mutator.rng
    if rng.random() < 0.7:
        config = mutator.mutate_json(config)
    config_name = sha(config)[7:] + ".json"
    manifest = json.dumps([{"Config": config_name, "RepoTags": ["fuzz:latest"], "Layers": names}]).encode()
    if rng.random() < 0.6:
        manifest = mutator.mutate_json(manifest)
    return Archive(layers, diff_ids=diff_ids, config=config, manifest=manifest, layer_names=names).build()


class FuzzTarget:
    """Runs inputs through slimview with a time limit; collects what is not a SlimviewError."""

    def __init__(self, workdir: str, *, seconds: float = 10.0, max_entries: int = 20_000):
        self.workdir = workdir
        self.seconds = seconds
        self.max_entries = max_entries
        self.runs = 0
        self.rejected = 0  # inputs refused with a SlimviewError: fine
        self.completed = 0  # inputs indexed and reported
        self.failures: list[tuple[str, str, bytes]] = []  # (target, error, input)

    def _timed(self, name: str, data: bytes, fn) -> None:
        import signal
        import traceback

        from slimview.errors import SlimviewError

        def alarm(_signum, _frame):
            raise Hang(f"no result after {self.seconds} s")

        previous = signal.signal(signal.SIGALRM, alarm)
        signal.setitimer(signal.ITIMER_REAL, self.seconds)
        self.runs += 1
        try:
            fn()
            self.completed += 1
        except SlimviewError:
            self.rejected += 1
        except Exception as exc:
            where = traceback.extract_tb(exc.__traceback__)[-1]
            self.failures.append((name, f"{exc.__class__.__name__}: {exc} at {where.filename}:{where.lineno}", data))
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)

    def archive(self, data: bytes, *, suffix: str = ".tar", report: bool = True, verify: bool = True) -> None:
        """An image file; ``verify=False`` lets layers that no longer match their diff_id through."""
        from slimview.index import IndexOptions, build_index

        path = os.path.join(self.workdir, "input" + suffix)
        with open(path, "wb") as fh:
            fh.write(data)

        def run():
            options = IndexOptions(use_cache=False, max_entries=self.max_entries, workers=1, verify=verify)
            index = build_index(path, options)
            if report:
                exercise_index(index)

        self._timed("archive" + suffix, data, run)

    def layer(self, data: bytes, *, report: bool = True) -> None:
        """One layer tar (any compression) on top of a fixed base layer, indexed and merged."""
        from slimview.index import assemble
        from slimview.index.layer import index_layer_stream

        def run():
            files = index_layer_stream(io.BytesIO(data), where="fuzz layer", max_entries=self.max_entries)
            index = assemble(_fuzz_source(2), [_base_layer(), files])
            if report:
                exercise_index(index)

        self._timed("layer", data, run)

    def history(self, lines: list[str]) -> None:
        try:
            from slimview.rewrite.reconstruct import reconstruct
        except ImportError:
            return
        from slimview.source.model import HistoryEntry

        entries = [HistoryEntry(created_by=line, empty_layer=i % 3 == 1) for i, line in enumerate(lines)]
        self._timed("history", "\n".join(lines).encode("utf-8", "surrogateescape"), lambda: reconstruct(entries, len(lines)))


_BASE = None


def _base_layer():
    global _BASE
    if _BASE is None:
        from slimview.index.layer import index_layer_stream

        _BASE = index_layer_stream(io.BytesIO(simple_layer() if False else tar(
            directory("etc"), member("etc/hostname", b"box\n"), directory("app"), member("app/a", b"12345"),
            directory("app/sub"), member("app/sub/b", b"1"), symlink("app/link", "a"), member("x", b"x"),
        )), where="base")
    return _BASE


def _fuzz_source(layers: int):
    from slimview.source.model import LayerRef, SourceImage

    refs = [LayerRef(i, "", "", "", -1, f"fuzz layer {i}") for i in range(layers)]
    config = config_doc([sha(b"%d" % i) for i in range(layers)])
    return SourceImage("fuzz", "docker-archive", "fuzz:latest", ["fuzz:latest"], config, sha(b"config"), refs)


def random_member(rng) -> bytes:
    """One tar member built field by field from hostile and ordinary choices."""
    def name():
        kind = rng.randrange(6)
        if kind == 0:
            return rng.choice(INTERESTING_NAMES)
        if kind == 1:
            return rng.randbytes(rng.randint(0, 120))
        if kind == 2:
            return "/".join(rng.choice(["a", "b", "..", ".", "", ".wh.a", ".wh..wh..opq", "é", "d"]) for _ in range(rng.randint(1, 6))).encode()
        return rng.choice([b"etc/passwd", b"app/main.py", b"usr/bin/x", b"var/lib/dpkg/status", b"app", b"a", b"a/b"])

    def number(width):
        kind = rng.randrange(5)
        if kind == 0:
            return rng.choice(INTERESTING_NUMBERS)[:width].ljust(width, b"\0")
        if kind == 1:
            return base256(rng.choice([0, 1, -1, 1 << 40, -(1 << 40), (1 << (8 * width - 9)) - 1]), width)
        return octal(rng.randrange(8 ** (width - 1)), width)

    data = rng.choice([b"", b"x", rng.randbytes(rng.randint(0, 1500)), b"PRIVATE KEY-----" + bytes(50), b"Package: a\nStatus: install ok installed\n"])
    kind = rng.randrange(10)
    if kind == 0:
        records = [(rng.choice(PAX_KEYS), rng.choice(["", "0", "-1", "99999999999999999999999", "a/../b", "x" * 200, "1.0", str(rng.randrange(1 << 34))]))
                   for _ in range(rng.randint(1, 4))]
        prefix = pax(records, global_=rng.random() < 0.2)
    elif kind == 1:
        prefix = gnu_long(name() or b"n", flag=rng.choice([b"L", b"K"]))
    elif kind == 2:
        real = rng.choice([0, 10, 1 << 33, 1 << 62])
        chunks = [(rng.randrange(real + 1), rng.randbytes(rng.randint(0, 40))) for _ in range(rng.randint(0, 3))]
        return (sparse_pax_member if rng.random() < 0.5 else sparse_gnu_member)("s/" + str(rng.randrange(99)), real, chunks)
    else:
        prefix = b""
    size = len(data) if rng.random() < 0.85 else number(12)
    block = header(
        name(),
        size=size,
        typeflag=bytes([rng.choice(TYPEFLAGS)]) if rng.random() < 0.4 else rng.choice([b"0", b"5", b"2", b"1"]),
        linkname=name() if rng.random() < 0.3 else b"",
        mode=number(8) if rng.random() < 0.2 else 0o644,
        uid=number(8) if rng.random() < 0.2 else 0,
        magic=rng.choice([b"ustar\x0000", b"ustar\x0000", b"ustar  \0", b"\0" * 8]),
        prefix=name() if rng.random() < 0.1 else b"",
        chksum=rng.randrange(1 << 18) if rng.random() < 0.03 else None,
    )
    return prefix + block + pad(data)


def random_layer(rng) -> bytes:
    """A layer tar (sometimes compressed, sometimes without end blocks) of random members."""
    data = tar(*(random_member(rng) for _ in range(rng.randint(0, 12))), end=rng.random() < 0.9)
    kind = rng.randrange(6)
    return gzip_bytes(data) if kind == 0 else zstd_bytes(data) if kind == 1 else data


def oci_variant(mutator: Mutator) -> dict[str, bytes]:
    """An OCI layout whose index.json and image manifest were mutated as JSON documents.

    A mutated manifest is stored under its new digest and the index points at it, so the
    reader reaches the mutated shapes instead of stopping at a missing blob.
    """
    from slimview.sample.builder import ImageSpec, Layer, oci_layout_files

    rng = mutator.rng
    spec = ImageSpec([Layer("RUN a").file("a.txt", b"hello\n").dir("d"), Layer("RUN b").whiteout("a.txt")])
    files = oci_layout_files([(spec, "latest", {"os": "linux", "architecture": "amd64"} if rng.random() < 0.5 else None)],
                             compression=rng.choice([None, "gzip", "zstd"]))
    index = json.loads(files["index.json"])
    if rng.random() < 0.7:
        digest = index["manifests"][0]["digest"]
        manifest = mutator.mutate_json(files["blobs/sha256/" + digest[7:]])
        files["blobs/sha256/" + sha(manifest)[7:]] = manifest
        index["manifests"][0]["digest"] = sha(manifest)
    body = json.dumps(index).encode()
    files["index.json"] = mutator.mutate_json(body) if rng.random() < 0.5 else body
    return files
