"""The index of a real image, built by both builders, whose waste is known by construction.

See tests/known_waste.py for the Dockerfile and why each number is what it is.
"""

from __future__ import annotations

import io
import json
import tarfile

import docker
import pytest

from slimview.index import IndexOptions, build_index
from slimview.index.model import Change
from slimview.source.tarstream import EntryType

import known_waste as kw
from indexcheck import recount

pytestmark = pytest.mark.engine

A, M, U, D = Change.ADDED, Change.MODIFIED, Change.UNCHANGED, Change.DELETED


@pytest.fixture(scope="module", params=[False, True], ids=["legacy", "buildkit"])
def waste_image(request, engine, tmp_path_factory):
    tag, archive = kw.build_and_save(engine, tmp_path_factory.mktemp("waste"), buildkit=request.param)
    yield tag, archive
    try:
        engine.images.remove(tag, force=True)
    except docker.errors.ImageNotFound:
        pass


@pytest.fixture(scope="module")
def index(waste_image, tmp_path_factory):
    _tag, archive = waste_image
    return build_index(str(archive), IndexOptions(use_cache=False))


def saved_layer_members(archive) -> list[dict[str, tarfile.TarInfo]]:
    with tarfile.open(archive) as outer:
        (manifest,) = json.load(outer.extractfile("manifest.json"))
        out = []
        for name in manifest["Layers"]:
            with tarfile.open(fileobj=io.BytesIO(outer.extractfile(name).read())) as layer:
                out.append({m.name.removeprefix("./").rstrip("/"): m for m in layer.getmembers()})
        return out


def test_the_saved_tar_holds_the_whiteouts_the_test_relies_on(waste_image):
    layers = saved_layer_members(waste_image[1])
    assert len(layers) == 9
    assert "w/.wh.gone.bin" in layers[2]
    assert "w/.wh.tree" in layers[3]
    assert layers[5]["w/chmod.bin"].mode & 0o7777 == 0o600 and layers[5]["w/chmod.bin"].size == 2000
    # overlay2 marks the recreated directory opaque rather than whiting out its old children
    assert "w/opq/.wh..wh..opq" in layers[6]
    assert not any(".wh.old" in name for name in layers[6])
    assert layers[7]["w/owned.bin"].uid == 1000 and layers[7]["w/owned.bin"].gid == 1000
    assert layers[1]["w/big.link"].islnk() and layers[1]["w/big.link"].linkname == "w/big.bin"
    assert "w/.wh.big.bin" in layers[8]


def test_layer_sizes(index, waste_image):
    independent = recount(waste_image[1])
    assert [layer.stats.size for layer in index.layers] == [independent.layer_bytes[0], *kw.USER_LAYER_SIZES]
    assert index.size == independent.layer_bytes[0] + sum(kw.USER_LAYER_SIZES)
    assert [layer.files.file_bytes for layer in index.layers] == [layer.stats.size for layer in index.layers]


def test_hidden_bytes_with_the_layers_that_stored_and_hid_them(index):
    assert {tuple(h)[:5] for h in index.hidden} == kw.HIDDEN
    assert len(index.hidden) == len(kw.HIDDEN)  # each body counted once
    assert index.hidden_bytes == kw.HIDDEN_BYTES
    assert index.hidden_by_pair() == kw.HIDDEN_BY_PAIR
    assert index.layers[1].stats.hidden_stored == kw.HIDDEN_BYTES
    assert [layer.stats.hidden_stored for layer in index.layers[2:]] == [0] * 7


def test_visible_bytes(index, waste_image):
    base = recount(waste_image[1]).layer_bytes[0]
    # 9000 (big.bin's body, still named by big.link) + 12000 + 2000 + 2 + 1500
    assert index.visible_bytes == base + 24_502
    assert index.visible_bytes == index.size - index.hidden_bytes
    assert index.directory_sizes()["w"] == 24_502
    assert index.directory_sizes()[""] == index.visible_bytes


def test_deleted_paths_per_layer(index):
    deleted = {layer.index: {p for p, _ref in layer.deleted_paths} for layer in index.layers if layer.deleted_paths}
    assert deleted == kw.DELETED_PATHS
    stats = index.layers
    assert (stats[2].stats.deleted, stats[2].stats.bytes_deleted) == (1, 7_000)
    assert (stats[3].stats.deleted, stats[3].stats.bytes_deleted) == (4, 8_000)
    assert (stats[6].stats.deleted, stats[6].stats.bytes_deleted) == (2, 10_000)
    assert (stats[8].stats.deleted, stats[8].stats.bytes_deleted) == (1, 0)


