"""The CI gate: dive's .dive-ci as is, slimview's rules, exit codes, SARIF."""

import json
import os

import pytest
from click.testing import CliRunner

from slimview.cli import cli, main
from slimview.errors import InputError
from slimview.gate import FAIL, PASS, SKIP, load_settings, parse_bytes, read_config_file, run_gate

from findings_util import base, index_of, noise, report_of, run, step

# dive's README, section "CI Integration", verbatim.
DIVE_README_CONFIG = """rules:
  # If the efficiency is measured below X%, mark as failed.
  # Expressed as a percentage between 0-1.
  lowestEfficiency: 0.95

  # If the amount of wasted space is at least X or larger than X, mark as failed.
  # Expressed in B, KB, MB, and GB.
  highestWastedBytes: 20MB

  # If the amount of wasted space makes up for X% or more of the image, mark as failed.
  # Note: the base image layer is NOT included in the total image size.
  # Expressed as a percentage between 0-1; fails if the threshold is met or crossed.
  highestUserWastedPercent: 0.20
"""


@pytest.mark.parametrize(
    "text, n",
    [("20MB", 20_000_000), ("20 MB", 20_000_000), ("20mb", 20_000_000), ("20M", 20_000_000), ("20MiB", 20 * 2**20),
     ("1.5GB", 1_500_000_000), ("512k", 512_000), ("512 KiB", 524_288), ("1000", 1000), ("1,000,000 B", 1_000_000), ("0", 0)],
)
def test_parse_bytes_like_dive(text, n):
    assert parse_bytes(text) == n


@pytest.mark.parametrize("text", ["", "MB", "20 XB", "-5MB", "twenty"])
def test_parse_bytes_rejects_garbage(text):
    with pytest.raises(ValueError):
        parse_bytes(text)


def test_dive_readme_config_is_read_as_is(tmp_path):
    path = tmp_path / ".dive-ci"
    path.write_text(DIVE_README_CONFIG)
    assert read_config_file(str(path)) == {"lowestEfficiency": "0.95", "highestWastedBytes": "20MB", "highestUserWastedPercent": "0.2"}
    settings = load_settings([str(path)], {})
    assert settings.parsed("highestWastedBytes") == 20_000_000
    assert settings.sources["highestWastedBytes"] == str(path)
    assert settings.values["maxCacheBytes"] == "disabled"


def test_defaults_are_dives_plus_what_slimview_exists_to_find():
    settings = load_settings([], {})
    keys = ("lowestEfficiency", "highestWastedBytes", "highestUserWastedPercent", "secrets", "buildTools", "maxPackageCacheBytes",
            "maxGrowthBytes", "maxGrowthPercent", "baseImageGrowth")
    assert {k: settings.values[k] for k in keys} == {
        "lowestEfficiency": "0.9", "highestWastedBytes": "disabled", "highestUserWastedPercent": "0.1",
        "secrets": "fail", "buildTools": "forbidden", "maxPackageCacheBytes": "10MB",
        "maxGrowthBytes": "disabled", "maxGrowthPercent": "0.1", "baseImageGrowth": "report",
    }


@pytest.mark.parametrize(
    "content, message",
    [
        ("rules:\n  lowestEfficiency: 1.5\n", "outside the allowed range 0-1"),
        ("rules:\n  highestWastedBytes: lots\n", "not a byte count"),
        ("rules:\n  lowestEficiency: 0.9\n", "unknown rule(s) lowestEficiency"),
        ("rules: [1, 2]\n", "'rules' must be a mapping"),
        ("other: 1\n", "expected a mapping with one key, 'rules'"),
        ("rules:\n  buildTools: maybe\n", "not one of allowed, forbidden, disabled"),
        ("rules: {lowestEfficiency: [\n", "not valid YAML"),
    ],
)
def test_bad_configs_are_one_line_errors(tmp_path, content, message):
    path = tmp_path / "ci.yaml"
    path.write_text(content)
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        load_settings([str(path)], {})


def bloated(tmp_path):
    update = run("apt-get update")
    update.file("var/lib/apt/lists/x_Packages", noise("lists", 3_000_000))
    install = run("apt-get install -y gcc")
    install.file("var/cache/apt/archives/gcc.deb", noise("deb", 2_000_000))
    install.file("usr/include/stdio.h", noise("stdio", 1_500_000))
    copy = step("COPY . /app")
    copy.file("app/.git/objects/pack/p.pack", noise("pack", 500_000)).file("app/main.py", noise("main", 1_000))
    copy.file("app/.env", b"API_TOKEN=" + b"tok_" + b"9f8e7d6c5b4a39281706\n")
    cleanup = run("rm -rf /var/lib/apt/lists/*")
    cleanup.whiteout("var/lib/apt/lists/x_Packages")
    return [base(("etc/os-release", b"ID=debian\n")), update, install, copy, cleanup]


