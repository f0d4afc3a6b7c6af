"""The index's rules, one image per rule (OCI image spec "Representing Changes", overlayfs).

Images are written by slimview.sample.builder, so each input is exactly what the rule
describes; every expectation is an exact path set, change kind or byte count.
"""

from __future__ import annotations

import pytest

from slimview.index import IndexOptions, build_index
from slimview.index.model import Change
from slimview.sample.builder import ImageSpec, Layer, write_docker_archive
from slimview.source.tarstream import EntryType

A, M, U, D = Change.ADDED, Change.MODIFIED, Change.UNCHANGED, Change.DELETED


@pytest.fixture
def build(tmp_path):
    def build(*layers: Layer, **spec):
        path = tmp_path / "image.tar"
        write_docker_archive(ImageSpec(list(layers), **spec), str(path), ["rules:1"])
        return build_index(str(path), IndexOptions(use_cache=False))

    return build


def changes(index, layer_no):
    return {entry.path: change for entry, change in index.layers[layer_no].entries()}


def deleted(index, layer_no):
    return {path for path, _ref in index.layers[layer_no].deleted_paths}


def hidden(index):
    return {tuple(h)[:5] for h in index.hidden}


def test_whiteout_deletes_a_file(build):
    idx = build(Layer("a").file("d/f", b"1" * 10).file("d/g", b"2" * 3), Layer("b").whiteout("d/f"), Layer("c").file("d/f", b"3"))
    assert deleted(idx, 1) == {"d/f"}
    assert hidden(idx) == {("d/f", 10, 0, 1, "deleted")}
    assert changes(idx, 2) == {"d/f": A}  # back after a deletion: added, not modified
    assert idx.path_history("d/f") == [(0, A), (1, D), (2, A)]
    assert (idx.layers[1].stats.deleted, idx.layers[1].stats.bytes_deleted) == (1, 10)


def test_whiteout_deletes_a_whole_tree(build):
    idx = build(
        Layer("a").dir("t").file("t/a", b"1" * 100).dir("t/s").file("t/s/b", b"2" * 20).symlink("t/s/l", "b").file("keep", b"k"),
        Layer("b").whiteout("t"),
    )
    assert deleted(idx, 1) == {"t", "t/a", "t/s", "t/s/b", "t/s/l"}
    assert idx.hidden_bytes == 120 and idx.layers[1].stats.deleted == 5
    assert set(idx.final) == {"keep"}


def test_opaque_directory_hides_lower_children_wherever_the_marker_appears(build):
    idx = build(
        Layer("a").dir("o").file("o/old", b"1" * 10).dir("o/sub").file("o/sub/deep", b"2" * 5).file("other", b"x"),
        # the marker comes after the layer's own entries in the tar: they must survive it
        Layer("b").dir("o").file("o/new", b"3" * 4).opaque("o"),
    )
    assert deleted(idx, 1) == {"o/old", "o/sub", "o/sub/deep"}
    assert set(idx.final) == {"o", "o/new", "other"}
    assert changes(idx, 1) == {"o": U, "o/new": A}
    assert idx.hidden_bytes == 15


def test_opaque_root_hides_everything_below(build):
    idx = build(Layer("a").file("x", b"1" * 10).file("d/y", b"2" * 3), Layer("b").opaque("").file("z", b"3"))
    assert set(idx.final) == {"z"}
    assert idx.hidden_bytes == 13


def test_a_non_directory_replacing_a_directory_hides_its_subtree(build):
    idx = build(Layer("a").dir("p").file("p/f", b"1" * 7).dir("p/q").file("p/q/g", b"2" * 9), Layer("b").file("p", b"now a file"))
    assert changes(idx, 1) == {"p": M}
    assert deleted(idx, 1) == {"p/f", "p/q", "p/q/g"}
    assert set(idx.final) == {"p"}
    assert idx.final_entry("p")[0].type == EntryType.FILE
    assert idx.hidden_bytes == 16


def test_an_entry_below_a_lower_file_turns_it_into_a_directory(build):
    idx = build(Layer("a").file("f", b"1" * 10), Layer("b").file("f/x", b"2" * 5))
    assert set(idx.final) == {"f/x"}
    assert hidden(idx) == {("f", 10, 0, 1, "deleted")}
    assert idx.notes == ["layer 1: 'f' was a file; entries below it replace it with a directory"]


