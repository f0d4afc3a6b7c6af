"""Findings in every output: totals without double counting, text, JSON, Markdown, SARIF,
and no secret value anywhere."""

import base64
import json
import re

from click.testing import CliRunner

from slimview.cli import cli
from slimview.findings.model import Finding, FindingPath
from slimview.findings.totals import avoidable_bytes
from slimview.gate import load_settings, render_gate, run_gate
from slimview.report.jsondoc import render_json
from slimview.report.markdown import render_markdown
from slimview.report.sarif import render_sarif, sarif_document
from slimview.report.text import render_text

from findings_util import base, noise, report_of, run, step

TOKEN = "sk_live_" + "51Hq8ZtK2mL9vB4xN7cR3wY6"
PASSWORD = "n0t-" + "a-r3al-Passw0rd-4711"
KEY_BODY = base64.encodebytes(noise("deploy key", 600))
KEY = b"-----BEGIN RSA PRIVATE" + b" KEY-----\n" + KEY_BODY + b"-----END RSA PRIVATE" + b" KEY-----\n"


def finding(kind: str, bytes_: int, paths: list[tuple[str, int, int]], severity: str = "low") -> Finding:
    return Finding(kind, kind, severity, bytes_, None, "", [FindingPath(p, s, layer) for p, s, layer in paths])


def test_avoidable_bytes_counts_each_stored_file_once():
    findings = [
        finding("build-tools", 5_000, [("usr/bin/git", 3_000, 2), ("usr/lib/git-core/git", 2_000, 2)]),
        # The duplicate pair overlaps the build tools: once git goes, nothing is left to deduplicate.
        finding("duplicates", 2_000, [("usr/bin/git", 2_000, 2), ("usr/lib/git-core/git", 2_000, 2)]),
        finding("context-junk", 700, [("app/.env", 200, 4), ("app/.git/pack", 500, 4)]),
        finding("secret", 0, [("app/.env", 200, 4)], "high"),
        finding("hidden-bytes", 900, [("app/.git/pack", 500, 4), ("var/lib/apt/lists/x", 400, 1)]),
        finding("large-file", 0, [("models/w.bin", 9_000, 3)], "info"),
        finding("config", 0, [], "medium"),
    ]
    assert avoidable_bytes(findings) == 5_000 + 0 + 700 + 0 + 400


def secrets_image(tmp_path):
    copy = step("COPY . /app")
    copy.file("app/.env", f"STRIPE_KEY={TOKEN}\nDB_PASSWORD={PASSWORD}\n".encode())
    copy.file("app/main.py", noise("main", 2_000))
    keyed = run("install-deploy-key")
    keyed.file("root/.ssh/id_rsa", KEY, mode=0o600)
    cleanup = run("rm /root/.ssh/id_rsa")
    cleanup.whiteout("root/.ssh/id_rsa")
    return report_of(tmp_path, [base(), copy, keyed, cleanup], exposed_ports=["80/tcp"])


def _forbidden_fragments() -> list[str]:
    """The secret values, and every 12-character slice of them (a partial leak is a leak)."""
    values = [TOKEN, PASSWORD, KEY_BODY.decode().replace("\n", "")]
    slices = [v[i:i + 12] for v in values for i in range(0, len(v) - 11)]
    return values + slices


def test_no_output_format_contains_a_secret_value(tmp_path):
    report = secrets_image(tmp_path)
    assert sorted(f.paths[0].path for f in report.findings if f.kind == "secret") == ["app/.env", "root/.ssh/id_rsa"]
    gate = run_gate(report, load_settings([], {}), [])
    outputs = {
        "text": render_text(report, width=100),
        "json": render_json(report),
        "markdown": render_markdown(report),
        "sarif": render_sarif(report, gate),
        "gate": render_gate(gate),
    }
    for name, text in outputs.items():
        for fragment in _forbidden_fragments():
            assert fragment not in text, f"{name} output leaks part of a secret"
    # What is shown instead: the variable names and redacted fingerprints.
    assert "STRIPE_KEY" in outputs["text"] and "sk_l…" in outputs["text"]


def test_no_cli_output_contains_a_secret_value(tmp_path):
    secrets_image(tmp_path)  # writes tmp_path/image.tar
    image = str(tmp_path / "image.tar")
    runner = CliRunner()
    texts = [runner.invoke(cli, ["report", "--no-cache", image, *args]).output
             for args in ([], ["--json"], ["--format", "markdown"], ["--format", "sarif"])]
    result = runner.invoke(cli, ["ci", "--no-cache", image, "--sarif", str(tmp_path / "out.sarif")])
    texts += [result.output, (tmp_path / "out.sarif").read_text()]
    assert result.exit_code == 1
    for text in texts:
        assert "secret" in text.lower()
        for fragment in _forbidden_fragments():
            assert fragment not in text


