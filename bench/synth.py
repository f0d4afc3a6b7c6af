"""Generate large synthetic images (docker save layout) for the scale benchmarks.

    python3 bench/synth.py 1000000 /tmp/synth-1m.tar

Four layers, about ``entries`` tar entries in all (within 0.1 %): a base of many small files in
directories of 100, a layer that overwrites 10 % and adds 20 %, a layer that deletes
(file whiteouts and whole directories), and a chmod-only layer. Headers are written
directly (tarfile is too slow for a million entries); bytes are deterministic.
"""

from __future__ import annotations

import hashlib
import json
import sys

BLOCK = 512


def _header(name: str, size: int, mode: int, typeflag: bytes) -> bytes:
    raw = name.encode()
    if len(raw) > 100:
        raise ValueError("synthetic names stay under 100 bytes")
    h = bytearray(BLOCK)
    h[0 : len(raw)] = raw
    h[100:108] = b"%07o\0" % mode
    h[108:116] = b"%07o\0" % 0
    h[116:124] = b"%07o\0" % 0
    # Sizes of 8 GiB and more do not fit 11 octal digits: GNU's base-256 form.
    h[124:136] = b"%011o\0" % size if size < 8**11 else b"\x80" + size.to_bytes(11, "big")
    h[136:148] = b"%011o\0" % 1_700_000_000
    h[148:156] = b" " * 8
    h[156:157] = typeflag
    h[257:265] = b"ustar\x0000"
    h[148:156] = b"%06o\0 " % sum(h)
    return bytes(h)


class LayerWriter:
    def __init__(self):
        self.parts: list[bytes] = []

    def dir(self, name: str, mode: int = 0o755) -> None:
        self.parts.append(_header(name + "/", 0, mode, b"5"))

    def file(self, name: str, data: bytes, mode: int = 0o644) -> None:
        self.parts.append(_header(name, len(data), mode, b"0"))
        if data:
            self.parts.append(data + bytes(-len(data) % BLOCK))

    def whiteout(self, name: str) -> None:
        parent, _, base = name.rpartition("/")
        self.file(f"{parent}/.wh.{base}" if parent else f".wh.{base}", b"")

    def tar(self) -> bytes:
        return b"".join(self.parts) + bytes(2 * BLOCK)


def _content(i: int, generation: int) -> bytes:
    return (b"%d:%d " % (generation, i)) * (i % 23)


def synth_layers(entries: int):
    """Yield (created_by, layer tar) one layer at a time."""
    files = max(100, int(entries / 1.378))  # about 1.378 tar entries per base file
    dirs = files // 100

    base = LayerWriter()
    base.dir("data")
    for d in range(dirs):
        base.dir(f"data/d{d:06d}")
        for f in range(100):
            i = d * 100 + f
            base.file(f"data/d{d:06d}/f{f:03d}", _content(i, 0))
    yield "/bin/sh -c #(nop) ADD file:synthetic-base in / ", base.tar()
    del base

    change = LayerWriter()
    change.dir("data")
    for d in range(dirs):
        change.dir(f"data/d{d:06d}")
        for f in range(0, 100, 10):  # overwrite 10 %
            change.file(f"data/d{d:06d}/f{f:03d}", _content(d * 100 + f, 1))
        for f in range(100, 120):  # add 20 %
            change.file(f"data/d{d:06d}/f{f:03d}", _content(d * 100 + f, 1))
    yield "/bin/sh -c sh generate.sh", change.tar()
    del change

    delete = LayerWriter()
    delete.dir("data")
    for d in range(dirs):
        if d % 10 == 0:
            delete.whiteout(f"data/d{d:06d}")  # rm -rf of a tenth of the directories
            continue
        delete.dir(f"data/d{d:06d}")
        for f in range(5, 100, 20):
            delete.whiteout(f"data/d{d:06d}/f{f:03d}")
    yield "/bin/sh -c rm -rf /data/d*0 && rm /data/*/f*5", delete.tar()
    del delete

    chmod = LayerWriter()
    chmod.dir("data")
    for d in range(1, dirs, 10):
        chmod.dir(f"data/d{d:06d}")
        for f in range(1, 100, 50):
            chmod.file(f"data/d{d:06d}/f{f:03d}", _content(d * 100 + f, 0), mode=0o600)
    yield "/bin/sh -c chmod 600 /data/*1/f*1", chmod.tar()


