"""Node projects in an image: each project's package.json and the lockfile that says which
installed packages only its devDependencies need.

npm records that itself: its lockfiles mark every package that only devDependencies reach
with ``"dev": true`` (lockfileVersion 2 and 3 by install location under ``packages``,
version 1 in a nested ``dependencies`` tree). The hidden lockfile
``node_modules/.package-lock.json`` describes the tree node_modules actually holds (after
an ``npm prune`` too), so it is read first. yarn's lockfiles carry no such mark: the
dependency graph is walked from package.json's dependencies and devDependencies, and a
package is dev-only when only the latter reach it. Without any lockfile, the
devDependencies installed at the top of node_modules are all that can be told.
"""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Container
from dataclasses import dataclass, field
from enum import StrEnum

import yaml

from slimview.index.model import ImageIndex
from slimview.packages.history import visible_captured
from slimview.packages.paths import NODE_MANIFEST, NODE_MODULES, NPM_HIDDEN_LOCKFILE

PACKAGE_LOCK, SHRINKWRAP, YARN_LOCK = "package-lock.json", "npm-shrinkwrap.json", "yarn.lock"
_MODULES = NODE_MODULES + "/"


class NodeManager(StrEnum):
    """The package manager whose lockfile was read (pnpm's is not read yet)."""

    NPM = "npm"
    YARN = "yarn"


@dataclass(frozen=True)
class InstalledPackage:
    location: str  # where it is installed, relative to the project: node_modules/a/node_modules/@s/b
    name: str
    version: str
    dev: bool  # only devDependencies reach it


@dataclass
class NodeProject:
    root: str  # the project's directory, relative to the image root ("" for /)
    manifest: dict  # its package.json
    manager: NodeManager
    lockfile: str  # the file that told which packages are dev-only (image path), "" when none did
    packages: dict[str, InstalledPackage] = field(default_factory=dict)  # npm: by install location
    dev_names: frozenset[str] = frozenset()  # yarn, or no lockfile: names only devDependencies reach

    def dev_package(self, location: str) -> InstalledPackage | None:
        """The package installed at ``location`` (relative to the project) if only
        devDependencies need it. yarn's graph names packages, not locations: any copy of a
        dev-only name is; without a lockfile only the top-level copies of devDependencies are."""
        if self.packages:
            found = self.packages.get(location)
            return found if found is not None and found.dev else None
        name = _name_at(location)
        if name in self.dev_names and (self.lockfile or location == f"{NODE_MODULES}/{name}"):
            return InstalledPackage(location, name, "", True)
        return None

    @property
    def name(self) -> str:
        return str(self.manifest.get("name") or posixpath.basename(self.root) or "/")

    @property
    def dev_dependencies(self) -> list[str]:
        """The devDependencies package.json names."""
        return _names(self.manifest.get("devDependencies"))

    @property
    def scripts(self) -> dict[str, str]:
        scripts = self.manifest.get("scripts")
        return {str(k): str(v) for k, v in scripts.items()} if isinstance(scripts, dict) else {}

    def path(self, relative: str) -> str:
        """An image path (relative to the image root) of a path relative to the project."""
        return f"{self.root}/{relative}" if self.root else relative


def _names(deps: object) -> list[str]:
    return sorted(str(k) for k in deps) if isinstance(deps, dict) else []


def package_location(relative: str, known: Container[str] | None = None) -> str | None:
    """The install location of the package a file under node_modules belongs to:
    ``node_modules/@s/b/node_modules/c/lib/x.js`` → ``node_modules/@s/b/node_modules/c``;
    None for files outside any package (``node_modules/.bin/…``, ``.package-lock.json``).

    Packages may hold directories named node_modules of their own (test fixtures): with
    the ``known`` locations (a lockfile's), the deepest one holding the file is its package."""
    end = len(relative)
    while (k := relative.rfind(_MODULES, 0, end)) >= 0:
        if k == 0 or relative[k - 1] == "/":
            location = _location_at(relative, k + len(_MODULES))
            if known is None:
                return location
            if location is not None and location in known:
                return location
        end = k
    return None


