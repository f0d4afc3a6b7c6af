"""Build tools in the runtime image: compilers, headers, build systems, version control.

With a package database each installed package is classified by name; packages that only
build tools need (what ``apt-get purge --auto-remove`` would take with them) are reported
with them. Bytes are what each package's files occupy in the final filesystem. Without a
database, and for files no package owns, path rules find headers, compiler back-ends,
static libraries and toolchains.
"""

from __future__ import annotations

import re
from collections import defaultdict

from slimview.dockerfile.shell import has_flag, package_arguments
from slimview.findings.model import Finding, FindingPath, sort_largest_first
from slimview.findings.packages import Package, PackageDatabase, needed_by_runtime, providers
from slimview.findings.view import ImageView, severity_for

KIND = "build-tools"

COMPILER = "compiler"
BINUTILS = "binutils"
HEADERS = "headers and static libraries"
BUILD_SYSTEM = "build system"
VCS = "version control"
JDK = "jdk"
DEPENDENCY = "needed only by build tools"

_EXACT = {
    "build-essential": BUILD_SYSTEM, "build-base": BUILD_SYSTEM, "make": BUILD_SYSTEM, "make-guile": BUILD_SYSTEM,
    "cmake": BUILD_SYSTEM, "cmake-data": BUILD_SYSTEM, "ninja-build": BUILD_SYSTEM, "samurai": BUILD_SYSTEM,
    "meson": BUILD_SYSTEM, "scons": BUILD_SYSTEM, "autoconf": BUILD_SYSTEM, "automake": BUILD_SYSTEM,
    "autotools-dev": BUILD_SYSTEM, "libtool": BUILD_SYSTEM, "libtool-bin": BUILD_SYSTEM, "pkg-config": BUILD_SYSTEM,
    "pkgconf": BUILD_SYSTEM, "pkgconf-bin": BUILD_SYSTEM, "pkgconfig": BUILD_SYSTEM, "bison": BUILD_SYSTEM,
    "flex": BUILD_SYSTEM, "m4": BUILD_SYSTEM, "dpkg-dev": BUILD_SYSTEM, "libdpkg-perl": BUILD_SYSTEM,
    "ccache": BUILD_SYSTEM, "swig": BUILD_SYSTEM, "cython3": BUILD_SYSTEM, "debhelper": BUILD_SYSTEM,
    "maven": BUILD_SYSTEM, "gradle": BUILD_SYSTEM, "ant": BUILD_SYSTEM, "abuild": BUILD_SYSTEM,
    "git": VCS, "git-man": VCS, "git-lfs": VCS, "subversion": VCS, "mercurial": VCS, "bzr": VCS,
    "binutils": BINUTILS, "libbinutils": BINUTILS, "libctf0": BINUTILS, "libctf-nobfd0": BINUTILS,
    "libgprofng0": BINUTILS, "libcc1-0": COMPILER, "cpp": COMPILER, "nasm": COMPILER, "yasm": COMPILER,
    "rustc": COMPILER, "cargo": COMPILER, "rust": COMPILER, "go": COMPILER, "golang": COMPILER, "golang-go": COMPILER,
    "musl-dev": HEADERS, "libc-dev": HEADERS, "linux-libc-dev": HEADERS, "libc-dev-bin": HEADERS,
    "libc-devtools": HEADERS, "manpages-dev": HEADERS, "rpcsvc-proto": HEADERS, "linux-headers": HEADERS,
    "fortify-headers": HEADERS,
}

_PATTERNS = [
    # gcc-12, g++-12, cpp-12-x86-64-linux-gnu, clang-16… but never gcc-12-base (libgcc-s1 needs it).
    (re.compile(r"^(?:gcc|g\+\+|cpp|gfortran|gccgo|gdc|gnat|gobjc|gobjc\+\+|clang|llvm|lld|golang)"
                r"(?:-\d+(?:\.\d+)*)?(?:-[a-z0-9_-]+-linux-gnu[a-z]*)?(?:-go)?$"), COMPILER),
    (re.compile(r"^binutils(?:-.+)?$"), BINUTILS),
    (re.compile(r"^libsframe\d+$"), BINUTILS),
    # Sanitizer runtimes are only linked into programs built with -fsanitize.
    (re.compile(r"^lib(?:a|t|l|ub|hwa)san\d+$"), COMPILER),
    (re.compile(r"^(?:default|openjdk)-?\d*-jdk(?:-headless)?$|^openjdk\d+-jdk$"), JDK),
    (re.compile(r".+-dev$|.+-dev-bin$|.+-headers(?:-.+)?$"), HEADERS),
]
# Alpine splits static libraries into -static packages; Debian's -static packages are
# statically linked programs (busybox-static), which are runtime material.
_APK_STATIC = re.compile(r".+-static$")


