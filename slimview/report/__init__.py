"""Stage 5 (plain output): the index and findings as text, JSON or Markdown."""

from __future__ import annotations

from dataclasses import dataclass

from slimview.findings import Finding, analyze
from slimview.index import gc_paused
from slimview.index.model import ImageIndex


@dataclass
class Report:
    index: ImageIndex
    findings: list[Finding]

    @property
    def avoidable_bytes(self) -> int:
        """Bytes the fixes would save, counting each stored file instance once."""
        from slimview.report.totals import avoidable_bytes

        return avoidable_bytes(self.findings)


def build_report(index: ImageIndex) -> Report:
    with gc_paused():
        return Report(index, analyze(index))
