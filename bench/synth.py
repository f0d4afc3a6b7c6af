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
    h[124:136] = b"%011o\0" % size
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