def test_json_findings_and_totals(tmp_path):
    report = secrets_image(tmp_path)
    doc = json.loads(render_json(report, include_files=False))
    kinds = [f["kind"] for f in doc["findings"]]
    assert kinds == ["context-junk", "secret", "secret", "config", "config"]
    assert doc["findings_by_kind"]["secret"] == {"count": 2, "bytes": 0}
    assert doc["findings_by_kind"]["duplicates"] == {"count": 0, "bytes": 0}
    env = doc["findings"][1]
    assert set(env) == {"kind", "title", "severity", "bytes", "layer", "instruction", "paths", "evidence", "fix", "details"}
    assert env["paths"] == [{"path": "app/.env", "size": len(f"STRIPE_KEY={TOKEN}\nDB_PASSWORD={PASSWORD}\n"), "layer": 1}]
    env_bytes = env["paths"][0]["size"]
    # The .env is junk (a .dockerignore candidate) and a secret: its bytes count once.
    assert doc["waste"]["avoidable_bytes"] == env_bytes == doc["findings"][0]["bytes"]
    assert doc["waste"]["avoidable_share"] == round(env_bytes / doc["image"]["size_bytes"], 6)


def test_markdown_is_a_pr_comment_with_a_table_and_collapsed_details(tmp_path):
    layer = run("apt-get update")
    layer.file("var/lib/apt/lists/x_Packages", noise("pk", 2_000_000))
    text = render_markdown(report_of(tmp_path, [base(), layer], user="app"))
    assert text.startswith("## slimview: `test:latest`\n")
    assert "**2.0 MB avoidable** (100.0 % of the image)" in text
    assert "| 1 | 2.0 MB | low | Apt package lists left in the image by `RUN apt-get update` | 1 |" in text
    assert text.count("<details>") == text.count("</details>") == 2  # the finding and the layers table
    assert "- **Fix**: Remove the lists in the same RUN" in text


def test_markdown_escapes_table_cells_and_html():
    from slimview.report.markdown import _cell

    assert _cell("a|b\nc") == "a\\|b c"


def test_sarif_document_structure(tmp_path):
    layer = run("apt-get update")
    layer.file("var/lib/apt/lists/x_Packages", noise("pk", 2_000_000))
    report = report_of(tmp_path, [base(), layer], exposed_ports=["80/tcp"])
    doc = sarif_document(report)
    assert doc["version"] == "2.1.0" and doc["$schema"].endswith("sarif-2.1.0.json")
    (run_,) = doc["runs"]
    rules = run_["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == ["package-cache", "build-tools", "hidden-bytes", "context-junk", "duplicates", "secret", "config", "large-file"]
    results = run_["results"]
    assert [(r["ruleId"], r["level"]) for r in results] == [("package-cache", "note"), ("config", "warning"), ("config", "none")]
    first = results[0]
    assert rules[first["ruleIndex"]]["id"] == "package-cache"
    assert first["locations"][0]["physicalLocation"]["artifactLocation"] == {"uri": "var/lib/apt/lists/x_Packages", "uriBaseId": "IMAGEROOT"}
    assert first["locations"][0]["logicalLocations"][0]["name"] == "layer 1"
    assert first["properties"]["bytes"] == 2_000_000
    assert re.fullmatch(r"[0-9a-f]{64}", first["partialFingerprints"]["slimviewFinding/v1"])
    assert results[2]["kind"] == "informational"


def _keys(value, out: set[str]) -> set[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            out.add(key)
            _keys(item, out)
    elif isinstance(value, list):
        for item in value:
            _keys(item, out)
    return out


def test_every_details_key_is_documented(tmp_path, monkeypatch):
    from pathlib import Path

    from slimview.findings import analyze
    from slimview.index import IndexOptions, build_index
    from slimview.sample.mini import write_sample

    monkeypatch.setattr("slimview.findings.config.LARGE_FILE_BYTES", 1_000_000)
    write_sample(str(tmp_path / "mini.tar"))
    findings = analyze(build_index(str(tmp_path / "mini.tar"), IndexOptions(use_cache=False)))
    # What the mini sample lacks: path-rule build tools, a chown copy, small duplicate groups.
    layer = run("make install && chown -R 1000 /opt")
    layer.file("usr/local/include/big.h", noise("h", 1_200_000))
    for k in range(3):
        body = noise(f"dup {k}", 400_000)
        layer.file(f"opt/a/{k}", body).file(f"opt/b/{k}", body)
    chown = run("chown -R 1000 /usr/local/include")
    chown.file("usr/local/include/big.h", noise("h", 1_200_000), uid=1000)
    findings += report_of(tmp_path, [base(), layer, chown]).findings
    kinds = {f.kind for f in findings}
    assert kinds == {"package-cache", "build-tools", "hidden-bytes", "context-junk", "duplicates", "secret", "config", "large-file"}
    schema = (Path(__file__).resolve().parent.parent / "slimview" / "report" / "schema.md").read_text()
    documented = schema[schema.index("### `findings[].details` by kind"):]
    keys = set()
    for f in findings:
        _keys(json.loads(json.dumps(f.details.to_json())), keys)
    assert {k for k in keys if f"`{k}`" not in documented} == set()
