"""A large layer indexed in parts gives exactly what one pass gives, or falls back to one pass.

The segment size is shrunk to 4 KiB so that small tars can be cut everywhere: every test
cuts a layer at every possible offset (and in three), and compares every column, note and
the fingerprint with a single pass over the same bytes.
"""

from __future__ import annotations

import io
import os
import random
import subprocess
import sys
import tarfile

import pytest

from slimview.errors import InputError
from slimview.index import IndexOptions, build_index
from slimview.index import blob as blob_module
from slimview.index import parts as parts_module
from slimview.index.parts import Part, combine, index_part, plan
from slimview.index.workers import index_blob
from slimview.source.model import BlobRef

from hostile import END, gnu_long, hardlink, member, pax, symlink, tar

SEG = 4096
KEY = b"-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n-----END OPENSSH PRIVATE KEY-----\n"


@pytest.fixture(autouse=True)
def small_segments(monkeypatch):
    monkeypatch.setattr(blob_module, "SEGMENT", SEG)
    monkeypatch.setattr(parts_module, "SEGMENT", SEG)


def write(tmp_path, data: bytes, name: str = "layer.tar", lead: bytes = b"LEAD" * 128) -> BlobRef:
    """The layer stored after some leading bytes, as a blob inside a save tarball is."""
    path = tmp_path / name
    path.write_bytes(lead + data)
    return BlobRef(str(path), len(lead), len(data))


def fields(files) -> dict:
    return {k: v for k, v in vars(files).items()}


def one_pass(blob: BlobRef):
    return index_blob(blob, "layer", None, 10**6)


def in_parts(blob: BlobRef, cuts: list[int]):
    bounds = [0, *cuts, blob.size]
    results = [index_part(blob, Part(0, lo, hi), "layer", 10**6) for lo, hi in zip(bounds, bounds[1:])]
    return combine(results, blob, "layer", 10**6)


def every_cut(blob: BlobRef):
    """(cuts, combined) for every single cut and a few three-way cuts."""
    offsets = list(range(SEG, blob.size, SEG))
    cuts = [[c] for c in offsets]
    rng = random.Random(blob.size)
    for _ in range(min(20, len(offsets) ** 2)):
        if len(offsets) >= 2:
            cuts.append(sorted(rng.sample(offsets, 2)))
    return [(c, in_parts(blob, c)) for c in cuts]


def assert_same_or_fallback(blob: BlobRef, *, must_join: bool):
    reference = fields(one_pass(blob))
    joined = 0
    for cuts, combined in every_cut(blob):
        if combined is None:
            assert not must_join, cuts
            continue
        joined += 1
        assert fields(combined) == reference, cuts
    return joined


def many_members(rng: random.Random, n: int) -> bytes:
    out = []
    for i in range(n):
        kind = rng.random()
        if kind < 0.55:
            out.append(member(f"usr/lib/pkg{i % 7}/file{i}.py", rng.randbytes(rng.choice([0, 10, 600, 3000, 9000]))))
        elif kind < 0.65:
            out.append(member(f"usr/share/dir{i}", typeflag=b"5", mode=0o755))
        elif kind < 0.72:
            out.append(symlink(f"usr/bin/link{i}", f"../lib/pkg{i % 7}/file{i - 1}.py"))
        elif kind < 0.8:
            long = "very/long/" * 12 + f"name{i}.txt"
            out.append(gnu_long(long) + member(long[:99], b"long" * rng.randint(1, 300)))
        elif kind < 0.86:
            out.append(pax({"path": "pax/" + "p" * 150 + str(i), "uid": "70000"}) + member(f"pax{i}", b"x" * 700))
        elif kind < 0.92:
            out.append(member(f"usr/lib/pkg1/file{i % 40}.py", b"dup" * 50))  # a duplicate path, often
        else:
            out.append(member(f"etc/.wh.gone{i}"))
    return b"".join(out)


def test_many_kinds_of_entries_join_exactly_at_every_cut(tmp_path):
    data = tar(many_members(random.Random(1), 120))
    blob = write(tmp_path, data)
    assert blob.size > 40 * SEG
    # Long-name and PAX headers sit right before their entries: a cut that resyncs on
    # the entry itself (not its name header) must fall back, every other cut joins.
    joined = assert_same_or_fallback(blob, must_join=False)
    assert joined >= len(range(SEG, blob.size, SEG)) // 2