def _location_at(relative: str, start: int) -> str | None:
    first = relative.find("/", start)
    if first < 0 or relative[start] == ".":
        return None
    if relative[start] == "@":
        second = relative.find("/", first + 1)
        return relative[:second] if second > 0 else None
    return relative[:first]


def _name_at(location: str) -> str:
    return location[location.rfind(_MODULES) + len(_MODULES):]


# -- npm -------------------------------------------------------------------------------------


def parse_npm_lockfile(body: bytes) -> list[InstalledPackage] | None:
    """The packages an npm lockfile (package-lock.json, npm-shrinkwrap.json, the hidden
    lockfile) lists with their install locations; None when it does not parse."""
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    if not isinstance(doc, dict):
        return None
    packages = doc.get("packages")
    if isinstance(packages, dict):  # lockfileVersion 2 and 3
        out = []
        for location, entry in packages.items():
            if not isinstance(location, str) or not location.startswith(_MODULES) or not isinstance(entry, dict):
                continue
            if entry.get("link"):  # a workspace's symlink: its files are the workspace's own
                continue
            name = entry.get("name") or _name_at(location)
            out.append(InstalledPackage(location, str(name), str(entry.get("version", "")), entry.get("dev") is True))
        return out
    deps = doc.get("dependencies")
    if isinstance(deps, dict):  # lockfileVersion 1: a nested tree
        out = []
        _v1_tree(deps, "", out, 0)
        return out
    return None


def _v1_tree(deps: dict, prefix: str, out: list[InstalledPackage], depth: int) -> None:
    if depth > 64:
        return
    for name, entry in deps.items():
        if not isinstance(entry, dict) or entry.get("bundled"):
            continue
        location = f"{prefix}{_MODULES}{name}"
        out.append(InstalledPackage(location, str(name), str(entry.get("version", "")), entry.get("dev") is True))
        nested = entry.get("dependencies")
        if isinstance(nested, dict):
            _v1_tree(nested, location + "/", out, depth + 1)


# -- yarn ------------------------------------------------------------------------------------

_YARN_KEY = re.compile(r'^"?((?:@[^@/"]+/)?[^@"]+)@')


def _yarn_v1_entries(text: str) -> dict[str, tuple[str, dict[str, str]]]:
    """yarn 1's lockfile: each ``name@range`` it lists → (version, {dependency: range})."""
    entries: dict[str, tuple[str, dict[str, str]]] = {}
    keys: list[str] = []
    version = ""
    deps: dict[str, str] = {}
    in_deps = False

    def close() -> None:
        for key in keys:
            entries[key] = (version, dict(deps))

    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if not line.startswith(" "):
            close()
            keys = [k.strip().strip('"') for k in line.rstrip(":").split(",")]
            version, deps, in_deps = "", {}, False
        elif line.startswith("    ") and in_deps:
            name, _, spec = line.strip().partition(" ")
            deps[name.strip('"')] = spec.strip().strip('"')
        else:
            field_name, _, value = line.strip().partition(" ")
            in_deps = field_name in ("dependencies:", "optionalDependencies:")
            if field_name == "version":
                version = value.strip('"')
    close()
    return entries


def _yarn_berry_entries(doc: dict) -> dict[str, tuple[str, dict[str, str]]]:
    """yarn 2+'s YAML lockfile, keyed as yarn 1's is (``name@npm:range`` keys kept whole)."""
    entries: dict[str, tuple[str, dict[str, str]]] = {}
    for keys, entry in doc.items():
        if keys == "__metadata" or not isinstance(entry, dict):
            continue
        deps = {str(k): str(v) for k, v in (entry.get("dependencies") or {}).items()}
        for key in str(keys).split(","):
            entries[key.strip()] = (str(entry.get("version", "")), deps)
    return entries


