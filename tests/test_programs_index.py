"""Programs are read once, when the index passes them (slimview/elf.py), and only that record
is kept: the same record whether the body arrives whole, in the pieces a stream gave it, or
is read where it lies in the archive; layers read beside the worker processes have their
programs read after them; the cache keeps the record, not the program."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

import slimview.index.build as build_module
import slimview.index.workers as workers_mod
from slimview.elf import Need, ProgramLinkage, read_program
from slimview.index import IndexOptions, build_index
from slimview.sample.builder import ImageSpec, Layer, write_docker_archive, write_oci_archive
from slimview.source.tarstream import RangeReader, TarReader

from elfbuild import Program
from findings_util import noise
from stack_images import SERVER

FUNCTIONS = [
    "main.main", "net._Cfunc_getaddrinfo", "main._Cfunc_sqlite3_open", "crypto/tls.Client", "time.LoadLocation",
    "time/tzdata.registerLoadFromEmbeddedTZData", "os.CreateTemp",
]
CGO_SERVER = Program(
    interpreter="/lib64/ld-linux-x86-64.so.2", needed=["libc.so.6", "libsqlite3.so.0"], go_version="go1.21.0",
    go_settings={"CGO_ENABLED": "1"}, debug={".debug_info": 70_000}, symbols=24 * 100, functions=FUNCTIONS,
)


def test_a_go_programs_function_names_say_what_calls_c_and_what_it_reaches_for():
    program = read_program(CGO_SERVER.build())
    assert program is not None
    assert program.go_functions
    assert program.cgo_packages == ["main", "net"]
    # time.LoadLocation with the zone database compiled in (time/tzdata) needs no zoneinfo
    assert program.needs == [Need.CA_CERTIFICATES, Need.TMP]
    assert (program.linkage, program.needed, program.go_version) == (ProgramLinkage.DYNAMIC, ["libc.so.6", "libsqlite3.so.0"], "go1.21.0")
    assert (program.dwarf_bytes, program.symbol_bytes) == (70_000, 24 * 100 + 24 * 100 // 2)
    without_names = read_program(Program(go_version="go1.21.0").build())
    assert without_names is not None and not without_names.go_functions and without_names.needs == []


@pytest.mark.parametrize("piece", [1, 7, 4096, 1 << 20])
def test_the_record_is_the_same_from_the_whole_body_its_pieces_or_the_file(tmp_path, piece):
    body = CGO_SERVER.build()
    whole = read_program(body)
    assert whole is not None and whole.size == len(body)
    assert read_program([body[i:i + piece] for i in range(0, len(body), piece)]) == whole
    path = tmp_path / "archive"
    path.write_bytes(b"x" * 1000 + body + b"y" * 1000)
    with RangeReader(str(path), 1000, len(body)) as window:
        assert read_program(window) == whole
    assert read_program([b"\x7f", b"EL", b"F" + bytes(300)]) is None  # the magic across pieces, then nothing
    assert read_program([b"#!/bin/sh\n", bytes(300)]) is None


def test_a_range_reader_seeks_within_its_range(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(bytes(range(100)))
    with RangeReader(str(path), 10, 50) as r:
        assert r.read(3) == bytes([10, 11, 12]) and r.tell() == 3
        assert r.seek(40) == 40 and r.read(100) == bytes(range(50, 60))
        assert r.seek(-5, io.SEEK_END) == 45 and r.read() == bytes(range(55, 60))
        assert r.seek(-2, io.SEEK_CUR) == 48 and r.read(1) == bytes([58])
        assert r.seek(-100, io.SEEK_CUR) == 0 and r.read(1) == bytes([10])


def test_a_tar_entry_read_in_pieces_is_the_entry():
    body = os.urandom(3 * 65536 + 17)
    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w") as tar:
        for name, data in (("a", b"small"), ("b", body)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    reader = TarReader(io.BytesIO(layer.getvalue()), chunk_size=65536)
    got = {}
    for entry in reader:
        got[entry.name] = reader.read_chunks(len(body) + 1)
    assert got["a"] == [b"small"]
    assert len(got["b"]) > 1 and b"".join(got["b"]) == body


def _image(program: bytes) -> ImageSpec:
    """Two large layers the workers read, and a small one with the program the main process reads."""
    tools = [Layer(f"RUN apt-get install -y {name}") for name in ("golang-go", "gcc")]
    for k in range(200):
        for layer in tools:
            layer.file(f"usr/lib/{layer.created_by[-3:]}/p{k}.a", noise(f"{layer.created_by}{k}", 4000))
    build = Layer("RUN go build -o /usr/local/bin/server .").file("usr/local/bin/server", program, mode=0o755)
    build.file("app/main.go", b"package main\n")
    return ImageSpec([Layer("ADD base").file("etc/os-release", b"ID=debian\n"), *tools, build])


@pytest.mark.parametrize("form", ["docker-archive", "oci-archive gzip", "oci-archive zstd"])
def test_programs_of_layers_read_beside_the_workers_are_read_after_them(tmp_path, monkeypatch, form):
    body = CGO_SERVER.build()
    path = tmp_path / "image.tar"
    if form == "docker-archive":
        write_docker_archive(_image(body), str(path), ["go:1"])
    else:
        write_oci_archive(_image(body), str(path), compression=form.split()[1])
    monkeypatch.setattr(workers_mod, "PARALLEL_MIN_BYTES", 600_000)  # the tools layers (800 kB) to the workers
    read_later = []
    real = workers_mod._read_programs
    monkeypatch.setattr(workers_mod, "_read_programs", lambda files, blob, where: read_later.append(len(files.unread_programs)) or real(files, blob, where))
    pooled = build_index(str(path), IndexOptions(use_cache=False, workers=2))
    alone = build_index(str(path), IndexOptions(use_cache=False, workers=1))
    assert read_later == [1]  # the program's layer was read beside the worker, its program after
    expected = read_program(body)
    for index in (pooled, alone):
        assert index.program("usr/local/bin/server") == expected
        assert [dict(layer.files.programs) for layer in index.layers] == [{}, {}, {}, {0: expected}]
        assert all(not layer.files.unread_programs and not layer.files.captured for layer in index.layers[1:])
    assert pooled.final == alone.final


def test_the_cache_keeps_the_programs_record_not_the_program(tmp_path, monkeypatch):
    body = SERVER.build()
    path = tmp_path / "image.tar"
    write_docker_archive(_image(body), str(path), ["go:1"])
    cache = tmp_path / "cache"
    cold = build_index(str(path), IndexOptions(cache_dir=str(cache)))
    monkeypatch.setattr(build_module, "index_cold", lambda *a, **k: pytest.fail("a warm cache reads no layer"))
    warm = build_index(str(path), IndexOptions(cache_dir=str(cache)))
    assert warm.program("usr/local/bin/server") == cold.program("usr/local/bin/server") == read_program(body)
    stored = sum(p.stat().st_size for p in Path(cache).rglob("*") if p.is_file())
    assert stored < len(body) // 2  # every layer's entry together is smaller than the program
