"""Which OS packages a program needs to run, and which only to build it.

The rewrite installs build-only packages in the builder stage and the rest in the runtime
stage. A build-tools finding, when there is one, names the image's build-only packages;
these name rules cover the common ones when there is none.
"""

from __future__ import annotations

import re

_BUILD_ONLY = frozenset(
    {"build-essential", "build-base", "make", "cmake", "ninja-build", "meson", "autoconf", "automake", "libtool",
     "pkg-config", "pkgconf", "bison", "flex", "m4", "swig", "cython3", "ccache", "git", "git-lfs", "subversion",
     "mercurial", "binutils", "cpp", "nasm", "yasm", "rustc", "cargo", "golang", "golang-go", "musl-dev",
     "libc-dev", "linux-headers", "dpkg-dev"}
)
_BUILD_ONLY_PATTERN = re.compile(
    r"^(?:(?:gcc|g\+\+|gfortran|clang|llvm)(?:-\d+(?:\.\d+)*)?|.+-dev|.+-headers|openjdk-\d+-jdk(?:-headless)?)$"
)
# What a python:X.Y image already has: its interpreter, pip and venv.
_PYTHON_TOOLING = re.compile(
    r"^(?:python3(?:\.\d+)?(?:-minimal|-pip|-venv|-distutils|-setuptools|-wheel|-full)?|python-is-python3|py3-pip|python3-pip-whl|python3-setuptools-whl)$"
)


def package_name(spec: str) -> str:
    """``curl=7.88.1-10`` or ``curl>=8`` as ``curl``."""
    return re.split(r"[=<>~]", spec, maxsplit=1)[0]


def is_build_only(spec: str, named_by_findings: set[str] = frozenset()) -> bool:
    name = package_name(spec)
    return name in named_by_findings or name in _BUILD_ONLY or bool(_BUILD_ONLY_PATTERN.match(name))


def is_python_tooling(spec: str) -> bool:
    """The Python interpreter, pip or venv, which a python:X.Y base provides."""
    return bool(_PYTHON_TOOLING.match(package_name(spec)))