def write_save(entries: int, path: str) -> int:
    """Write a legacy docker save tarball, one layer in memory at a time; returns the entry count."""
    diff_ids, names, history, count = [], [], [], 0
    with open(path, "wb") as fh:
        outer = LayerWriter()
        for created_by, tar in synth_layers(entries):
            diff_id = "sha256:" + hashlib.sha256(tar).hexdigest()
            name = diff_id[7:] + "/layer.tar"
            count += tar.count(b"ustar\x0000")
            outer.dir(name.split("/")[0])
            outer.file(name, tar)
            fh.write(b"".join(outer.parts))
            outer.parts.clear()
            diff_ids.append(diff_id)
            names.append(name)
            history.append({"created_by": created_by})
        config = json.dumps(
            {
                "architecture": "amd64",
                "os": "linux",
                "config": {"Cmd": ["sh"]},
                "rootfs": {"type": "layers", "diff_ids": diff_ids},
                "history": history,
            }
        ).encode()
        config_name = hashlib.sha256(config).hexdigest() + ".json"
        manifest = json.dumps([{"Config": config_name, "RepoTags": [f"synth:{entries}"], "Layers": names}]).encode()
        outer.file(config_name, config)
        outer.file("manifest.json", manifest)
        fh.write(outer.tar())
    return count


if __name__ == "__main__":
    n = int(sys.argv[1])
    count = write_save(n, sys.argv[2])
    print(f"{sys.argv[2]}: {count} layer entries")


# -- a large image, written as a stream ------------------------------------------------------

_PATTERN_BYTES = 16 << 20


def _pattern() -> bytes:
    """16 MiB of deterministic, incompressible-looking bytes (repeated to make big files)."""
    out = bytearray()
    seed = b"slimview-large-image"
    while len(out) < _PATTERN_BYTES:
        seed = hashlib.sha512(seed).digest()
        out += seed * 64
    return bytes(out[:_PATTERN_BYTES])


def _padded(size: int) -> int:
    return size + (-size % BLOCK)


def write_large_save(path: str, big_files: list[int], small_files: int) -> int:
    """A legacy docker save of a large image, streamed to ``path`` (nothing large is held in
    memory): a base layer of ``small_files`` small files, a layer of big files (``big_files``
    their sizes in bytes) and a layer deleting the first big file. Returns the entry count."""
    pattern = _pattern()

    def small_layer():
        yield _header("small/", 0, 0o755, b"5")
        for d in range(-(-small_files // 1000)):
            yield _header(f"small/d{d:04d}/", 0, 0o755, b"5")
            for f in range(min(1000, small_files - d * 1000)):
                body = _content(d * 1000 + f, 0)
                yield _header(f"small/d{d:04d}/f{f:04d}", len(body), 0o644, b"0")
                if body:
                    yield body + bytes(-len(body) % BLOCK)
        yield bytes(2 * BLOCK)

    def big_layer():
        yield _header("big/", 0, 0o755, b"5")
        for n, size in enumerate(big_files):
            yield _header(f"big/blob{n}.bin", size, 0o644, b"0")
            left = size
            while left:
                piece = pattern[: min(left, len(pattern))]
                # Each 16 MiB differs from the last (a counter in its first bytes).
                yield b"%016d" % (left // len(pattern)) + piece[16:] if len(piece) > 16 else piece
                left -= len(piece)
            yield bytes(-size % BLOCK)
        yield bytes(2 * BLOCK)

    def delete_layer():
        yield _header("big/", 0, 0o755, b"5")
        yield _header("big/.wh.blob0.bin", 0, 0o644, b"0")
        yield bytes(2 * BLOCK)

    def layer_size(layer) -> int:
        return sum(len(chunk) for chunk in layer())

    layers = [("/bin/sh -c #(nop) ADD file:large-base in / ", small_layer), ("/bin/sh -c fetch big files", big_layer),
              ("/bin/sh -c rm /big/blob0.bin", delete_layer)]
    diff_ids, names, history, count = [], [], [], 0
    with open(path, "wb") as fh:
        for created_by, layer in layers:
            size = layer_size(layer) if layer is not big_layer else (
                BLOCK + sum(BLOCK + _padded(s) for s in big_files) + 2 * BLOCK
            )
            sha = hashlib.sha256()
            name = f"layer{len(names)}/layer.tar"
            fh.write(_header(f"layer{len(names)}/", 0, 0o755, b"5"))
            fh.write(_header(name, size, 0o644, b"0"))
            written = 0
            for chunk in layer():
                sha.update(chunk)
                fh.write(chunk)
                written += len(chunk)
                if chunk[257:263] == b"ustar\x00" and len(chunk) == BLOCK:
                    count += 1
            assert written == size, (name, written, size)
            fh.write(bytes(-size % BLOCK))
            diff_ids.append("sha256:" + sha.hexdigest())
            names.append(name)
            history.append({"created_by": created_by})
        config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["sh"]},
                             "rootfs": {"type": "layers", "diff_ids": diff_ids}, "history": history}).encode()
        config_name = hashlib.sha256(config).hexdigest() + ".json"
        manifest = json.dumps([{"Config": config_name, "RepoTags": ["synth:large"], "Layers": names}]).encode()
        tail = LayerWriter()
        tail.file(config_name, config)
        tail.file("manifest.json", manifest)
        fh.write(tail.tar())
    return count
