"""What the image runs and holds, read from the index: the Python version, the distribution,
installed OS packages and their sizes, and what each COPY layer brought in.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass, field

from slimview.index.model import Change, ImageIndex, entry_ref
from slimview.source.tarstream import EntryType

DPKG_STATUS = "var/lib/dpkg/status"
OS_RELEASE = ("etc/os-release", "usr/lib/os-release")

_PYTHON_LIB = re.compile(r"^usr/(?:local/)?lib/python(3\.\d+)/")
_PYTHON_BIN = re.compile(r"^usr/(?:local/)?bin/python(3\.\d+)$")
_DEP_NAME = re.compile(r"^\s*([^\s(:]+)")
# A shared-library package: libpq5, libssl3, libffi8, libjpeg62-turbo (not libpq-dev).
_SHARED_LIBRARY = re.compile(r"^(?:lib[a-z0-9.+]*\d[a-z0-9.+-]*|zlib1g)$")


def python_version(index: ImageIndex) -> str | None:
    """The X.Y of the Python the image runs: the version whose library directory holds the
    most bytes, among versions with an interpreter in ``usr/bin`` or ``usr/local/bin``."""
    interpreters: set[str] = set()
    library_bytes: dict[str, int] = {}
    for path, entry, _layer in index.final_files():
        m = _PYTHON_BIN.match(path)
        if m:
            interpreters.add(m.group(1))
            continue
        m = _PYTHON_LIB.match(path)
        if m and entry.type == EntryType.FILE:
            library_bytes[m.group(1)] = library_bytes.get(m.group(1), 0) + entry.size
    found = [v for v in interpreters if v in library_bytes] or sorted(interpreters)
    if not found:
        return None
    return max(found, key=lambda v: (library_bytes.get(v, 0), tuple(int(p) for p in v.split("."))))


def os_release(index: ImageIndex) -> dict[str, str]:
    """Fields of the image's os-release file ({} when it has none or it was not kept)."""
    for path in OS_RELEASE:
        body = _final_body(index, path)
        if body is not None:
            fields = {}
            for line in body.decode("utf-8", "replace").splitlines():
                key, sep, value = line.partition("=")
                if sep:
                    fields[key.strip()] = value.strip().strip('"')
            return fields
    return {}


def _final_body(index: ImageIndex, path: str) -> bytes | None:
    """The kept body of ``path`` as the final image shows it (following one symlink)."""
    found = index.final_entry(path)
    if found is None:
        return None
    entry, layer = found
    if entry.type == EntryType.SYMLINK:
        target = posixpath.normpath(posixpath.join(posixpath.dirname(path), entry.link)).lstrip("/")
        return _final_body(index, target) if target != path else None
    i = index.layers[layer].find(path)
    return index.layers[layer].files.captured.get(i) if i is not None else None


# -- OS packages ------------------------------------------------------------------------------


@dataclass
class OsPackage:
    name: str
    installed_bytes: int  # dpkg's Installed-Size (KiB) in bytes
    depends: list[str] = field(default_factory=list)  # first alternative of each dependency
    provides: list[str] = field(default_factory=list)


def parse_dpkg_sizes(body: bytes) -> dict[str, OsPackage]:
    """Installed packages of a dpkg status file, with their sizes and dependencies."""
    packages: dict[str, OsPackage] = {}
    for block in body.decode("utf-8", "replace").split("\n\n"):
        fields: dict[str, str] = {}
        for line in block.split("\n"):
            if line and line[0] not in " \t":
                key, _, value = line.partition(":")
                fields[key] = value.strip()
        name = fields.get("Package")
        if not name or not fields.get("Status", "").endswith(" installed"):
            continue
        depends = []
        for group in (fields.get("Pre-Depends", "") + "," + fields.get("Depends", "")).split(","):
            m = _DEP_NAME.match(group.split("|")[0])
            if m:
                depends.append(m.group(1))
        provides = [m.group(1) for p in fields.get("Provides", "").split(",") if (m := _DEP_NAME.match(p))]
        size = int(fields.get("Installed-Size", "0") or 0) * 1024
        packages[name] = OsPackage(name, size, depends, provides)
    return packages


