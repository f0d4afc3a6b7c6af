"""CI-sized fuzzing of every reader a hostile image reaches: only SlimviewError may come out.

Two kinds of input, both deterministic so a failure reproduces:
- mutation-based: valid archives in every layout and compression (tests/hostile.py
  fuzz_seeds) with bytes flipped, cut and inserted, tar header fields set to hostile
  values (checksums fixed so parsing goes deeper), members dropped and duplicated, layers
  mutated through their gzip/zstd compression, manifest and config mutated as JSON;
- structure-aware generation (hypothesis): tar headers field by field (PAX records, GNU
  long names, base-256 numbers, sparse maps, bad checksums), OCI layouts, history lines.

Every input runs through the same path as a user's (build_index, then the text, JSON
and Markdown reports, the findings and the history reconstruction) under a time limit.
bench/fuzz_long.py runs the same targets for 100,000 inputs.
"""

from __future__ import annotations

import io
import os
import posixpath
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hostile import (
    BLOCK,
    INTERESTING_NAMES,
    INTERESTING_NUMBERS,
    PAX_KEYS,
    Archive,
    FuzzTarget,
    Mutator,
    base256,
    decompress,
    fuzz_seeds,
    gnu_long,
    gzip_bytes,
    header,
    member,
    metadata_variant,
    oci_variant,
    pad,
    pax,
    simple_layer,
    sparse_gnu_member,
    sparse_pax_member,
    tar,
    tar_members,
    zstd_bytes,
)

FUZZ = settings(
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)


@pytest.fixture
def target(tmp_path):
    fuzz = FuzzTarget(str(tmp_path), seconds=10.0)
    yield fuzz
    details = [f"{name}: {error}\n  input[:200] = {data[:200]!r}" for name, error, data in fuzz.failures[:5]]
    assert not fuzz.failures, f"{len(fuzz.failures)} of {fuzz.runs} inputs raised something other than SlimviewError:\n" + "\n".join(details)


def _seed_layer(data: bytes) -> bytes:
    """The first layer of a seed archive, uncompressed."""
    for _header_at, data_at, size in tar_members(data):
        body = data[data_at : data_at + size]
        inner = decompress(body)
        if len(inner) >= 2 * BLOCK and inner[257:262] == b"ustar":
            return inner
    return simple_layer()


def test_mutated_archives_layers_and_metadata(target):
    rng = random.Random(20240601)
    mutate = Mutator(rng)
    seeds = fuzz_seeds()
    layers = [simple_layer(), tar(member("app/x", b"1"), member(".wh.etc", b""))]
    for i in range(2400):
        kind = i % 4
        name, seed = rng.choice(seeds)
        if kind in (0, 1):
            suffix = ".tar.gz" if name.endswith("whole-gzip") else ".tar"
            target.archive(mutate.mutate(seed), suffix=suffix, verify=kind == 0)
        elif kind == 2:
            target.layer(mutate.mutate(_seed_layer(seed)))
        else:
            target.archive(metadata_variant(mutate, layers))
    assert target.runs == 2400
    # The mutations must not all be rejected at the door: a good share indexes and reports.
    assert target.completed > 600, (target.completed, target.rejected)


def test_mutated_oci_layouts_as_directories_and_archives(target, tmp_path):
    from slimview.index import IndexOptions, build_index

    from hostile import exercise_index

    rng = random.Random(7)
    mutate = Mutator(rng)
    for i in range(240):
        files = oci_variant(mutate)
        if i % 2:
            target.archive(tar(*(member(name, data) for name, data in sorted(files.items()))))
            continue
        root = tmp_path / f"layout{i}"
        for name, data in files.items():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_bytes(data)
        target._timed("layout", files["index.json"], lambda root=root: exercise_index(build_index(str(root), IndexOptions(use_cache=False))))
    assert target.completed > 30


# -- structure-aware generation -------------------------------------------------------------

names = st.one_of(
    st.sampled_from(INTERESTING_NAMES),
    st.binary(max_size=110),
    st.lists(st.sampled_from(["a", "b", "..", ".", "", ".wh.a", ".wh..wh..opq", "\xe9", "etc", "d" * 60]), min_size=1, max_size=6).map(
        lambda parts: "/".join(parts).encode()
    ),
)


