"""The file tree's model (no Textual): views, sizes, change marks, filters, rows."""

from __future__ import annotations

import re

import pytest

from slimview.index import IndexOptions, build_index, tree
from slimview.index.model import Change, ref_layer
from slimview.index.tree import AGGREGATE, BY_SIZE, LAYER, Cancelled, build_view
from slimview.sample.builder import ImageSpec, Layer, write_docker_archive
from slimview.sample.mini import write_sample
from slimview.ui import treemodel
from slimview.ui.treemodel import TreeQuery, ViewCache, prepare


def small_spec() -> ImageSpec:
    base = (
        Layer("/bin/sh -c #(nop) ADD file:base in / ")
        .dir("etc")
        .file("etc/a", b"a" * 10)
        .file("etc/b", b"b" * 20)
        .dir("usr")
        .dir("usr/lib")
        .file("usr/lib/x.so", b"x" * 100)
        .file("usr/lib/y.so", b"y" * 50)
        .dir("var/cache")  # no "var" entry: the tree must imply it
        .file("var/cache/pkg.deb", b"p" * 1000)
    )
    change = (
        Layer("/bin/sh -c change")
        .file("etc/a", b"A" * 15)
        .file("etc/c", b"c" * 5)
        .file("usr/lib/x.so", b"x" * 100)  # the same bytes again: unchanged
        .whiteout("var/cache")
    )
    replace = Layer("/bin/sh -c replace").dir("etc/b").file("etc/b/inner", b"i" * 3)
    return ImageSpec([base, change, replace], cmd=["sh"])


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    path = tmp_path_factory.mktemp("img") / "small.tar"
    write_docker_archive(small_spec(), str(path), ["small:latest"])
    return build_index(str(path), IndexOptions(use_cache=False))


@pytest.fixture(scope="module")
def mini_index(tmp_path_factory):
    path = tmp_path_factory.mktemp("mini") / "mini.tar"
    write_sample(str(path))
    return build_index(str(path), IndexOptions(use_cache=False))


def test_aggregate_after_the_first_layer_has_its_files_and_implied_directories(index):
    view = build_view(index, AGGREGATE, 0)
    assert set(view.refs) == {"etc", "etc/a", "etc/b", "usr", "usr/lib", "usr/lib/x.so", "usr/lib/y.so", "var/cache", "var/cache/pkg.deb"}
    assert view.deleted == {}
    assert sorted(view.kids) == ["", "etc", "usr", "usr/lib", "var", "var/cache"]
    assert sorted(view.kids[""]) == ["etc", "usr", "var"]
    assert view.size("") == 1180
    assert (view.size("usr"), view.size("var"), view.size("etc"), view.size("etc/b")) == (150, 1000, 30, 20)
    assert view.kind("etc/a") == Change.ADDED
    assert view.entry("var") is None and view.is_dir("var")


def test_layer_view_shows_only_that_layers_changes_and_deletions(index):
    view = build_view(index, LAYER, 1)
    assert set(view.refs) == {"etc/a", "etc/c", "usr/lib/x.so"}
    assert set(view.deleted) == {"var/cache", "var/cache/pkg.deb"}
    assert [view.kind(p) for p in ("etc/a", "etc/c", "usr/lib/x.so", "var/cache", "var/cache/pkg.deb")] == [
        Change.MODIFIED, Change.ADDED, Change.UNCHANGED, Change.DELETED, Change.DELETED,
    ]
    assert view.kind("etc") is None  # implied: the layer has no entry for it
    assert view.size("") == 120  # deleted bytes are not this layer's bytes
    assert view.size("var/cache/pkg.deb") == 1000  # a deletion shows what was there
    entry, layer = view.entry("var/cache/pkg.deb")
    assert (entry.size, layer) == (1000, 0)


def test_aggregate_marks_this_layers_changes_and_keeps_deleted_paths(index):
    view = build_view(index, AGGREGATE, 1)
    assert view.kind("etc/a") == Change.MODIFIED
    assert view.kind("etc/b") is None  # from a lower layer, untouched
    assert view.kind("var/cache/pkg.deb") == Change.DELETED
    assert view.size("") == 15 + 20 + 5 + 100 + 50
    assert view.size("var") == 0


def test_final_aggregate_is_the_final_filesystem(index):
    view = build_view(index, AGGREGATE, 2)
    assert view.refs is index.final
    assert view.size("") == index.visible_bytes == 15 + 5 + 100 + 50 + 3
    assert view.kind("etc/b") == Change.MODIFIED and view.is_dir("etc/b")
    assert view.kind("etc/b/inner") == Change.ADDED


def test_replaying_the_layers_gives_the_merged_final_view(index, mini_index):
    for idx in (index, mini_index):
        assert tree.replay(idx, len(idx.layers) - 1) == idx.final