def test_a_whiteout_of_a_missing_path_is_noted_and_the_layer_goes_on(build):
    idx = build(Layer("a").file("a", b"1" * 10), Layer("b").whiteout("nope/x").whiteout("a").file("b", b"2" * 2))
    assert deleted(idx, 1) == {"a"}
    assert set(idx.final) == {"b"}
    assert idx.notes == ["layer 1: 1 whiteout(s) name paths that no lower layer has"]


def test_whiteouts_act_on_lower_layers_only(build):
    """A layer that whites out x and also ships x keeps its own x."""
    idx = build(Layer("a").file("x", b"1" * 10), Layer("b").whiteout("x").dir("x").file("x/y", b"2"))
    assert set(idx.final) == {"x", "x/y"}
    assert idx.final_entry("x")[0].type == EntryType.DIR
    assert hidden(idx) == {("x", 10, 0, 1, "deleted")}


def test_re_emitted_entries_with_the_same_attributes_are_unchanged(build):
    idx = build(
        Layer("a").dir("d").file("d/same", b"s" * 50).symlink("d/l", "same").file("d/mode", b"m").file("d/own", b"o"),
        Layer("b").dir("d").file("d/same", b"s" * 50).symlink("d/l", "same"),
        Layer("c").dir("d", mode=0o700).file("d/mode", b"m", mode=0o755).file("d/own", b"o", uid=7).symlink("d/l", "mode"),
    )
    assert changes(idx, 1) == {"d": U, "d/same": U, "d/l": U}
    assert (idx.layers[1].stats.unchanged, idx.layers[1].stats.bytes_unchanged) == (3, 50)
    assert changes(idx, 2) == {"d": M, "d/mode": M, "d/own": M, "d/l": M}
    # an unchanged copy still stores its bytes again: the lower copy is hidden
    assert ("d/same", 50, 0, 1, "overwritten") in hidden(idx)


def test_hard_links_keep_their_target(build):
    idx = build(
        Layer("a").file("bin/tool", b"T" * 1000).hardlink("bin/tool-alias", "bin/tool").hardlink("bin/tool-2", "bin/tool"),
        Layer("rm the original").whiteout("bin/tool"),
        Layer("replace one alias").file("bin/tool-alias", b"new"),
        Layer("rm the last alias").whiteout("bin/tool-2"),
    )
    links = idx.layers[0].files
    assert links.entry(links.paths.index("bin/tool-alias")).link == "bin/tool"
    assert links.entry(links.paths.index("bin/tool-2")).hash == links.entry(0).hash
    # the body stays visible while any name for it does, and is hidden by the layer removing the last
    assert hidden(idx) == {("bin/tool-2", 1000, 0, 3, "deleted")}
    assert idx.layers[0].stats.hidden_stored == 1000
    assert [layer.stats.bytes_deleted + layer.stats.bytes_overwritten for layer in idx.layers] == [0, 0, 0, 1000]
    assert idx.visible_bytes == 3 and idx.size - idx.hidden_bytes == 3


def test_a_body_kept_only_by_a_hard_link_counts_once_as_visible(build):
    idx = build(
        Layer("a").file("lib/real", b"R" * 500).hardlink("lib/a", "lib/real").hardlink("lib/b", "lib/real"),
        Layer("b").file("lib/real", b"other" * 10),
    )
    assert idx.hidden_bytes == 0
    assert idx.visible_bytes == 500 + 50 == idx.size
    assert idx.directory_sizes() == {"": 550, "lib": 550}
    body = idx.content_entry("lib/b")
    assert (body.path, body.size) == ("lib/real", 500)  # the original body, not the new lib/real
    assert idx.content_entry("lib/real").size == 50


def test_duplicate_paths_in_one_layer_the_last_copy_wins(build):
    idx = build(Layer("a").file("a", b"1" * 10).file("a", b"2" * 20))
    assert idx.final_entry("a")[0].size == 20
    assert idx.visible_bytes == 20 and idx.hidden_bytes == 10
    assert idx.notes == ["layer 0: 1 path(s) appear more than once; the last copy wins"]


def test_per_layer_totals(build):
    idx = build(
        Layer("a").file("keep", b"k" * 100).file("gone", b"g" * 40).file("over", b"o" * 30),
        Layer("b").whiteout("gone").file("over", b"O" * 35).file("new", b"n" * 5).file("keep", b"k" * 100),
    )
    s = idx.layers[1].stats
    assert (s.entries, s.size, s.added, s.modified, s.unchanged, s.deleted) == (3, 140, 1, 1, 1, 1)
    assert (s.bytes_added, s.bytes_modified, s.bytes_unchanged, s.bytes_deleted, s.bytes_overwritten) == (5, 35, 100, 40, 130)
    assert idx.layers[0].stats.hidden_stored == 170
    assert idx.size == 310 and idx.visible_bytes == 140 and idx.hidden_bytes == 170