def test_plain_ustar_members_always_join(tmp_path):
    rng = random.Random(2)
    data = tar(*(member(f"f{i}", rng.randbytes(rng.randint(0, 5000))) for i in range(200)))
    blob = write(tmp_path, data)
    assert assert_same_or_fallback(blob, must_join=True) > 100


def test_parts_inside_a_big_file_read_only_their_own_bytes(tmp_path, monkeypatch):
    """A part that a big file spans reads its window and stops: it used to read on to the
    file's end looking for a header, once per part (quadratic in the file's size)."""
    monkeypatch.setattr(parts_module, "CHUNK", SEG)
    big = random.Random(7).randbytes(40 * SEG)
    blob = write(tmp_path, tar(member("small", b"s" * 100), member("big.bin", big), member("after", b"a" * 700)))
    cuts = list(range(SEG, blob.size, SEG))
    bounds = [0, *cuts, blob.size]
    read: dict[int, int] = {}
    plain_read = blob_module.BlobReader.read

    def counting_read(self, n=-1):
        data = plain_read(self, n)
        read[self._lo] = read.get(self._lo, 0) + len(data)
        return data

    monkeypatch.setattr(blob_module.BlobReader, "read", counting_read)
    results = [index_part(blob, Part(0, lo, hi), "layer", 10**6) for lo, hi in zip(bounds, bounds[1:])]
    spanned = [r for r in results if r.spanned]
    assert len(spanned) >= 38
    assert all(read[r.part.lo] <= r.part.size for r in spanned)
    combined = combine(results, blob, "layer", 10**6)
    assert combined is not None and fields(combined) == fields(one_pass(blob))


def test_a_resync_takes_the_first_aligned_header_with_a_valid_checksum(tmp_path):
    """Magic words off the block grid, or on it without a valid checksum, are passed over;
    a header at or past the part's end is not the part's."""
    noise = bytearray(random.Random(9).randbytes(8 * SEG))
    for at in (257 + 3, 5 * 512 + 100, 7 * 512 + 257 + 1):  # ustar, but not at byte 257 of a block
        noise[at : at + 5] = b"ustar"
    fake = 9 * 512
    noise[fake + 257 : fake + 262] = b"ustar"  # on the grid, but its checksum is wrong
    real = member("found", b"x" * 10)
    header_at = 2 * SEG + 3 * 512
    noise[header_at : header_at + len(real)] = real
    late = member("late", b"y")
    noise[6 * SEG : 6 * SEG + len(late)] = late
    blob = write(tmp_path, bytes(noise))
    reader = blob_module.BlobReader(blob.path, blob.offset, blob.size, start=SEG)
    try:
        found, head = parts_module._resync(reader, SEG, 4 * SEG)
    finally:
        reader.close()
    assert found == header_at and head.startswith(real)
    reader = blob_module.BlobReader(blob.path, blob.offset, blob.size, start=3 * SEG)
    try:
        assert parts_module._resync(reader, 3 * SEG, 6 * SEG) == (None, b"")  # "late" begins at the end
        reader2 = blob_module.BlobReader(blob.path, blob.offset, blob.size, start=3 * SEG)
        try:
            assert parts_module._resync(reader2, 3 * SEG, 6 * SEG + 512)[0] == 6 * SEG
        finally:
            reader2.close()
    finally:
        reader.close()


def test_hard_links_across_a_cut_get_their_targets_hash(tmp_path):
    body = b"shared bytes " * 100
    members = [member("a/target", body), member("a/other", b"o" * 9000)]
    members += [member(f"pad{i}", b"p" * 3000) for i in range(6)]
    members += [hardlink("b/link1", "a/target"), hardlink("b/link2", "b/link1"), hardlink("b/dangling", "nowhere")]
    members += [member("a/target", b"replaced" * 10), member("pad-end", b"e" * 5000), hardlink("b/link3", "a/target")]
    blob = write(tmp_path, tar(*members))
    reference = one_pass(blob)
    import xxhash

    hashes = {reference.paths[i]: reference.hash_at(i) for i in range(len(reference))}
    assert hashes["b/link1"] == hashes["b/link2"] == xxhash.xxh3_128_digest(body)
    assert hashes["b/dangling"] == bytes(16)
    assert hashes["b/link3"] == xxhash.xxh3_128_digest(b"replaced" * 10)
    assert assert_same_or_fallback(blob, must_join=True) > 5


