"""Findings (and failed CI rules) as SARIF 2.1.0, for code-scanning UIs.

Each finding is a result whose rule is its kind; each failed gate rule is a result of a
``ci/<rule>`` rule. Locations are paths inside the image, relative to the ``IMAGEROOT``
base; the layer is a logical location. Given the Dockerfile the image was built from, a
result's first location is instead the Dockerfile line that made the layer (a region, so
code-scanning UIs show it in the file), and the image paths become related locations.
Secrets carry only their redacted fingerprints.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from urllib.parse import quote

from slimview import __version__
from slimview.display import human_bytes
from slimview.dockerfile.history import short_instruction
from slimview.dockerfile.locate import DockerfileMap, Location
from slimview.findings import KINDS, Analysis, FindingKind
from slimview.findings.model import Finding, Severity
from slimview.gate import FAIL, RULE_BY_KEY
from slimview.report.explain import kind_facts

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
INFORMATION_URI = "https://github.com/slimview/slimview"
MAX_LOCATIONS = 10

_LEVEL = {Severity.HIGH: "error", Severity.MEDIUM: "warning", Severity.LOW: "note", Severity.INFO: "none"}

_KIND_TEXT = {
    FindingKind.PACKAGE_CACHE: "Package-manager caches, temporary files or logs left in the final image",
    FindingKind.BUILD_TOOLS: (
        "Build-only material in the runtime image: compilers, headers, build systems, version control, "
        "devDependencies, a whole toolchain, debug information"
    ),
    FindingKind.HIDDEN_BYTES: "Bytes stored by one layer and deleted or overwritten by a later one",
    FindingKind.CONTEXT_JUNK: "Build-context files the program does not need (.git, tests, docs, .env…, sources beside compiled output)",
    FindingKind.DUPLICATES: "Identical files stored at several paths",
    FindingKind.SECRET: "A secret (key, token, credential) stored in a layer",
    FindingKind.CONFIG: "Image configuration (user, health check, a package manager as PID 1)",
    FindingKind.LARGE_FILE: "A very large single file",
}


def _uri(path: str) -> str:
    return quote(path.encode("utf-8", "surrogateescape"), safe="/")


def _rules(gate) -> list[dict]:
    rules = [
        {
            "id": kind,
            "name": "".join(part.capitalize() for part in kind.split("-")),
            "shortDescription": {"text": _KIND_TEXT[kind]},
            "helpUri": INFORMATION_URI,
            "properties": {"tags": ["container-image", "slimview"]},
        }
        for kind in KINDS
    ]
    if gate is not None:
        for r in gate.results:
            rules.append(
                {
                    "id": f"ci/{r.key}",
                    "name": r.key,
                    "shortDescription": {"text": RULE_BY_KEY[r.key].help},
                    "helpUri": INFORMATION_URI,
                    "properties": {"tags": ["container-image", "ci-gate"]},
                }
            )
    return rules


def _message(finding: Finding) -> str:
    parts = [finding.title]
    if finding.bytes:
        parts.append(f"Saves {human_bytes(finding.bytes)} ({finding.bytes} bytes).")
    parts += [f"{label.capitalize()}: {text}." for label, text in kind_facts(finding)]
    if finding.fix:
        parts.append("Fix: " + " ".join(finding.fix.splitlines()))
    return " ".join(parts)


def _location(path: str, layer: int | None, instruction: str) -> dict:
    location: dict = {"physicalLocation": {"artifactLocation": {"uri": _uri(path), "uriBaseId": "IMAGEROOT"}}}
    if layer is not None:
        location["logicalLocations"] = [
            {"name": f"layer {layer}", "fullyQualifiedName": f"layer/{layer}", "kind": "module",
             "decoratedName": short_instruction(instruction)[:200]}
        ]
    return location


def _dockerfile_location(where: Location) -> dict:
    """A Dockerfile line: a path relative to the repository (as given), or a file URI when absolute."""
    uri = Path(where.path).as_uri() if os.path.isabs(where.path) else _uri(Path(where.path).as_posix())
    return {"physicalLocation": {"artifactLocation": {"uri": uri}, "region": {"startLine": where.start, "endLine": where.end}}}


def _at_dockerfile(result: dict, where: Location | None) -> dict:
    """``result`` located at the Dockerfile line, its image paths kept as related locations."""
    if where is not None:
        result["relatedLocations"] = [{"id": i, **loc} for i, loc in enumerate(result["locations"])]
        result["locations"] = [_dockerfile_location(where)]
    return result


def _fingerprint(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode("utf-8", "surrogateescape")).hexdigest()


def _finding_result(finding: Finding, rule_index: dict[str, int]) -> dict:
    locations = [_location(p.path, p.layer, finding.instruction) for p in finding.paths[:MAX_LOCATIONS]]
    if not locations:
        locations = [_location("", finding.layer, finding.instruction)]
    first = finding.paths[0].path if finding.paths else ""
    result = {
        "ruleId": finding.kind,
        "ruleIndex": rule_index[finding.kind],
        "level": _LEVEL.get(finding.severity, "warning"),
        "message": {"text": _message(finding)},
        "locations": locations,
        "partialFingerprints": {"slimviewFinding/v1": _fingerprint(finding.kind, str(finding.layer), first, finding.title)},
        "properties": {
            "severity": finding.severity,
            "bytes": finding.bytes,
            "layer": finding.layer,
            "instruction": short_instruction(finding.instruction),
            "pathCount": len(finding.paths),
        },
    }
    if finding.severity == Severity.INFO:
        result["kind"] = "informational"
    return result


def _gate_result(r, rule_index: dict[str, int]) -> dict:
    locations = [_location(p, None, "") for p in r.paths[:MAX_LOCATIONS]] or [_location("", None, "")]
    return {
        "ruleId": f"ci/{r.key}",
        "ruleIndex": rule_index[f"ci/{r.key}"],
        "level": "error",
        "message": {"text": f"CI rule {r.key} failed: {r.message or r.value} (threshold {r.threshold})."},
        "locations": locations,
        "partialFingerprints": {"slimviewGate/v1": _fingerprint("ci", r.key)},
        "properties": {"value": r.value, "threshold": r.threshold},
    }


def sarif_document(analysis: Analysis, gate=None, dockerfile: DockerfileMap | None = None) -> dict:
    """The SARIF log for ``report``; with a gate result, its failed rules are results too;
    with ``dockerfile``, results point at the Dockerfile lines that made their layers."""
    index = analysis.index
    rules = _rules(gate)
    rule_index = {rule["id"]: i for i, rule in enumerate(rules)}
    located = dockerfile if dockerfile is not None else DockerfileMap("", {})
    results = [_at_dockerfile(_finding_result(f, rule_index), located.at(f.layer)) for f in analysis.findings]
    if gate is not None:
        results += [_at_dockerfile(_gate_result(r, rule_index), located.first(r.layers)) for r in gate.results if r.status == FAIL]
    run = {
        "tool": {"driver": {"name": "slimview", "version": __version__, "informationUri": INFORMATION_URI, "rules": rules}},
        "originalUriBaseIds": {
            "IMAGEROOT": {"description": {"text": f"The root of the filesystem of image {index.source.name}"}}
        },
        "results": results,
        "properties": {
            "image": index.source.name,
            "configDigest": index.source.config_digest,
            "sizeBytes": index.size,
            "avoidableBytes": analysis.avoidable_bytes,
            "hiddenBytes": index.hidden_bytes,
        },
    }
    if gate is not None:
        run["invocations"] = [{"executionSuccessful": True, "exitCode": 0 if gate.passed else 1}]
    return {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}


def render_sarif(analysis: Analysis, gate=None, dockerfile: DockerfileMap | None = None) -> str:
    return json.dumps(sarif_document(analysis, gate, dockerfile), indent=2, ensure_ascii=False) + "\n"
