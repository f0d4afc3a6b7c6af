"""What a package is for, by its name: a build role (compilers, headers, build systems,
version control), the Python tooling a python:X.Y base already has, or a shared library
a program may load at run time.

Findings and the rewrite both decide "build-only" here, so a package the report calls a
build tool is the package the rewrite moves to the builder stage.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from enum import StrEnum

from slimview.packages.model import Manager, package_name


class BuildRole(StrEnum):
    """Why a package (or, for TOOLCHAIN, a file) is needed only to build software.

    The values are what reports show, in the JSON report's ``category`` fields."""

    COMPILER = "compiler"
    BINUTILS = "binutils"
    HEADERS = "headers and static libraries"
    BUILD_SYSTEM = "build system"
    VCS = "version control"
    JDK = "jdk"
    TOOLCHAIN = "toolchain"  # files of a toolchain no package installed (usr/local/go, rustup)
    DEPENDENCY = "needed only by build tools"  # no role of its own: only build tools need it


COMPILER, BINUTILS, HEADERS = BuildRole.COMPILER, BuildRole.BINUTILS, BuildRole.HEADERS
BUILD_SYSTEM, VCS, JDK = BuildRole.BUILD_SYSTEM, BuildRole.VCS, BuildRole.JDK

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
    # rpm's names (Fedora, RHEL, UBI, Rocky)
    "gcc-c++": COMPILER, "gcc-gfortran": COMPILER, "gcc-plugin-annobin": COMPILER, "annobin-plugin-gcc": COMPILER,
    "golang-bin": COMPILER, "golang-src": COMPILER, "git-core": VCS, "git-core-doc": VCS, "rpm-build": BUILD_SYSTEM,
    "redhat-rpm-config": BUILD_SYSTEM, "cmake-filesystem": BUILD_SYSTEM, "cmake-rpm-macros": BUILD_SYSTEM,
    "pkgconf-pkg-config": BUILD_SYSTEM, "pkgconf-m4": BUILD_SYSTEM,
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
    (re.compile(r".+-dev$|.+-dev-bin$|.+-headers(?:-.+)?$|.+-devel$"), HEADERS),  # -devel: rpm's
]
# Alpine splits static libraries into -static packages; Debian's -static packages are
# statically linked programs (busybox-static), which are runtime material.
_APK_STATIC = re.compile(r".+-static$")

# What the build metapackages depend on, for a purge whose stanza no status file kept.
METAPACKAGE_DEPENDS = {
    "build-essential": ["libc6-dev", "gcc", "g++", "make", "dpkg-dev"],
    "build-base": ["binutils", "file", "gcc", "g++", "libc-dev", "make", "patch", "fortify-headers"],
}

# What a python:X.Y image already has: its interpreter, pip and venv.
_PYTHON_TOOLING = re.compile(
    r"^(?:python3(?:\.\d+)?(?:-minimal|-pip|-venv|-distutils|-setuptools|-wheel|-full)?|python-is-python3|py3-pip|python3-pip-whl|python3-setuptools-whl)$"
)

# A shared-library package by its name: libpq5, libssl3, libjpeg62-turbo, Alpine's libffi,
# and zlib1g, which Debian names without the prefix. Not JavaScript (libjs-jquery), perl
# modules (liberror-perl), documentation or static builds.
_SHARED_LIBRARY = re.compile(r"^(?:lib(?!js-)[a-z0-9.+-]*|zlib1g)$")
_NOT_SHARED_LIBRARY = ("-perl", "-doc", "-static")
# Libraries nothing but compilers (isl, mpc, mpfr) and perl itself load.
_TOOL_INTERNALS = re.compile(r"^lib(?:perl|isl|mpc|mpfr)\d")


def _base(name: str) -> str:
    return name.split(":", 1)[0]


def build_role(name: str, manager: str = Manager.DPKG) -> BuildRole | None:
    """Why package ``name`` is needed only to build software, or None for runtime packages."""
    base = _base(name)
    role = _EXACT.get(base)
    if role:
        return role
    for pattern, category in _PATTERNS:
        if pattern.match(base):
            return category
    if manager == Manager.APK and _APK_STATIC.match(base):
        return HEADERS
    return None


def is_build_only(spec: str, named: Collection[str] = frozenset(), manager: str = Manager.DPKG) -> bool:
    """Is the package ``spec`` (maybe pinned: ``gcc=4:12.2.0-3``) needed only to build?
    ``named``: names already known to be build-only (the image database's, see closure.build_roles)."""
    name = package_name(spec)
    return name in named or build_role(name, manager) is not None


def is_python_tooling(spec: str) -> bool:
    """The Python interpreter, pip or venv, which a python:X.Y base provides."""
    return bool(_PYTHON_TOOLING.match(package_name(spec)))


def is_shared_library(name: str, provides: Iterable[str] = ()) -> bool:
    """Does package ``name`` ship shared libraries? By its name, or, for apk, by the ``so:``
    names it provides (which name its libraries exactly: zlib provides so:libz.so.1)."""
    if any(p.startswith("so:") for p in provides):
        return True
    base = _base(name)
    return bool(_SHARED_LIBRARY.match(base)) and not base.endswith(_NOT_SHARED_LIBRARY) and build_role(base) is None


def may_be_loaded_at_runtime(name: str) -> bool:
    """A shared library a pip wheel or a program the package manager does not know about
    may load, so it stays even when only build tools depend on it; by name alone (apk's
    so: names would keep compiler internals such as isl26 and mpc1 too). The exceptions
    are libraries nothing but compilers and perl use."""
    return is_shared_library(name) and not _TOOL_INTERNALS.match(_base(name))
