"""Build tools in the runtime image: compilers, headers, build systems, version control.

With a package database each installed package is classified by name; packages that only
build tools need (what ``apt-get purge --auto-remove`` would take with them) are reported
with them. Bytes are what each package's files occupy in the final filesystem. Without a
database, and for files no package owns, path rules find headers, compiler back-ends,
static libraries and toolchains.
"""

from __future__ import annotations

from collections import defaultdict

from slimview.dockerfile.shell import has_flag, package_arguments
from slimview.findings.details import LeftBehind, ToolPackage, ToolPackagesDetails, ToolPathsDetails
from slimview.findings.model import Finding, FindingKind, FindingPath, sort_largest_first
from slimview.findings.view import ImageView
from slimview.packages.classify import METAPACKAGE_DEPENDS, BuildRole, is_build_only
from slimview.packages.closure import build_roles, pulled_in
from slimview.packages.model import Manager, Package, PackageDatabase

# -- path rules (no package database, or files no package owns) --------------------------------

_COMPILER_BACKENDS = frozenset({"cc1", "cc1plus", "cc1obj", "lto1", "f951", "collect2", "lto-wrapper"})
_HEADER_DIRS = ("usr/include/", "usr/local/include/")
_COMPILER_DIRS = ("usr/lib/gcc/", "usr/libexec/gcc/", "usr/local/libexec/gcc/", "usr/local/lib/gcc/")
_TOOLCHAIN_DIRS = ("usr/local/go/", "usr/lib/go-", "usr/local/rustup/", "usr/local/cargo/bin/", "root/.rustup/", "root/.cargo/bin/", "opt/rh/")
_PACKAGED_PARTS = ("/site-packages/", "/dist-packages/", "/node_modules/")
PATH_RULE_MIN_BYTES = 1_000_000
# The commands that install with each package manager.
_INSTALLERS = {Manager.DPKG: ("apt-get", "apt", "aptitude"), Manager.APK: ("apk",), Manager.RPM: ("dnf", "yum", "microdnf", "tdnf")}
_RPM_TOOLS = _INSTALLERS[Manager.RPM]


def path_role(path: str) -> BuildRole | None:
    """Why a file no package owns looks like build-only material, or None."""
    if path.startswith(_HEADER_DIRS):
        return BuildRole.HEADERS
    if path.startswith(_COMPILER_DIRS) or path.rsplit("/", 1)[-1] in _COMPILER_BACKENDS:
        return BuildRole.COMPILER
    if path.startswith(_TOOLCHAIN_DIRS):
        return BuildRole.TOOLCHAIN
    if path.endswith(".a") and "lib" in path and not any(p in path for p in _PACKAGED_PARTS):
        return BuildRole.HEADERS
    return None


# -- findings ---------------------------------------------------------------------------------


def _layer_of(pkg: Package) -> int:
    if pkg.installed_in is not None:
        return pkg.installed_in
    by_layer = pkg.bytes_by_layer
    return max(by_layer, key=lambda n: by_layer[n]) if by_layer else 0


def _removals(view: ImageView, db: PackageDatabase, flagged: set[str]) -> list[LeftBehind]:
    """Packages removed without --auto-remove while build tools they pulled in stayed."""
    out: list[LeftBehind] = []
    for removal in db.removals:
        kept = pulled_in(db.packages, removal.kept, flagged)
        if kept:
            out.append(LeftBehind(removal.name, removal.layer, kept))
    # A purge in the same RUN that installed the metapackage never shows in any status file:
    # the instruction says what it removed, and what a build metapackage depends on is known.
    for layer in view.layers:
        instruction = view.instruction(layer.index)
        removed = package_arguments(instruction, ("apt-get", "apt", "aptitude"), ("purge", "remove"))
        removed += package_arguments(instruction, ("apk",), ("del",))
        removed += package_arguments(instruction, _RPM_TOOLS, ("remove", "erase", "autoremove"))
        if not removed or has_flag(instruction, "--auto-remove", "--autoremove", "autoremove"):
            continue
        for name in removed:
            if name in db.packages or any(r.removed == name for r in out):
                continue
            kept = pulled_in(db.packages, METAPACKAGE_DEPENDS.get(name, []), flagged)
            if kept:
                out.append(LeftBehind(name, layer.index, kept))
    return out


def _fix(view: ImageView, layer_no: int, manager: Manager, requested: list[str], names: list[str]) -> str:
    instruction = view.instruction(layer_no)
    shown = " ".join((requested or names)[:8])
    purge = {Manager.APK: f"apk del {shown}", Manager.RPM: f"dnf remove -y {shown}"}.get(manager, f"apt-get purge -y --auto-remove {shown}")
    if instruction.keyword != "RUN":
        return (
            "The base image ships these build tools: switch to a runtime variant of it (a -slim or "
            "distroless image), or build in a separate stage and COPY only the result into a slim one."
        )
    return (
        f"Use a multi-stage build: install {shown} in a builder stage and COPY only what it produces "
        f"(a virtualenv, wheels, a binary) into a runtime stage that never installs them. If nothing after "
        f"this step needs them, remove them in the same RUN that installed them: `{purge}`."
    )


