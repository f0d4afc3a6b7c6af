"""Configuration findings: root user, missing health check, very large files."""

import pytest

from slimview.findings.config import runs_as_root

from findings_util import base, findings_of, noise, of_kind, run


@pytest.mark.parametrize("user, root", [("", True), ("root", True), ("0", True), ("0:0", True), ("root:staff", True),
                                        ("app", False), ("10001", False), ("10001:0", False), ("nobody:nogroup", False)])
def test_runs_as_root(user, root):
    assert runs_as_root(user) is root


def test_root_and_missing_healthcheck_of_a_service(tmp_path):
    findings = findings_of(tmp_path, [base(("bin/app", b"#!/bin/sh\n"))], exposed_ports=["8000/tcp"])
    config = of_kind(findings, "config")
    assert [(f.title, f.severity, f.bytes, f.layer) for f in config] == [
        ("Runs as root (no USER instruction)", "medium", 0, None),
        ("No HEALTHCHECK", "info", 0, None),
    ]
    assert "USER" in config[0].fix and "HEALTHCHECK CMD" in config[1].fix


def test_a_non_root_service_with_a_healthcheck_has_no_config_findings(tmp_path):
    findings = findings_of(
        tmp_path, [base(("bin/app", b"#!/bin/sh\n"))], user="10001", exposed_ports=["8000/tcp"],
        healthcheck={"Test": ["CMD", "/bin/app", "--health"], "Interval": 30_000_000_000},
    )
    assert of_kind(findings, "config") == []


def test_images_without_ports_need_no_healthcheck_and_user_root_is_named(tmp_path):
    (finding,) = of_kind(findings_of(tmp_path, [base()], user="root"), "config")
    assert finding.title == "Runs as root (USER root)"


def test_very_large_files_are_informational(tmp_path, monkeypatch):
    monkeypatch.setattr("slimview.findings.config.LARGE_FILE_BYTES", 2_000_000)
    layer = run("curl -o /models/weights.bin https://example.invalid/weights.bin")
    layer.file("models/weights.bin", noise("weights", 2_500_000)).file("models/small.bin", noise("small", 1_999_999))
    (large,) = of_kind(findings_of(tmp_path, [base(), layer], user="app"), "large-file")
    assert (large.title, large.severity, large.bytes, large.layer, large.details.to_json()) == (
        "Very large file /models/weights.bin", "info", 0, 1, {"size": 2_500_000}
    )
