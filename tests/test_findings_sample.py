"""The bloated sample (sample_images/python-inference) and the bundled mini sample: the report
names every cause of fat, each figure checked against an independent recount."""

from pathlib import Path

import pytest
from click.testing import CliRunner

from slimview.cli import cli
from slimview.display import human_bytes
from slimview.findings import KINDS, Analysis, analyze
from slimview.index import IndexOptions, build_index
from slimview.report.text import render_text
from slimview.sample.mini import write_sample

from engine import save_image
from indexcheck import run_dive
from saved_archive import SavedArchive

DIVE_README_CONFIG = "rules:\n  lowestEfficiency: 0.95\n  highestWastedBytes: 20MB\n  highestUserWastedPercent: 0.20\n"


@pytest.fixture(scope="module")
def bloated(python_inference_tar) -> Path:
    """The saved bloated sample; built and saved when absent (skips without an engine)."""
    return python_inference_tar


@pytest.fixture(scope="module")
def bloated_report(bloated) -> Analysis:
    index = build_index(str(bloated), IndexOptions(use_cache=False))
    return Analysis(index, analyze(index))


@pytest.fixture(scope="module")
def saved(bloated) -> SavedArchive:
    return SavedArchive(bloated)


def test_apt_lists_stored_by_update_and_hidden_by_the_cleanup(bloated_report, saved):
    deleted = saved.whited_out(6)
    recount = {p: n for p, n in saved.files_under(1, "var/lib/apt/lists/").items()
               if n and (p in deleted or any(p.startswith(d + "/") for d in deleted))}
    (finding,) = [f for f in bloated_report.findings if f.kind == "hidden-bytes" and f.details.to_json()["stored_in"] == 1]
    assert finding.details.to_json()["hidden_by"] == 6
    assert {p.path: p.size for p in finding.paths} == recount
    assert finding.bytes == sum(recount.values()) > 15_000_000
    assert finding.details.to_json()["contents"] == [{"label": "apt package lists", "bytes": finding.bytes}]
    assert finding.title == "`RUN apt-get update` stored files that `RUN rm -rf /var/lib/apt/lists/* /root/.cache` deleted (apt package lists)"


def test_compilers_and_headers_with_per_package_bytes(bloated_report, saved):
    (tools,) = [f for f in bloated_report.findings if f.kind == "build-tools"]
    assert tools.layer == 2
    packages = {p["name"]: p for p in tools.details.to_json()["packages"]}
    compilers = {n for n, p in packages.items() if p["category"] == "compiler"}
    headers = {n for n, p in packages.items() if p["category"] == "headers and static libraries"}
    assert {"gcc-12", "g++-12", "cpp-12"} <= compilers
    assert {"libc6-dev", "linux-libc-dev", "libpython3.11-dev", "python3.11-dev", "libstdc++-12-dev"} <= headers
    assert not {"libstdc++6", "libgcc-s1", "libpython3.11", "libpython3.11-stdlib", "python3.11", "python3-pip"} & set(packages)
    for name, p in packages.items():
        assert p["bytes"] == saved.package_bytes(2, name), name
    assert tools.bytes == sum(p["bytes"] for p in packages.values())
    assert sum(p["bytes"] for n, p in packages.items() if n in compilers | headers) > 200_000_000
    assert tools.details.to_json()["requested"] == ["build-essential", "python3-dev", "git"]


def test_the_copied_git_directory(bloated_report, saved):
    (junk,) = [f for f in bloated_report.findings if f.kind == "context-junk"]
    assert junk.layer == 4
    git = saved.files_under(4, "app/.git/")
    candidates = {c["pattern"]: c for c in junk.details.to_json()["candidates"]}
    assert candidates[".git"]["bytes"] == sum(git.values()) and candidates[".git"]["files"] == len(git)
    assert {"tests", "notebooks", "docs", "Dockerfile", ".env"} <= set(candidates)


def test_hidden_bytes_match_stored_minus_visible(bloated_report, saved):
    """Stored bytes minus what a plain overlay of the layers leaves visible."""
    stored, visible = saved.stored_and_visible()
    assert bloated_report.index.size == stored
    assert bloated_report.index.hidden_bytes == stored - visible