def _package_findings(view: ImageView, db: PackageDatabase) -> list[Finding]:
    roles = build_roles(db.packages, db.manager)
    if not roles:
        return []
    flagged = set(roles)
    removals = _removals(view, db, flagged)

    by_layer: dict[int, list[Package]] = defaultdict(list)
    for name in flagged:
        by_layer[_layer_of(db.packages[name])].append(db.packages[name])

    findings = []
    for layer_no, pkgs in sorted(by_layer.items()):
        pkgs.sort(key=lambda p: (-p.bytes, p.name))
        total = sum(p.bytes for p in pkgs)
        paths = view.file_paths(path for pkg in pkgs for path in pkg.files)
        sort_largest_first(paths)
        direct = [p for p in pkgs if roles[p.name] != BuildRole.DEPENDENCY]
        pulled = [p for p in pkgs if roles[p.name] == BuildRole.DEPENDENCY]
        instruction = view.instruction(layer_no)
        tools = _INSTALLERS[db.manager]
        requested = [n for n in package_arguments(instruction, tools, ("install", "add")) if is_build_only(n, flagged, db.manager)]
        left = [r for r in removals if any(n in r.still_installed for n in (p.name for p in pkgs))]
        evidence = (
            f"The {db.manager} database lists {len(direct)} build-only package(s) installed by layer {layer_no}"
            + (f", and {len(pulled)} package(s) only they depend on" if pulled else "")
            + ": " + ", ".join(p.name for p in pkgs[:12]) + (" …" if len(pkgs) > 12 else "")
            + "."
        )
        for r in left:
            evidence += (
                f" Layer {r.layer} removed {r.removed} but not what it pulled in"
                f" ({', '.join(r.still_installed[:6])}{' …' if len(r.still_installed) > 6 else ''});"
                " removing with --auto-remove takes those too."
            )
        findings.append(
            view.finding(
                kind=FindingKind.BUILD_TOOLS,
                title=f"Build tools in the runtime image: {', '.join(p.name for p in direct[:4])}"
                + (" …" if len(direct) > 4 else "")
                + f" installed by {view.quoted(layer_no)}",
                saved=total,
                layer_no=layer_no,
                paths=paths,
                evidence=evidence,
                fix=_fix(view, layer_no, db.manager, requested, [p.name for p in direct]),
                details=ToolPackagesDetails(
                    str(db.manager),
                    [ToolPackage(p.name, p.version, roles[p.name], p.bytes, len(p.files), p.installed_in) for p in pkgs],
                    requested,
                    left,
                ),
            )
        )
    return findings


def _path_findings(view: ImageView, owner: dict[str, str]) -> list[Finding]:
    findings = []
    for layer in view.layers:
        files = layer.files
        paths: list[FindingPath] = []
        by_role: dict[BuildRole, int] = defaultdict(int)
        for i in view.visible_files(layer.index):
            path = files.paths[i]
            if path in owner:
                continue
            role = path_role(path)
            if role:
                size = files.sizes[i]
                paths.append(FindingPath(path, size, layer.index))
                by_role[role] += size
        total = sum(by_role.values())
        if total < PATH_RULE_MIN_BYTES:
            continue
        sort_largest_first(paths)
        roles = sorted(by_role, key=lambda r: -by_role[r])
        findings.append(
            view.finding(
                kind=FindingKind.BUILD_TOOLS,
                title=f"Build tools in the runtime image ({', '.join(roles)}) added by {view.quoted(layer.index)}",
                saved=total,
                layer_no=layer.index,
                paths=paths,
                evidence=(
                    f"{len(paths)} file(s) no package owns look like build-only material: "
                    + ", ".join(f"{r} ({by_role[r]} bytes)" for r in roles) + "."
                ),
                fix=(
                    "Build in a separate stage and COPY only the artifacts into the runtime stage; "
                    "headers, static libraries, compilers and toolchains are not needed to run the program."
                ),
                details=ToolPathsDetails(dict(sorted(by_role.items()))),
            )
        )
    return findings


def detect(view: ImageView, db: PackageDatabase | None) -> list[Finding]:
    # A database without file lists (distroless keeps only status.d) cannot say which
    # bytes a package holds; path rules can.
    if db is None or not db.attributed:
        return _path_findings(view, {})
    return _package_findings(view, db) + _path_findings(view, db.owner)
