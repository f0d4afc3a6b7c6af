"""The on-disk index cache: used when valid, shared between images, never trusted when wrong.

Layers are cached by diff_id; a blob on disk maps to a diff_id only after a full read
verified it. These tests count hits and misses on a LayerCache, make layer reads fail to
prove they did not happen, and damage the cache and the archives in every way a disk,
a user or a rebuilt image can.
"""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import pytest
import xxhash

import slimview.index.build as build_module
import slimview.index.workers as workers_module
from slimview.errors import InputError
from slimview.index import IndexOptions, build_index, index_source
from slimview.index.cache import LayerCache, blob_fingerprint
from slimview.sample.builder import ImageSpec, Layer, oci_layout_files, write_docker_archive
from slimview.source import open_image

from indexcheck import canonical_digest, cli_env, run_cli


def base_layers() -> list[Layer]:
    return [
        Layer("base").dir("usr").file("usr/lib.so", b"L" * 5000).file("etc/conf", b"c" * 10),
        Layer("deps").file("opt/dep.bin", b"d" * 3000).whiteout("etc/conf"),
    ]


def image_a() -> ImageSpec:
    return ImageSpec(base_layers())


def image_b() -> ImageSpec:
    """Shares image_a's two layers, adds its own."""
    return ImageSpec([*base_layers(), Layer("app").file("app/main", b"m" * 700)])


@pytest.fixture
def archives(tmp_path) -> tuple[Path, Path]:
    a, b = tmp_path / "a.tar", tmp_path / "b.tar"
    write_docker_archive(image_a(), str(a), ["a:1"])
    write_docker_archive(image_b(), str(b), ["b:1"])
    return a, b


def index_counting(reference: Path, cache_dir: Path):
    """Index through an explicit LayerCache so its hits and misses can be read."""
    cache = LayerCache(str(cache_dir))
    options = IndexOptions(cache_dir=str(cache_dir))
    sink = lambda name, stream: pytest.fail("a tarball on disk is read in place, not streamed")  # noqa: E731
    idx = index_source(open_image(str(reference), sink=sink), options, cache=cache)
    return idx, cache


@pytest.fixture
def no_layer_reads(monkeypatch):
    """From here on, reading any layer fails the test."""
    def refuse(*args, **kwargs):
        pytest.fail("a layer was read although the cache holds it")

    monkeypatch.setattr(workers_module, "index_blob", refuse)
    monkeypatch.setattr(build_module, "index_layer_stream", refuse)


def cache_root(cache_dir: Path) -> Path:
    """Where this version of slimview keeps its entries inside ``cache_dir``."""
    return Path(LayerCache(str(cache_dir)).root)


def layer_entries(cache_dir: Path) -> list[Path]:
    """Layer index entries: by diff_id when the layer was digested, else by blob fingerprint
    (uncompressed layers on disk are not digested unless --verify is given)."""
    root = cache_root(cache_dir)
    return sorted([*(root / "layers").glob("*/*"), *(root / "blob-layers").glob("*/*")])


def test_reopening_an_image_reads_no_layer(archives, tmp_path, request):
    cache_dir = tmp_path / "cache"
    cold, cache = index_counting(archives[0], cache_dir)
    assert (cache.hits, cache.misses) == (0, 2)
    assert len(layer_entries(cache_dir)) == 2
    request.getfixturevalue("no_layer_reads")
    warm, cache = index_counting(archives[0], cache_dir)
    assert (cache.hits, cache.misses) == (2, 0)
    assert canonical_digest(warm) == canonical_digest(cold)
    assert warm.dive == cold.dive and warm.hidden_bytes == cold.hidden_bytes == 10


def test_another_image_sharing_base_layers_reuses_them(archives, tmp_path):
    cache_dir = tmp_path / "cache"
    index_counting(archives[0], cache_dir)
    b, cache = index_counting(archives[1], cache_dir)
    assert (cache.hits, cache.misses) == (2, 1)  # only b's own layer was read
    assert canonical_digest(b) == canonical_digest(build_index(str(archives[1]), IndexOptions(use_cache=False)))
    assert len(layer_entries(cache_dir)) == 3


