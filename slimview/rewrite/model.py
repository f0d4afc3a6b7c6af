"""What the rewrite stage hands back: the rewrite, what it fixes, and its size estimate.

The instructions it works on are slimview.dockerfile.instruction.Instruction.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Fix:
    """One thing the rewrite does differently, the finding kind it fixes, and the bytes it saves."""

    kind: str  # a finding kind (build-tools, hidden-bytes, config, ...) or a rewrite-only one (cache-order, python)
    summary: str
    bytes: int = 0


@dataclass(frozen=True)
class SizeRow:
    """One line of the before/after estimate."""

    label: str
    before: int
    after: int


@dataclass
class Rewrite:
    """A rewritten Dockerfile and its .dockerignore, with what changed and the estimate."""

    dockerfile: str
    dockerignore: str
    fixes: list[Fix]
    sizes: list[SizeRow]
    copied_sources: list[str]  # context paths the Dockerfile copies (never ignored)
    smoke: list[str] | None  # a command proving the app's imports work, when one can be derived
    notes: list[str] = field(default_factory=list)

    @property
    def size_before(self) -> int:
        return sum(row.before for row in self.sizes)

    @property
    def size_after(self) -> int:
        return sum(row.after for row in self.sizes)