def test_history_aligns_through_empty_layer_entries(build):
    idx = build(
        Layer("FROM scratch ADD rootfs").file("a", b"a"),
        Layer("RUN make").file("b", b"b"),
        empty_history={0: ["ARG X=1"], 1: ["ENV A=1", "WORKDIR /w"], 2: ["CMD [\"sh\"]"]},
    )
    assert [layer.instruction for layer in idx.layers] == ["FROM scratch ADD rootfs", "RUN make"]
    assert len(idx.source.history) == 6


def test_history_shorter_than_the_layers_aligns_from_the_top(tmp_path):
    from slimview.index import index_source
    from slimview.source import open_image

    path = tmp_path / "image.tar"
    write_docker_archive(ImageSpec([Layer("one").file("a", "a"), Layer("two").file("b", "b"), Layer("three").file("c", "c")]),
                         str(path), ["h:1"])
    source = open_image(str(path), sink=lambda name, stream: None)
    source.config["history"] = source.config["history"][1:]  # as a squash or hand-made image leaves it
    idx = index_source(source, IndexOptions(use_cache=False))
    assert [layer.instruction for layer in idx.layers] == ["", "two", "three"]
    assert idx.layers[0].history is None


def test_comment_stands_in_for_a_missing_created_by(build):
    idx = build(Layer("", comment="Imported from -").file("a", "a"))
    assert idx.layers[0].instruction == "(Imported from -)"


def test_paths_are_normalised(tmp_path):
    import tarfile

    layer = Layer("odd names")
    for name in ("./dot/slash", "dot//double", "dir/trailing/", "dot/./inner"):
        info = tarfile.TarInfo(name)
        if name.endswith("/"):
            info.type = tarfile.DIRTYPE
        layer.members.append((info, b"" if not name.endswith("/") else None))
    path = tmp_path / "odd.tar"
    write_docker_archive(ImageSpec([layer]), str(path), ["odd:1"])
    idx = build_index(str(path), IndexOptions(use_cache=False))
    assert idx.layers[0].files.paths == ["dot/slash", "dot/double", "dir/trailing", "dot/inner"]


def test_a_whiteout_removes_entries_that_replaced_a_lower_non_directory(build):
    """d was a symlink; d/a/c turns it into a directory; a later rm -rf d must remove d/a/c."""
    idx = build(Layer("a").symlink("d", "elsewhere"), Layer("b").file("d/a/c", b"c" * 3), Layer("c").whiteout("d"))
    assert idx.final == {}
    assert deleted(idx, 2) == {"d/a/c"}
    assert idx.hidden_bytes == 3 and idx.notes == ["layer 1: 'd' was a symlink; entries below it replace it with a directory"]


def test_a_hard_link_to_a_body_already_hidden_holds_nothing(build):
    """Crafted: a/c's body is gone (a/c became a directory) before c/b links to it."""
    idx = build(
        Layer("a").file("a/c", b"x" * 1000).file("a/c/a", b"y" * 10).hardlink("c/b", "a/c"),
        Layer("b").whiteout("a/c"),
        Layer("c").whiteout("c/b"),
    )
    assert idx.size == 1010 and idx.hidden_bytes == 1010 and idx.visible_bytes == 0
    assert sorted(h.path for h in idx.hidden) == ["a/c", "a/c/a"]  # counted once, never again for c/b


@pytest.mark.parametrize("seed", range(60))
def test_generated_images_agree_with_an_independent_recount(tmp_path, seed):
    from test_dive_compat import generated_image

    from indexcheck import recount

    path = tmp_path / "gen.tar"
    write_docker_archive(generated_image(seed), str(path), ["gen:1"])
    idx = build_index(str(path), IndexOptions(use_cache=False))
    independent = recount(path)
    assert [layer.stats.size for layer in idx.layers] == independent.layer_bytes
    assert set(idx.final) == independent.final_paths
    assert (idx.visible_bytes, idx.hidden_bytes) == (independent.visible_bytes, independent.hidden_bytes)
    assert idx.visible_bytes + idx.hidden_bytes == idx.size
    assert sum(size for _path, size in idx.visible_bodies()) == idx.visible_bytes
