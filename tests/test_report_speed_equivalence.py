"""The fast paths of the JSON report and the findings give exactly what the plain ones did.

The per-layer file lists are built column by column and checked for undecodable bytes a
whole column at a time; here they are compared, key order included, with a rendering made
entry by entry from the schema, on an image full of the awkward cases: paths and link
targets that are not UTF-8, hard links, whiteouts, an opaque directory, control characters.
"""

from __future__ import annotations

import json

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_formats_synthetic import BAD_UTF8, GnuLayer

from slimview.findings.caches import _HINTS, _MATCHER, RULES
from slimview.findings.model import FindingPath, sort_largest_first
from slimview.index import IndexOptions, build_index
from slimview.index.model import Change, split_ref
from slimview.report import jsondoc
from slimview.report.jsondoc import path_fields, render_json, render_json_bytes, report_json, safe_text
from slimview.sample.builder import ImageSpec, write_docker_archive
from slimview.sample.mini import write_sample
from slimview.session import analyse
from slimview.source.tarstream import EntryType

BAD_DIR = b"d\xff".decode("utf-8", "surrogateescape")
BAD_LINK = b"l\xfe".decode("utf-8", "surrogateescape")
CONTROL = 'ctrl\x01"q\\.txt'


def awkward_spec() -> ImageSpec:
    return ImageSpec([
        GnuLayer("names").dir(BAD_DIR).file(BAD_DIR + "/x", b"x" * 10).file(BAD_UTF8, b"u" * 45)
        .file("ünïcode/名前.txt", b"8" * 6).symlink(BAD_LINK, BAD_UTF8).symlink("ok-link", "ünïcode/名前.txt")
        .hardlink("hard", BAD_UTF8).file(CONTROL, b"c" * 3).dir("app").file("app/old", b"o" * 5),
        GnuLayer("RUN rm").whiteout(BAD_UTF8).whiteout(BAD_DIR).whiteout(CONTROL).file("app/new", b"n" * 10),
        GnuLayer("RUN again").opaque("app").file("app/z", b"z" * 7).file("empty", b""),
        # Files stored twice: long lists of dive's inefficient files and of a finding's paths.
        GnuLayer("RUN make").file(BAD_DIR + "2/a", b"1" * 20).file("w/b", b"2" * 30).file("w/c", b"3" * 40).file("w/d", b"4" * 100_000),
        GnuLayer("RUN make again").file(BAD_DIR + "2/a", b"5" * 20).file("w/b", b"6" * 30).file("w/c", b"7" * 40).file("w/d", b"8" * 50),
    ])


def awkward_report(tmp_path):
    path = tmp_path / "awkward.tar"
    write_docker_archive(awkward_spec(), str(path), ["awkward:1"])
    return analyse(build_index(str(path), IndexOptions(use_cache=False)))


def files_entry_by_entry(index, layer_no: int) -> list[dict]:
    """schema.md's `files` for one layer, one entry at a time."""
    layer = index.layers[layer_no]
    files = layer.files
    out = []
    for i in range(len(files)):
        item = path_fields(files.paths[i])
        item.update(
            type=EntryType.NAMES[files.types[i]],
            change=Change.NAMES[layer.changes[i]],
            size=files.sizes[i],
            mode=files.modes[i],
            uid=files.uids[i],
            gid=files.gids[i],
        )
        if i in files.links:
            item["link"] = safe_text(files.links[i])
        if files.types[i] == EntryType.FILE:
            item["xxh3"] = files.hash_at(i).hex()
        out.append(item)
    for path, ref in layer.deleted_paths:
        owner, j = split_ref(ref)
        gone = index.layers[owner].files
        out.append({**path_fields(path), "type": EntryType.NAMES[gone.types[j]], "change": "deleted",
                    "size": gone.sizes[j], "from_layer": owner})
    return out


def test_file_lists_equal_an_entry_by_entry_rendering(tmp_path):
    report = awkward_report(tmp_path)
    doc = report_json(report)
    for layer in report.index.layers:
        got = doc["layers"][layer.index]["files"]
        want = files_entry_by_entry(report.index, layer.index)
        assert [list(item.items()) for item in got] == [list(item.items()) for item in want]
    files = {f["path"]: f for layer in doc["layers"] for f in layer["files"] if f["change"] != "deleted"}
    assert list(files["latin1/caf\\xe9-\\xff.txt"]) == ["path", "path_b64", "type", "change", "size", "mode", "uid", "gid", "xxh3"]
    assert files["latin1/caf\\xe9-\\xff.txt"]["path_b64"] == "bGF0aW4xL2NhZukt/y50eHQ="
    assert files["l\\xfe"]["link"] == "latin1/caf\\xe9-\\xff.txt" and files["l\\xfe"]["path_b64"] == "bP4="
    assert files["ok-link"]["link"] == "ünïcode/名前.txt" and "xxh3" not in files["ok-link"]
    assert files["hard"]["type"] == "hardlink" and files["hard"]["link"] == "latin1/caf\\xe9-\\xff.txt"
    deleted = [f for f in doc["layers"][1]["files"] if f["change"] == "deleted"]
    assert {f["path"] for f in deleted} == {"latin1/caf\\xe9-\\xff.txt", "d\\xff", "d\\xff/x", CONTROL}
    assert next(f for f in deleted if f["path"] == "d\\xff") == {
        "path": "d\\xff", "path_b64": "ZP8=", "type": "dir", "change": "deleted", "size": 0, "from_layer": 0
    }
    # The findings' paths take the same shortcut.
    for rendered, finding in zip(doc["findings"], report.findings):
        assert rendered["paths"] == [{**path_fields(p.path), "size": p.size, "layer": p.layer} for p in finding.paths]