def build_role(name: str, manager: str = "dpkg") -> str | None:
    """Why package ``name`` is needed only to build software, or None for runtime packages."""
    base = name.split(":", 1)[0]
    role = _EXACT.get(base)
    if role:
        return role
    for pattern, category in _PATTERNS:
        if pattern.match(base):
            return category
    if manager == "apk" and _APK_STATIC.match(base):
        return HEADERS
    return None


# -- path rules (no package database, or files no package owns) --------------------------------

_COMPILER_BACKENDS = frozenset({"cc1", "cc1plus", "cc1obj", "lto1", "f951", "collect2", "lto-wrapper"})
_HEADER_DIRS = ("usr/include/", "usr/local/include/")
_COMPILER_DIRS = ("usr/lib/gcc/", "usr/libexec/gcc/", "usr/local/libexec/gcc/", "usr/local/lib/gcc/")
_TOOLCHAIN_DIRS = ("usr/local/go/", "usr/lib/go-", "usr/local/rustup/", "usr/local/cargo/bin/", "root/.rustup/", "root/.cargo/bin/", "opt/rh/")
_PACKAGED_PARTS = ("/site-packages/", "/dist-packages/", "/node_modules/")
PATH_RULE_MIN_BYTES = 1_000_000


def path_role(path: str) -> str | None:
    if path.startswith(_HEADER_DIRS):
        return HEADERS
    if path.startswith(_COMPILER_DIRS) or path.rsplit("/", 1)[-1] in _COMPILER_BACKENDS:
        return COMPILER
    if path.startswith(_TOOLCHAIN_DIRS):
        return "toolchain"
    if path.endswith(".a") and "lib" in path and not any(p in path for p in _PACKAGED_PARTS):
        return HEADERS
    return None


# -- findings ---------------------------------------------------------------------------------


# Shared-library packages stay even when only build tools depend on them: a pip wheel or a
# program the package manager does not know about may load them, and dpkg cannot tell.
# The exceptions are libraries nothing but compilers and perl use.
_SHARED_LIBRARY = re.compile(r"^lib(?!perl\d|isl\d|mpc\d|mpfr\d|js-)[a-z0-9.+-]*$")


def may_be_loaded_at_runtime(name: str) -> bool:
    base = name.split(":", 1)[0]
    return bool(_SHARED_LIBRARY.match(base)) and not base.endswith(("-perl", "-doc"))


def _layer_of(pkg: Package) -> int:
    if pkg.installed_in is not None:
        return pkg.installed_in
    return max(pkg.bytes_by_layer, key=pkg.bytes_by_layer.get) if pkg.bytes_by_layer else 0


# What the build metapackages depend on, for a purge whose stanza no status file kept.
_METAPACKAGE_DEPENDS = {
    "build-essential": ["libc6-dev", "gcc", "g++", "make", "dpkg-dev"],
    "build-base": ["binutils", "file", "gcc", "g++", "libc-dev", "make", "patch", "fortify-headers"],
}


def _pulled_in(db: PackageDatabase, names: list[str], flagged: set[str]) -> list[str]:
    """The flagged packages ``names`` depend on, directly or through other flagged ones."""
    by_name = providers(db.packages)
    found: set[str] = set()
    stack = [t for n in names for t in by_name.get(n, ())]
    while stack:
        name = stack.pop()
        if name in found or name not in flagged:
            continue
        found.add(name)
        pkg = db.packages[name]
        stack += [t for group in pkg.depends for dep in group for t in by_name.get(dep, ())]
    return sorted(found)


def _removals(view: ImageView, db: PackageDatabase, flagged: set[str]) -> list[dict]:
    """Packages removed without --auto-remove while build tools they pulled in stayed."""
    out = []
    for removal in db.removals:
        kept = _pulled_in(db, removal.kept, flagged)
        if kept:
            out.append({"removed": removal.name, "layer": removal.layer, "still_installed": kept})
    # A purge in the same RUN that installed the metapackage never shows in any status file:
    # the instruction says what it removed, and what a build metapackage depends on is known.
    for layer in view.layers:
        instruction = view.instruction(layer.index)
        removed = package_arguments(instruction, ("apt-get", "apt", "aptitude"), ("purge", "remove"))
        removed += package_arguments(instruction, ("apk",), ("del",))
        if not removed or has_flag(instruction, "--auto-remove", "--autoremove", "autoremove"):
            continue
        for name in removed:
            if name in db.packages or any(r["removed"] == name for r in out):
                continue
            kept = _pulled_in(db, _METAPACKAGE_DEPENDS.get(name, []), flagged)
            if kept:
                out.append({"removed": name, "layer": layer.index, "still_installed": kept})
    return out


