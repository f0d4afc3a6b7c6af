"""Totals across findings, without double counting bytes two findings share."""

from __future__ import annotations

from slimview.findings.model import Finding, Severity


def avoidable_bytes(findings: list[Finding]) -> int:
    """Bytes the fixes would save together, never counting a stored file twice.

    Findings overlap: ``.env`` is context junk and a secret, a duplicated compiler binary
    is also a build tool, a cache copied in and deleted later is junk and hidden bytes.
    Each stored file is identified by (layer, path). Walking the findings in rank order, a
    finding adds its bytes minus the size of the paths earlier findings already counted.
    That is exact when a finding's bytes are the sum of its paths, and for duplicates
    (bytes = all copies but one) it never over-counts. Informational findings save nothing.
    """
    seen: dict[int, set[str]] = {}  # per layer: a set of paths, not of (layer, path) tuples (a third the memory)
    total = 0
    for finding in findings:
        if finding.severity == Severity.INFO or finding.bytes <= 0:
            continue
        overlap = 0
        for p in finding.paths:
            counted = seen.get(p.layer)
            if counted is None:
                counted = seen[p.layer] = set()
            if p.path in counted:
                overlap += p.size
            else:
                counted.add(p.path)
        total += max(0, finding.bytes - overlap)
    return total