def test_change_kinds_of_specific_paths(index):
    def change(layer_no, path):
        layer = index.layers[layer_no]
        return layer.changes[layer.find(path)]

    assert all(change(1, p) == A for p in ("w", "w/gone.bin", "w/big.link", "w/big.sym", "w/tree/sub/b.bin"))
    assert [change(n, "w") for n in range(2, 9)] == [U] * 7  # re-emitted parent, same attributes
    assert change(4, "w/over.bin") == M  # new content
    assert change(5, "w/chmod.bin") == M  # mode only
    assert change(6, "w/opq") == U and change(6, "w/opq/new") == A
    assert change(7, "w/owned.bin") == M  # owner only
    by_layer = [(s.added, s.modified) for s in (layer.stats for layer in index.layers[2:])]
    assert by_layer == [(0, 0), (0, 0), (0, 1), (0, 1), (1, 0), (0, 1), (0, 0)]
    assert (index.layers[4].stats.bytes_modified, index.layers[4].stats.bytes_overwritten) == (12_000, 11_000)
    assert (index.layers[5].stats.bytes_modified, index.layers[5].stats.bytes_overwritten) == (2_000, 2_000)
    assert (index.layers[7].stats.bytes_modified, index.layers[7].stats.bytes_overwritten) == (1_500, 1_500)


def test_entries_record_type_mode_owner_link_and_content(index):
    l1 = index.layers[1]
    big = l1.files.entry(l1.find("w/big.bin"))
    link = l1.files.entry(l1.find("w/big.link"))
    sym = l1.files.entry(l1.find("w/big.sym"))
    assert (big.type, big.size, big.mode) == (EntryType.FILE, 9_000, 0o644)
    assert (link.type, link.size, link.link, link.hash) == (EntryType.HARDLINK, 0, "w/big.bin", big.hash)
    assert (sym.type, sym.link) == (EntryType.SYMLINK, "big.bin")
    chmod_before = l1.files.entry(l1.find("w/chmod.bin"))
    chmod_after = index.layers[5].files.entry(index.layers[5].find("w/chmod.bin"))
    assert (chmod_after.mode, chmod_after.hash) == (0o600, chmod_before.hash)
    owned = index.layers[7].files.entry(index.layers[7].find("w/owned.bin"))
    assert (owned.uid, owned.gid, owned.mode) == (1000, 1000, 0o644)
    over = index.layers[4].files.entry(index.layers[4].find("w/over.bin"))
    assert over.hash != l1.files.entry(l1.find("w/over.bin")).hash


def test_final_filesystem(index):
    under_w = {p for p in index.final if p == "w" or p.startswith("w/")}
    assert under_w == {
        "w", "w/big.link", "w/big.sym", "w/chmod.bin", "w/opq", "w/opq/new", "w/over.bin", "w/owned.bin",
    }
    assert index.final_entry("w/over.bin")[0].size == 12_000 and index.final_entry("w/over.bin")[1] == 4
    assert index.final_entry("w/chmod.bin")[0].mode == 0o600
    assert index.final_entry("w/big.link")[1] == 1
    # the hard link outlives the name it was made from, and still holds its bytes
    content = index.content_entry("w/big.link")
    assert (content.path, content.size) == ("w/big.bin", 9_000)


def test_per_path_history(index):
    assert index.path_history("w/over.bin") == [(1, A), (4, M)]
    assert index.path_history("w/gone.bin") == [(1, A), (2, D)]
    assert index.path_history("w/tree/sub/b.bin") == [(1, A), (3, D)]
    assert index.path_history("w/chmod.bin") == [(1, A), (5, M)]
    assert index.path_history("w/opq") == [(1, A), (6, U)]
    assert index.path_history("w/opq/old2.bin") == [(1, A), (6, D)]
    assert index.path_history("w/owned.bin") == [(1, A), (7, M)]
    assert index.path_history("w/big.bin") == [(1, A), (8, D)]
    assert index.path_history("w/big.link") == [(1, A)]
    assert index.path_history("w") == [(1, A)] + [(n, U) for n in range(2, 9)]


def test_history_aligns_with_layers_through_empty_layer_entries(index):
    instructions = [layer.instruction for layer in index.layers]
    assert "mkdir -p /w/tree/sub /w/opq" in instructions[1]
    assert [i.split("-c ", 1)[1].split(" # buildkit")[0] for i in instructions[2:]] == [
        "rm /w/gone.bin",
        "rm -rf /w/tree",
        "head -c 12000 /dev/zero | tr '\\0' x > /w/over.bin",
        "chmod 600 /w/chmod.bin",
        "rm -rf /w/opq && mkdir /w/opq && echo x > /w/opq/new",
        "chown 1000:1000 /w/owned.bin",
        "rm /w/big.bin",
    ]
    # the trailing LABEL is history without a layer
    assert index.source.history[-1].empty_layer and "LABEL" in index.source.history[-1].created_by


def test_no_notes_on_a_clean_image(index):
    assert index.notes == []


def test_dive_compatible_figures_by_construction(index):
    assert index.dive.wasted_bytes == kw.DIVE_INEFFICIENT_BYTES
    assert index.dive.user_size == sum(kw.USER_LAYER_SIZES)
    assert {(p, n, c) for p, n, c in index.dive.inefficient_paths if n} == {
        ("w/over.bin", 23_000, 2), ("w/big.bin", 9_000, 2), ("w/gone.bin", 7_000, 2),
        ("w/chmod.bin", 4_000, 2), ("w/owned.bin", 3_000, 2),
    }
