"""Findings beyond one stack: files stored again only for a new owner or mode, images of a
stack slimview has no rules for, and the documentation of every new details field."""

from __future__ import annotations

import json
from pathlib import Path

import orjson
from click.testing import CliRunner

from slimview.cli import cli
from slimview.findings import Analysis, analyze
from slimview.report.jsondoc import report_json
from slimview.sample.builder import ImageSpec, write_docker_archive

from elfbuild import Program
from findings_util import Pkg, base, findings_of, index_of, install, noise, of_kind, paths_and_sizes, run, status_file, step
from stack_images import NODE_IMAGE, golang_layers, node_layers


def test_a_chmod_alone_is_a_metadata_only_restore_with_the_copy_flag_that_avoids_it(tmp_path):
    copy = step("COPY bin/ /opt/tool/")
    copy.file("opt/tool/run", noise("run", 300_000)).file("opt/tool/helper", noise("helper", 150_000))
    chmod = run("chmod 0755 /opt/tool/run /opt/tool/helper")
    chmod.file("opt/tool/run", noise("run", 300_000), mode=0o755).file("opt/tool/helper", noise("helper", 150_000), mode=0o755)
    (finding,) = of_kind(findings_of(tmp_path, [base(), copy, chmod]), "hidden-bytes")
    details = finding.details.to_json()
    assert (finding.layer, finding.bytes, details["reason"]) == (2, 450_000, "metadata-only")
    assert details["metadata_changes"] == [
        {"owner_before": "0:0", "owner_after": "0:0", "mode_before": "0644", "mode_after": "0755", "files": 2, "bytes": 450_000}
    ]
    assert "`COPY --chmod=755 …`" in finding.fix


def test_owner_and_mode_changes_are_listed_and_the_copy_gets_both_flags(tmp_path):
    copy = step("COPY . /app")
    copy.file("app/model.onnx", noise("model", 400_000)).file("app/run.sh", noise("run.sh", 120_000))
    chown = run("chown -R 1000:1000 /app && chmod +x /app/run.sh")
    chown.file("app/model.onnx", noise("model", 400_000), uid=1000, gid=1000)
    chown.file("app/run.sh", noise("run.sh", 120_000), mode=0o755, uid=1000, gid=1000)
    (finding,) = of_kind(findings_of(tmp_path, [base(), copy, chown]), "hidden-bytes")
    assert finding.details.to_json()["metadata_changes"] == [
        {"owner_before": "0:0", "owner_after": "1000:1000", "mode_before": "0644", "mode_after": "0644", "files": 1, "bytes": 400_000},
        {"owner_before": "0:0", "owner_after": "1000:1000", "mode_before": "0644", "mode_after": "0755", "files": 1, "bytes": 120_000},
    ]
    assert "`COPY --chown=1000:1000 …` in layer 1's instruction" in finding.fix


def test_a_group_mixing_chowned_identical_and_new_files_gives_one_finding_per_cause(tmp_path):
    first = run("build.sh")
    first.file("opt/a.bin", noise("a", 200_000)).file("opt/b.bin", noise("b", 150_000)).file("opt/c.bin", noise("c", 300_000))
    second = run("build.sh --again && chown 1000 /opt/c.bin")
    second.file("opt/a.bin", noise("a", 200_000))
    second.file("opt/b.bin", noise("b changed", 150_000))
    second.file("opt/c.bin", noise("c", 300_000), uid=1000)
    findings = of_kind(findings_of(tmp_path, [base(), first, second]), "hidden-bytes")
    assert sorted((f.details.to_json()["reason"], f.bytes) for f in findings) == [
        ("metadata-only", 300_000), ("overwritten", 150_000), ("same-content", 200_000)]


def test_a_chown_of_package_files_is_not_a_package_upgrade(tmp_path):
    libc = Pkg("libc6", {"usr/lib/x86_64-linux-gnu/libc.so.6": 1_900_000}, priority="required")
    root = base()
    install(root, libc)
    root.file("var/lib/dpkg/status", status_file(libc))
    chown = run("chown -R 1000 /usr/lib")
    for path, size in libc.files.items():
        chown.file(path, noise(f"{libc.name}:{path}", size), uid=1000)
    (finding,) = of_kind(findings_of(tmp_path, [root, chown]), "hidden-bytes")
    assert finding.details.to_json()["reason"] == "metadata-only"
    assert paths_and_sizes(finding) == libc.files


