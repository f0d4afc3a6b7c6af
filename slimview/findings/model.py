"""What the findings stage reports: typed, ranked causes of image fat, each with a fix."""

from __future__ import annotations

from dataclasses import dataclass, field


class Severity:
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFO = "info"

    ORDER = {"high": 0, "medium": 1, "low": 2, "info": 3}


@dataclass(frozen=True)
class FindingPath:
    """One path a finding is about, with its bytes and the layer that stored it."""

    path: str
    size: int
    layer: int


@dataclass
class Finding:
    kind: str  # package-cache, build-tools, hidden-bytes, context-junk, duplicates, secret, config, large-file
    title: str  # one line a person can act on
    severity: str
    bytes: int  # bytes the image would lose by applying the fix
    layer: int | None  # the layer (index) responsible, when there is one
    instruction: str  # that layer's instruction
    paths: list[FindingPath] = field(default_factory=list)
    evidence: str = ""
    fix: str = ""
    details: dict = field(default_factory=dict)  # kind-specific extras, JSON-serialisable
