"""What each kind of finding knows beyond its bytes, paths and fix: one typed record per kind.

Other stages read these as attributes (the gate counts build-tool packages, the rewrite
takes the .dockerignore patterns of a context-junk finding); the JSON report writes
``to_json()``, whose fields are documented in slimview/report/schema.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, is_dataclass
from enum import Enum, StrEnum
from typing import Any, NamedTuple

from slimview.elf import ElfSection, ProgramLinkage
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


class LabelBytes(NamedTuple):
    label: str
    bytes: int


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


class DevPackage(NamedTuple):
    name: str
    version: str  # "" when the lockfile does not say (yarn, or no lockfile)
    location: str  # where it is installed, relative to the project: node_modules/…
    bytes: int
    files: int


@dataclass(frozen=True)
class DevDependenciesDetails(_Details):
    """Packages in a Node project's node_modules that only its devDependencies need."""

    source: str  # what told them apart: "npm lockfile", "yarn lockfile" or "package.json" (direct ones only)
    project: str  # the project's directory, "/"-rooted
    lockfile: str | None  # the lockfile read, "/"-rooted
    dev_dependencies: list[str]  # the devDependencies package.json names that are installed
    packages: list[DevPackage]  # every dev-only package installed, largest first


@dataclass(frozen=True)
class ToolchainDetails(_Details):
    """A language toolchain shipped in the image that runs one program built with it."""

    language: str  # "go"
    program: str  # the program the image runs, "/"-rooted
    built_with: str  # the toolchain version that built it, from its build information ("go1.19.8")
    linkage: ProgramLinkage
    needs: list[str]  # shared libraries it loads (the loader and DT_NEEDED names)
    libraries: list[str]  # the image files those are, "/"-rooted
    runtime_packages: list[str]  # the packages those files belong to, with what they depend on
    runtime_bytes: int  # bytes of those packages' files (of the libraries alone without a package database)
    toolchain: list[LabelBytes]  # the toolchain's directories and their bytes
    source: str = field(default="toolchain", init=False)

    def to_json(self) -> dict[str, Any]:
        out = _json(self)
        return {"source": out.pop("source"), **out}


@dataclass(frozen=True)
class DebugInfoDetails(_Details):
    """DWARF debugging information and symbol tables in a program, which stripping removes."""

    program: str  # "/"-rooted
    language: str  # "go", or "" for any other ELF program
    linkage: ProgramLinkage
    dwarf_bytes: int
    symbol_bytes: int
    sections: list[ElfSection]  # the sections stripping removes, largest first
    source: str = field(default="debug information", init=False)

    def to_json(self) -> dict[str, Any]:
        out = _json(self)
        return {"source": out.pop("source"), **out}


# -- hidden-bytes -----------------------------------------------------------------------------


class HiddenReason(StrEnum):
    DELETED = "deleted"
    OVERWRITTEN = "overwritten"
    DELETED_OR_OVERWRITTEN = "deleted-or-overwritten"
    METADATA_ONLY = "metadata-only"  # the same content stored again to change owner or mode
    SAME_CONTENT = "same-content"  # the same content stored again
    PACKAGE_UPGRADE = "package-upgrade"  # package files the package manager rewrote


@dataclass(frozen=True)
class UpgradedPackage(_Details):
    name: str
    bytes: int
    from_version: str = field(metadata={"json": "from"})
    to_version: str = field(metadata={"json": "to"})


class MetadataChange(NamedTuple):
    """Files stored again with the same content: the owner and mode before and after."""

    owner_before: str  # uid:gid
    owner_after: str
    mode_before: str  # octal permission bits, e.g. "0644"
    mode_after: str
    files: int
    bytes: int


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
    metadata_changes: list[MetadataChange] = field(default_factory=list)  # METADATA_ONLY: what changed, largest first


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


class SourceCategory(StrEnum):
    SOURCES = "sources"  # TypeScript or Go sources the compiled output was built from
    TESTS = "tests"
    COVERAGE = "coverage reports"
    SOURCE_MAPS = "source maps"
    BUILD_CONFIG = "build and lint configuration"


class SourceCandidate(NamedTuple):
    category: SourceCategory
    bytes: int
    files: int


@dataclass(frozen=True)
class SourcesDetails(_Details):
    """What a build read that the compiled program does not: sources, tests, coverage."""

    language: str  # "typescript" or "go"
    project: str  # the directory they were found in, "/"-rooted
    compiled: str  # the compiled output that runs instead: "/app/dist", "/usr/local/bin/server"
    candidates: list[SourceCandidate]


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
    PID1 = "pid1"


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
class PackageManagerPid1Details(_Details):
    """A package manager (npm start) runs as the container's first process."""

    command: list[str]  # the container's command line, entrypoint first
    runner: str  # npm, yarn, pnpm or npx
    script: str  # the package.json script it runs ("start"), "" when not a script
    runs: str  # what that script runs, from the project's package.json ("" when unknown)
    check: ConfigCheck = field(default=ConfigCheck.PID1, init=False)

    def to_json(self) -> dict[str, Any]:
        out = _json(self)
        return {"check": out.pop("check"), **out}


@dataclass(frozen=True)
class LargeFileDetails(_Details):
    size: int


FindingDetails = (
    CacheDetails | ToolPackagesDetails | ToolPathsDetails | DevDependenciesDetails | ToolchainDetails | DebugInfoDetails
    | HiddenDetails | JunkDetails | SourcesDetails | DuplicateDetails | DuplicateGroupsDetails | SecretDetails
    | RootUserDetails | NoHealthcheckDetails | PackageManagerPid1Details | LargeFileDetails
)