def _numeric(width: int):
    return st.one_of(
        st.integers(0, 8 ** (width - 1) - 1),
        st.sampled_from(INTERESTING_NUMBERS).map(lambda b: b[:width].ljust(width, b"\0")),
        st.integers(-(1 << (8 * width - 9)), (1 << (8 * width - 9)) - 1).map(lambda n: base256(n, width)),
        st.binary(min_size=width, max_size=width),
    )


@st.composite
def members(draw):
    data = draw(st.one_of(st.just(b""), st.binary(max_size=1200), st.just(b"PRIVATE KEY-----\n")))
    kind = draw(st.sampled_from(["plain", "plain", "plain", "pax", "gnu", "sparse-pax", "sparse-gnu", "global"]))
    if kind.startswith("sparse"):
        real = draw(st.sampled_from([0, 7, 1 << 33, (1 << 63) - 1]))
        chunks = draw(st.lists(st.tuples(st.integers(0, 1 << 34), st.binary(max_size=40)), max_size=3))
        writer = sparse_pax_member if kind == "sparse-pax" else sparse_gnu_member
        return writer("s/" + draw(st.text(max_size=20)), real, chunks)
    prefix = b""
    if kind in ("pax", "global"):
        records = draw(st.lists(st.tuples(st.sampled_from(PAX_KEYS) | st.text(max_size=10), st.text(max_size=60) | st.integers().map(str)), min_size=1, max_size=4))
        prefix = pax(records, global_=kind == "global")
    elif kind == "gnu":
        prefix = gnu_long(draw(names) or b"n", flag=draw(st.sampled_from([b"L", b"K"])))
    exact = draw(st.booleans() | st.just(True))
    block = header(
        draw(names),
        size=len(data) if exact else draw(_numeric(12)),
        typeflag=draw(st.sampled_from([b"0", b"5", b"2", b"1", b"3", b"4", b"6", b"7", b"\0", b"S", b"V", b"M", b"D", b"Z"])),
        linkname=draw(names),
        mode=draw(_numeric(8)),
        uid=draw(_numeric(8)),
        gid=draw(_numeric(8)),
        magic=draw(st.sampled_from([b"ustar\x0000", b"ustar  \0", b"\0" * 8])),
        prefix=draw(st.one_of(st.just(b""), names)),
        chksum=draw(st.one_of(st.none(), st.none(), st.none(), st.integers(0, 8**7 - 1))),
    )
    return prefix + block + pad(data)


@st.composite
def layers(draw):
    data = tar(*draw(st.lists(members(), max_size=10)), end=draw(st.booleans()))
    compression = draw(st.sampled_from([None, None, "gzip", "zstd"]))
    if compression == "gzip":
        return gzip_bytes(data)
    if compression == "zstd":
        return zstd_bytes(data)
    return data


@settings(FUZZ, max_examples=200)
@given(layer=layers())
def test_generated_layers(layer, tmp_path_factory):
    fuzz = FuzzTarget(str(tmp_path_factory.getbasetemp()))
    fuzz.layer(layer)
    assert not fuzz.failures, fuzz.failures[0][:2]


@settings(FUZZ, max_examples=80)
@given(image_layers=st.lists(layers(), min_size=1, max_size=3), wrap=st.sampled_from([None, "gzip"]))
def test_generated_archives(image_layers, wrap, tmp_path_factory):
    fuzz = FuzzTarget(str(tmp_path_factory.getbasetemp()))
    data = Archive(image_layers).build()
    fuzz.archive(gzip_bytes(data) if wrap else data, suffix=".tar.gz" if wrap else ".tar", verify=False)
    assert not fuzz.failures, fuzz.failures[0][:2]


