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
    command = [script] if script else [sys.executable, "-m", "slimview.cli"]
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


def run_cli_measured(args: list[str], home: str | os.PathLike, *, address_space: int, timeout: float = 120):
    """Run the CLI under an address-space cap; returns (exit status, stdout, stderr, peak RSS bytes).

    The cap (RLIMIT_AS) keeps a regression from exhausting the machine: it turns into
    MemoryError, which the CLI reports, so the caller's message check fails loudly.
    """
    import resource
    import tempfile

    script = shutil.which("slimview")
    command = [script] if script else [sys.executable, "-m", "slimview.cli"]

    def cap():
        resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))

    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen([*command, *args], stdout=out, stderr=err, cwd=str(home), env=cli_env(home), preexec_fn=cap)
        import signal
        import time

        deadline = time.monotonic() + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                os.kill(proc.pid, signal.SIGKILL)
                os.wait4(proc.pid, 0)
                raise TimeoutError(f"slimview {' '.join(args)} still running after {timeout} s")
            time.sleep(0.05)
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return proc.returncode, out.read().decode(), err.read().decode(), usage.ru_maxrss * 1024


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
