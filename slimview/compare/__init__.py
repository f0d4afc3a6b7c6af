"""Comparing two images: what grew, what shrank, and why.

The one home of the comparison: ``slimview diff``, the CI gate's ``--baseline``, the
explorer's compare mode and ``slimview verify``'s before/after table all call
``compare``. Each image is first reduced to an :class:`ImageSummary` (``summary.py``),
which the CI gate can also save as JSON and read back as a baseline; then:

- ``layers.py``: the layers aligned (shared diff_ids, then matching instructions);
- ``changes.py``: file bodies, directories, OS packages, findings and the base image;
- ``model.py``: the typed result, :class:`Comparison`.
"""

from __future__ import annotations

from slimview.compare.changes import base_change, directory_changes, file_changes, finding_changes, package_changes
from slimview.compare.layers import align
from slimview.compare.model import (
    BaseDelta,
    BaseStatus,
    Cause,
    CauseKind,
    Comparison,
    FindingChange,
    FindingDelta,
    LayerPair,
    LayerStatus,
    PackageChange,
    PackageDelta,
    PathChange,
    PathDelta,
)
from slimview.compare.summary import BaseSummary, ImageSummary, finding_key, summarize

__all__ = [
    "BaseDelta",
    "BaseStatus",
    "BaseSummary",
    "Cause",
    "CauseKind",
    "Comparison",
    "FindingChange",
    "FindingDelta",
    "ImageSummary",
    "LayerPair",
    "LayerStatus",
    "PackageChange",
    "PackageDelta",
    "PathChange",
    "PathDelta",
    "compare",
    "finding_key",
    "summarize",
]


def compare(before: ImageSummary, after: ImageSummary) -> Comparison:
    """How ``after`` differs from ``before``."""
    files = file_changes(before, after)
    return Comparison(
        before=before,
        after=after,
        layers=align(before.layers, after.layers),
        files=files,
        directories=directory_changes(before, after, files),
        packages=package_changes(before, after),
        findings=finding_changes(before, after),
        base=base_change(before, after),
    )