def results(report, overrides=None, files=()):
    gate = run_gate(report, load_settings(list(files), overrides or {}), list(files))
    return gate, {r.key: r for r in gate.results}


def test_slimview_rules_fail_with_the_measured_value_and_why(tmp_path):
    report = report_of(tmp_path, bloated(tmp_path))
    gate, by_key = results(report, {
        "maxCacheBytes": "1MB", "maxHiddenBytes": "2.5 MB", "maxJunkBytes": "1MB", "buildTools": "forbidden",
        "runAsRoot": "forbidden", "maxAvoidablePercent": "0.99", "maxImageBytes": "100MB",
        "lowestEfficiency": "0.5", "highestUserWastedPercent": "0.5",
    })
    assert not gate.passed
    assert {k: r.status for k, r in by_key.items()} == {
        "lowestEfficiency": PASS, "highestWastedBytes": SKIP, "highestUserWastedPercent": PASS,
        "maxImageBytes": PASS, "maxAvoidableBytes": SKIP, "maxAvoidablePercent": FAIL,
        "maxPackageCacheBytes": PASS, "maxCacheBytes": FAIL, "maxHiddenBytes": FAIL, "maxJunkBytes": PASS, "maxDuplicateBytes": SKIP,
        "buildTools": FAIL, "secrets": FAIL, "runAsRoot": FAIL,
    }
    assert (by_key["maxCacheBytes"].value, by_key["maxCacheBytes"].threshold) == ("2.0 MB (2,000,000 B)", "1.0 MB (1,000,000 B)")
    assert "Apt package archives left in the image" in by_key["maxCacheBytes"].message
    assert by_key["maxHiddenBytes"].value == "3.0 MB (3,000,000 B)"
    assert by_key["buildTools"].message == "build tools in the runtime image: files under headers and static libraries (layer 2) 1.5 MB"
    assert by_key["secrets"].message == "secrets ship in the image (values not shown): /app/.env in layer 3 (credential-assignment)"
    # 7,000,035 of 7,001,045 bytes: all but main.py and os-release.
    assert by_key["maxAvoidablePercent"].value == "0.9999 (99.99 %)"
    assert by_key["lowestEfficiency"].value == "0.5715 (57.15 %)"


def test_allow_lists_let_named_secrets_and_packages_through(tmp_path):
    report = report_of(tmp_path, bloated(tmp_path))
    _gate, by_key = results(report, {"allowedSecrets": "/app/.env", "secrets": "fail"})
    assert by_key["secrets"].status == PASS
    _gate, by_key = results(report, {"secrets": "allowed"})
    assert (by_key["secrets"].status, by_key["secrets"].message) == (SKIP, "secrets explicitly allowed")


def test_dive_rules_compare_the_way_dive_does(tmp_path):
    report = report_of(tmp_path, bloated(tmp_path))
    dive = report.index.dive
    _gate, by_key = results(report, {
        "lowestEfficiency": str(dive.score), "highestWastedBytes": str(dive.wasted_bytes),
        "highestUserWastedPercent": str(dive.wasted_user_percent), "secrets": "allowed",
    })
    # dive fails only strictly below / above the threshold: equal passes.
    assert [by_key[k].status for k in ("lowestEfficiency", "highestWastedBytes", "highestUserWastedPercent")] == [PASS, PASS, PASS]
    _gate, by_key = results(report, {"highestWastedBytes": str(dive.wasted_bytes - 1)})
    assert by_key["highestWastedBytes"].status == FAIL