def test_json_text_and_bytes_are_the_documented_document(tmp_path):
    report = awkward_report(tmp_path)
    text = render_json(report)
    assert text == json.dumps(report_json(report), indent=2, ensure_ascii=False) + "\n"
    assert render_json_bytes(report) == text.encode("utf-8")
    assert render_json_bytes(report, include_files=False) == render_json(report, include_files=False).encode("utf-8")


@pytest.mark.parametrize("batch", [1, 2, 3, 1000])
def test_file_lists_written_in_batches_are_the_documents_bytes(tmp_path, monkeypatch, batch):
    """Long lists (files, findings' paths, dive's inefficient files) are written a batch at
    a time: any batch size gives the bytes of one encoding of the whole document (links,
    undecodable paths and deleted entries falling in any batch)."""
    report = awkward_report(tmp_path)
    monkeypatch.setattr(jsondoc, "LIST_BATCH", batch)
    assert max(len(layer.files) for layer in report.index.layers) > 3
    assert max(len(layer.deleted_paths) for layer in report.index.layers) > 3
    assert len(report.index.dive.inefficient_paths) > 3 and max(len(f.paths) for f in report.findings) > 3
    assert render_json_bytes(report) == (json.dumps(report_json(report), indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def test_json_bytes_escape_a_lone_surrogate_only_the_fallback_can_hold(tmp_path):
    report = awkward_report(tmp_path)
    report.index.notes.append("note naming caf\udce9")  # notes are not escaped; orjson refuses this
    text = render_json(report)
    data = render_json_bytes(report)
    assert "caf\udce9" in text and b"caf\\udce9" in data
    assert json.loads(data) == json.loads(text)


# -- findings ---------------------------------------------------------------------------------

_TOKENS = [
    "var/", "tmp/", "var/tmp/", "var/log/", "var/cache/apt/", "archives/", "x.deb", "y.bin", "etc/apk/cache/",
    "var/cache/apk/", "root/", ".cache/", "pip/", "pypoetry/", "virtualenvs/", "uv/", "yarn/", ".yarn/", "berry/",
    "cache/", "share/", ".npm/", "_cacache/", ".local/", "pnpm/", "store/", ".pnpm-store/", "conda/", "pkgs/",
    "go/", "pkg/", "mod/", "go-build/", ".cargo/", "usr/local/cargo/", "registry/", "git/", ".m2/", "repository/",
    ".gradle/", "caches/", "wrapper/dists/", ".composer/", "composer/", "lib/python3/site-packages/", "pip/",
    "setuptools/", "wheel/", "__pycache__/", "a/", "b.pyc", "miniconda3/", "mambaforge/", "_npx/", "/",
]


@given(st.lists(st.sampled_from(_TOKENS), min_size=1, max_size=8))
def test_cache_hints_let_every_match_through(parts):
    path = "".join(parts)
    if _MATCHER.search(path) is not None:
        assert _HINTS.search(path) is not None, path


def test_cache_hints_are_needed_by_every_rule():
    # Each rule's own example path passes the hints (a rule added without a hint fails here).
    examples = {
        "apt_lists": "var/lib/apt/lists/x", "apt_archives": "var/cache/apt/archives/a.deb", "apk": "etc/apk/cache/a",
        "pip": "root/.cache/pip/x", "poetry": "root/.cache/pypoetry/x", "uv": "root/.cache/uv/x",
        "npm": "root/.npm/_cacache/x", "yarn": "usr/local/share/.cache/yarn/x", "pnpm": "root/.pnpm-store/x",
        "conda": "opt/conda/pkgs/x", "go": "go/pkg/mod/x", "cargo": "root/.cargo/registry/x",
        "maven": "root/.m2/repository/x", "gradle": "root/.gradle/caches/x", "composer": "root/.composer/cache/x",
        "build_tool_bytecode": "usr/lib/python3/site-packages/pip/_internal/__pycache__/a.pyc",
        "tmp": "tmp/x", "logs": "var/log/x",
    }
    assert set(examples) == {rule.key for rule in RULES}
    for key, path in examples.items():
        assert _HINTS.search(path) is not None and _MATCHER.search(path).lastgroup == key, path
    assert _HINTS.search("usr/lib/python3/site-packages/numpy/__pycache__/a.pyc") is None


@given(st.lists(st.tuples(st.sampled_from(["a", "b", "a/b", "c"]), st.sampled_from([0, 1, 7, 1 << 40]), st.integers(0, 3))))
def test_sort_largest_first_is_the_lambda_order(rows):
    paths = [FindingPath(*row) for row in rows]
    want = sorted(paths, key=lambda p: (-p.size, p.path))
    got = list(paths)
    sort_largest_first(got)
    assert [id(p) for p in got] == [id(p) for p in want]


def test_finding_paths_are_records():
    p = FindingPath("usr/bin/x", 10, 2)
    assert (p.path, p.size, p.layer) == ("usr/bin/x", 10, 2)
    assert repr(p) == "FindingPath(path='usr/bin/x', size=10, layer=2)"


def test_the_fast_encoder_takes_the_whole_document(tmp_path):
    """orjson refuses str subclasses as keys (an enum) and lone surrogates; the document must
    not need the slow json fallback for an ordinary image (the mini sample's every kind)."""
    path = tmp_path / "mini.tar"
    write_sample(str(path))
    analysis = analyse(build_index(str(path), IndexOptions(use_cache=False)))
    assert {f.kind for f in analysis.findings} >= {"build-tools", "hidden-bytes", "secret", "config"}
    orjson.dumps(report_json(analysis, include_files=True))
