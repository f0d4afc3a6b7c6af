"""Build-context junk: what a COPY or ADD of the context brought in that the program never
uses (.git, tests, notebooks, docs, editor files, virtualenvs, node_modules, bytecode, the
Dockerfile, .env).

Each candidate becomes a ``.dockerignore`` pattern, relative to the context root when the
instruction copies the whole context (``COPY . .``) and ``**/name`` otherwise. Bytes are
what the COPY layer stores, visible or not: excluding them from the context is the only
way to keep them out of that layer.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass

from slimview.dockerfile.history import copies_context, recorded_instruction
from slimview.findings.details import JunkCandidate, JunkDetails
from slimview.findings.model import Finding, FindingKind, FindingPath, sort_largest_first
from slimview.findings.view import ImageView
from slimview.source.tarstream import EntryType

VCS, TESTS, NOTEBOOKS, DOCS, EDITOR, VIRTUALENV, NODE_MODULES, BYTECODE, TOOL_CACHE, BUILD_FILES, ENV_FILE, COVERAGE = (
    "version control", "tests", "notebooks", "docs", "editor and OS files", "virtualenv", "node_modules",
    "python bytecode", "tool caches", "build files", "env file", "coverage reports",
)

# Directory names that are junk wherever they appear in the copied tree.
_DIRS = {
    ".git": VCS, ".hg": VCS, ".svn": VCS,
    "tests": TESTS, "test": TESTS, "__tests__": TESTS,
    "notebooks": NOTEBOOKS, ".ipynb_checkpoints": NOTEBOOKS,
    "docs": DOCS,
    ".idea": EDITOR, ".vscode": EDITOR,
    ".venv": VIRTUALENV, "venv": VIRTUALENV, ".virtualenv": VIRTUALENV,
    "node_modules": NODE_MODULES,
    "__pycache__": BYTECODE,
    ".pytest_cache": TOOL_CACHE, ".mypy_cache": TOOL_CACHE, ".ruff_cache": TOOL_CACHE, ".tox": TOOL_CACHE,
    ".nox": TOOL_CACHE, "htmlcov": TOOL_CACHE,
    "coverage": COVERAGE, ".nyc_output": COVERAGE,
}
# File names that are junk wherever they appear.
_FILES = {
    ".DS_Store": EDITOR, "Thumbs.db": EDITOR, ".coverage": TOOL_CACHE,
    "Dockerfile": BUILD_FILES, ".dockerignore": BUILD_FILES, "docker-compose.yml": BUILD_FILES,
    "docker-compose.yaml": BUILD_FILES, "compose.yaml": BUILD_FILES, "compose.yml": BUILD_FILES,
    ".env": ENV_FILE, "coverage.out": COVERAGE, "lcov.info": COVERAGE,
}
_ENV_TEMPLATES = (".env.example", ".env.sample", ".env.template", ".env.dist")


def _file_category(name: str) -> tuple[str, str] | None:
    """(category, .dockerignore glob) for a junk file name."""
    if name in _FILES:
        return _FILES[name], name
    if name.startswith(".env.") and name not in _ENV_TEMPLATES:
        return ENV_FILE, ".env.*"
    if name.startswith("Dockerfile.") or name.endswith(".Dockerfile"):
        return BUILD_FILES, name
    if name.endswith(".ipynb"):
        return NOTEBOOKS, "*.ipynb"
    if name.endswith((".pyc", ".pyo")):
        return BYTECODE, "*.pyc"
    if name.endswith((".swp", ".swo")) or name.endswith("~"):
        return EDITOR, "*.swp" if name.endswith((".swp", ".swo")) else "*~"
    return None


@dataclass
class _Candidate:
    pattern: str
    category: str
    paths: list[FindingPath]

    @property
    def bytes(self) -> int:
        return sum(p.size for p in self.paths)


def _workdirs(view: ImageView) -> dict[int, str]:
    """The working directory in effect when each layer was made (WORKDIR may be an empty layer)."""
    history = view.index.source.history
    # Aligned the way SourceImage.layer_history aligns: non-empty entries, newest last.
    offset = len(view.layers) - sum(1 for h in history if not h.empty_layer)
    out: dict[int, str] = {}
    workdir = "/"
    seen = 0
    for entry in history:
        step = recorded_instruction(entry.created_by)
        if step.keyword == "WORKDIR":
            workdir = posixpath.normpath(posixpath.join(workdir, step.args))
        if not entry.empty_layer:
            out[seen + offset] = workdir
            seen += 1
    return out


def _context_root(view: ImageView, layer_no: int, workdir: str) -> str | None:
    """The directory the build context's root was copied to, when the step copies all of it."""
    words = [w for w in view.instruction(layer_no).args.split() if not w.startswith("--")]
    if len(words) == 2 and words[0] in (".", "./"):
        dest = posixpath.normpath(posixpath.join(workdir, words[1]))
        return dest.strip("/")
    if len(words) == 3 and words[0].startswith("dir:") and words[1] == "in":  # classic builder: COPY dir:<hash> in /app
        return posixpath.normpath(posixpath.join(workdir, words[2])).strip("/")
    return None