def yarn_dev_only(body: bytes, manifest: dict) -> set[str] | None:
    """Names every resolved version of which only devDependencies reach, from a yarn.lock."""
    text = body.decode("utf-8", "replace")
    entries: dict[str, tuple[str, dict[str, str]]]
    if "__metadata:" in text:
        try:
            doc = yaml.safe_load(text)
        except yaml.YAMLError:
            return None
        if not isinstance(doc, dict):
            return None
        entries = _yarn_berry_entries(doc)
        berry = True
    else:
        entries = _yarn_v1_entries(text)
        berry = False

    def key(name: str, spec: str) -> str:
        if berry and ":" not in spec:
            spec = "npm:" + spec
        return f"{name}@{spec}"

    def reach(roots: dict) -> set[tuple[str, str]]:
        seen: set[tuple[str, str]] = set()
        stack = [key(str(n), str(s)) for n, s in roots.items()] if isinstance(roots, dict) else []
        while stack:
            k = stack.pop()
            found = entries.get(k)
            m = _YARN_KEY.match(k)
            if found is None or m is None or (m.group(1), found[0]) in seen:
                continue
            seen.add((m.group(1), found[0]))
            stack += [key(n, s) for n, s in found[1].items()]
        return seen

    production = reach({**(manifest.get("dependencies") or {}), **(manifest.get("optionalDependencies") or {})})
    development = reach(manifest.get("devDependencies") or {})
    needed = {name for name, _version in production}
    return {name for name, _version in development if name not in needed}


# -- projects ----------------------------------------------------------------------------------


def node_projects(index: ImageIndex) -> list[NodeProject]:
    """Every Node project the final image shows (a package.json outside node_modules whose
    directory holds a node_modules), with what its lockfile says about each installed package."""
    bodies = {path: body for _layer, _i, path, body in visible_captured(index, _is_project_file)}
    projects = []
    for path, body in sorted(bodies.items()):
        if posixpath.basename(path) != NODE_MANIFEST:
            continue
        root = posixpath.dirname(path)
        prefix = f"{root}/" if root else ""
        lockfiles = (f"{NODE_MODULES}/{NPM_HIDDEN_LOCKFILE}", SHRINKWRAP, PACKAGE_LOCK, YARN_LOCK)
        if prefix + NODE_MODULES not in index.final and not any(prefix + name in bodies for name in lockfiles):
            continue  # no installed dependencies
        try:
            manifest = json.loads(body)
        except (ValueError, UnicodeDecodeError, RecursionError):
            continue
        if isinstance(manifest, dict):
            projects.append(_project(root, prefix, manifest, bodies))
    return projects


def _is_project_file(path: str) -> bool:
    base = posixpath.basename(path)
    return base in (NODE_MANIFEST, NPM_HIDDEN_LOCKFILE, PACKAGE_LOCK, SHRINKWRAP, YARN_LOCK)


def _project(root: str, prefix: str, manifest: dict, bodies: dict[str, bytes]) -> NodeProject:
    for name in (f"{NODE_MODULES}/{NPM_HIDDEN_LOCKFILE}", SHRINKWRAP, PACKAGE_LOCK):
        body = bodies.get(prefix + name)
        packages = parse_npm_lockfile(body) if body is not None else None
        if packages:
            return NodeProject(root, manifest, NodeManager.NPM, prefix + name, {p.location: p for p in packages})
    body = bodies.get(prefix + YARN_LOCK)
    dev_only = yarn_dev_only(body, manifest) if body is not None else None
    if dev_only is not None:
        return NodeProject(root, manifest, NodeManager.YARN, prefix + YARN_LOCK, dev_names=frozenset(dev_only))
    # No lockfile: the direct devDependencies are all that can be told.
    needed = set(_names(manifest.get("dependencies")))
    return NodeProject(root, manifest, NodeManager.NPM, "", dev_names=frozenset(set(_names(manifest.get("devDependencies"))) - needed))
