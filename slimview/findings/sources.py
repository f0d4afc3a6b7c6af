"""What a build read that the compiled program never does, shipped beside it: TypeScript
sources, tests, coverage reports, source maps and build configuration next to a Node
project's compiled output; Go sources, tests and coverage profiles in an image whose Go
program is already built.

Only compiled projects are judged: a Node project counts as compiled when its start
script or ``main`` runs a .js file from an output directory (``node dist/server.js``) and
TypeScript sources sit outside it; a Go project when the image holds a Go program. The fix
is a multi-stage build that copies only the output, which is why these are reported
apart from context junk (a .dockerignore cannot drop what the build needs).
"""

from __future__ import annotations

import posixpath
import re
import shlex
from collections import defaultdict

from slimview.display import printable
from slimview.findings.details import SourceCandidate, SourceCategory, SourcesDetails
from slimview.findings.model import Finding, FindingKind, FindingPath, sort_largest_first
from slimview.findings.programs import ImageProgram
from slimview.findings.view import ImageView
from slimview.index.capture import SYSTEM_TREES
from slimview.packages.npm import NodeProject
from slimview.packages.paths import NODE_MODULES

SOURCES, TESTS, COVERAGE, SOURCE_MAPS, BUILD_CONFIG = (
    SourceCategory.SOURCES, SourceCategory.TESTS, SourceCategory.COVERAGE, SourceCategory.SOURCE_MAPS, SourceCategory.BUILD_CONFIG,
)
_TEST_DIRS = frozenset({"test", "tests", "__tests__", "spec", "e2e", "__mocks__", "testdata"})
_COVERAGE_DIRS = frozenset({"coverage", ".nyc_output", "htmlcov"})
_TS_SOURCE = re.compile(r"\.(?:ts|tsx|mts|cts)$")
_JS_TEST = re.compile(r"\.(?:test|spec)\.(?:[cm]?[jt]sx?)$")
_NODE_CONFIG = re.compile(
    r"^(?:tsconfig(?:\.[\w-]+)?\.json|jest\.config\.\w+|vitest\.config\.\w+|\.eslintrc(?:\.\w+)?|eslint\.config\.\w+"
    r"|\.prettierrc(?:\.\w+)?|prettier\.config\.\w+|babel\.config\.\w+|\.babelrc|\.swcrc|webpack\.config\.\w+"
    r"|rollup\.config\.\w+|vite\.config\.\w+|tsup\.config\.\w+|\.mocharc(?:\.\w+)?|nodemon\.json)$"
)
_GO_COVERAGE = re.compile(r"^(?:coverage|cover|c)\.out$|\.coverprofile$|^coverage\.html$")
_GO_CONFIG = frozenset({"Makefile", "makefile", "GNUmakefile", ".golangci.yml", ".golangci.yaml", ".goreleaser.yml", ".goreleaser.yaml"})
_GO_MODULE_FILES = frozenset({"go.mod", "go.sum", "go.work", "go.work.sum"})
_JS_OUTPUT = re.compile(r"\.(?:[cm]?js)$")


def _compiled_dir(view: ImageView, project: NodeProject) -> str | None:
    """The output directory the project runs from (``dist`` for ``node dist/server.js``),
    relative to it, when the file it runs is in the image."""
    candidates = [str(project.manifest.get("main") or "")]
    start = project.scripts.get("start", "")
    try:
        candidates += [w for w in shlex.split(start) if _JS_OUTPUT.search(w)]
    except ValueError:
        pass
    for target in candidates:
        target = posixpath.normpath(target) if _JS_OUTPUT.search(target) else ""
        directory = posixpath.dirname(target)
        if directory and not directory.startswith((".", NODE_MODULES)) and project.path(target) in view.index.final:
            return directory.split("/")[0]
    return None


def _node_category(rel: str, compiled: str) -> SourceCategory | None:
    parts = rel.split("/")
    name = parts[-1]
    if parts[0] == compiled:
        return SOURCE_MAPS if name.endswith(".map") else None
    if any(p.startswith(".") for p in parts[:-1]) or parts[0] == NODE_MODULES:
        return None  # hidden directories (.git, editor files) are context junk's
    if any(p in _COVERAGE_DIRS for p in parts[:-1]):
        return COVERAGE
    if any(p in _TEST_DIRS for p in parts[:-1]) or _JS_TEST.search(name):
        return TESTS
    if _TS_SOURCE.search(name):
        return SOURCES
    if name.endswith(".map"):
        return SOURCE_MAPS
    if len(parts) == 1 and _NODE_CONFIG.match(name):
        return BUILD_CONFIG
    return None