def test_the_text_report_names_each_cause(bloated_report, saved):
    text = render_text(bloated_report, width=160)
    for phrase in ("apt package lists", "Build tools in the runtime image", "gcc-12", "libc6-dev", "copied build-context junk: .git",
                   "Env file with credentials in /app/.env", "Runs as root"):
        assert phrase in text, phrase
    assert "sk_test_fake" not in text
    # Base packages the install upgraded (security updates newer than the base's): whether
    # there are any depends on the day the image was built.
    before, after = saved.dpkg_versions(0), saved.dpkg_versions(2)
    upgraded = {name for name, version in before.items() if after.get(name, version) != version}
    (rewrote,) = [f for f in bloated_report.findings if f.kind == "hidden-bytes" and f.details.to_json()["reason"] == "package-upgrade"] or [None]
    assert ("rewrote files of packages from layer 0" in text) == (rewrote is not None)
    if rewrote is not None:
        assert {p["name"] for p in rewrote.details.to_json()["packages"]} <= upgraded
        assert all(p["from"] == before[p["name"]] and p["to"] == after[p["name"]] for p in rewrote.details.to_json()["packages"])


def test_ci_fails_the_bloated_sample_with_the_right_rules(bloated, saved, tmp_path, monkeypatch):
    """dive's rules judged on dive's own figures for the same tarball (the real dive, run here:
    an image built today stores other bytes than one built last week)."""
    dive = run_dive(bloated, tmp_path)
    lists = sum(saved.files_under(1, "var/lib/apt/lists/").values())  # apt-get update's, deleted later
    user_share = dive.inefficient_bytes / sum(dive.layer_sizes[1:])
    monkeypatch.chdir(tmp_path)
    Path(".dive-ci").write_text(DIVE_README_CONFIG)
    result = CliRunner().invoke(cli, ["ci", "--no-cache", str(bloated), "--build-tools", "forbidden", "--max-cache-bytes", "0"])
    assert result.exit_code == 1
    status = {line.split()[1]: line.split()[0] for line in result.output.splitlines() if line[:6].strip() in ("PASS", "FAIL", "SKIP")}
    assert status == {
        "lowestEfficiency": "PASS" if dive.efficiency >= 0.95 else "FAIL",
        "highestWastedBytes": "FAIL" if dive.inefficient_bytes > 20_000_000 else "PASS",
        "highestUserWastedPercent": "FAIL" if user_share > 0.20 else "PASS",
        "maxImageBytes": "SKIP", "maxAvoidableBytes": "SKIP", "maxAvoidablePercent": "SKIP",
        "maxPackageCacheBytes": "FAIL" if lists > 10_000_000 else "PASS", "maxCacheBytes": "PASS",
        "maxHiddenBytes": "SKIP", "maxJunkBytes": "SKIP", "maxDuplicateBytes": "SKIP", "buildTools": "FAIL",
        "secrets": "FAIL", "runAsRoot": "SKIP",
    }
    assert status["highestWastedBytes"] == "FAIL"  # the sample is built to waste more than 20 MB
    assert "wasted-bytes" not in result.output  # slimview's wording, with the measured value:
    wasted = f"{human_bytes(dive.inefficient_bytes)} ({dive.inefficient_bytes:,} B)"
    assert f"FAIL  highestWastedBytes        {wasted}  [threshold 20.0 MB (20,000,000 B)]" in result.output


@pytest.mark.engine
def test_ci_passes_a_slim_image(engine, tmp_path, monkeypatch):
    archive = save_image(engine, "busybox:latest", tmp_path / "busybox.tar")
    monkeypatch.chdir(tmp_path)
    Path(".dive-ci").write_text(DIVE_README_CONFIG)
    result = CliRunner().invoke(cli, ["ci", "--no-cache", str(archive), "--build-tools", "forbidden", "--max-cache-bytes", "0"])
    assert result.exit_code == 0, result.output
    assert "Result: PASS" in result.output


def test_the_bundled_mini_sample_shows_every_kind_but_large_files(tmp_path):
    path = tmp_path / "mini.tar"
    write_sample(str(path))
    index = build_index(str(path), IndexOptions(use_cache=False))
    findings = analyze(index)
    got = {(f.kind, f.layer, f.bytes) for f in findings}
    assert got == {
        ("build-tools", 2, 9_123_824),
        ("hidden-bytes", 1, 2_149_000),
        ("hidden-bytes", 5, 1_550_000),
        ("package-cache", 2, 1_480_000),
        ("duplicates", 5, 1_200_000),
        ("context-junk", 4, 529_260),
        ("secret", 4, 0),
        ("config", None, 0),
    }
    assert {f.kind for f in findings} == set(KINDS) - {"large-file"}
    assert Analysis(index, findings).avoidable_bytes == 16_032_084
