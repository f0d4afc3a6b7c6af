"""Stage 3, findings: name every cause of image fat, with bytes, layer, instruction and fix.

One module per detector family; each takes the shared :class:`ImageView` (and the package
database when it needs one) and returns findings. ``analyze`` runs them all and ranks the
result by the bytes a fix would save.
"""

from __future__ import annotations

from slimview.findings import buildtools, caches, config, duplicates, hidden, junk, secrets
from slimview.findings.model import Finding, FindingPath, Severity
from slimview.findings.packages import read_database
from slimview.findings.view import ImageView
from slimview.index.model import ImageIndex

__all__ = ["Finding", "FindingPath", "Severity", "analyze", "KINDS"]

# Every kind a finding can have, in the order reports explain them.
KINDS = ("package-cache", "build-tools", "hidden-bytes", "context-junk", "duplicates", "secret", "config", "large-file")


def analyze(index: ImageIndex) -> list[Finding]:
    """All findings for ``index``, ranked by bytes saved (largest first)."""
    view = ImageView(index)
    db = read_database(view)
    findings: list[Finding] = []
    findings += caches.detect(view)
    findings += buildtools.detect(view, db)
    findings += hidden.detect(view, db)
    findings += junk.detect(view)
    findings += duplicates.detect(view, db)
    findings += secrets.detect(view)
    findings += config.detect(view)
    findings.sort(key=lambda f: (-f.bytes, Severity.ORDER.get(f.severity, 9), f.kind, f.title))
    return findings
