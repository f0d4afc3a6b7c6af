"""Comparing two images (slimview/compare) on generated images: the layers aligned, every
changed file, directory, package and finding, the base image, the saved summary, and
`slimview diff`. Sizes are checked against a recount of the archives with tarfile."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from slimview.cli import cli, main
from slimview.compare import BaseStatus, BaseSummary, FindingChange, LayerStatus, PackageChange, PathChange, compare, summarize
from slimview.compare.layers import align
from slimview.compare.summary import LayerSummary
from slimview.compare.tree import ChangeTree, made_by
from slimview.errors import InputError
from slimview.findings import FindingKind
from slimview.report.diffjson import DIFF_SCHEMA_VERSION

from compare_util import after_layers, analysis_of, archive, before_layers, stored, stored_layer
from findings_util import base, noise

BASE = BaseSummary("base:1", 1)


@pytest.fixture
def images(tmp_path) -> tuple[Path, Path]:
    return archive(tmp_path / "before.tar", before_layers(), "app:1"), archive(tmp_path / "after.tar", after_layers(), "app:2")


@pytest.fixture
def comparison(images):
    before, after = images
    return compare(summarize(analysis_of(before), BASE), summarize(analysis_of(after), BASE))




def test_size_change_equals_the_recount_and_the_sum_of_every_file_change(images, comparison):
    before, after = images
    assert comparison.before.size == stored(before)
    assert comparison.after.size == stored(after)
    assert comparison.size_change == stored(after) - stored(before)
    assert sum(d.delta for d in comparison.files) == comparison.size_change
    assert comparison.hidden_change == 150_000
    assert comparison.visible_change == comparison.size_change - 150_000


def test_layers_shared_then_matched_by_instruction(images, comparison):
    rows = [(p.status, list(p.before), list(p.after)) for p in comparison.layers]
    assert rows == [
        (LayerStatus.SHARED, [0], [0]),
        (LayerStatus.CHANGED, [1], [1]),  # `install -y curl wget` and `install -y curl gcc-12`: mostly the same text
        (LayerStatus.ADDED, [], [2]),
        (LayerStatus.CHANGED, [2], [3]),
        (LayerStatus.ADDED, [], [4]),
    ]
    before, after = images
    a = [stored_layer(before, k) for k in range(3)]
    b = [stored_layer(after, k) for k in range(5)]
    assert [p.delta for p in comparison.layers] == [0, b[1] - a[1], b[2], b[3] - a[2], 0]
    assert a[0] == b[0] and comparison.layers[0].before_bytes == a[0]


def test_files_added_removed_grown_and_hidden_with_the_layers_that_made_them(comparison):
    by_path = {(d.path, d.hidden): d for d in comparison.files}
    expect = {
        ("usr/lib/gcc/x86_64-linux-gnu/12/cc1", False): (PathChange.ADDED, 0, 300_000, None, 1),
        ("usr/bin/gcc-12", False): (PathChange.ADDED, 0, 100_000, None, 1),
        ("usr/bin/curl", False): (PathChange.GROWN, 20_000, 25_000, 1, 1),
        ("usr/bin/wget", False): (PathChange.REMOVED, 8_000, 0, 1, None),
        ("usr/lib/libz.so.1", False): (PathChange.SHRUNK, 3_000, 2_500, 1, 1),
        ("app/main.py", False): (PathChange.GROWN, 1_000, 1_200, 2, 3),
        ("app/data.bin", False): (PathChange.REMOVED, 5_000, 0, 2, None),
        ("app/new.txt", False): (PathChange.ADDED, 0, 700, None, 3),
        ("var/lib/apt/lists/deb_Packages", True): (PathChange.ADDED, 0, 150_000, None, 2),
    }
    for key, (change, a, b, la, lb) in expect.items():
        d = by_path[key]
        assert (d.change, d.before_bytes, d.after_bytes, d.before_layer, d.after_layer) == (change, a, b, la, lb), key
    assert ("usr/bin/sh", False) not in by_path  # the same body in both
    assert comparison.files[0].path == "usr/lib/gcc/x86_64-linux-gnu/12/cc1"  # largest change first


def test_directories_where_the_change_concentrates(comparison):
    dirs = {d.path: d for d in comparison.directories}
    gcc = dirs["usr/lib/gcc/x86_64-linux-gnu/12"]
    assert (gcc.change, gcc.delta, gcc.after_layer) == (PathChange.ADDED, 300_000, 1)
    assert (dirs["usr/bin"].change, dirs["usr/bin"].delta) == (PathChange.GROWN, 100_000 + 5_000 - 8_000)
    assert (dirs["var/lib/apt/lists"].change, dirs["var/lib/apt/lists"].delta, dirs["var/lib/apt/lists"].after_layer) == (PathChange.ADDED, 150_000, 2)
    assert (dirs["app"].change, dirs["app"].delta, dirs["app"].before_layer) == (PathChange.SHRUNK, 200 - 5_000 + 700, 2)
    # one subdirectory stands for its parents, and kept subdirectories explain "usr"
    assert not {"usr", "usr/lib", "usr/lib/gcc", "usr/lib/gcc/x86_64-linux-gnu", "var/lib/apt"} & set(dirs)


def test_packages_added_removed_upgraded_downgraded_with_versions(comparison):
    got = {p.name: (p.change, p.before_version, p.after_version, p.delta, p.after_layer) for p in comparison.packages}
    assert got == {
        "gcc-12": (PackageChange.ADDED, "", "12.2.0-14", 400_000, 1),
        "curl": (PackageChange.UPGRADED, "7.0-1", "7.1-1", 5_000, 1),
        "wget": (PackageChange.REMOVED, "1.0-1", "", -8_000, None),
        "zlib1g": (PackageChange.DOWNGRADED, "1:1.3-1", "1:1.2-1", -500, 1),
    }
    assert [p.name for p in comparison.packages] == ["gcc-12", "wget", "curl", "zlib1g"]


def test_findings_new_and_resolved(comparison):
    got = {f.key: (f.change, f.delta) for f in comparison.findings}
    assert got[FindingKind.BUILD_TOOLS.value][0] == FindingChange.NEW
    hidden = [f for f in comparison.findings if f.kind == FindingKind.HIDDEN_BYTES]
    assert [(f.change, f.delta, f.layer) for f in hidden] == [(FindingChange.NEW, 150_000, 2)]


def test_causes_name_instructions_packages_and_paths(comparison):
    causes = comparison.causes(growth=True, limit=2)
    assert [(c.kind.value, c.name, c.delta) for c in causes] == [
        ("instruction", "RUN apt-get install -y curl gcc-12", comparison.layers[1].delta),
        ("instruction", "RUN apt-get update", 150_000),
        ("package", "gcc-12", 400_000),
        ("package", "curl", 5_000),
        ("path", "/usr/lib/gcc/x86_64-linux-gnu/12/", 300_000),
        ("path", "/var/lib/apt/lists/", 150_000),
    ]
    assert causes[2].instruction == "RUN /bin/sh -c apt-get install -y curl gcc-12 # buildkit"
    shrank = comparison.causes(growth=False, limit=1)
    assert [(c.name, c.delta) for c in shrank] == [("COPY app /app", -4_100), ("wget", -8_000), ("/usr/bin/wget", -8_000)]


def test_base_image_same_changed_or_unknown(tmp_path, images):
    before, after = images
    a, b = analysis_of(before), analysis_of(after)
    other_base = archive(tmp_path / "rebased.tar", [base(("etc/os-release", b"ID=alpine\n"), ("lib/ld.so", noise("ld", 70_000))),
                                                    *after_layers()[1:]])
    c = analysis_of(other_base)
    assert compare(summarize(a, BASE), summarize(b, BASE)).base.status == BaseStatus.SAME
    rebased = compare(summarize(a, BASE), summarize(c, BaseSummary("alpine:3", 1)))
    base_before, base_after = stored_layer(before, 0), stored_layer(other_base, 0)
    assert (rebased.base.status, rebased.base.delta) == (BaseStatus.CHANGED, base_after - base_before)
    assert rebased.own_change == rebased.size_change - (base_after - base_before)
    assert rebased.layers[0].status == LayerStatus.CHANGED  # same instruction (ADD file:… in /), other content
    unknown = compare(summarize(a, BaseSummary("", 0)), summarize(c, BaseSummary("alpine:3", 1)))
    assert (unknown.base.status, unknown.base.delta, unknown.own_change) == (BaseStatus.UNKNOWN, 0, unknown.size_change)




def summary_layers(*instructions: str, ids: str = "") -> list[LayerSummary]:
    return [LayerSummary(i, ids[i] if i < len(ids) else f"x{i}{text}", text, 10 * (i + 1)) for i, text in enumerate(instructions)]


def test_alignment_collapses_shared_runs_and_ignores_copy_hashes():
    before = summary_layers("ADD file:aa in /", "RUN a", "/bin/sh -c #(nop) COPY file:0123456789ab in /app ", "RUN make build", ids="SS")
    after = summary_layers("ADD file:aa in /", "RUN a", "/bin/sh -c #(nop) COPY file:fedcba987654 in /app ", "RUN npm ci --omit=dev", ids="SS")
    pairs = align(before, after)
    assert [(p.status, list(p.before), list(p.after)) for p in pairs] == [
        (LayerStatus.SHARED, [0, 1], [0, 1]),
        (LayerStatus.CHANGED, [2], [2]),
        (LayerStatus.REMOVED, [3], []),
        (LayerStatus.ADDED, [], [3]),
    ]
    assert (pairs[0].before_bytes, pairs[0].delta) == (30, 0)


def test_change_tree_and_the_changes_of_one_row(comparison):
    tree = ChangeTree(comparison.files)
    top = tree.children("")
    assert [n.path for n in top][:2] == ["usr", "var"]
    assert top[0].delta == sum(d.delta for d in comparison.files if d.path.startswith("usr/"))
    assert tree.total == comparison.size_change
    (cc1,) = tree.children("usr/lib/gcc/x86_64-linux-gnu/12")
    assert (cc1.is_dir, cc1.delta, cc1.name) == (False, 300_000, "cc1")
    update = comparison.layers[2]
    assert [d.path for d in made_by(update, comparison.files)] == ["var/lib/apt/lists/deb_Packages"]
    assert made_by(comparison.layers[0], comparison.files) == []


def test_summary_saved_as_json_reads_back_the_same(tmp_path, images, comparison):
    path = tmp_path / "summary.json"
    path.write_text(json.dumps({"summary": comparison.before.to_json()}))
    from slimview.compare.summary import read_summary

    again = read_summary(str(path))
    assert again == comparison.before
    assert compare(again, comparison.after).size_change == comparison.size_change


def test_a_damaged_or_foreign_summary_is_one_clear_error(tmp_path):
    from slimview.compare.summary import read_summary

    (tmp_path / "a.json").write_text("{not json")
    (tmp_path / "b.json").write_text('{"schema_version": 1, "image": {}}')
    (tmp_path / "c.json").write_text('{"summary_version": 1, "name": "x"}')
    for name, message in (("a.json", "is not JSON"), ("b.json", "not an image summary"), ("c.json", "the image summary is damaged"),
                          ("missing.json", "no saved summary")):
        with pytest.raises(InputError, match=message):
            read_summary(str(tmp_path / name))


def test_diff_command_text_json_markdown_and_output_file(images, tmp_path, capsys):
    before, after = images
    runner = CliRunner()
    text = runner.invoke(cli, ["diff", "--no-cache", str(before), str(after)])
    assert text.exit_code == 0, text.output
    size_change = stored(after) - stored(before)
    assert f"({size_change:+,} B, " in text.output
    assert "/usr/lib/gcc/x86_64-linux-gnu/12/  (added  RUN apt-get install -y curl gcc-12)" in text.output
    assert "added      gcc-12 12.2.0-14" in text.output
    doc = json.loads(runner.invoke(cli, ["diff", "--no-cache", "--json", str(before), str(after)]).output)
    assert doc["schema_version"] == DIFF_SCHEMA_VERSION
    assert doc["size_change_bytes"] == size_change == sum(f["change_bytes"] for f in doc["files"])
    assert [p["status"] for p in doc["layers"]] == ["shared", "changed", "added", "changed", "added"]
    markdown = runner.invoke(cli, ["diff", "--no-cache", "--format", "markdown", str(before), str(after)]).output
    assert markdown.startswith("## slimview diff: `app:1` → `app:2`\n")
    assert "| +400.0 kB | package `gcc-12` 12.2.0-14 | `RUN apt-get install -y curl gcc-12` |" in markdown

    out = tmp_path / "diff.md"
    assert runner.invoke(cli, ["diff", "--no-cache", "--format", "markdown", "-o", str(out), str(before), str(after)]).exit_code == 0
    assert out.read_text() == markdown
    for args, message in (
        (["diff", str(before), str(after), "-o", str(out)], "exists; pass --force"),
        (["diff", str(before), str(tmp_path / "missing.tar")], "slimview: error:"),
        (["diff", "--json", "--format", "text", str(before), str(after)], "--json conflicts with --format text"),
        (["diff", str(before)], "Missing argument"),
    ):
        with pytest.raises(SystemExit) as exit_:
            main([*args, "--no-cache"])
        assert exit_.value.code == 2
        assert message in capsys.readouterr().err


def test_package_versions_are_ordered_by_dpkgs_rules_and_apks_are_left_unknown():
    from slimview.packages.versions import version_order

    assert version_order("dpkg", "2.36-9+deb12u4", "2.36-9+deb12u10") > 0  # not a string comparison
    assert version_order("dpkg", "1.0", "1.0~rc1") < 0  # a tilde sorts before the release
    assert version_order("dpkg", "1:1.0", "2.0") < 0  # the epoch first
    assert version_order("dpkg", "1.0-1", "1.0-1") == 0
    assert version_order("apk", "1.2.3-r0", "1.2.4-r0") is None