def test_a_file_spanning_several_parts(tmp_path):
    data = tar(member("small", b"s" * 100), member("huge", os.urandom(9 * SEG + 77)), member("after", b"a" * 10))
    blob = write(tmp_path, data)
    assert assert_same_or_fallback(blob, must_join=True) >= 9
    assert len(in_parts(blob, [SEG, 2 * SEG, 3 * SEG])) == 3  # two parts in the middle hold no entry


def test_a_tar_stored_inside_the_layer_never_misleads_a_resync(tmp_path):
    inner = tar(*(member(f"inner{i}", b"i" * 3000) for i in range(8)))
    data = tar(member("before", b"b" * 5000), member("data/inner.tar", inner), member("after", b"a" * 6000))
    blob = write(tmp_path, data)
    reference = fields(one_pass(blob))
    assert "inner0" not in reference["paths"]
    fallbacks = 0
    for cuts, combined in every_cut(blob):
        if combined is None:
            fallbacks += 1
        else:
            assert fields(combined) == reference, cuts
    assert fallbacks  # cuts inside the inner tar resync on its headers, and are caught


def test_entries_after_the_end_of_the_archive_are_ignored(tmp_path):
    garbage = b"".join(member(f"after-end{i}", b"g" * 3000) for i in range(6))
    data = tar(*(member(f"f{i}", b"f" * 3000) for i in range(6))) + garbage + END
    blob = write(tmp_path, data)
    reference = fields(one_pass(blob))
    assert reference["paths"] == [f"f{i}" for i in range(6)]
    assert_same_or_fallback(blob, must_join=False)


def test_a_global_pax_header_sends_the_layer_to_one_pass(tmp_path):
    data = tar(pax({"uid": "4242"}, global_=True), *(member(f"f{i}", b"f" * 3000) for i in range(8)))
    blob = write(tmp_path, data)
    reference = one_pass(blob)
    assert set(reference.uids) == {4242}
    fallbacks = 0
    for cuts, combined in every_cut(blob):
        # Joined only when every entry is in the first part (the archive ends before the cut).
        assert combined is None or fields(combined) == fields(reference), cuts
        fallbacks += combined is None
    assert fallbacks


def test_captured_bodies_and_secrets_keep_their_entries(tmp_path):
    status = b"Package: gcc-12\nStatus: install ok installed\nInstalled-Size: 10\n\n"
    members = [member(f"pad{i}", b"p" * 3000) for i in range(4)]
    members += [member("var/lib/dpkg/status", status), member("root/.ssh/id_ed25519", KEY)]
    members += [member(f"tail{i}", b"t" * 3000) for i in range(4)]
    blob = write(tmp_path, tar(*members))
    reference = one_pass(blob)
    assert list(reference.captured) == [4] and list(reference.secrets) == [5]
    assert assert_same_or_fallback(blob, must_join=True) > 5


def test_the_fingerprint_does_not_depend_on_the_cuts(tmp_path):
    data = tar(*(member(f"f{i}", os.urandom(2000)) for i in range(30)))
    blob = write(tmp_path, data)
    expected = blob_module.blob_fingerprint(blob.path, blob.offset, blob.size)
    assert one_pass(blob).blob_fingerprint == expected
    for cuts, combined in every_cut(blob):
        assert combined.blob_fingerprint == expected, cuts


def test_without_a_fingerprint_nothing_is_hashed_twice_and_nothing_else_changes(tmp_path, monkeypatch):
    data = tar(member("small", b"s" * 100), member("huge", os.urandom(9 * SEG + 77)), many_members(random.Random(5), 60))
    blob = write(tmp_path, data)
    reference = fields(one_pass(blob))
    assert reference["blob_fingerprint"]
    monkeypatch.setattr(blob_module.BlobReader, "_hash", lambda self, view: pytest.fail("hashed for a fingerprint"))
    expected = {**reference, "blob_fingerprint": ""}
    assert fields(index_blob(blob, "layer", None, 10**6, fingerprint=False)) == expected
    joined = 0
    for cuts in [[c] for c in range(SEG, blob.size, SEG)] + [[SEG, 5 * SEG], [3 * SEG, 11 * SEG]]:
        bounds = [0, *cuts, blob.size]
        results = [index_part(blob, Part(0, lo, hi), "layer", 10**6, fingerprint=False) for lo, hi in zip(bounds, bounds[1:])]
        assert all(not r.digests for r in results)
        combined = combine(results, blob, "layer", 10**6)
        if combined is not None:
            joined += 1
            assert fields(combined) == expected, cuts
    assert joined > 10