def test_children_sorted_by_name_or_size(index):
    view = build_view(index, AGGREGATE, 0)
    assert view.children("") == ["etc", "usr", "var"]
    assert view.children("", BY_SIZE) == ["var", "usr", "etc"]
    assert view.children("usr/lib", BY_SIZE) == ["usr/lib/x.so", "usr/lib/y.so"]


def test_rows_descend_only_into_open_directories(index):
    view = build_view(index, AGGREGATE, 0)
    rows = treemodel.rows(view, "", 0, {"etc", "usr"}.__contains__)
    assert rows == [("etc", 0), ("etc/a", 1), ("etc/b", 1), ("usr", 0), ("usr/lib", 1), ("var", 0)]
    assert treemodel.rows(view, "usr", 1, lambda p: True) == [("usr/lib", 1), ("usr/lib/x.so", 2), ("usr/lib/y.so", 2)]


def test_regex_selection_keeps_matches_and_their_ancestors(index):
    view = build_view(index, AGGREGATE, 0)
    selection = treemodel.select(view, re.compile(r"\.so$"))
    assert selection.shown == {"usr", "usr/lib", "usr/lib/x.so", "usr/lib/y.so"}
    assert selection.parents == {"", "usr", "usr/lib"}
    assert selection.matches == 2
    assert treemodel.rows(view, "", 0, lambda p: True, selection=selection) == [("usr", 0), ("usr/lib", 1), ("usr/lib/x.so", 2), ("usr/lib/y.so", 2)]
    # Searched in the "/"-rooted path, so an absolute-looking pattern works.
    assert treemodel.select(view, re.compile(r"^/etc/a$")).shown == {"etc", "etc/a"}


def test_change_kind_and_path_set_selections(index):
    view = build_view(index, LAYER, 1)
    deleted = treemodel.select(view, kinds=frozenset({Change.DELETED}))
    assert deleted.shown == {"var", "var/cache", "var/cache/pkg.deb"}
    assert deleted.matches == 2
    unchanged = treemodel.select(view, kinds=frozenset({Change.UNCHANGED}))
    assert unchanged.shown == {"usr", "usr/lib", "usr/lib/x.so"}
    only = treemodel.select(view, only=["etc/c", "not/there"])
    assert only.shown == {"etc", "etc/c"} and only.matches == 1
    assert treemodel.select(view) is None


def test_prepare_answers_a_query_and_opens_everything_when_filtered(index):
    cache = ViewCache(index)
    view, selection, rows = prepare(cache, TreeQuery(mode=LAYER, layer_no=1), frozenset())
    assert selection is None and rows == [("etc", 0), ("usr", 0), ("var", 0)]
    view2, selection, rows = prepare(cache, TreeQuery(mode=LAYER, layer_no=1, pattern="pkg"), frozenset())
    assert view2 is view  # cached
    assert rows == [("var", 0), ("var/cache", 1), ("var/cache/pkg.deb", 2)]
    _, _, rows = prepare(cache, TreeQuery(mode=LAYER, layer_no=1), None)
    assert rows == [  # every directory open
        ("etc", 0), ("etc/a", 1), ("etc/c", 1), ("usr", 0), ("usr/lib", 1), ("usr/lib/x.so", 2),
        ("var", 0), ("var/cache", 1), ("var/cache/pkg.deb", 2),
    ]


def test_view_cache_keeps_the_last_few(index):
    cache = ViewCache(index, keep=2)
    a = cache.get(AGGREGATE, 0)
    cache.get(AGGREGATE, 1)
    assert cache.get(AGGREGATE, 0) is a
    cache.get(LAYER, 1)
    cache.get(LAYER, 2)
    assert cache.get(AGGREGATE, 0) is not a


def test_a_newer_request_cancels_a_long_build(index, monkeypatch):
    monkeypatch.setattr(tree, "CHECK_EVERY", 1)
    monkeypatch.setattr("slimview.ui.treemodel.CHECK_EVERY", 1)
    with pytest.raises(Cancelled):
        build_view(index, LAYER, 0, should_stop=lambda: True)
    with pytest.raises(Cancelled):
        build_view(index, AGGREGATE, 1, should_stop=lambda: True)
    view = build_view(index, AGGREGATE, 0)
    with pytest.raises(Cancelled):
        treemodel.select(view, re.compile("x"), should_stop=lambda: True)


def test_mini_sample_views_add_up(mini_index):
    top = len(mini_index.layers) - 1
    for layer in mini_index.layers:
        view = build_view(mini_index, LAYER, layer.index)
        assert view.size("") == layer.stats.size
        assert len(view.deleted) == len({p for p, ref in layer.deleted_paths if ref_layer(ref) < layer.index} - set(view.refs))
    assert build_view(mini_index, AGGREGATE, top).size("") == mini_index.visible_bytes
