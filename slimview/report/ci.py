"""The CI gate's result where CI systems show results: Markdown for one pull-request
comment, JUnit XML (test reports), GitLab Code Quality JSON, and ``slimview ci --json``,
which also carries the image's summary so a later run can use it as its baseline.
(SARIF is sarif.py's.) With a Dockerfile map, failed rules and findings point at the line
that made the layer behind them."""

from __future__ import annotations

import hashlib
import xml.etree.ElementTree as ET
from typing import Any

from slimview import __version__
from slimview.compare.summary import ImageSummary, finding_key
from slimview.display import human_bytes, printable
from slimview.dockerfile.locate import DockerfileMap, Location
from slimview.findings import Analysis
from slimview.findings.model import Finding, Severity
from slimview.gate import DIVE, FAIL, PASS, RULE_BY_KEY, SKIP, SLIMVIEW, GateResult, RuleResult
from slimview.report.diff import markdown_summary
from slimview.report.diffjson import diff_json, dumps

CI_SCHEMA_VERSION = 1
MAX_FINDINGS = 10  # findings listed in the Markdown comment


def rule_location(r: RuleResult, dockerfile: DockerfileMap | None) -> Location | None:
    """The Dockerfile line that made the layer most behind a failed rule, when known."""
    return dockerfile.first(r.layers) if dockerfile is not None else None


def _fingerprint(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode("utf-8", "surrogateescape")).hexdigest()


# -- Markdown ------------------------------------------------------------------------------------