def _venv_roots(files) -> set[str]:
    return {posixpath.dirname(p) for p in files.paths if p.endswith("/pyvenv.cfg")}


def _candidates(view: ImageView, layer_no: int, root: str | None) -> list[_Candidate]:
    files = view.layers[layer_no].files
    venvs = _venv_roots(files)
    prefix = f"{root}/" if root else ""
    found: dict[str, _Candidate] = {}
    for i, path in enumerate(files.paths):
        if files.types[i] != EntryType.FILE:
            continue
        rel = path[len(prefix):] if prefix and path.startswith(prefix) else path
        parts = rel.split("/")
        pattern: str | None = None
        category: str | None = None
        for depth, name in enumerate(parts[:-1]):
            dir_rel = "/".join(parts[: depth + 1])
            category = VIRTUALENV if prefix + dir_rel in venvs else _DIRS.get(name)
            if category:
                # The outermost junk directory wins: tests inside a copied virtualenv are the virtualenv's.
                pattern = dir_rel if root is not None and depth == 0 else f"**/{name}"
                break
        if category is None:
            got = _file_category(parts[-1])
            if got is None:
                continue
            category, glob = got
            pattern = glob if root is not None and len(parts) == 1 else f"**/{glob}"
        assert pattern is not None and category is not None
        candidate = found.get(pattern)
        if candidate is None:
            candidate = found[pattern] = _Candidate(pattern, category, [])
        candidate.paths.append(FindingPath(path, files.sizes[i], layer_no))
    return sorted(found.values(), key=lambda c: (-c.bytes, c.pattern))


def detect(view: ImageView) -> list[Finding]:
    findings = []
    workdirs = _workdirs(view)
    for layer in view.layers:
        if not copies_context(view.instruction(layer.index)):
            continue
        root = _context_root(view, layer.index, workdirs.get(layer.index, "/"))
        if root and layer.find(f"{root}/pyvenv.cfg") is not None:
            # A virtualenv copied whole from a build stage: the classic builder records
            # `COPY --from=builder /opt/venv /opt/venv` as `COPY dir:<hash> in /opt/venv`.
            continue
        candidates = _candidates(view, layer.index, root)
        if not candidates:
            continue
        total = sum(c.bytes for c in candidates)
        paths = [p for c in candidates for p in c.paths]
        sort_largest_first(paths)
        patterns = [c.pattern for c in candidates]
        names = ", ".join(c.pattern for c in candidates[:6]) + (" …" if len(candidates) > 6 else "")
        findings.append(
            view.finding(
                kind=FindingKind.CONTEXT_JUNK,
                title=f"{view.quoted(layer.index)} copied build-context junk: {names}",
                saved=total,
                layer_no=layer.index,
                paths=paths,
                evidence=(
                    f"Layer {layer.index} stores {len(paths)} file(s) the program does not need at run time: "
                    + "; ".join(f"{c.pattern} ({c.category}, {len(c.paths)} file(s), {c.bytes} bytes)" for c in candidates)
                    + "."
                ),
                fix="Exclude them from the build context with a .dockerignore next to the Dockerfile:\n" + "\n".join(patterns),
                details=JunkDetails(
                    "/" + root if root is not None else None,
                    patterns,
                    [JunkCandidate(c.pattern, c.category, c.bytes, len(c.paths)) for c in candidates],
                ),
            )
        )
    return findings