def dpkg_packages(index: ImageIndex, through_layer: int | None = None) -> dict[str, OsPackage]:
    """Packages the dpkg database lists in the final image, or as of ``through_layer``."""
    last = len(index.layers) - 1 if through_layer is None else through_layer
    for layer in reversed(index.layers[: last + 1]):
        i = layer.find(DPKG_STATUS)
        if i is not None and i in layer.files.captured:
            return parse_dpkg_sizes(layer.files.captured[i])
    return {}


def closure_names(names: list[str], installed: dict[str, OsPackage], already: set[str] = frozenset()) -> set[str]:
    """``names`` and every installed package they depend on, except those in ``already``."""
    provided = {p: pkg.name for pkg in installed.values() for p in pkg.provides}
    seen: set[str] = set()
    stack = [n.split("=", 1)[0] for n in names]
    while stack:
        name = stack.pop()
        name = name if name in installed else provided.get(name, name)
        if name in seen or name in already or name not in installed:
            continue
        seen.add(name)
        stack.extend(installed[name].depends)
    return seen


def closure_bytes(names: list[str], installed: dict[str, OsPackage], already: set[str]) -> int:
    """Installed bytes of ``names`` and what they depend on, except what ``already`` has
    (the packages of the base the rewrite runs on)."""
    return sum(installed[name].installed_bytes for name in closure_names(names, installed, already))


def shared_libraries(dev_packages: list[str], installed: dict[str, OsPackage], already: set[str]) -> dict[str, list[str]]:
    """The shared-library packages each ``-dev`` package depends on (libpq-dev → libpq5):
    what a program built against the headers needs at run time. Libraries in ``already``
    (the base's packages) and Python's own are left out."""
    out: dict[str, list[str]] = {}
    for dev in dev_packages:
        pkg = installed.get(dev.split("=", 1)[0])
        if pkg is None or not pkg.name.endswith("-dev"):
            continue
        libraries = [
            d for d in pkg.depends
            if _SHARED_LIBRARY.match(d) and d not in already and not d.startswith("libpython") and d in installed
        ]
        if libraries:
            out[dev] = libraries
    return out


# -- layers ------------------------------------------------------------------------------------


def added_bytes(index: ImageIndex, layer_no: int, exclude: tuple[str, ...] = ()) -> int:
    """Regular-file bytes a layer adds or modifies, leaving out paths under ``exclude``."""
    layer = index.layers[layer_no]
    files = layer.files
    total = 0
    for i, path in enumerate(files.paths):
        if files.types[i] == EntryType.FILE and layer.changes[i] in (Change.ADDED, Change.MODIFIED):
            if not path.startswith(exclude):
                total += files.sizes[i]
    return total


@dataclass
class CopiedEntry:
    """A top-level name a COPY brought into its destination directory."""

    name: str
    is_dir: bool
    bytes: int


def copied_entries(index: ImageIndex, layer_no: int, dest: str) -> list[CopiedEntry]:
    """What the COPY that made ``layer_no`` put directly under ``dest`` (an absolute directory),
    with the bytes of everything below each name."""
    layer = index.layers[layer_no]
    files = layer.files
    prefix = dest.strip("/") + "/" if dest.strip("/") else ""
    entries: dict[str, CopiedEntry] = {}
    for i, path in enumerate(files.paths):
        if not path.startswith(prefix) or path == prefix.rstrip("/"):
            continue
        rest = path[len(prefix) :]
        name, sep, _ = rest.partition("/")
        if not name:
            continue
        is_dir = bool(sep) or files.types[i] == EntryType.DIR
        entry = entries.setdefault(name, CopiedEntry(name, is_dir, 0))
        entry.is_dir = entry.is_dir or is_dir
        if files.types[i] == EntryType.FILE:
            entry.bytes += files.sizes[i]
    return sorted(entries.values(), key=lambda e: e.name)


def stored_under(index: ImageIndex, prefixes: tuple[str, ...], first_layer: int = 0) -> tuple[int, int]:
    """(visible, hidden) bytes that layers from ``first_layer`` on store under ``prefixes``."""
    visible = hidden = 0
    for layer in index.layers[first_layer:]:
        files = layer.files
        for i, path in enumerate(files.paths):
            if files.types[i] == EntryType.FILE and path.startswith(prefixes):
                if index.final.get(path) == entry_ref(layer.index, i):
                    visible += files.sizes[i]
                else:
                    hidden += files.sizes[i]
    return visible, hidden
