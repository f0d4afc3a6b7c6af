"""What the rewrite stage hands back: the rewrite, what it fixes, and its size estimate.

The instructions it works on are slimview.dockerfile.instruction.Instruction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from slimview.display import human_bytes
from slimview.errors import SlimviewError
from slimview.findings.model import FindingKind


class Change(StrEnum):
    """What a rewrite does that fixes no finding of the report, shown beside the fixes."""

    CACHE_ORDER = "cache-order"  # dependency manifests before the source: edits keep the install layer cached
    PYTHON = "python"  # pip packages in a virtualenv built in the builder stage
    NODE = "node"  # dependencies installed, built and pruned in a builder; the slim Node image runs the result
    GO = "go"  # the program built in a builder stage and shipped alone
    DEEP = "deep"  # a trim of --deep: files the program does not need at run time


@dataclass(frozen=True)
class Fix:
    """One thing the rewrite does differently, the finding kind it fixes (or the change it
    makes, when no finding names it), and the bytes it saves."""

    kind: FindingKind | Change
    summary: str
    bytes: int = 0


def fixes(*savings: tuple[FindingKind, int]) -> str:
    """The comment suffix naming what a change fixes, by finding kind and bytes:
    ``fixes((FindingKind.BUILD_TOOLS, 410213098))`` is `` (fixes build-tools: 410.2 MB)``."""
    named = [f"{kind}: {human_bytes(n)}" for kind, n in savings if n]
    return f" (fixes {', '.join(named)})" if named else ""


@dataclass(frozen=True)
class SizeRow:
    """One line of the before/after estimate; ``after`` is None when it is not known (a
    runtime base the local engine does not have)."""

    label: str
    before: int
    after: int | None


class NoRewrite(SlimviewError):
    """The rewrite would not build, or would change what the image runs: none is written.
    The message says why, in one line."""

    exit_status = 1


@dataclass
class Rewrite:
    """A rewritten Dockerfile and its .dockerignore, with what changed and the estimate."""

    dockerfile: str
    dockerignore: str
    fixes: list[Fix]
    sizes: list[SizeRow]
    copied_sources: list[str]  # context paths the Dockerfile copies (never ignored)
    smoke: list[str] | None  # a command proving the app's imports work, when one can be derived
    service: bool = False  # a network service (Node, Go): verify runs it and asks its health endpoint
    notes: list[str] = field(default_factory=list)
    runtime_base: str = ""  # the FROM of the final stage
    base_excluded: str = ""  # the runtime base, when its size is unknown and the estimate leaves it out
    copied_from_builder: str = ""  # the directory the runtime copies from the builder stage (a virtualenv)

    @property
    def size_before(self) -> int:
        return sum(row.before for row in self.sizes)

    @property
    def size_after(self) -> int:
        """The estimate's total after the rewrite, without the base when ``base_excluded``."""
        return sum(row.after for row in self.sizes if row.after is not None)