def _fix(view: ImageView, layer_no: int, manager: str, requested: list[str], names: list[str]) -> str:
    instruction = view.instruction(layer_no)
    shown = " ".join((requested or names)[:8])
    purge = f"apk del {shown}" if manager == "apk" else f"apt-get purge -y --auto-remove {shown}"
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
    roles = {name: build_role(name, db.manager) for name in db.packages}
    build = {name for name, role in roles.items() if role}
    if not build:
        return []
    keep = needed_by_runtime(db.packages, build, also_roots=may_be_loaded_at_runtime)
    for name in db.packages:
        if name not in keep and name not in build:
            roles[name] = DEPENDENCY
    flagged = {name for name, role in roles.items() if role}
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
        direct = [p for p in pkgs if roles[p.name] != DEPENDENCY]
        pulled = [p for p in pkgs if roles[p.name] == DEPENDENCY]
        instruction = view.instruction(layer_no)
        tools = ("apk",) if db.manager == "apk" else ("apt-get", "apt", "aptitude")
        requested = [n for n in package_arguments(instruction, tools, ("install", "add")) if n in flagged or build_role(n, db.manager)]
        left = [r for r in removals if any(n in r["still_installed"] for n in (p.name for p in pkgs))]
        evidence = (
            f"The {db.manager} database lists {len(direct)} build-only package(s) installed by layer {layer_no}"
            + (f", and {len(pulled)} package(s) only they depend on" if pulled else "")
            + ": " + ", ".join(p.name for p in pkgs[:12]) + (" …" if len(pkgs) > 12 else "")
            + "."
        )
        for r in left:
            evidence += (
                f" Layer {r['layer']} removed {r['removed']} but not what it pulled in"
                f" ({', '.join(r['still_installed'][:6])}{' …' if len(r['still_installed']) > 6 else ''});"
                " removing with --auto-remove takes those too."
            )
        findings.append(
            Finding(
                kind=KIND,
                title=f"Build tools in the runtime image: {', '.join(p.name for p in direct[:4])}"
                + (" …" if len(direct) > 4 else "")
                + f" installed by {view.quoted(layer_no)}",
                severity=severity_for(total),
                bytes=total,
                layer=layer_no,
                instruction=view.layers[layer_no].instruction,
                paths=paths,
                evidence=evidence,
                fix=_fix(view, layer_no, db.manager, requested, [p.name for p in direct]),
                details={
                    "source": db.manager,
                    "packages": [
                        {
                            "name": p.name,
                            "version": p.version,
                            "category": roles[p.name],
                            "bytes": p.bytes,
                            "files": len(p.files),
                            "installed_in": p.installed_in,
                        }
                        for p in pkgs
                    ],
                    "requested": requested,
                    "removed_packages": left,
                },
            )
        )
    return findings


def _path_findings(view: ImageView, owner: dict[str, str]) -> list[Finding]:
    findings = []
    for layer in view.layers:
        files = layer.files
        paths: list[FindingPath] = []
        by_role: dict[str, int] = defaultdict(int)
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
            Finding(
                kind=KIND,
                title=f"Build tools in the runtime image ({', '.join(roles)}) added by {view.quoted(layer.index)}",
                severity=severity_for(total),
                bytes=total,
                layer=layer.index,
                instruction=layer.instruction,
                paths=paths,
                evidence=(
                    f"{len(paths)} file(s) no package owns look like build-only material: "
                    + ", ".join(f"{r} ({by_role[r]} bytes)" for r in roles) + "."
                ),
                fix=(
                    "Build in a separate stage and COPY only the artifacts into the runtime stage; "
                    "headers, static libraries, compilers and toolchains are not needed to run the program."
                ),
                details={"source": "path rules", "categories": dict(sorted(by_role.items()))},
            )
        )
    return findings


def detect(view: ImageView, db: PackageDatabase | None) -> list[Finding]:
    # A database without file lists (distroless keeps only status.d) cannot say which
    # bytes a package holds; path rules can.
    if db is None or not db.attributed:
        return _path_findings(view, {})
    return _package_findings(view, db) + _path_findings(view, db.owner)
