"""The .dockerignore that goes with a rewrite: the junk found in the image's COPY layers plus
defaults for the stack, and never a pattern that would drop a file the rewrite copies.

Matching follows Docker's rules (moby/patternmatcher): patterns are cleaned paths relative
to the context root, ``*`` and ``?`` stay within one path element, ``**`` spans any number
of them, a pattern matching a directory excludes everything below it, and a later ``!``
pattern re-includes what an earlier one excluded.
"""

from __future__ import annotations

import os
import posixpath
import re
from dataclasses import dataclass, field
from functools import lru_cache

# Junk every stack carries in its context: version control, editors, the build files themselves.
COMMON = (".git", ".hg", ".svn", ".idea", ".vscode", "**/.DS_Store", "Dockerfile*", "*.Dockerfile",
          ".dockerignore", "docker-compose*.yml", "docker-compose*.yaml", "compose*.yml", "compose*.yaml",
          ".env", ".env.*", "!.env.example")
# Patterns that trim what is never an application file, even inside a directory the rewrite copies.
TRIM = ("**/__pycache__", "**/*.py[cod]", "**/.DS_Store", "**/.ipynb_checkpoints")
PYTHON = ("**/__pycache__", "**/*.py[cod]", ".venv", "venv", ".pytest_cache", ".mypy_cache", ".ruff_cache",
          ".tox", ".nox", ".coverage", "htmlcov", "*.egg-info", "**/.ipynb_checkpoints")
# Top-level names that hold no code the program runs (tests, notebooks, docs).
NOT_RUNTIME = ("tests", "test", "notebooks", "docs")
NOT_RUNTIME_COMMENT = "Tests, notebooks and docs: not needed to run the program."
# Node: installed packages, caches and tool output a build makes again.
NODE = ("node_modules", "**/node_modules", ".npm", ".pnpm-store", ".yarn/cache", ".yarn/install-state.gz",
        "npm-debug.log*", "yarn-debug.log*", "yarn-error.log*", "pnpm-debug.log*", "coverage", ".nyc_output",
        ".eslintcache", "*.tsbuildinfo")
# Go: test coverage profiles and a locally built program (the builder builds its own).
GO = ("*.out", "*.test", "*.coverprofile")


@dataclass
class IgnoreFile:
    """Patterns with the comment that explains each group."""

    groups: list[tuple[str, list[str]]] = field(default_factory=list)

    def add(self, comment: str, patterns: list[str] | tuple[str, ...]) -> None:
        seen = set(self.patterns)
        fresh = [p for p in patterns if p not in seen]
        if fresh:
            self.groups.append((comment, list(dict.fromkeys(fresh))))

    @property
    def patterns(self) -> list[str]:
        return [p for _comment, patterns in self.groups for p in patterns]

    def drop(self, pattern: str) -> None:
        self.groups = [(c, [p for p in ps if p != pattern]) for c, ps in self.groups]
        self.groups = [(c, ps) for c, ps in self.groups if ps]

    def render(self, header: list[str]) -> str:
        lines = [f"# {h}" for h in header]
        for comment, patterns in self.groups:
            lines.append("")
            lines.append(f"# {comment}")
            lines.extend(patterns)
        return "\n".join(lines) + "\n"


def read_patterns(text: str) -> list[str]:
    """The patterns of a .dockerignore file (comments and blank lines dropped)."""
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            out.append(line)
    return out


def _clean(pattern: str) -> str:
    cleaned = posixpath.normpath(pattern.strip().lstrip("/")) if pattern.strip("/ ") else ""
    return "" if cleaned == "." else cleaned


@lru_cache(maxsize=1024)
def _regex(pattern: str) -> re.Pattern:
    out = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if pattern.startswith("**", i):
            # "**/" matches zero or more directories; a trailing "**" anything below.
            if pattern.startswith("**/", i):
                out.append("(?:.*/)?")
                i += 3
            else:
                out.append(".*")
                i += 2
            continue
        if ch == "*":
            out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch == "[":
            end = pattern.find("]", i + 1)
            if end < 0:
                out.append(re.escape(ch))
            else:
                body = pattern[i + 1 : end]
                if body.startswith("^"):
                    body = "!" + body[1:]
                out.append("[" + ("^" + body[1:] if body.startswith("!") else body).replace("\\", "\\\\") + "]")
                i = end
        elif ch == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 1
        else:
            out.append(re.escape(ch))
        i += 1
    return re.compile("^" + "".join(out) + "$")


def _matches(pattern: str, path: str) -> bool:
    """Whether ``pattern`` matches ``path`` or one of its parent directories."""
    regex = _regex(pattern)
    parts = path.split("/")
    return any(regex.match("/".join(parts[:n])) for n in range(1, len(parts) + 1))


def is_ignored(path: str, patterns: list[str]) -> bool:
    """Whether Docker leaves ``path`` (relative to the context root) out of the context."""
    path = _clean(path)
    if not path:
        return False
    ignored = False
    for raw in patterns:
        negate = raw.startswith("!")
        pattern = _clean(raw[1:] if negate else raw)
        if pattern and _matches(pattern, path):
            ignored = not negate
    return ignored


def blocking(paths: list[str], patterns: list[str]) -> list[str]:
    """The patterns that would leave out one of ``paths`` (files the Dockerfile copies).

    Patterns that only trim what is never an application file (bytecode caches, OS
    metadata; see TRIM) do not count.
    """
    return [raw for raw in patterns if raw not in TRIM and not raw.startswith("!") and any(is_ignored(p, [raw]) for p in paths)]


def copied_paths(source: str, is_dir: bool, context: str | None, limit: int = 20_000) -> list[str]:
    """The context paths a COPY of ``source`` reads: its files when the context is at hand
    (up to ``limit``), else the source itself and, for a directory, a name inside it."""
    source = _clean(source)
    root = os.path.join(context, source) if context is not None else None
    if root is None or not os.path.isdir(root):
        return [source, source + "/slimview-probe"] if is_dir else [source]
    out = [source] if source else []
    for folder, _dirs, files in os.walk(root):
        rel = os.path.relpath(folder, context)
        out += [posixpath.normpath(posixpath.join(rel, f)) for f in files]
        if len(out) >= limit:
            break
    return out[:limit]
