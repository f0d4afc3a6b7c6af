"""What each kind of finding knows beyond its bytes, paths and fix: one typed record per kind.

Other stages read these as attributes (the gate counts build-tool packages, the rewrite
takes the .dockerignore patterns of a context-junk finding); the JSON report writes
``to_json()``, whose fields are documented in slimview/report/schema.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, is_dataclass
from enum import Enum, StrEnum
from typing import Any, NamedTuple

from slimview.packages.classify import BuildRole


def _json(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if is_dataclass(value) and not isinstance(value, type):
        return {f.metadata.get("json", f.name): _json(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, tuple) and hasattr(value, "_asdict"):  # a NamedTuple
        return {key: _json(item) for key, item in value._asdict().items()}
    if isinstance(value, dict):
        return {_json(key): _json(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json(item) for item in value]
    return value


class _Details:
    def to_json(self) -> dict[str, Any]:
        """The record as the JSON report writes it."""
        out = _json(self)
        assert isinstance(out, dict)
        return out


# -- package-cache ---------------------------------------------------------------------------


@dataclass(frozen=True)
class CacheDetails(_Details):
    cache: str  # the rule's key (apt_lists, pip, npm, …)
    label: str  # what the cache is, for people
    roots: list[str]  # the cache directories, "/"-rooted


# -- build-tools -----------------------------------------------------------------------------


class ToolPackage(NamedTuple):
    name: str
    version: str
    category: BuildRole
    bytes: int
    files: int
    installed_in: int | None


class LeftBehind(NamedTuple):
    """A package a later layer removed without --auto-remove, and the build tools it kept."""

    removed: str
    layer: int
    still_installed: list[str]


@dataclass(frozen=True)
class ToolPackagesDetails(_Details):
    """Build tools named by the image's package database."""

    source: str  # the package manager: dpkg or apk
    packages: list[ToolPackage]
    requested: list[str]  # the build-only packages the layer's instruction asked for
    removed_packages: list[LeftBehind]


@dataclass(frozen=True)
class ToolPathsDetails(_Details):
    """Build tools found by path rules (no package owns them)."""

    categories: dict[BuildRole, int]  # role → bytes
    source: str = field(default="path rules", init=False)

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "categories": _json(self.categories)}


# -- hidden-bytes -----------------------------------------------------------------------------


class HiddenReason(StrEnum):
    DELETED = "deleted"
    OVERWRITTEN = "overwritten"
    DELETED_OR_OVERWRITTEN = "deleted-or-overwritten"
    METADATA_ONLY = "metadata-only"  # the same content stored again to change owner or mode
    SAME_CONTENT = "same-content"  # the same content stored again
    PACKAGE_UPGRADE = "package-upgrade"  # package files the package manager rewrote


class LabelBytes(NamedTuple):
    label: str
    bytes: int


@dataclass(frozen=True)
class UpgradedPackage(_Details):
    name: str
    bytes: int
    from_version: str = field(metadata={"json": "from"})
    to_version: str = field(metadata={"json": "to"})


@dataclass(frozen=True)
class HiddenDetails(_Details):
    stored_in: int
    hidden_by: int
    hidden_by_instruction: str
    reason: HiddenReason
    deleted_bytes: int
    overwritten_bytes: int
    contents: list[LabelBytes]  # what the hidden bytes are, by cache kind where one applies
    packages: list[UpgradedPackage] = field(default_factory=list)


# -- context-junk ------------------------------------------------------------------------------


class JunkCandidate(NamedTuple):
    pattern: str  # its .dockerignore pattern
    category: str
    bytes: int
    files: int


@dataclass(frozen=True)
class JunkDetails(_Details):
    context_root: str | None  # where the whole context was copied to, when it was
    dockerignore: list[str]
    candidates: list[JunkCandidate]


# -- duplicates -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class DuplicateDetails(_Details):
    copies: int
    file_bytes: int
    keep: str  # the copy to keep


class DuplicateGroup(NamedTuple):
    copies: int
    file_bytes: int
    paths: list[str]


@dataclass(frozen=True)
class DuplicateGroupsDetails(_Details):
    """The groups too small for a finding each, summed up."""

    groups: list[DuplicateGroup]


# -- secret ------------------------------------------------------------------------------------


class SecretMatch(NamedTuple):
    """A redacted match: never the value, at most a fingerprint."""

    kind: str
    name: str
    fingerprint: str
    line: int


@dataclass(frozen=True)
class SecretDetails(_Details):
    secret_kinds: list[str]
    matches: list[SecretMatch]
    visible: bool  # still in the final filesystem (else only in the layer that stored it)
    hidden_by: int | None


# -- config and large-file ---------------------------------------------------------------------------


class ConfigCheck(StrEnum):
    USER = "user"
    HEALTHCHECK = "healthcheck"


@dataclass(frozen=True)
class RootUserDetails(_Details):
    user: str
    check: ConfigCheck = field(default=ConfigCheck.USER, init=False)

    def to_json(self) -> dict[str, Any]:
        return {"check": self.check.value, "user": self.user}


@dataclass(frozen=True)
class NoHealthcheckDetails(_Details):
    check: ConfigCheck = field(default=ConfigCheck.HEALTHCHECK, init=False)


@dataclass(frozen=True)
class LargeFileDetails(_Details):
    size: int


FindingDetails = (
    CacheDetails | ToolPackagesDetails | ToolPathsDetails | HiddenDetails | JunkDetails | DuplicateDetails
    | DuplicateGroupsDetails | SecretDetails | RootUserDetails | NoHealthcheckDetails | LargeFileDetails
)
