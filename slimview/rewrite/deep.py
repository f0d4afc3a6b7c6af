"""``--deep``: what a careful engineer trims beyond the rewrite, each trim measured.

The default rewrite changes nothing the program could notice. ``--deep`` also removes
what a program does not load at run time, in the builder stage, so the runtime copies
less:

- test suites shipped inside site-packages (``tests/`` directories);
- docs, type stubs and C sources/headers there (``doc/``, ``docs/``, ``*.pyi``, ``*.pyx``,
  ``*.pxd``, ``*.c``, ``*.h``): for readers, type checkers and compilers;
- pip, setuptools and wheel, when a requirement installed them and no installed
  distribution requires them;
- the symbol tables and debug sections of shared libraries (``strip --strip-unneeded``,
  which keeps what the dynamic loader needs), except the libraries auditwheel vendored
  into ``*.libs/`` directories: patchelf rewrote those, and strip leaves them unloadable
  ("ELF load command address/offset not page-aligned", numpy's OpenBLAS).

Each trim's bytes are measured on the original image's pip layers (the same packages the
virtualenv gets); what ``strip`` saves needs the file bodies, so ``slimview verify
--deep`` measures it on the built images, with every other trim, and runs the smoke test
on the trimmed image. Bytecode is kept, and why is said in the Dockerfile.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from slimview.display import human_bytes
from slimview.dockerfile.instruction import Instruction
from slimview.index.model import ImageIndex, entry_ref
from slimview.packages.model import package_name
from slimview.rewrite.model import Change, Fix
from slimview.source.tarstream import EntryType

if TYPE_CHECKING:
    from slimview.rewrite.writer import StageWriter

_SITE = r"/(?:site|dist)-packages/"


@dataclass(frozen=True)
class TrimRule:
    """One trim: what it removes (a regex on paths, after the site-packages directory) and how."""

    key: str
    label: str
    pattern: re.Pattern


TESTS = TrimRule("tests", "test suites (tests/ directories)", re.compile(_SITE + r"(?:[^/]+/)*tests/"))
DOCS = TrimRule(
    "docs", "docs, type stubs and C sources (doc/, docs/, *.pyi, *.pyx, *.pxd, *.c, *.h)",
    re.compile(_SITE + r"(?:(?:[^/]+/)*docs?/|.*\.(?:pyi|pyx|pxd|c|h)$)"),
)
TOOLING = TrimRule(
    "tooling", "pip, setuptools and wheel",
    re.compile(_SITE + r"(?:pip|setuptools|wheel|pkg_resources|_distutils_hack)(?:/|-[^/]*\.dist-info/)"),
)
SHARED_LIBRARIES = TrimRule(
    "strip", "debug symbols of shared libraries (strip --strip-unneeded)",
    re.compile(_SITE + r"(?:(?![^/]+\.libs/)[^/]+/)*[^/]+\.so(?:\.[\d.]+)?$"),
)
BYTECODE = TrimRule("bytecode", "bytecode (__pycache__)", re.compile(_SITE + r"(?:[^/]+/)*__pycache__/"))
RULES = (TESTS, DOCS, TOOLING, SHARED_LIBRARIES, BYTECODE)
# What the trims remove from a virtualenv; with strip, what verify measures on the built images.
REMOVED = (TESTS, DOCS, TOOLING)
MEASURED = (*REMOVED, SHARED_LIBRARIES)


@dataclass(frozen=True)
class DeepFacts:
    """Bytes under each trim rule among the files the original's pip layers added and the
    final image still shows (site-packages or dist-packages)."""

    bytes: dict[str, int]
    files: dict[str, int]

    def of(self, rule: TrimRule) -> int:
        return self.bytes.get(rule.key, 0)


def rule_of(path: str) -> TrimRule | None:
    """The first trim rule ``path`` falls under (tests before the rest: a test's C source is a test)."""
    return next((rule for rule in RULES if rule.pattern.search("/" + path)), None)


def measure(index: ImageIndex, layers: list[int]) -> DeepFacts:
    """What each trim would remove, measured on ``layers`` (the original's pip layers)."""
    sizes: dict[str, int] = {}
    counts: dict[str, int] = {}
    for layer_no in layers:
        files = index.layers[layer_no].files
        for i, path in enumerate(files.paths):
            if files.types[i] != EntryType.FILE or index.final.get(path) != entry_ref(layer_no, i):
                continue
            rule = rule_of(path)
            if rule is not None:
                sizes[rule.key] = sizes.get(rule.key, 0) + files.sizes[i]
                counts[rule.key] = counts.get(rule.key, 0) + 1
    return DeepFacts(sizes, counts)


def visible_bytes(index: ImageIndex, under: str) -> dict[str, int]:
    """Bytes under each trim rule in the final filesystem of ``index`` (a built rewrite),
    below the directory ``under`` (its virtualenv): ``slimview verify --deep`` takes the
    difference between the rewrite and its --deep twin."""
    prefix = under.strip("/") + "/"
    out: dict[str, int] = {}
    for path, entry, _layer in index.final_files():
        if entry.type == EntryType.FILE and path.startswith(prefix):
            rule = rule_of(path)
            if rule is not None:
                out[rule.key] = out.get(rule.key, 0) + entry.size
    return out


def python_trims(w: StageWriter, venv: str) -> list[Instruction]:
    """The builder's RUN removing what the program does not load, each trim commented with its bytes."""
    deep = w.facts.deep
    assert deep is not None, "only --deep rewrites trim"
    comments = ["--deep: what the program never loads leaves the virtualenv here (bytes measured on the original's pip layers):"]
    commands = [
        f"find {venv} -depth -type d \\( -name tests -o -name doc -o -name docs \\) -path '*-packages/*' -exec rm -rf {{}} +",
        f"find {venv} -type f -path '*-packages/*' \\( -name '*.pyi' -o -name '*.pyx' -o -name '*.pxd' -o -name '*.c' -o -name '*.h' \\) -delete",
    ]
    comments.append(f"  {TESTS.label}: {human_bytes(deep.of(TESTS))};")
    comments.append(f"  {DOCS.label}: {human_bytes(deep.of(DOCS))};")
    w.ledger.fixes.append(Fix(Change.DEEP, TESTS.label, deep.of(TESTS)))
    w.ledger.fixes.append(Fix(Change.DEEP, DOCS.label, deep.of(DOCS)))
    if deep.of(TOOLING):
        # Only those nothing installed requires (pkg_resources users need setuptools).
        commands.append(
            f"for tool in pip setuptools wheel; do grep -qsiE \"^Requires-Dist: $tool([ ;(<>=!~\\[]|$)\" {venv}/lib/python*/site-packages/*.dist-info/METADATA"
            f" || python3 -m pip --python {venv}/bin/python uninstall -y -q \"$tool\"; done"
        )
        comments.append(f"  {TOOLING.label}, unless an installed distribution requires them: {human_bytes(deep.of(TOOLING))};")
        w.ledger.fixes.append(Fix(Change.DEEP, TOOLING.label + " out of the virtualenv", deep.of(TOOLING)))
    else:
        comments.append(f"  {TOOLING.label}: none (the virtualenv is made without pip and no requirement installs them);")
    libraries = deep.of(SHARED_LIBRARIES)
    commands.append(f"find {venv} -type f -name '*.so*' -not -path '*.libs/*' -exec strip --strip-unneeded {{}} +")
    comments.append(
        f"  {SHARED_LIBRARIES.label}: {deep.files.get(SHARED_LIBRARIES.key, 0)} libraries of {human_bytes(libraries)}"
        " (`slimview verify --deep` measures what strip saves); not those in *.libs/, which patchelf rewrote"
        " and strip would break."
    )
    w.ledger.fixes.append(Fix(Change.DEEP, SHARED_LIBRARIES.label))
    return [Instruction("RUN", " \\\n && ".join(commands), comments)]


def python_runtime(w: StageWriter) -> list[Instruction]:
    """The bytecode choice, explained: kept, and never written at run time."""
    deep = w.facts.deep
    assert deep is not None, "only --deep rewrites explain bytecode"
    return [Instruction("ENV", "PYTHONDONTWRITEBYTECODE=1", [
        f"--deep: the virtualenv keeps the bytecode pip compiled ({human_bytes(deep.of(BYTECODE))} on the original): the",
        "program's user cannot write __pycache__ there, so without it every start would compile every",
        "module again. PYTHONDONTWRITEBYTECODE=1: nor does Python try to write any at run time.",
    ])]


def strip_tools(build: list[str]) -> list[str]:
    """What the builder must install for ``strip`` besides ``build``: binutils, unless a
    build package brings it (build-essential and gcc depend on it)."""
    if any(package_name(p) in ("build-essential", "build-base", "binutils", "gcc", "g++") for p in build):
        return []
    return ["binutils"]
