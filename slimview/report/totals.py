"""Totals across findings, without double counting bytes two findings share."""

from __future__ import annotations

from slimview.findings.model import Finding


def avoidable_bytes(findings: list[Finding]) -> int:
    """Sum of the bytes the findings would save; a (layer, path) counted by several
    findings counts once, and informational findings count nothing."""
    seen: set[tuple[int, str]] = set()
    total = 0
    for finding in findings:
        if finding.severity == "info":
            continue
        if not finding.paths:
            total += finding.bytes
            continue
        counted = 0
        for p in finding.paths:
            key = (p.layer, p.path)
            if key not in seen:
                seen.add(key)
                counted += p.size
        # A finding's saving can be less than its paths' sum (e.g. duplicates keep one copy).
        total += min(counted, finding.bytes)
    return total
