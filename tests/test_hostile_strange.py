"""Valid but strange images: no crash, no hang, exact results, and a note where useful.

Links are recorded, never followed (on the host or in the image); a sparse file keeps its
apparent size and is never expanded; duplicates and pointless whiteouts are explained in
the notes. Each case runs through the CLI (JSON report) and through build_index.
"""

from __future__ import annotations

import base64
import json

import pytest

from slimview.index import IndexOptions, build_index
from slimview.source.tarstream import EntryType

from hostile import Archive, directory, hardlink, member, pax, run_cli, sparse_gnu_member, sparse_pax_member, symlink, tar

TEN_GB = 10 * 1024**3


def _index(path, tmp_path):
    return build_index(str(path), IndexOptions(cache_dir=str(tmp_path / "cache")))


def _report(path, tmp_path) -> dict:
    proc = run_cli(["report", "--json", str(path)], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    return json.loads(proc.stdout)


def test_invalid_utf8_names_are_kept_and_shown_escaped(tmp_path):
    path = Archive([tar(
        member(b"caf\xe9.txt", b"abc"),
        symlink(b"l\xfe", b"caf\xe9.txt"),
        directory(b"d\xff"),
        member(b"d\xff/x", b"12"),
    )]).write(tmp_path / "utf8.tar")
    index = _index(path, tmp_path)
    assert sorted(index.final) == ["caf\udce9.txt", "d\udcff", "d\udcff/x", "l\udcfe"]
    assert index.visible_bytes == 5
    assert index.final_entry("l\udcfe")[0].link == "caf\udce9.txt"

    doc = _report(path, tmp_path)
    files = {f["path"]: f for f in doc["layers"][0]["files"]}
    assert sorted(files) == ["caf\\xe9.txt", "d\\xff", "d\\xff/x", "l\\xfe"]
    assert base64.b64decode(files["caf\\xe9.txt"]["path_b64"]) == b"caf\xe9.txt"
    assert files["l\\xfe"]["link"] == "caf\\xe9.txt"
    assert doc["image"]["visible_bytes"] == 5

    text = run_cli(["report", str(path)], tmp_path)
    assert text.returncode == 0
    text.stdout.encode("utf-8")  # printable: no lone surrogates reach the terminal


def test_link_loops_and_links_out_of_the_image_are_recorded_not_followed(tmp_path):
    path = Archive([tar(
        symlink("a", "b"),
        symlink("b", "a"),
        symlink("self", "self"),
        symlink("etc", "/etc"),
        symlink("up", "../../../../../etc/shadow"),
        hardlink("h1", "h2"),
        hardlink("h2", "h1"),
        hardlink("h3", "h3"),
        hardlink("lost", "no/such/file"),
        member("real", b"12345"),
        hardlink("alias", "real"),
    )]).write(tmp_path / "links.tar")
    index = _index(path, tmp_path)
    assert len(index.final) == 11
    assert index.final_entry("etc")[0].type == EntryType.SYMLINK
    assert index.final_entry("up")[0].link == "../../../../../etc/shadow"
    assert index.content_entry("h1") is None  # a hard-link loop ends, holding nothing
    assert index.content_entry("h3") is None
    assert index.content_entry("alias").size == 5
    assert index.visible_bytes == 5
    assert index.final_entry("alias")[0].hash == index.final_entry("real")[0].hash

    doc = _report(path, tmp_path)
    assert doc["image"]["entry_count"] == 11
    assert doc["image"]["visible_bytes"] == 5
    assert doc["waste"]["hidden_bytes"] == 0


@pytest.mark.parametrize("writer", [sparse_pax_member, sparse_gnu_member], ids=["pax-1.0", "gnu-old"])
def test_ten_gigabyte_sparse_file_keeps_its_size_and_is_never_expanded(writer, tmp_path):
    path = Archive([tar(
        directory("data"),
        writer("data/disk.img", TEN_GB, [(0, b"head"), (TEN_GB - 4, b"tail")]),
        member("data/after", b"still read"),
    )]).write(tmp_path / "sparse.tar")
    assert path and (tmp_path / "sparse.tar").stat().st_size < 20_000
    index = _index(path, tmp_path)
    disk = index.final_entry("data/disk.img")[0]
    assert (disk.type, disk.size) == (EntryType.FILE, TEN_GB)
    assert index.final_entry("data/after")[0].size == 10  # the stream stayed in step after it
    assert index.visible_bytes == TEN_GB + 10
    assert index.notes == ["layer 0: 1 sparse file(s): sizes are apparent sizes, holes included (never expanded)"]

    doc = _report(path, tmp_path)
    assert doc["image"]["size_bytes"] == TEN_GB + 10
    assert doc["notes"] == index.notes
    sizes = {f["path"]: f["size"] for f in doc["layers"][0]["files"]}
    assert sizes == {"data": 0, "data/disk.img": TEN_GB, "data/after": 10}


def test_duplicate_entries_in_one_layer_last_wins(tmp_path):
    path = Archive([tar(member("a", b"1"), member("a", b"22"), member("a", b"333"), member("b", b"x"))]).write(tmp_path / "dup.tar")
    index = _index(path, tmp_path)
    assert index.final_entry("a")[0].size == 3
    assert (index.visible_bytes, index.hidden_bytes) == (4, 3)
    assert index.notes == ["layer 0: 2 path(s) appear more than once; the last copy wins"]

    doc = _report(path, tmp_path)
    assert (doc["image"]["visible_bytes"], doc["waste"]["hidden_bytes"]) == (4, 3)
    assert doc["notes"] == ["layer 0: 2 path(s) appear more than once; the last copy wins"]


def test_whiteouts_of_absent_paths_and_bare_whiteouts_are_notes(tmp_path):
    path = Archive([
        tar(member("keep", b"12")),
        tar(member(".wh.never-there", b""), member("dir/.wh.", b""), member(".wh.", b""), member("dir/.wh..wh..opq", b"")),
    ]).write(tmp_path / "wh.tar")
    index = _index(path, tmp_path)
    assert sorted(index.final) == ["keep"]
    assert index.visible_bytes == 2
    expected_notes = [
        "layer 1: 1 whiteout(s) name paths that no lower layer has",
        "layer 1: bare whiteout 'dir/.wh.' ignored",
        "layer 1: bare whiteout '.wh.' ignored",
    ]
    assert index.notes == expected_notes

    doc = _report(path, tmp_path)
    assert doc["notes"] == expected_notes
    assert doc["image"]["visible_bytes"] == 2


def test_one_path_two_thousand_levels_deep_is_fine(tmp_path):
    deep = "d/" * 2000 + "leaf"  # 4,004 bytes: under the 4,096-byte path limit
    path = Archive([tar(pax({"path": deep}), member("placeholder", b"x"))]).write(tmp_path / "deep.tar")
    index = _index(path, tmp_path)
    assert list(index.final) == [deep]
    assert index.directory_sizes()["d/" * 1999 + "d"] == 1
    doc = _report(path, tmp_path)
    assert doc["image"]["entry_count"] == 1


def test_a_file_replacing_a_directory_only_implied_by_deeper_paths(tmp_path):
    """Layer 0 has 'a/b' but no 'a' entry; layer 1's file 'a' replaces the whole directory."""
    path = Archive([tar(member("a/b", b"12345")), tar(member("a", b"x"))]).write(tmp_path / "implied.tar")
    index = _index(path, tmp_path)
    assert sorted(index.final) == ["a"]
    assert (index.visible_bytes, index.hidden_bytes) == (1, 5)
    assert index.layers[1].stats.bytes_deleted == 5


def test_history_lines_no_builder_writes_still_reconstruct(tmp_path):
    """Go escapes that are not escapes, a retries rune of several characters, a SHELL that is
    not JSON: the reconstructed Dockerfile keeps what it cannot parse (all crashed before)."""
    from hostile import config_doc, sha

    layers = [tar(member("a", b"1")), tar(member("b", b"2"))]
    history = [
        {"created_by": '/bin/sh -c #(nop)  CMD ["\\x" "\\U99999999" "\\9"]', "empty_layer": True},
        {"created_by": "RUN /bin/sh -c echo a # buildkit"},
        {"created_by": 'HEALTHCHECK &{["CMD-SHELL" "true"] "30s" "5s" "0s" \'ab\'}', "empty_layer": True},
        {"created_by": 'SHELL ["/bin/bash" "-c"', "empty_layer": True},
        {"created_by": "RUN /bin/sh -c echo b # buildkit"},
    ]
    path = Archive(layers, config=config_doc([sha(t) for t in layers], history)).write(tmp_path / "history.tar")
    proc = run_cli(["rewrite", "--reconstruct", path], tmp_path)
    assert (proc.returncode, proc.stderr) == (0, "")
    assert "RUN echo a" in proc.stdout and "RUN echo b" in proc.stdout