@pytest.mark.parametrize("damage", ["truncate", "flip a byte", "empty", "garbage"])
def test_a_corrupt_layer_entry_is_rebuilt(archives, tmp_path, damage):
    cache_dir = tmp_path / "cache"
    reference = canonical_digest(index_counting(archives[0], cache_dir)[0])
    victim = layer_entries(cache_dir)[0]
    data = bytearray(victim.read_bytes())
    if damage == "truncate":
        data = data[: len(data) // 2]
    elif damage == "flip a byte":
        data[len(data) // 2] ^= 0x01
    elif damage == "empty":
        data = bytearray()
    else:
        data = bytearray(b"\x00garbage" * 100)
    victim.write_bytes(bytes(data))
    idx, cache = index_counting(archives[0], cache_dir)
    assert (cache.hits, cache.misses) == (1, 1)
    assert canonical_digest(idx) == reference
    # ...and the rebuilt entry is good again
    assert index_counting(archives[0], cache_dir)[1].hits == 2


def test_an_entry_for_another_diff_id_is_not_trusted(archives, tmp_path):
    """A valid entry copied over another layer's (as a buggy tool or a hash mix-up would) is refused."""
    cache_dir = tmp_path / "cache"
    reference = canonical_digest(index_counting(archives[0], cache_dir)[0])
    first, second = layer_entries(cache_dir)
    second.write_bytes(first.read_bytes())
    idx, cache = index_counting(archives[0], cache_dir)
    assert (cache.hits, cache.misses) == (1, 1)
    assert canonical_digest(idx) == reference


def test_the_same_layers_recompressed_are_read_again(tmp_path):
    """Same diff_ids, different blobs (gzip instead of plain): the blob is read, not assumed."""
    cache_dir = tmp_path / "cache"
    for compression in (None, "gzip"):
        root = tmp_path / f"layout-{compression}"
        for name, data in oci_layout_files([(image_b(), "latest", None)], compression=compression).items():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_bytes(data)
    _plain, cache = index_counting(tmp_path / "layout-None", cache_dir)
    assert cache.misses == 3
    gz, cache = index_counting(tmp_path / "layout-gzip", cache_dir)
    assert (cache.hits, cache.misses) == (0, 3)
    assert [layer.files.compression for layer in gz.layers] == ["gzip"] * 3
    assert canonical_digest(gz) == canonical_digest(_plain)


def test_a_blob_altered_under_the_same_diff_id_is_caught_not_served_from_cache(tmp_path):
    """The archive changes after it was cached, but its config still claims the old diff_ids."""
    cache_dir = tmp_path / "cache"
    path = tmp_path / "image.tar"
    write_docker_archive(image_b(), str(path), ["b:1"])
    build_index(str(path), IndexOptions(cache_dir=str(cache_dir)))
    data = bytearray(path.read_bytes())
    at = data.find(b"m" * 700)
    data[at + 350] = ord("X")  # same size, same names: only the content of app/main differs
    path.write_bytes(bytes(data))
    # By default an uncompressed layer on disk is not digested: the altered blob is read
    # again (never served from the cache), so the report shows what the archive now holds...
    again = build_index(str(path), IndexOptions(cache_dir=str(cache_dir)))
    layer = again.layers[2]
    assert layer.files.hash_at(layer.find("app/main")) != xxhash.xxh3_128_digest(b"m" * 700)
    # ...and --verify says the archive disagrees with its config.
    with pytest.raises(InputError, match=r"layer 2 does not match the image config: its content is sha256:[0-9a-f]{64} "
                                          r"but rootfs\.diff_ids\[2\] is sha256:[0-9a-f]{64} \(archive corrupt or altered\)"):
        build_index(str(path), IndexOptions(cache_dir=str(cache_dir), verify=True))


def test_an_unverified_read_does_not_vouch_for_a_blob(tmp_path):
    """verify=False indexes without digesting, so it must not tell the cache which diff_id a blob is."""
    cache_dir = tmp_path / "cache"
    good = tmp_path / "good.tar"
    write_docker_archive(image_b(), str(good), ["b:1"])
    build_index(str(good), IndexOptions(cache_dir=str(cache_dir)))  # caches the genuine layers
    bad = tmp_path / "bad.tar"
    data = bytearray(good.read_bytes())
    data[data.find(b"m" * 700) + 350] = ord("X")
    bad.write_bytes(bytes(data))
    build_index(str(bad), IndexOptions(cache_dir=str(cache_dir), verify=False))
    with pytest.raises(InputError, match="layer 2 does not match the image config"):
        build_index(str(bad), IndexOptions(cache_dir=str(cache_dir), verify=True))


def poison(cache_dir: Path, victim: Path, tmp_path: Path) -> None:
    """Make the cache claim, with valid entries, that victim's layers hold other files."""
    donor = tmp_path / "donor.tar"
    write_docker_archive(ImageSpec([Layer("x").file("x", b"x" * 111), Layer("y").file("y", b"y" * 222)]), str(donor), ["d:1"])
    cache = LayerCache(str(cache_dir))
    v = open_image(str(victim), sink=lambda name, stream: None)
    d = build_index(str(donor), IndexOptions(use_cache=False))
    for ref, layer in zip(v.layers, d.layers, strict=True):
        layer.files.tar_digest = ref.diff_id
        cache.put_layer(layer.files)
        cache.remember_fingerprint(ref.blob, blob_fingerprint(ref.blob))
        cache.remember_blob(ref.blob, ref.diff_id)


def test_no_cache_neither_reads_nor_writes_the_cache(archives, tmp_path):
    cache_home = tmp_path / "xdg"
    poison(cache_home / "slimview", archives[0], tmp_path)
    env = cli_env(cache_home)
    trusting = json.loads(run_cli(["report", "--json", str(archives[0])], env).stdout)
    assert trusting["image"]["size_bytes"] == 333  # the (poisoned) cache is what a normal run uses
    before = sorted((p.relative_to(cache_home), p.stat().st_mtime_ns) for p in cache_home.rglob("*"))
    proc = run_cli(["report", "--json", "--no-cache", str(archives[0])], env)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["image"]["size_bytes"] == 5000 + 10 + 3000
    assert doc["waste"]["hidden_bytes"] == 10
    assert sorted((p.relative_to(cache_home), p.stat().st_mtime_ns) for p in cache_home.rglob("*")) == before


def test_xdg_cache_home_is_honoured(archives, tmp_path):
    cache_home = tmp_path / "xdg"
    proc = run_cli(["report", str(archives[0])], cli_env(cache_home))
    assert proc.returncode == 0, proc.stderr
    assert len(layer_entries(cache_home / "slimview")) == 2


def test_without_xdg_cache_home_the_cache_is_under_home(archives, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    env = cli_env(tmp_path / "unused")
    del env["XDG_CACHE_HOME"]
    env["HOME"] = str(home)
    proc = run_cli(["report", str(archives[0])], env)
    assert proc.returncode == 0, proc.stderr
    assert len(layer_entries(home / ".cache" / "slimview")) == 2
    assert not (tmp_path / "unused").exists()


def test_a_report_writes_nothing_outside_the_cache(archives, tmp_path):
    cwd, tmp, home, cache_home = (tmp_path / d for d in ("cwd", "tmp", "home", "xdg"))
    for d in (cwd, tmp, home):
        d.mkdir()
    env = cli_env(cache_home, tmp, HOME=str(home))
    for args in (["report", str(archives[1])], ["report", "--json", str(archives[1])], ["report", "--no-cache", str(archives[1])]):
        proc = run_cli(args, env, cwd=cwd)
        assert proc.returncode == 0, proc.stderr
    gz = tmp_path / "b.tar.gz"
    gz.write_bytes(gzip.compress(archives[1].read_bytes()))
    assert run_cli(["report", str(gz)], env, cwd=cwd).returncode == 0
    assert (list(cwd.iterdir()), list(tmp.iterdir()), list(home.iterdir())) == ([], [], [])
    assert sorted((cache_home / "slimview").iterdir()) == [cache_root(cache_home / "slimview")]
    assert not [p for p in cache_home.rglob(".tmp-*")]


def test_an_unwritable_cache_does_not_stop_the_report(archives, tmp_path):
    cache_home = tmp_path / "xdg"
    cache_home.mkdir()
    (cache_home / "slimview").write_text("a file where the cache directory should be")
    proc = run_cli(["report", "--json", str(archives[0])], cli_env(cache_home))
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["image"]["size_bytes"] == 8010


@pytest.mark.engine
def test_an_engine_image_with_a_corrupt_cached_layer_is_saved_again(engine, image_tag, tmp_path, monkeypatch):
    from engine import build_image

    monkeypatch.setenv("DOCKER_HOST", engine.docker_host)

    build_image(engine, {}, "FROM busybox:latest\nRUN head -c 4321 /dev/zero > /blob\n", image_tag, buildkit=True)
    cache_dir = tmp_path / "cache"
    reference = canonical_digest(build_index(image_tag, IndexOptions(cache_dir=str(cache_dir))))
    for victim in layer_entries(cache_dir):
        victim.write_bytes(victim.read_bytes()[:-1])
    again = build_index(image_tag, IndexOptions(cache_dir=str(cache_dir)))
    assert canonical_digest(again) == reference
    assert again.layers[-1].stats.size == 4321
    assert all(LayerCache(str(cache_dir)).get_layer(layer.ref.diff_id) is not None for layer in again.layers)
    assert os.path.isdir(cache_dir)


@pytest.mark.parametrize("verify", [None, True], ids=["default", "verify"])
def test_a_large_blob_changed_in_the_middle_is_not_served_from_the_cache(tmp_path, verify):
    """Same size, same first and last 64 KiB, one byte different in the middle of 1 MiB."""
    body = bytes(range(256)) * 4096
    path = tmp_path / "big.tar"
    write_docker_archive(ImageSpec([Layer("big").file("big.bin", body)]), str(path), ["big:1"])
    options = IndexOptions(cache_dir=str(tmp_path / "cache"), verify=verify)
    build_index(str(path), options)
    data = bytearray(path.read_bytes())
    data[data.find(body) + len(body) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    if verify:
        with pytest.raises(InputError, match="layer 0 does not match the image config"):
            build_index(str(path), options)
        return
    again = build_index(str(path), options)
    changed = bytearray(body)
    changed[len(body) // 2] ^= 0xFF
    assert again.layers[0].files.hash_at(0) == xxhash.xxh3_128_digest(bytes(changed))


def test_reopening_an_unchanged_archive_does_not_hash_its_layers_again(archives, tmp_path, monkeypatch):
    import slimview.index.cache as cache_module

    cache_dir = tmp_path / "cache"
    index_counting(archives[0], cache_dir)
    monkeypatch.setattr(cache_module, "blob_fingerprint", lambda blob: pytest.fail("hashed again"))
    assert index_counting(archives[0], cache_dir)[1].hits == 2


def test_a_blob_the_cache_has_never_seen_is_read_once(archives, tmp_path, monkeypatch):
    """A cold index digests each blob while parsing it; no separate hashing pass first."""
    import slimview.index.cache as cache_module

    monkeypatch.setattr(cache_module, "blob_fingerprint", lambda blob: pytest.fail("hashed before indexing"))
    idx, cache = index_counting(archives[0], tmp_path / "cache")
    assert (cache.hits, cache.misses) == (0, 2)
    assert all(layer.files.blob_fingerprint for layer in idx.layers)


@pytest.mark.engine
def test_an_engine_save_is_not_digested_and_is_cached_under_the_engines_diff_ids(engine, image_tag, tmp_path, monkeypatch):
    """The engine computed the diff_ids it reports: the streamed save is indexed without a
    sha256 of its layers, and a second run finds every layer cached and saves nothing."""
    import slimview.index.layer as layer_module
    from slimview.source import engine as engine_source

    from engine import build_image

    monkeypatch.setenv("DOCKER_HOST", engine.docker_host)
    build_image(engine, {}, "FROM busybox:latest\nRUN head -c 5000 /dev/zero > /blob\n", image_tag, buildkit=True)

    class NoDigest:
        def __init__(self):
            raise AssertionError("an engine save's layers were digested")

    monkeypatch.setattr(layer_module, "_BackgroundDigest", NoDigest)
    cache_dir = tmp_path / "cache"
    first = build_index(image_tag, IndexOptions(cache_dir=str(cache_dir)))
    diff_ids = [layer.ref.diff_id for layer in first.layers]
    assert diff_ids == engine.images.get(image_tag).attrs["RootFS"]["Layers"]
    assert all(LayerCache(str(cache_dir)).get_layer(d) is not None for d in diff_ids)

    def no_save(*args, **kwargs):
        raise AssertionError("saved again although every layer is cached")

    monkeypatch.setattr(engine_source, "stream_archive", no_save)
    again = build_index(image_tag, IndexOptions(cache_dir=str(cache_dir)))
    assert canonical_digest(again) == canonical_digest(first)
    assert again.layers[-1].stats.size == 5000
