"""Stage 5 (plain output): the index and findings as text, JSON or Markdown."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported where used: slimview.report.saved must import light
    from slimview.findings import Finding
    from slimview.index.model import ImageIndex


class Report:
    """An indexed image and what was found in it. (A plain class: a dataclass would import
    ``inspect``, and this module is on the replay path, where every millisecond shows.)"""

    __slots__ = ("index", "findings")

    def __init__(self, index: ImageIndex, findings: list[Finding]):
        self.index = index
        self.findings = findings

    def __repr__(self) -> str:
        return f"Report({self.index!r}, {len(self.findings)} findings)"

    @property
    def avoidable_bytes(self) -> int:
        """Bytes the fixes would save, counting each stored file instance once."""
        from slimview.report.totals import avoidable_bytes

        return avoidable_bytes(self.findings)


def text_width() -> int:
    """The width text reports are rendered at: the terminal's, at most 160 (120 off a terminal)."""
    import shutil

    return min(shutil.get_terminal_size((120, 24)).columns, 160)


def build_report(index: ImageIndex) -> Report:
    from slimview.findings import analyze
    from slimview.index import gc_paused

    with gc_paused():
        return Report(index, analyze(index))