def test_a_corrupt_header_in_a_later_part_falls_back_and_reports_like_one_pass(tmp_path):
    good = [member(f"f{i}", b"f" * 3000) for i in range(8)]
    bad = bytearray(member("broken", b"x" * 100))
    bad[148:156] = b"0000000\0"  # a wrong checksum
    blob = write(tmp_path, tar(*good, bytes(bad), member("z", b"z")))
    with pytest.raises(InputError) as one:
        one_pass(blob)
    assert "bad header checksum" in str(one.value)
    assert in_parts(blob, [4 * SEG]) is None


def test_too_many_entries_counts_all_parts(tmp_path):
    blob = write(tmp_path, tar(*(member(f"f{i}", b"f" * 1000) for i in range(40))))
    bounds = [0, 8 * SEG, blob.size]
    results = [index_part(blob, Part(0, lo, hi), "layer", 30) for lo, hi in zip(bounds, bounds[1:])]
    with pytest.raises(InputError, match="more than 30 entries"):
        combine(results, blob, "layer", 30)


def test_plan_cuts_at_segments_and_balances(monkeypatch):
    monkeypatch.setattr(parts_module, "SEGMENT", 16 << 20)
    monkeypatch.setattr(blob_module, "SEGMENT", 16 << 20)  # segment_count's
    monkeypatch.setattr(parts_module, "PART_MIN", 64 << 20)
    mb = 1 << 20
    parts = plan([(2, 549 * mb), (5, 166 * mb), (0, 116 * mb)], workers=2)
    assert all(p.lo % (16 * mb) == 0 for p in parts)
    by_layer = {}
    for p in parts:
        by_layer.setdefault(p.layer, []).append((p.lo, p.hi))
    for layer, size in ((2, 549 * mb), (5, 166 * mb), (0, 116 * mb)):
        spans = sorted(by_layer[layer])
        assert spans[0][0] == 0 and spans[-1][1] == size
        assert all(a[1] == b[0] for a, b in zip(spans, spans[1:]))
    assert len(by_layer[2]) == 5 and len(by_layer[5]) == 2 and len(by_layer[0]) == 1  # 166 MB > PART_MAX
    assert [p.size for p in parts] == sorted((p.size for p in parts), reverse=True)
    # No part over PART_MAX unless MAX_PARTS forbids: 477 MiB of small files went to three
    # parts of 160 MiB, and the third ran alone on one of two CPUs.
    small_files = plan([(0, 477 * mb), (1, 9535 * mb)], workers=2)
    assert [p.size for p in small_files if p.layer == 0] == [128 * mb, 125 * mb, 112 * mb, 112 * mb]
    assert all(p.size <= parts_module.PART_MAX for p in small_files if p.layer == 0)
    assert len([p for p in small_files if p.layer == 1]) == parts_module.MAX_PARTS