def _go_category(rel: str) -> SourceCategory | None:
    parts = rel.split("/")
    name = parts[-1]
    if any(p.startswith(".") for p in parts[:-1]):
        return None
    if "testdata" in parts[:-1] or name.endswith("_test.go"):
        return TESTS
    if name.endswith(".go") or name in _GO_MODULE_FILES:
        return SOURCES
    if _GO_COVERAGE.search(name):
        return COVERAGE
    if len(parts) == 1 and name in _GO_CONFIG:
        return BUILD_CONFIG
    return None


def _collect(view: ImageView, root: str, classify) -> dict[SourceCategory, list[FindingPath]]:
    """The visible files under ``root`` by the category ``classify`` gives their path relative to it."""
    prefix = f"{root}/" if root else ""
    found: dict[SourceCategory, list[FindingPath]] = defaultdict(list)
    for layer in view.layers:
        names, sizes = layer.files.paths, layer.files.sizes
        for i in view.visible_files(layer.index):
            path = names[i]
            if path.startswith(prefix) and (category := classify(path[len(prefix):])) is not None:
                found[category].append(FindingPath(path, sizes[i], layer.index))
    return found


def _finding(view: ImageView, language: str, root: str, compiled: str, found: dict[SourceCategory, list[FindingPath]]) -> Finding | None:
    total = sum(p.size for files in found.values() for p in files)
    if not total:
        return None
    candidates = sorted(
        (SourceCandidate(c, sum(p.size for p in files), len(files)) for c, files in found.items()),
        key=lambda c: (-c.bytes, c.category),
    )
    paths = [p for files in found.values() for p in files]
    sort_largest_first(paths)
    by_layer: dict[int, int] = defaultdict(int)
    for p in paths:
        by_layer[p.layer] += p.size
    layer_no = max(by_layer, key=lambda n: (by_layer[n], n))
    label = "TypeScript" if language == "typescript" else "Go"
    what = ", ".join(str(c.category) for c in candidates)
    return view.finding(
        kind=FindingKind.CONTEXT_JUNK,
        title=f"{label} build inputs shipped next to the compiled /{printable(compiled)}: {what} in /{printable(root)}",
        saved=total,
        layer_no=layer_no,
        paths=paths,
        evidence=(
            f"The image runs /{printable(compiled)}, built from these; {len(paths)} file(s) the build read and the program never "
            "does: " + "; ".join(f"{c.category} ({c.files} file(s), {c.bytes} bytes)" for c in candidates) + "."
        ),
        fix=(
            "Build in a separate stage and copy only the output into the runtime stage ("
            + ("`COPY --from=build /app/dist ./dist` with package.json and the production node_modules"
               if language == "typescript" else "`COPY --from=build /out/server /server`")
            + "); the sources, tests and configuration stay in the builder."
            + (" Keep the source maps only if you run node with --enable-source-maps." if SOURCE_MAPS in found else "")
        ),
        details=SourcesDetails(language, "/" + root, "/" + compiled, candidates),
    )


def _typescript(view: ImageView, project: NodeProject) -> Finding | None:
    compiled = _compiled_dir(view, project)
    if compiled is None:
        return None
    found = _collect(view, project.root, lambda rel: _node_category(rel, compiled))
    if SOURCES not in found:
        return None  # no TypeScript beside the output: nothing says the output was compiled from these
    return _finding(view, "typescript", project.root, project.path(compiled), found)


def _go_roots(view: ImageView) -> list[str]:
    """Directories of the Go modules (go.mod) the final image holds outside system, toolchain and cache trees."""
    roots = set()
    for layer in view.layers:
        names = layer.files.paths
        for i in view.visible_files(layer.index):
            path = names[i]
            if (path.endswith("/go.mod") or path == "go.mod") and not path.startswith(SYSTEM_TREES) and "/vendor/" not in path:
                roots.add(posixpath.dirname(path))
    # A module inside another module's tree is part of it.
    return sorted(r for r in roots if not any(r != o and (not o or r.startswith(o + "/")) for o in roots))


def detect(view: ImageView, projects: list[NodeProject], programs: list[ImageProgram]) -> list[Finding]:
    findings = [f for p in projects if (f := _typescript(view, p)) is not None]
    go_programs = sorted((p for p in programs if p.elf.is_go), key=lambda p: (-p.elf.size, p.path))
    if go_programs:
        for root in _go_roots(view):
            found = _finding(view, "go", root, go_programs[0].path, _collect(view, root, _go_category))
            if found is not None:
                findings.append(found)
    return findings