go_text = st.text(alphabet=st.sampled_from(list('\\"\'[]{}&xuU0123456789abcdef #()/nop-:=$ \t\nCMDRUNSHELLENVEXPOSEHEALTHCHECK') + ["\udcff", "é"]), max_size=80)
history_lines = st.one_of(
    go_text,
    st.tuples(st.sampled_from(["/bin/sh -c #(nop)  ", "/bin/sh -c #(nop) ", "|2 A=1 B=2 /bin/sh -c ", "", "RUN /bin/sh -c "]),
              st.sampled_from(["CMD ", "ENTRYPOINT ", "SHELL ", "ENV ", "LABEL ", "EXPOSE map[", "HEALTHCHECK &{[", "COPY file:", "ADD dir:", "VOLUME [", "USER ", "WORKDIR ", "ARG ", "ONBUILD "]),
              go_text, st.sampled_from(["", " # buildkit", "]", "}", "\" \"30s\" '\\x03'}"])).map("".join),
)


@settings(FUZZ, max_examples=300)
@given(lines=st.lists(history_lines, min_size=1, max_size=8))
def test_generated_history_lines(lines, tmp_path_factory):
    pytest.importorskip("slimview.rewrite.reconstruct")
    fuzz = FuzzTarget(str(tmp_path_factory.getbasetemp()))
    fuzz.history(lines)
    assert not fuzz.failures, fuzz.failures[0][:2]


# -- properties of the building blocks ------------------------------------------------------


def _reference_normalise(name: str) -> str | None:
    """What normalise_path must return, written the slow obvious way (None: refused).
    A leading "/" is the layer's root, as the engine applies a layer."""
    if "\0" in name or len(name.encode("utf-8", "surrogateescape")) > 4096:
        return None
    name = name.lstrip("/")
    path = posixpath.normpath(name) if name else "."
    if path in (".", ""):
        return ""
    if path == ".." or path.startswith("../"):
        return None
    return path


@settings(FUZZ, max_examples=800)
@given(name=st.one_of(st.text(alphabet="ab./\\\0é", max_size=20), st.sampled_from([n.decode("utf-8", "surrogateescape") for n in INTERESTING_NAMES])))
def test_normalise_path_agrees_with_normpath(name):
    from slimview.errors import InputError
    from slimview.index.layer import normalise_path

    expected = _reference_normalise(name)
    try:
        got = normalise_path(name, "fuzz")
    except InputError:
        got = None
    assert got == expected, (name, got, expected)


@settings(FUZZ, max_examples=150)
@given(payload=st.binary(min_size=0, max_size=300_000), cut=st.floats(0, 1), checksum=st.booleans(), frames=st.integers(1, 3))
def test_zstd_cut_anywhere_raises_or_ends_on_a_frame(payload, cut, checksum, frames):
    import zstandard

    from slimview.source.compression import DECOMPRESSION_ERRORS, open_decompressed

    parts = [zstandard.ZstdCompressor(write_checksum=checksum).compress(payload[k::frames]) for k in range(frames)]
    stream = b"".join(parts)
    at = int(len(stream) * cut)
    boundaries = {sum(len(p) for p in parts[:k]) for k in range(frames + 1)}
    reader, _kind = open_decompressed(io.BytesIO(stream[:at]))
    try:
        out = b""
        while chunk := reader.read(1 << 16):
            out += chunk
    except DECOMPRESSION_ERRORS:
        assert at not in boundaries or at < 4
        return
    # No error: the cut fell between frames (or before a whole magic number: not zstd at all).
    assert at in boundaries or at < 4, (at, sorted(boundaries))


@settings(FUZZ, max_examples=300)
@given(data=st.data())
def test_corrupted_cache_entries_are_dropped_not_trusted(data, tmp_path_factory):
    from slimview.index.cache import LayerCache, decode_layer, encode_layer
    from slimview.index.layer import index_layer_stream

    files = index_layer_stream(io.BytesIO(simple_layer()), where="cache seed")
    good = b"".join(encode_layer(files))
    rng = data.draw(st.randoms(use_true_random=False))
    bad = Mutator(rng).mutate(good, depth=2)
    decoded = decode_layer(bad, files.tar_digest)
    if bad != good:
        assert decoded is None or list(decoded.paths) == list(files.paths)
    cache = LayerCache(str(tmp_path_factory.mktemp("cache")))
    path = cache._path("layers", files.tar_digest[7:])
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as fh:
        fh.write(bad)
    got = cache.get_layer(files.tar_digest)
    assert got is None or list(got.paths) == list(files.paths)