def test_an_image_of_a_stack_without_rules_still_gets_findings_and_no_error(tmp_path):
    """A Rust service on a distribution slimview has no package database for, with broken
    project files of every stack it does know."""
    root = base(("etc/os-release", b"ID=nixos\n"), ("nix/store/abc-glibc/lib/libc.so.6", noise("libc", 1_500_000)))
    app = step("COPY . /srv")
    app.file("srv/Cargo.toml", "[package]\nname = \"svc\"\n").file("srv/src/main.rs", noise("main.rs", 4_000))
    app.file("srv/.git/HEAD", "ref: refs/heads/main\n").file("srv/.env", "API_TOKEN=sk_live_" + "a" * 24 + "\n")
    app.file("srv/package.json", "{not json").file("srv/package-lock.json", "[1, 2").file("srv/yarn.lock", "\x00\x01garbage")
    app.file("srv/node_modules/x/index.js", noise("x", 1_000))
    build = run("cargo build --release && cp target/release/svc /usr/local/bin/svc")
    build.file("usr/local/bin/svc", Program(interpreter="/lib64/ld-linux-x86-64.so.2", needed=["libc.so.6"],
                                            debug={".debug_info": 500_000}, symbols=24 * 4_000).build(), mode=0o755)
    build.file("usr/local/bin/broken", b"\x7fELF\x02\x01\x01" + noise("broken", 400_000), mode=0o755)
    build.file("root/.cargo/registry/cache/index.crates.io/serde-1.0.0.crate", noise("crate", 250_000))
    build.file("usr/lib/sysimage/rpm/rpmdb.sqlite", b"SQLite format 3\x00" + noise("not a db", 10_000))
    layers = [root, app, build]
    findings = findings_of(tmp_path, layers, cmd=["/usr/local/bin/svc"])
    got = {(f.kind, f.details.to_json().get("source") or f.details.to_json().get("cache") or f.details.to_json().get("check")) for f in findings if f.details}
    assert {("build-tools", "debug information"), ("package-cache", "cargo"), ("config", "user")} <= got
    assert {f.kind for f in findings} >= {"context-junk", "secret"}
    (debug,) = [f for f in findings if f.details and f.details.to_json().get("source") == "debug information"]
    assert debug.bytes == 500_000 + 24 * 4_000 + 12 * 4_000
    path = tmp_path / "rust.tar"
    write_docker_archive(ImageSpec(layers=layers, cmd=["/usr/local/bin/svc"]), str(path), ["rust:latest"])
    result = CliRunner().invoke(cli, ["report", "--no-cache", "--json", str(path)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["findings"]


def _keys(value, out: set[str]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            out.add(key)
            _keys(item, out)
    elif isinstance(value, list):
        for item in value:
            _keys(item, out)


def test_every_new_details_key_is_documented(tmp_path):
    for name in ("go", "node", "chown"):
        (tmp_path / name).mkdir()
    findings = findings_of(tmp_path / "go", golang_layers()) + findings_of(tmp_path / "node", node_layers(), **NODE_IMAGE)
    copy = step("COPY . /app").file("app/model.onnx", noise("model", 400_000))
    chown = run("chown -R 1000:1000 /app").file("app/model.onnx", noise("model", 400_000), uid=1000, gid=1000)
    findings += findings_of(tmp_path / "chown", [base(), copy, chown])
    sources = {f.details.to_json().get("source") for f in findings if f.details}
    assert {"toolchain", "debug information", "npm lockfile"} <= sources
    schema = (Path(__file__).resolve().parent.parent / "slimview" / "report" / "schema.md").read_text()
    documented = schema[schema.index("### `findings[].details` by kind"):]
    keys: set[str] = set()
    for f in findings:
        _keys(json.loads(json.dumps(f.details.to_json())), keys)
    assert {k for k in keys if f"`{k}`" not in documented} == set()


def test_the_fast_json_encoder_takes_every_new_details_record(tmp_path):
    """orjson refuses enum keys and NamedTuples it is not given as dicts: the new records must
    not send a Node or Go image's report through the slow json fallback."""
    for name, layers, spec in (("go", golang_layers(), {}), ("node", node_layers(), NODE_IMAGE)):
        (tmp_path / name).mkdir()
        index = index_of(tmp_path / name, layers, **spec)
        orjson.dumps(report_json(Analysis(index, analyze(index)), include_files=True))