def test_the_whole_pipeline_cuts_a_large_layer_and_matches_one_pass(tmp_path, monkeypatch):
    """build_index with workers cuts the layer (parts are counted) and equals workers=1."""
    from slimview.index import parts as parts_mod
    from slimview.sample.builder import ImageSpec, Layer, write_docker_archive

    monkeypatch.setattr(parts_mod, "PART_MIN", 8 * SEG)
    import slimview.index.workers as workers_mod

    monkeypatch.setattr(workers_mod, "PARALLEL_MIN_BYTES", 16 * SEG)
    rng = random.Random(3)
    big = Layer("RUN make")
    for i in range(300):
        big.file(f"usr/lib/big/f{i}", rng.randbytes(rng.randint(100, 4000)))
    big.hardlink("usr/lib/big/link", "usr/lib/big/f3")
    spec = ImageSpec([Layer("ADD base").file("etc/os-release", b"ID=x\n"), big])
    path = tmp_path / "image.tar"
    write_docker_archive(spec, str(path), ["big:1"])
    calls = []
    real = parts_mod.index_part
    monkeypatch.setattr(workers_mod, "index_part", lambda *a: calls.append(a[1]) or real(*a))
    # In-process (workers=2 with a pool would fork; the counting wrapper must see the calls).
    monkeypatch.setattr(workers_mod, "ProcessPoolExecutor", _InlineExecutor)
    cut = build_index(str(path), IndexOptions(use_cache=False, workers=2))
    single = build_index(str(path), IndexOptions(use_cache=False, workers=1))
    assert len(calls) >= 4
    for a, b in zip(cut.layers, single.layers):
        assert fields(a.files) == fields(b.files)
        assert a.files.blob_fingerprint == ""  # no cache: no fingerprint
    assert cut.final == single.final
    # With a cache the fingerprints are made (its names for the blobs) and nothing else differs.
    cached = build_index(str(path), IndexOptions(cache_dir=str(tmp_path / "cache"), workers=2))
    for a, b in zip(cached.layers, single.layers):
        assert a.files.blob_fingerprint == blob_module.blob_fingerprint(a.ref.blob.path, a.ref.blob.offset, a.ref.blob.size)
        assert {**fields(a.files), "blob_fingerprint": "", "source_key": ""} == fields(b.files)
    assert cached.final == single.final
    # Each part holds at most its share of the entry limit: near the limit a part goes over
    # its share and the layer is read in one pass; over the limit, one pass's error.
    total = sum(len(layer.files) for layer in single.layers)
    near = build_index(str(path), IndexOptions(use_cache=False, workers=2, max_entries=total + 5))
    assert [fields(layer.files) for layer in near.layers] == [fields(layer.files) for layer in single.layers]
    with pytest.raises(InputError) as over_cut:
        build_index(str(path), IndexOptions(use_cache=False, workers=2, max_entries=total - 5))
    with pytest.raises(InputError) as over_single:
        build_index(str(path), IndexOptions(use_cache=False, workers=1, max_entries=total - 5))
    assert str(over_cut.value) == str(over_single.value)


class _InlineExecutor:
    """A ProcessPoolExecutor stand-in that runs each job at once, in this process."""

    def __init__(self, max_workers=None, mp_context=None):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def submit(self, fn, *args):
        from concurrent.futures import Future

        future = Future()
        try:
            future.set_result(fn(*args))
        except BaseException as exc:
            future.set_exception(exc)
        return future


def test_tarfile_written_layers_join(tmp_path):
    """A layer as Python's tarfile (PAX format) writes it, like the bundled sample builder."""
    out = io.BytesIO()
    rng = random.Random(4)
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as t:
        for i in range(150):
            data = rng.randbytes(rng.randint(0, 3000))
            info = tarfile.TarInfo(f"app/module{i}/" + ("n" * rng.choice([5, 120])) + ".py")
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    blob = write(tmp_path, out.getvalue())
    assert assert_same_or_fallback(blob, must_join=False) > 50


def test_workers_follow_the_cpus_this_process_may_use():
    import slimview.index.workers as workers_module

    proc = subprocess.run(
        ["taskset", "-c", "0", sys.executable, "-c", "import slimview.index.workers as w; print(w.usable_cpus())"],
        capture_output=True, text=True, timeout=60, check=True,
    )
    assert proc.stdout == "1\n"
    assert workers_module.usable_cpus() == len(os.sched_getaffinity(0))


@pytest.mark.engine
def test_a_real_docker_save_joins_from_parts_and_matches_one_pass(python_inference_tar, monkeypatch):
    """On the bloated sample as `docker save` wrote it, every large layer is cut, every cut
    resyncs on the real boundary (no fallback to one pass) and the result is one pass's."""
    monkeypatch.setattr(blob_module, "SEGMENT", 16 << 20)  # the real segment size, not the 4 KiB above
    monkeypatch.setattr(parts_module, "SEGMENT", 16 << 20)
    from slimview.source import open_image

    source = open_image(str(python_inference_tar), sink=None)
    large = [(layer.index, layer.blob) for layer in source.layers if parts_module.splittable(layer.blob)]
    assert len(large) == 2  # the 549 MB and 166 MB layers
    plan_ = plan([(i, blob.size) for i, blob in large], workers=8)  # fine cuts: 64 MiB parts
    for i, blob in large:
        cuts = sorted((p for p in plan_ if p.layer == i), key=lambda p: p.lo)
        assert len(cuts) >= 2
        results = [index_part(blob, p, "layer", 10**7) for p in cuts]
        assert [r.start for r in results[1:]] == [r.stop for r in results[:-1]]
        joined = combine(results, blob, "layer", 10**7)
        assert joined is not None
        assert fields(joined) == fields(index_blob(blob, "layer", None, 10**7))
