"""The package model every reader fills and every consumer reads: one :class:`Package` per
installed package, and the :class:`PackageDatabase` of the final image with its history
over the layers and the files each package owns.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum

_VERSION_CONSTRAINT = re.compile(r"[=<>~]")


def package_name(spec: str) -> str:
    """A package named with a version pin or constraint, without it: ``curl=7.88.1-10``,
    ``curl>=8`` and apk's ``so:libc.musl-x86_64.so.1=1`` as ``curl`` and ``so:libc.musl-x86_64.so.1``."""
    return _VERSION_CONSTRAINT.split(spec, maxsplit=1)[0]


class Manager(StrEnum):
    """The package manager whose database was read (its value is what reports show)."""

    DPKG = "dpkg"
    APK = "apk"
    RPM = "rpm"


@dataclass
class Package:
    name: str  # "libc6", or "libc6:i386" when several architectures of it are installed
    version: str = ""
    installed_bytes: int = 0  # what the database says it occupies (dpkg's Installed-Size, apk's I:)
    installed_in: int | None = None  # first layer whose database lists it
    depends: list[list[str]] = field(default_factory=list)  # groups of alternatives (Depends, Pre-Depends)
    recommends: list[list[str]] = field(default_factory=list)
    provides: list[str] = field(default_factory=list)  # virtual names; apk's so: names of its libraries
    essential: bool = False
    priority: str = ""
    auto: bool = False  # installed only as a dependency
    files: list[str] = field(default_factory=list)  # visible regular files it owns
    bytes: int = 0  # visible bytes of those files
    bytes_by_layer: dict[int, int] = field(default_factory=dict)

    @property
    def required(self) -> bool:
        """Part of the base system: never a candidate for removal."""
        return self.essential or self.priority in ("required", "important")


@dataclass
class Removal:
    """A package a later layer removed, and the packages it depended on that stayed."""

    name: str
    layer: int
    kept: list[str]


# What a layer's copy of the database listed: (layer, {package: version}), bottom first.
Snapshot = tuple[int, dict[str, str]]


@dataclass
class PackageDatabase:
    manager: Manager
    packages: dict[str, Package]  # what the final image has installed
    owner: dict[str, str]  # visible path → package name
    removals: list[Removal] = field(default_factory=list)
    snapshots: list[Snapshot] = field(default_factory=list)  # each layer that wrote the database

    def version_at(self, name: str, layer_no: int) -> str:
        """The version of ``name`` the database listed as of layer ``layer_no`` ("" if none)."""
        return self.listed_at(layer_no).get(name, "")

    def listed_at(self, layer_no: int) -> dict[str, str]:
        """{package: version} the database listed as of layer ``layer_no`` ({} before any)."""
        listed: dict[str, str] = {}
        for at, versions in self.snapshots:
            if at > layer_no:
                break
            listed = versions
        return listed

    @property
    def attributed(self) -> bool:
        """Whether files could be attributed (distroless keeps no file lists)."""
        return bool(self.owner)
