"""OS packages in the rewrite, for every stack: which of the original's packages go to the
builder and which to the runtime, and the one command that installs them and leaves
nothing behind.

The clean-up is explicit and in the same RUN (``apt-get clean`` and the package lists;
``apk add --no-cache``), never left to what a base image may configure: Docker's official
Debian images delete apt's caches through a hook in /etc/apt/apt.conf.d/docker-clean,
and a base without that hook would keep every downloaded .deb and apt's binary caches
(pkgcache.bin, srcpkgcache.bin) in the layer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from slimview.dockerfile import shell as cmd
from slimview.packages.classify import is_build_only
from slimview.packages.model import Manager

if TYPE_CHECKING:
    from slimview.rewrite.writer import StageWriter


@dataclass
class PackagePlan:
    """The original's OS packages, split between the stages."""

    manager: Manager
    build: list[str] = field(default_factory=list)  # installed in the builder stage
    runtime: list[str] = field(default_factory=list)  # installed in the runtime stage
    libraries: dict[str, list[str]] = field(default_factory=dict)  # -dev package → run-time libraries added for it
    comments: list[str] = field(default_factory=list)  # what the stack says about the runtime's packages


def split_build_only(requested: list[str], plan: PackagePlan, build_packages: set[str], shared_libraries: dict[str, list[str]]) -> None:
    """Build-only packages (compilers, -dev, git: the image database's rule, as findings use)
    go to the builder; what was compiled against a -dev package's headers needs its
    library at run time, so the runtime gets those."""
    plan.build = [p for p in requested if is_build_only(p, build_packages, plan.manager)]
    plan.runtime = [p for p in requested if p not in plan.build]
    plan.libraries = {dev: [lib for lib in libs if lib not in plan.runtime] for dev, libs in shared_libraries.items() if dev in plan.build}
    plan.runtime += list(dict.fromkeys(lib for libs in plan.libraries.values() for lib in libs))


def install(packages: list[str], manager: Manager) -> str:
    """The command installing ``packages`` that stores no package list, archive or cache."""
    if manager == Manager.APK:
        return "apk add --no-cache " + " ".join(packages)
    return (
        "apt-get update \\\n && apt-get install -y --no-install-recommends " + " ".join(packages)
        + " \\\n && apt-get clean \\\n && rm -rf /var/lib/apt/lists/*"
    )


def how(manager: Manager) -> str:
    """How the install keeps its caches out of the layer, for the comment above it."""
    if manager == Manager.APK:
        return "--no-cache"
    return "--no-install-recommends; apt's lists and caches are removed in the same layer"


def package_comments(w: StageWriter) -> list[str]:
    """The user's comments above the RUN lines that installed packages (said once)."""
    out = []
    for n, commands in w.original.commands.items():
        if any(c.kind in (cmd.APT_INSTALL, cmd.APK_ADD) for c in commands):
            out += w.ledger.comments(n)
    return out
