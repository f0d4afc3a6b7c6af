"""Stage 3, findings: name every cause of image fat, with bytes, layer, instruction and fix.

One module per detector family; each takes the shared :class:`ImageView` (and the package
database when it needs one) and returns findings. ``analyze`` runs them all and ranks the
result by the bytes a fix would save; an :class:`Analysis` (the index and its findings)
is what every output renders.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from slimview.findings import buildtools, caches, config, duplicates, hidden, junk, node, programs, secrets, sources, toolchain
from slimview.findings.model import Finding, FindingKind, FindingPath, Severity
from slimview.findings.totals import avoidable_bytes
from slimview.findings.view import ImageView
from slimview.index.model import ImageIndex
from slimview.packages.database import read_database
from slimview.packages.model import PackageDatabase
from slimview.packages.npm import node_projects

__all__ = ["KINDS", "Analysis", "Finding", "FindingKind", "FindingPath", "Severity", "analyze"]

# Every kind a finding can have, in the order reports explain them.
KINDS = tuple(FindingKind)


def analyze(index: ImageIndex, db: PackageDatabase | None = None) -> list[Finding]:
    """All findings for ``index``, ranked by bytes saved (largest first); ``db`` is the
    image's package database when the caller has read it already."""
    view = ImageView(index)
    db = db if db is not None else read_database(index)
    built = programs.read_programs(view)
    projects = node_projects(index)
    findings: list[Finding] = []
    findings += caches.detect(view)
    findings += buildtools.detect(view, db)
    findings += node.detect(view, projects)
    findings += toolchain.detect(view, db, built)
    findings += programs.detect(view, built)
    findings += sources.detect(view, projects, built)
    findings += hidden.detect(view, db)
    findings += junk.detect(view)
    findings += duplicates.detect(view, db)
    findings += secrets.detect(view)
    findings += config.detect(view)
    findings.sort(key=lambda f: (-f.bytes, f.severity.rank, f.kind, f.title))
    return findings


@dataclass
class Analysis:
    """An indexed image and what was found in it: what reports, the gate and the explorer show."""

    index: ImageIndex
    findings: list[Finding]
    packages: PackageDatabase | None = None  # the image's own package database, if it has one

    @property
    def avoidable_bytes(self) -> int:
        """Bytes the fixes would save, counting each stored file instance once."""
        return avoidable_bytes(self.findings)

    @cached_property
    def by_path(self) -> dict[str, list[Finding]]:
        """The findings each path is named by, in rank order."""
        out: dict[str, list[Finding]] = {}
        for finding in self.findings:
            for p in finding.paths:
                found = out.setdefault(p.path, [])
                if not found or found[-1] is not finding:
                    found.append(finding)
        return out

    @cached_property
    def by_layer(self) -> dict[int, list[Finding]]:
        """The findings about each layer: its own, or those naming files it stores."""
        out: dict[int, list[Finding]] = {}
        for finding in self.findings:
            layers = {finding.layer} if finding.layer is not None else {p.layer for p in finding.paths}
            for layer_no in layers:
                out.setdefault(layer_no, []).append(finding)
        return out