def _cell(text: str) -> str:
    return printable(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def render_ci_markdown(result: GateResult, analysis: Analysis, dockerfile: DockerfileMap | None = None) -> str:
    failed = result.count(FAIL)
    verdict = "**FAIL**" if not result.passed else "**PASS**"
    out = [f"## slimview ci: `{_cell(result.image)}` {verdict}", ""]
    out.append(f"{len(result.results)} rules: {result.count(PASS)} passed, {failed} failed, {result.count(SKIP)} skipped"
               f" · {human_bytes(analysis.index.size)} in {len(analysis.index.layers)} layers"
               f" · {human_bytes(analysis.avoidable_bytes)} avoidable")
    out.append("")
    if result.comparison is not None:
        out += [f"Compared with the baseline `{_cell(result.comparison.before.name)}`:", "", *markdown_summary(result.comparison)]
    for origin, heading in ((DIVE, "dive's rules"), (SLIMVIEW, "slimview's rules")):
        rows = [r for r in result.results if r.origin == origin]
        if not rows:
            continue
        out += [f"**{heading}**", "", "| Status | Rule | Measured | Threshold | Where |", "|---|---|---|---|---|"]
        for r in rows:
            where = rule_location(r, dockerfile) if r.status == FAIL else None
            status = f"**{r.status}**" if r.status == FAIL else r.status
            measured = r.value if r.status != SKIP else r.message
            out.append(f"| {status} | `{r.key}` | {_cell(measured)} | {_cell(r.threshold)} | {f'`{where}`' if where else ''} |")
        out.append("")
    reasons = [r for r in result.results if r.status == FAIL and r.message]
    if reasons:
        out += ["**Why**", ""] + [f"- `{r.key}`: {_cell(r.message)}" for r in reasons] + [""]
    findings = [f for f in analysis.findings if f.bytes][:MAX_FINDINGS]
    if findings:
        out += ["<details><summary>Largest findings</summary>", "", "| Saves | Finding | Where |", "|--:|---|---|"]
        for f in findings:
            where = dockerfile.at(f.layer) if dockerfile is not None else None
            out.append(f"| {human_bytes(f.bytes)} | {_cell(f.title)} | {f'`{where}`' if where else ''} |")
        out += ["", "</details>", ""]
    return "\n".join(out).rstrip("\n") + "\n"


# -- JUnit XML -----------------------------------------------------------------------------------


def render_junit(result: GateResult, dockerfile: DockerfileMap | None = None) -> str:
    """One test suite, one test case per rule: a failure for a failed rule, skipped for a skipped one."""
    suites = ET.Element("testsuites", name="slimview ci", tests=str(len(result.results)), failures=str(result.count(FAIL)))
    suite = ET.SubElement(
        suites, "testsuite", name=f"slimview ci: {printable(result.image)}", tests=str(len(result.results)),
        failures=str(result.count(FAIL)), skipped=str(result.count(SKIP)), errors="0",
    )
    for r in result.results:
        case = ET.SubElement(suite, "testcase", classname=f"slimview.{RULE_BY_KEY[r.key].origin}", name=r.key)
        where = rule_location(r, dockerfile)
        if where is not None:
            case.set("file", where.path)
            case.set("line", str(where.start))
        if r.status == FAIL:
            failure = ET.SubElement(case, "failure", message=printable(r.message or r.value), type="slimview.gate")
            lines = (f"measured {r.value}, threshold {r.threshold}", r.message, f"at {where}" if where else "")
            failure.text = "\n".join(printable(line) for line in lines if line)
        elif r.status == SKIP:
            ET.SubElement(case, "skipped", message=printable(r.message))
        else:
            ET.SubElement(case, "system-out").text = printable(f"measured {r.value}, threshold {r.threshold}")
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"


# -- GitLab Code Quality ---------------------------------------------------------------------------

_SEVERITY = {Severity.HIGH: "major", Severity.MEDIUM: "minor", Severity.LOW: "info", Severity.INFO: "info"}


def _quality_location(where: Location | None, image_path: str) -> dict[str, Any]:
    """A Dockerfile line when known; otherwise the path inside the image (not a repository file)."""
    if where is not None:
        return {"path": where.path, "lines": {"begin": where.start, "end": where.end}}
    return {"path": image_path or "image", "lines": {"begin": 1}}


def _finding_issue(f: Finding, image: str, dockerfile: DockerfileMap | None) -> dict[str, Any]:
    where = dockerfile.at(f.layer) if dockerfile is not None else None
    saves = f" Saves {human_bytes(f.bytes)}." if f.bytes else ""
    return {
        "type": "issue",
        "check_name": f"slimview/{f.kind.value}",
        "description": printable(f"{f.title}.{saves}"),
        "categories": ["Performance"],
        "severity": _SEVERITY[f.severity],
        "fingerprint": _fingerprint("finding", image, finding_key(f)),
        "location": _quality_location(where, f.paths[0].path if f.paths else ""),
    }


def render_codequality(result: GateResult, analysis: Analysis, dockerfile: DockerfileMap | None = None) -> str:
    """GitLab Code Quality issues: each failed rule (critical), then each finding."""
    issues = []
    for r in result.results:
        if r.status != FAIL:
            continue
        issues.append({
            "type": "issue",
            "check_name": f"slimview/ci/{r.key}",
            "description": printable(f"CI rule {r.key} failed: {r.message or r.value} (threshold {r.threshold})"),
            "categories": ["Performance"],
            "severity": "critical",
            "fingerprint": _fingerprint("rule", result.image, r.key),
            "location": _quality_location(rule_location(r, dockerfile), r.paths[0] if r.paths else ""),
        })
    issues += [_finding_issue(f, result.image, dockerfile) for f in analysis.findings]
    return dumps(issues)


# -- JSON ----------------------------------------------------------------------------------------


def ci_json(result: GateResult, summary: ImageSummary, dockerfile: DockerfileMap | None = None) -> dict[str, Any]:
    """The gate's result and the image's summary (what ``--baseline FILE`` reads back)."""
    rules = []
    for r in result.results:
        where = rule_location(r, dockerfile)
        rules.append({
            "rule": r.key, "origin": r.origin, "status": r.status, "value": r.value, "threshold": r.threshold,
            "message": r.message, "layers": r.layers, "location": str(where) if where else None,
        })
    baseline = None
    if result.comparison is not None:
        full = diff_json(result.comparison)
        baseline = {key: value for key, value in full.items() if key not in ("files", "directories", "packages", "findings")}
    return {
        "schema_version": CI_SCHEMA_VERSION,
        "generator": f"slimview {__version__}",
        "image": result.image,
        "passed": result.passed,
        "config_files": result.config_files,
        "rules": rules,
        "baseline": baseline,
        "summary": summary.to_json(),
    }


def render_ci_json(result: GateResult, summary: ImageSummary, dockerfile: DockerfileMap | None = None) -> str:
    return dumps(ci_json(result, summary, dockerfile))
