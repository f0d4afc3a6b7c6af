"""`slimview ci` beyond dive's rules, on generated images: package-manager caches, growth
since a baseline (image or saved summary, base-image growth apart), the Dockerfile lines
behind failures, and the outputs CI systems read (Markdown, JUnit XML, GitLab Code
Quality, SARIF, JSON)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner

from slimview.cli import cli, main
from slimview.compare import BaseSummary, compare, summarize
from slimview.dockerfile.locate import locate
from slimview.dockerfile.stages import parse_dockerfile
from slimview.gate import FAIL, PASS, load_settings, run_gate
from slimview.index import IndexOptions, build_index
from slimview.sample.builder import ImageSpec, Layer, write_docker_archive

from compare_util import after_layers, analysis_of, archive, before_layers, stored
from findings_util import base, noise, report_of, run, step

DOCKERFILE = """\
# syntax=docker/dockerfile:1
FROM base:1
ARG V=1
RUN apt-get install -y curl \\
    gcc-12
RUN apt-get update
COPY app /app
RUN rm -rf /var/lib/apt/lists/*
CMD ["python"]
"""
# A history entry without a layer, as BuildKit records CMD.
AFTER_SPEC = {"empty_history": {5: ['CMD ["python"]']}}


@pytest.fixture
def images(tmp_path) -> tuple[Path, Path]:
    return (archive(tmp_path / "before.tar", before_layers(), "app:1"),
            archive(tmp_path / "after.tar", after_layers(), "app:2", **AFTER_SPEC))


@pytest.fixture
def dockerfile(tmp_path) -> Path:
    path = tmp_path / "Dockerfile"
    path.write_text(DOCKERFILE)
    return path


def rules(output: str) -> dict[str, str]:
    return {line.split()[1]: line.split()[0] for line in output.splitlines() if line.startswith("  ") and line.split()[0] in ("PASS", "FAIL", "SKIP")}


# -- package-manager caches ------------------------------------------------------------------------


def test_package_caches_count_visible_and_deleted_downloads_not_leftovers(tmp_path):
    update = run("apt-get update").file("var/lib/apt/lists/deb_Packages", noise("lists", 6_000_000))
    install_ = run("apt-get install -y curl").file("var/cache/apt/archives/curl.deb", noise("deb", 5_000_000))
    install_.file("tmp/build.log", noise("tmp", 12_000_000))
    cleanup = run("rm -rf /var/lib/apt/lists/*").whiteout("var/lib/apt/lists/deb_Packages")
    analysis = report_of(tmp_path, [base(("etc/os-release", b"ID=debian\n")), update, install_, cleanup])
    by_key = {r.key: r for r in run_gate(analysis, load_settings([], {"maxCacheBytes": "20MB"}), []).results}
    caches = by_key["maxPackageCacheBytes"]
    assert (caches.status, caches.value) == (FAIL, "11.0 MB (11,000,000 B)")
    assert caches.message == (
        "package-manager caches stored in the image; largest: 6.0 MB `RUN apt-get update` stored files that "
        "`RUN rm -rf /var/lib/apt/lists/*` deleted (apt package lists); 5.0 MB Apt package archives left in the image by "
        "`RUN apt-get install -y curl`"
    )
    assert caches.layers == [1, 2]
    # /tmp is a leftover, not a package manager's cache: only maxCacheBytes counts it (with the .deb).
    assert (by_key["maxCacheBytes"].status, by_key["maxCacheBytes"].value) == (PASS, "17.0 MB (17,000,000 B)")


# -- growth since a baseline -----------------------------------------------------------------------


def test_growth_rules_need_a_baseline_and_name_what_grew(images):
    before, after = images
    a, b = analysis_of(before), analysis_of(after)
    c = compare(summarize(a, BaseSummary("base:1", 1)), summarize(b, BaseSummary("base:1", 1)))
    without = {r.key for r in run_gate(b, load_settings([], {}), []).results}
    assert not {"maxGrowthBytes", "maxGrowthPercent"} & without
    growth = c.size_change
    by_key = {r.key: r for r in run_gate(b, load_settings([], {"maxGrowthBytes": "100kB"}), [], c).results}
    failed = by_key["maxGrowthBytes"]
    assert (failed.status, failed.value) == (FAIL, f"+{growth / 1000:.1f} kB ({growth:+,} B)")
    assert failed.message.startswith(f"the image grew by +{growth / 1000:.1f} kB ({growth:+,} B) since app:1; largest: by instruction: "
                                     "`RUN apt-get install -y curl gcc-12` +")
    assert "packages: gcc-12 12.2.0-14 +400.0 kB, curl 7.1-1 +5.0 kB" in failed.message
    assert "paths: /usr/lib/gcc/x86_64-linux-gnu/12/ +300.0 kB (added), /var/lib/apt/lists/ +150.0 kB (added)" in failed.message
    assert failed.layers[0] == 1
    percent = by_key["maxGrowthPercent"]  # default 0.1: the image more than doubled
    assert (percent.status, percent.value) == (FAIL, f"+{growth / 1000:.1f} kB ({100 * growth / c.before.size:+.2f} %)")
    share = growth / c.before.size
    loose = {r.key: r for r in run_gate(b, load_settings([], {"maxGrowthPercent": str(share), "maxGrowthBytes": str(growth)}), [], c).results}
    assert (loose["maxGrowthPercent"].status, loose["maxGrowthBytes"].status) == (PASS, PASS)  # equal passes, as dive's rules do


def test_growth_from_a_new_base_image_is_reported_and_counted_only_when_asked(tmp_path, images):
    before, _after = images
    rebased_layers = [base(("etc/os-release", b"ID=debian\n"), ("usr/lib/big.so", noise("big", 900_000))), *before_layers()[1:]]
    rebased = archive(tmp_path / "rebased.tar", rebased_layers, "app:3")
    a, b = analysis_of(before), analysis_of(rebased)
    c = compare(summarize(a, BaseSummary("base:1", 1)), summarize(b, BaseSummary("base:2", 1)))
    assert c.base.delta == c.size_change == stored(rebased) - stored(before) > 0 and c.own_change == 0
    reported = {r.key: r for r in run_gate(b, load_settings([], {}), [], c).results}["maxGrowthPercent"]
    assert (reported.status, reported.value) == (
        PASS, f"0 B (+0.00 %); +{c.base.delta / 1000:.1f} kB from the new base image (base:1 → base:2) not counted")
    counted = {r.key: r for r in run_gate(b, load_settings([], {"baseImageGrowth": "fail"}), [], c).results}["maxGrowthPercent"]
    assert counted.status == FAIL


def test_ci_baseline_from_an_image_or_a_saved_summary_gives_the_same_verdict(images, tmp_path, monkeypatch):
    before, after = images
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    lenient = ["--build-tools", "allowed", "--lowest-efficiency", "disabled", "--highest-user-wasted-percent", "disabled"]
    saved = runner.invoke(cli, ["ci", "--no-cache", str(before), "--json", "base.json", *lenient])
    assert saved.exit_code == 0, saved.output
    doc = json.loads((tmp_path / "base.json").read_text())
    assert (doc["image"], doc["passed"], doc["baseline"], doc["summary"]["size_bytes"]) == ("app:1", True, None, stored(before))
    by_image = runner.invoke(cli, ["ci", "--no-cache", str(after), "--baseline", str(before), *lenient])
    by_file = runner.invoke(cli, ["ci", "--no-cache", str(after), "--baseline", "base.json", *lenient])
    assert by_image.exit_code == by_file.exit_code == 1
    assert rules(by_image.output)["maxGrowthPercent"] == "FAIL"
    growth = stored(after) - stored(before)
    assert f"baseline: app:1 → app:2: +{growth / 1000:.1f} kB ({growth:+,} B, " in by_image.output
    assert by_image.output == by_file.output


# -- Dockerfile lines ------------------------------------------------------------------------------


def test_layers_are_located_at_the_dockerfile_lines_that_made_them(images):
    _before, after = images
    source = build_index(str(after), IndexOptions(use_cache=False)).source
    located = locate(parse_dockerfile(DOCKERFILE, "Dockerfile"), "Dockerfile", source)
    assert {k: str(v) for k, v in located.layers.items()} == {
        0: "Dockerfile:2", 1: "Dockerfile:4-5", 2: "Dockerfile:6", 3: "Dockerfile:7", 4: "Dockerfile:8",
    }
    other = locate(parse_dockerfile("FROM x\nCOPY a /a\n", "Other"), "Other", source)
    assert other.layers == {}


def test_failures_point_at_the_dockerfile_in_every_output(images, dockerfile, tmp_path, monkeypatch):
    _before, after = images
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    args = ["ci", "--no-cache", str(after), "--dockerfile", "Dockerfile", "--sarif", "out.sarif", "--junit", "junit.xml",
            "--codequality", "quality.json", "--markdown", "comment.md", "--json", "ci.json"]
    result = runner.invoke(cli, args)
    assert result.exit_code == 1, result.output
    status = rules(result.output)
    assert status["buildTools"] == "FAIL" and status["maxPackageCacheBytes"] == "PASS"
    assert "at Dockerfile:4-5" in result.output  # the build tools' layer

    sarif = json.loads((tmp_path / "out.sarif").read_text())["runs"][0]["results"]
    gate = next(r for r in sarif if r["ruleId"] == "ci/buildTools")
    assert gate["locations"] == [{"physicalLocation": {"artifactLocation": {"uri": "Dockerfile"}, "region": {"startLine": 4, "endLine": 5}}}]
    tools = next(r for r in sarif if r["ruleId"] == "build-tools")
    assert tools["locations"][0]["physicalLocation"]["region"] == {"startLine": 4, "endLine": 5}
    assert tools["relatedLocations"][0]["physicalLocation"]["artifactLocation"]["uriBaseId"] == "IMAGEROOT"

    suite = ET.parse(tmp_path / "junit.xml").getroot().find("testsuite")
    assert suite is not None
    cases = {c.get("name"): c for c in suite.findall("testcase")}
    assert len(cases) == int(suite.get("tests", "0")) == len(status)
    assert int(suite.get("failures", "0")) == sum(s == "FAIL" for s in status.values())
    tools_case = cases["buildTools"]
    assert (tools_case.get("file"), tools_case.get("line")) == ("Dockerfile", "4")
    failure = tools_case.find("failure")
    assert failure is not None and failure.get("message", "").startswith("build tools in the runtime image: ")
    assert cases["highestWastedBytes"].find("skipped") is not None

    issues = json.loads((tmp_path / "quality.json").read_text())
    assert {i["severity"] for i in issues} <= {"info", "minor", "major", "critical", "blocker"}
    assert len({i["fingerprint"] for i in issues}) == len(issues)
    rule_issue = next(i for i in issues if i["check_name"] == "slimview/ci/buildTools")
    assert (rule_issue["severity"], rule_issue["location"]) == ("critical", {"path": "Dockerfile", "lines": {"begin": 4, "end": 5}})

    comment = (tmp_path / "comment.md").read_text()
    assert comment.startswith("## slimview ci: `app:2` **FAIL**\n")
    assert "| **FAIL** | `buildTools` |" in comment and "`Dockerfile:4-5`" in comment
    doc = json.loads((tmp_path / "ci.json").read_text())
    assert {r["rule"]: r["location"] for r in doc["rules"] if r["status"] == "FAIL"}["buildTools"] == "Dockerfile:4-5"


def test_a_dockerfile_that_is_not_the_images_is_a_warning_not_a_wrong_line(images, tmp_path, monkeypatch):
    _before, after = images
    monkeypatch.chdir(tmp_path)
    (tmp_path / "Other").write_text("FROM x\nCOPY a /a\n")
    result = CliRunner().invoke(cli, ["ci", "--no-cache", str(after), "--dockerfile", "Other"])
    assert result.exit_code == 1
    assert "slimview: warning: Other does not match the history of app:2; results name no Dockerfile lines" in result.output
    assert " at Other" not in result.output


def test_ci_output_files_are_never_overwritten_without_force(images, tmp_path, monkeypatch, capsys):
    _before, after = images
    monkeypatch.chdir(tmp_path)
    (tmp_path / "junit.xml").write_text("mine")
    for args, message in (
        (["--junit", "junit.xml"], "junit.xml exists; pass --force to overwrite it"),
        (["--markdown", "a.md", "--codequality", "a.md"], "each output file must be a different file"),
        (["--baseline", "missing.json"], "no saved summary at missing.json"),
        (["--dockerfile", "missing"], "does not exist"),
    ):
        with pytest.raises(SystemExit) as exit_:
            main(["ci", "--no-cache", str(after), *args])
        assert exit_.value.code == 2
        assert message in capsys.readouterr().err
    assert (tmp_path / "junit.xml").read_text() == "mine"


def test_non_utf8_paths_survive_the_saved_summary(tmp_path, monkeypatch):
    odd = b"app/caf\xe9.bin".decode("utf-8", "surrogateescape")
    layers = [base(("etc/os-release", b"ID=debian\n")), step("COPY . /app").file(odd, b"x")]
    path = tmp_path / "odd.tar"
    write_docker_archive(ImageSpec(layers=layers), str(path), ["odd:1"])
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["ci", "--no-cache", str(path), "--json", "odd.json", "--build-tools", "allowed"])
    assert result.exit_code == 0, result.output
    from slimview.compare.summary import read_summary

    saved = read_summary(str(tmp_path / "odd.json"))
    fresh = summarize(analysis_of(path), saved.base)
    assert saved.files == fresh.files and any("\udce9" in p for p in saved.files)


def test_a_layer_with_a_from_comment_names_the_base_for_archives(tmp_path):
    """buildah records FROM as a comment: archives read without an engine still know their base."""
    layers = [base(("etc/os-release", b"ID=debian\n")), Layer("/bin/sh -c echo hi > /hi", comment="FROM base:1").file("hi", b"hi\n")]
    path = archive(tmp_path / "from.tar", layers)
    from slimview import session

    summary = session.summary(analysis_of(path))
    assert summary.base == BaseSummary("base:1", 1)


def all_keys(value, out: set[str] | None = None) -> set[str]:
    out = set() if out is None else out
    if isinstance(value, dict):
        for key, item in value.items():
            out.add(key)
            all_keys(item, out)
    elif isinstance(value, list):
        for item in value:
            all_keys(item, out)
    return out


def test_every_key_of_the_diff_and_ci_documents_is_documented(images, tmp_path, monkeypatch):
    before, after = images
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    diff = json.loads(runner.invoke(cli, ["diff", "--no-cache", "--json", str(before), str(after)]).output)
    runner.invoke(cli, ["ci", "--no-cache", str(after), "--baseline", str(before), "--json", "ci.json"])
    ci_doc = json.loads((tmp_path / "ci.json").read_text())
    schema = (Path(__file__).resolve().parent.parent / "slimview" / "report" / "diff-schema.md").read_text()
    keys = all_keys(diff) | all_keys(ci_doc)
    assert {"summary_version", "own_change_bytes", "location", "before_layers", "hidden"} <= keys
    assert {key for key in keys if f"`{key}`" not in schema} == set()
