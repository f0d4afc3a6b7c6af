"""The comparison of two images: typed results every output (text, JSON, Markdown, the CI
gate, the explorer, ``verify``) reads, all sizes in bytes, ``after − before``."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from slimview.compare.summary import BaseSummary, ImageSummary
from slimview.dockerfile.history import NO_HISTORY, short_instruction
from slimview.findings.model import FindingKind


class LayerStatus(StrEnum):
    SHARED = "shared"  # the same layers (diff_ids) in both images
    CHANGED = "changed"  # matched by instruction, other content
    REMOVED = "removed"  # only in the image before
    ADDED = "added"  # only in the image after


class PathChange(StrEnum):
    ADDED = "added"
    REMOVED = "removed"
    GROWN = "grown"
    SHRUNK = "shrunk"
    CHANGED = "changed"  # same size, other content


class PackageChange(StrEnum):
    ADDED = "added"
    REMOVED = "removed"
    UPGRADED = "upgraded"
    DOWNGRADED = "downgraded"
    CHANGED = "changed"  # another version whose order the package manager's rules do not tell (apk)
    RESIZED = "resized"  # the same version with other bytes (files added or removed around it)


class FindingChange(StrEnum):
    NEW = "new"
    RESOLVED = "resolved"
    GROWN = "grown"
    SHRUNK = "shrunk"


class BaseStatus(StrEnum):
    SAME = "same"
    CHANGED = "changed"
    UNKNOWN = "unknown"  # at least one image's base could not be identified


@dataclass(frozen=True)
class LayerPair:
    """One row of the alignment: a run of shared layers, or one layer matched, removed or added."""

    status: LayerStatus
    before: range  # layer indexes in the image before (empty for an added layer)
    after: range  # layer indexes in the image after (empty for a removed layer)
    before_instruction: str
    after_instruction: str
    before_bytes: int
    after_bytes: int

    @property
    def delta(self) -> int:
        return self.after_bytes - self.before_bytes


@dataclass(frozen=True)
class PathDelta:
    """A file or directory whose bytes changed. A hidden path is a body stored under that
    path by some layer and hidden by a later one: it costs bytes without being visible."""

    path: str
    change: PathChange
    before_bytes: int
    after_bytes: int
    before_layer: int | None  # the layer that stored it (directories: that stored most of the change)
    after_layer: int | None
    hidden: bool = False

    @property
    def delta(self) -> int:
        return self.after_bytes - self.before_bytes


@dataclass(frozen=True)
class PackageDelta:
    name: str
    change: PackageChange
    before_version: str
    after_version: str
    before_bytes: int
    after_bytes: int
    before_layer: int | None
    after_layer: int | None

    @property
    def delta(self) -> int:
        return self.after_bytes - self.before_bytes


@dataclass(frozen=True)
class FindingDelta:
    key: str
    kind: FindingKind
    change: FindingChange
    title: str  # the latest title (the image after's, or before's for a resolved finding)
    before_bytes: int
    after_bytes: int
    before_count: int
    after_count: int
    layer: int | None  # in the image the title comes from
    instruction: str

    @property
    def delta(self) -> int:
        return self.after_bytes - self.before_bytes


@dataclass(frozen=True)
class BaseDelta:
    status: BaseStatus
    before: BaseSummary
    after: BaseSummary
    before_bytes: int  # bytes of the base layers (0 when unknown)
    after_bytes: int

    @property
    def delta(self) -> int:
        """Bytes the change of base image accounts for (0 unless both bases are known)."""
        if self.before.layers and self.after.layers:
            return self.after_bytes - self.before_bytes
        return 0


class CauseKind(StrEnum):
    INSTRUCTION = "instruction"  # a layer added or changed (removed, for shrinkage)
    PACKAGE = "package"
    PATH = "path"  # a directory or file


@dataclass(frozen=True)
class Cause:
    """One reason an image grew or shrank, for a message, with the instruction behind it."""

    kind: CauseKind
    name: str  # the instruction, the package, or the path ("/"-rooted; a directory ends in "/")
    detail: str  # the package's version, how a path changed
    delta: int
    instruction: str


@dataclass
class Comparison:
    before: ImageSummary
    after: ImageSummary
    layers: list[LayerPair]
    files: list[PathDelta]  # every changed file body (visible or hidden), largest change first
    directories: list[PathDelta]  # the directories where the change concentrates, largest first
    packages: list[PackageDelta]  # largest change first
    findings: list[FindingDelta]  # largest change first
    base: BaseDelta

    @property
    def size_change(self) -> int:
        """The change in stored bytes; equal to the sum of every file's and hidden body's change."""
        return self.after.size - self.before.size

    @property
    def visible_change(self) -> int:
        return self.after.visible_bytes - self.before.visible_bytes

    @property
    def hidden_change(self) -> int:
        return self.after.hidden_bytes - self.before.hidden_bytes

    @property
    def own_change(self) -> int:
        """The change in bytes not explained by a change of base image."""
        return self.size_change - self.base.delta

    @property
    def share(self) -> float:
        """The size change as a fraction of the size before (0 for an empty image before)."""
        return self.size_change / self.before.size if self.before.size else 0.0

    def causes(self, growth: bool = True, limit: int = 3) -> list[Cause]:
        """The largest causes of growth (or of shrinkage), up to ``limit`` of each kind: the
        instructions whose layers changed most, the packages, and the directories and files
        (none inside another one named)."""
        sign = 1 if growth else -1
        side = self.after if growth else self.before
        out: list[Cause] = []
        grown = (LayerStatus.ADDED, LayerStatus.CHANGED) if growth else (LayerStatus.REMOVED, LayerStatus.CHANGED)
        pairs = sorted((p for p in self.layers if p.status in grown and sign * p.delta > 0), key=lambda p: -sign * p.delta)
        for pair in pairs[:limit]:
            created_by = pair.after_instruction if growth else pair.before_instruction
            out.append(Cause(CauseKind.INSTRUCTION, short_instruction(created_by) or NO_HISTORY, pair.status.value, pair.delta, created_by))
        packages = [p for p in self.packages if sign * p.delta > 0][:limit]
        for pkg in packages:
            version = pkg.after_version if growth else pkg.before_version
            layer = pkg.after_layer if growth else pkg.before_layer
            out.append(Cause(CauseKind.PACKAGE, pkg.name, version, pkg.delta, side.instruction(layer)))
        directories = {id(d) for d in self.directories}
        places = sorted((d for d in [*self.directories, *self.files] if sign * d.delta > 0), key=lambda d: (-sign * d.delta, d.path))
        chosen: list[PathDelta] = []
        for d in places:
            if len(chosen) == limit:
                break
            if not any(d.path.startswith(c.path + "/") or c.path.startswith(d.path + "/") or c.path == d.path for c in chosen):
                chosen.append(d)
        for d in chosen:
            detail = "stored, then hidden by a later layer" if d.hidden else d.change.value
            name = "/" + d.path + ("/" if id(d) in directories else "")
            layer = d.after_layer if growth else d.before_layer
            out.append(Cause(CauseKind.PATH, name, detail, d.delta, side.instruction(layer)))
        return out