def test_cli_exit_codes_and_dive_ci_lookup_in_the_working_directory(tmp_path, monkeypatch):
    layers = bloated(tmp_path)
    index_of(tmp_path, layers)  # writes tmp_path/image.tar
    image = str(tmp_path / "image.tar")
    workdir = tmp_path / "repo"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    runner = CliRunner()

    # dive's default rules fail this image (3 MB stored, then deleted: efficiency 0.5715), and
    # so do slimview's default rules on build tools and secrets (its 5 MB of caches pass).
    defaults = runner.invoke(cli, ["ci", "--no-cache", image])
    assert defaults.exit_code == 1
    assert "config: defaults (no .dive-ci or .slimview-ci.yaml)" in defaults.output
    assert defaults.output.rstrip().endswith("Result: FAIL [Total:14] [Passed:1] [Failed:4] [Skipped:9]")
    passing = runner.invoke(cli, ["ci", "--no-cache", image, "--secrets", "allowed", "--lowest-efficiency", "0.5",
                                  "--highest-user-wasted-percent", "0.5", "--build-tools", "allowed"])
    assert passing.exit_code == 0, passing.output
    assert passing.output.rstrip().endswith("Result: PASS [Total:14] [Passed:3] [Failed:0] [Skipped:11]")

    (workdir / ".dive-ci").write_text(DIVE_README_CONFIG.replace("20MB", "1MB").replace("0.95", "0.5").replace("0.20", "0.5"))
    (workdir / ".slimview-ci.yaml").write_text("rules:\n  secrets: allowed\n  maxCacheBytes: 1MB\n")
    failing = runner.invoke(cli, ["ci", "--no-cache", image])
    assert failing.exit_code == 1, failing.output
    assert "config: ./.dive-ci, ./.slimview-ci.yaml" in failing.output
    lines = [line.split()[:2] for line in failing.output.splitlines() if line.startswith("  ") and line.split()[0] in ("PASS", "FAIL", "SKIP")]
    assert ["FAIL", "highestWastedBytes"] in lines and ["FAIL", "maxCacheBytes"] in lines and ["SKIP", "secrets"] in lines

    # Flags win over files; dive's own flag spelling works.
    flags = runner.invoke(cli, ["ci", "--no-cache", image, "--highestWastedBytes", "disabled", "--max-cache-bytes", "disabled",
                                "--build-tools", "allowed"])
    assert flags.exit_code == 0, flags.output

    # --config replaces the lookup.
    other = tmp_path / "strict.yaml"
    other.write_text("rules:\n  buildTools: forbidden\n")
    strict = runner.invoke(cli, ["ci", "--no-cache", image, "--config", str(other)])
    assert strict.exit_code == 1 and "FAIL  buildTools" in strict.output and "FAIL  secrets" in strict.output


def test_cli_errors_exit_2_with_one_line(tmp_path, capsys, monkeypatch):
    index_of(tmp_path, bloated(tmp_path))
    monkeypatch.chdir(tmp_path)
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules:\n  lowestEfficiency: 2\n")
    for args in (["ci", "image.tar", "--config", str(bad)], ["ci", "image.tar", "--config", "missing.yaml"],
                 ["ci", "missing.tar"], ["ci", "image.tar", "--max-cache-bytes", "lots"]):
        with pytest.raises(SystemExit) as exit_:
            main([*args, "--no-cache"])
        assert exit_.value.code == 2
        err = capsys.readouterr().err
        assert err.startswith("slimview: error:") and err.count("\n") == 1


def test_sarif_output_with_failed_rules_and_no_overwrite_without_force(tmp_path, capsys):
    index_of(tmp_path, bloated(tmp_path))
    image = str(tmp_path / "image.tar")
    sarif = tmp_path / "out.sarif"
    runner = CliRunner()
    lenient = ["--lowest-efficiency", "disabled", "--highest-user-wasted-percent", "disabled", "--build-tools", "allowed"]
    result = runner.invoke(cli, ["ci", "--no-cache", image, "--sarif", str(sarif), "--max-cache-bytes", "1MB", *lenient])
    assert result.exit_code == 1
    doc = json.loads(sarif.read_text())
    (run_,) = doc["runs"]
    gate_results = [r for r in run_["results"] if r["ruleId"].startswith("ci/")]
    assert [r["ruleId"] for r in gate_results] == ["ci/maxCacheBytes", "ci/secrets"]
    assert all(r["level"] == "error" for r in gate_results)
    assert run_["invocations"] == [{"executionSuccessful": True, "exitCode": 1}]
    with pytest.raises(SystemExit) as again:
        main(["ci", "--no-cache", image, "--sarif", str(sarif)])
    assert again.value.code == 2 and "exists; pass --force" in capsys.readouterr().err
    mtime = os.path.getmtime(sarif)
    forced = runner.invoke(cli, ["ci", "--no-cache", image, "--sarif", str(sarif), "--force", "--secrets", "allowed", *lenient])
    assert forced.exit_code == 0 and os.path.getmtime(sarif) >= mtime
    assert json.loads(sarif.read_text())["runs"][0]["invocations"][0]["exitCode"] == 0
