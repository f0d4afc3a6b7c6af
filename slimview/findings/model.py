"""What the findings stage reports: typed, ranked causes of image fat, each with a fix."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from operator import attrgetter
from typing import NamedTuple

from slimview.findings.details import FindingDetails


class FindingKind(StrEnum):
    """Every kind a finding can have, in the order reports explain them."""

    PACKAGE_CACHE = "package-cache"
    BUILD_TOOLS = "build-tools"
    HIDDEN_BYTES = "hidden-bytes"
    CONTEXT_JUNK = "context-junk"
    DUPLICATES = "duplicates"
    SECRET = "secret"
    CONFIG = "config"
    LARGE_FILE = "large-file"


class Severity(StrEnum):
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFO = "info"

    @property
    def rank(self) -> int:
        """0 for the most severe."""
        return _SEVERITY_RANK[self]


_SEVERITY_RANK = {Severity.HIGH: 0, Severity.MEDIUM: 1, Severity.LOW: 2, Severity.INFO: 3}


class FindingPath(NamedTuple):
    """One path a finding is about, with its bytes and the layer that stored it.

    A named tuple, not a frozen dataclass: detectors make one per file (tens of thousands
    on a large image) and a frozen dataclass is several times slower to construct.
    """

    path: str
    size: int
    layer: int


_PATH = attrgetter("path")
_SIZE = attrgetter("size")


def sort_largest_first(paths: list[FindingPath]) -> None:
    """Sort ``paths`` in place, largest first, then by path: the order findings list them in.

    Two stable passes with C-level keys give exactly the order of
    ``key=lambda p: (-p.size, p.path)``, in half the time (a finding can list thousands).
    """
    paths.sort(key=_PATH)
    paths.sort(key=_SIZE, reverse=True)


@dataclass
class Finding:
    kind: FindingKind
    title: str  # one line a person can act on
    severity: Severity
    bytes: int  # bytes the image would lose by applying the fix
    layer: int | None  # the layer (index) responsible, when there is one
    instruction: str  # that layer's instruction
    paths: list[FindingPath] = field(default_factory=list)
    evidence: str = ""
    fix: str = ""
    details: FindingDetails | None = None  # what the kind knows besides (details.py)
