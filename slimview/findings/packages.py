"""The image's own package database: which packages are installed, since which layer, and
which visible files (and bytes) each one owns.

dpkg keeps ``var/lib/dpkg/status`` (distroless: one stanza per file in ``status.d/``) and
a file list per package in ``var/lib/dpkg/info/<name>[:arch].list``; apt marks packages
installed only as dependencies in ``var/lib/apt/extended_states``. apk keeps everything in
``lib/apk/db/installed`` and the explicitly requested packages in ``etc/apk/world``. The
index keeps these bodies as it streams the layers past (see index/capture.py), so nothing
is re-read here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from slimview.findings.view import ImageView
from slimview.index.model import split_ref

DPKG_STATUS = "var/lib/dpkg/status"
DPKG_STATUS_D = "var/lib/dpkg/status.d/"
DPKG_INFO = "var/lib/dpkg/info/"
APT_EXTENDED_STATES = "var/lib/apt/extended_states"
APK_INSTALLED = "lib/apk/db/installed"
APK_WORLD = "etc/apk/world"

# dpkg states in which a package's files are on disk.
_PRESENT = frozenset({"installed", "half-installed", "unpacked", "half-configured", "triggers-awaited", "triggers-pending"})
_DEP_NAME = re.compile(r"^\s*([^\s(:]+)")


@dataclass
class Package:
    name: str
    version: str = ""
    installed_in: int | None = None  # first layer whose database lists it
    depends: list[list[str]] = field(default_factory=list)  # groups of alternatives (Depends, Pre-Depends)
    recommends: list[list[str]] = field(default_factory=list)
    provides: list[str] = field(default_factory=list)
    essential: bool = False
    priority: str = ""
    auto: bool = False  # installed only as a dependency
    files: list[str] = field(default_factory=list)  # visible regular files it owns
    bytes: int = 0
    bytes_by_layer: dict[int, int] = field(default_factory=dict)

    @property
    def required(self) -> bool:
        """Part of the base system: never a candidate for removal."""
        return self.essential or self.priority in ("required", "important")


@dataclass
class Removal:
    """A package a later layer removed, and the packages it depended on that stayed."""

    name: str
    layer: int
    kept: list[str]


@dataclass
class PackageDatabase:
    manager: str  # "dpkg" or "apk"
    packages: dict[str, Package]
    owner: dict[str, str]  # visible path → package name
    removals: list[Removal] = field(default_factory=list)
    # (layer, {package: version}) for each layer that wrote the database, bottom first.
    snapshots: list[tuple[int, dict[str, str]]] = field(default_factory=list)

    def version_at(self, name: str, layer_no: int) -> str:
        """The version of ``name`` the database listed as of layer ``layer_no`` ("" if none)."""
        version = ""
        for at, versions in self.snapshots:
            if at > layer_no:
                break
            version = versions.get(name, "")
        return version

    @property
    def attributed(self) -> bool:
        """Whether files could be attributed (distroless keeps no file lists)."""
        return bool(self.owner)


# -- parsing ---------------------------------------------------------------------------------


def _stanzas(body: bytes) -> list[dict[str, str]]:
    """Deb822 paragraphs as {field: value}; continuation lines are dropped (we need none)."""
    out = []
    for block in body.decode("utf-8", "replace").split("\n\n"):
        fields = {}
        for line in block.split("\n"):
            if not line or line[0] in " \t":
                continue
            key, sep, value = line.partition(":")
            if sep:
                fields[key] = value.strip()
        if fields:
            out.append(fields)
    return out


def _dep_groups(value: str) -> list[list[str]]:
    if not value:  # most packages lack most relationship fields
        return []
    groups = []
    for group in value.split(","):
        names = []
        for alt in group.split("|"):
            m = _DEP_NAME.match(alt)
            if m:
                names.append(m.group(1))
        if names:
            groups.append(names)
    return groups


def parse_dpkg_status(body: bytes) -> dict[str, Package]:
    """Installed packages of one dpkg status file (or status.d stanza)."""
    packages: dict[str, Package] = {}
    for fields in _stanzas(body):
        name = fields.get("Package")
        status = fields.get("Status", "install ok installed").split()
        if not name or (status and status[-1] not in _PRESENT):
            continue
        key = name if name not in packages else f"{name}:{fields.get('Architecture', '')}"
        packages[key] = Package(
            name=key,
            version=fields.get("Version", ""),
            depends=_dep_groups(fields.get("Pre-Depends", "")) + _dep_groups(fields.get("Depends", "")),
            recommends=_dep_groups(fields.get("Recommends", "")),
            provides=[g[0] for g in _dep_groups(fields.get("Provides", ""))],
            essential=fields.get("Essential", "") == "yes",
            priority=fields.get("Priority", ""),
        )
    return packages


def parse_extended_states(body: bytes) -> set[str]:
    """Names apt marked as installed automatically (as dependencies)."""
    return {f["Package"] for f in _stanzas(body) if f.get("Auto-Installed") == "1" and "Package" in f}


def _apk_name(token: str) -> str:
    return re.split(r"[<>=~]", token, maxsplit=1)[0]


def parse_apk_installed(body: bytes) -> tuple[dict[str, Package], dict[str, list[str]]]:
    """Packages of an apk database and the files (relative paths) each one installed."""
    packages: dict[str, Package] = {}
    files: dict[str, list[str]] = {}
    for block in body.decode("utf-8", "replace").split("\n\n"):
        pkg: Package | None = None
        folder = ""
        owned: list[str] = []
        for line in block.split("\n"):
            if len(line) < 2 or line[1] != ":":
                continue
            tag, value = line[0], line[2:]
            if tag == "P":
                pkg = Package(name=value)
            elif pkg is None:
                continue
            elif tag == "V":
                pkg.version = value
            elif tag == "D":
                pkg.depends = [[_apk_name(t)] for t in value.split() if not t.startswith("!")]
            elif tag == "p":
                pkg.provides = [_apk_name(t) for t in value.split()]
            elif tag == "F":
                folder = value
            elif tag == "R":
                owned.append(f"{folder}/{value}" if folder else value)
        if pkg is not None:
            packages[pkg.name] = pkg
            files[pkg.name] = owned
    return packages, files


def parse_dpkg_list(body: bytes) -> list[str]:
    """Paths of a dpkg ``.list`` file, relative (without the leading slash)."""
    return [line[1:] for line in body.decode("utf-8", "surrogateescape").split("\n") if len(line) > 1]


# -- reading the image's database --------------------------------------------------------------


def _captured(view: ImageView, layer_no: int, want) -> list[tuple[int, str, bytes]]:
    """(entry, path, body) of the layer's kept bodies whose path satisfies ``want``."""
    files = view.layers[layer_no].files
    return [(i, files.paths[i], body) for i, body in files.captured.items() if want(files.paths[i])]


def _dpkg_snapshots(view: ImageView) -> list[tuple[int, dict[str, Package]]]:
    """Each layer that wrote a dpkg status, with the packages it lists."""
    snapshots = []
    status_d: dict[str, Package] = {}
    for layer in view.layers:
        got = _captured(view, layer.index, lambda p: p == DPKG_STATUS or p.startswith(DPKG_STATUS_D))
        if not got:
            continue
        whole = [body for _i, path, body in got if path == DPKG_STATUS]
        if whole:
            snapshots.append((layer.index, parse_dpkg_status(whole[-1])))
        parts = [(path, body) for _i, path, body in got if path.startswith(DPKG_STATUS_D) and not path.endswith(".md5sums")]
        if parts:
            for _path, body in parts:
                status_d.update(parse_dpkg_status(body))
            snapshots.append((layer.index, dict(status_d)))
    return snapshots


def _final_body(view: ImageView, path: str) -> bytes | None:
    ref = view.index.final.get(path)
    if ref is None:
        return None
    layer, i = split_ref(ref)
    return view.layers[layer].files.captured.get(i)


def _mark_history(packages: dict[str, Package], snapshots: list[tuple[int, dict[str, Package]]]) -> list[Removal]:
    """Set installed_in from the first snapshot listing each package; find later removals."""
    removals = []
    previous: dict[str, Package] = {}
    for layer_no, listed in snapshots:
        for name in listed:
            pkg = packages.get(name)
            if pkg is not None and pkg.installed_in is None:
                pkg.installed_in = layer_no
        for name, gone in previous.items():
            if name not in listed:
                kept = sorted({dep for group in gone.depends + gone.recommends for dep in group if dep in packages})
                removals.append(Removal(name, layer_no, kept))
        previous = listed
    return removals


def _attribute(view: ImageView, packages: dict[str, Package], owned: dict[str, list[str]]) -> dict[str, str]:
    """Give each visible regular file to the first package listing it; sum bytes per package."""
    owner: dict[str, str] = {}
    final = view.index.final
    types = [layer.files.types for layer in view.layers]
    sizes = [layer.files.sizes for layer in view.layers]
    for name, paths in owned.items():
        pkg = packages.get(name)
        if pkg is None:
            continue
        pkg_files = pkg.files
        by_layer = pkg.bytes_by_layer
        total = 0
        for listed in paths:
            path = listed
            ref = final.get(path)
            if ref is None:
                path = view.resolve(listed)
                ref = final.get(path)
                if ref is None:
                    continue
            layer_no, i = split_ref(ref)
            # Regular files only: directories and links hold no bytes.
            if types[layer_no][i] != 0 or path in owner:
                continue
            owner[path] = name
            size = sizes[layer_no][i]
            pkg_files.append(path)
            total += size
            by_layer[layer_no] = by_layer.get(layer_no, 0) + size
        pkg.bytes += total
    return owner


def _dpkg_lists(view: ImageView, packages: dict[str, Package]) -> dict[str, list[str]]:
    """Visible ``info/*.list`` files, by package name."""
    owned: dict[str, list[str]] = {}
    for layer in view.layers:
        vis = view.visible[layer.index]
        for i, path, body in _captured(view, layer.index, lambda p: p.startswith(DPKG_INFO) and p.endswith(".list")):
            if not vis[i]:
                continue
            name = path[len(DPKG_INFO):-len(".list")]
            if name not in packages:
                name = name.split(":", 1)[0]
            owned[name] = parse_dpkg_list(body)
    return owned


def read_dpkg(view: ImageView) -> PackageDatabase | None:
    snapshots = _dpkg_snapshots(view)
    status = _final_body(view, DPKG_STATUS)
    parts = [p for p in _visible_captured_paths(view) if p.startswith(DPKG_STATUS_D) and not p.endswith(".md5sums")]
    if status is None and not parts:
        return None
    packages = parse_dpkg_status(status) if status is not None else {}
    for path in parts:
        packages.update(parse_dpkg_status(_final_body(view, path)))
    extended = _final_body(view, APT_EXTENDED_STATES)
    auto = parse_extended_states(extended) if extended else set()
    for name, pkg in packages.items():
        pkg.auto = name in auto
    removals = _mark_history(packages, snapshots)
    owner = _attribute(view, packages, _dpkg_lists(view, packages))
    return PackageDatabase("dpkg", packages, owner, removals, _versions(snapshots))


def read_apk(view: ImageView) -> PackageDatabase | None:
    body = _final_body(view, APK_INSTALLED)
    if body is None:
        return None
    packages, owned = parse_apk_installed(body)
    world = _final_body(view, APK_WORLD)
    if world is not None:
        requested = {_apk_name(t) for t in world.decode("utf-8", "replace").split()}
        for name, pkg in packages.items():
            pkg.auto = name not in requested
    snapshots = []
    for layer in view.layers:
        got = _captured(view, layer.index, lambda p: p == APK_INSTALLED)
        if got:
            snapshots.append((layer.index, parse_apk_installed(got[-1][2])[0]))
    removals = _mark_history(packages, snapshots)
    owner = _attribute(view, packages, owned)
    return PackageDatabase("apk", packages, owner, removals, _versions(snapshots))


def _versions(snapshots: list[tuple[int, dict[str, Package]]]) -> list[tuple[int, dict[str, str]]]:
    return [(layer_no, {n: p.version for n, p in listed.items()}) for layer_no, listed in snapshots]


def _visible_captured_paths(view: ImageView) -> list[str]:
    out = []
    for layer in view.layers:
        vis = view.visible[layer.index]
        files = layer.files
        out.extend(files.paths[i] for i in files.captured if vis[i])
    return out


def read_database(view: ImageView) -> PackageDatabase | None:
    """The final image's package database (dpkg, else apk), or None when it has neither."""
    return read_dpkg(view) or read_apk(view)


def providers(packages: dict[str, Package]) -> dict[str, list[str]]:
    """Name (real or virtual) → installed packages that satisfy it."""
    out: dict[str, list[str]] = {}
    for name, pkg in packages.items():
        out.setdefault(name.split(":", 1)[0], []).append(name)
        for virtual in pkg.provides:
            out.setdefault(virtual, []).append(name)
    return out


def needed_by_runtime(packages: dict[str, Package], removed: set[str], also_roots=lambda name: False) -> set[str]:
    """Packages still needed once ``removed`` are gone: what apt's autoremove would keep.

    Roots are the packages installed on purpose (not marked automatic), the base system
    and those ``also_roots`` names; everything they depend on or recommend stays (apt keeps
    recommended packages by default). Without apt's marks every package counts as
    installed on purpose.
    """
    by_name = providers(packages)
    keep: set[str] = set()
    stack = [n for n, p in packages.items() if n not in removed and (not p.auto or p.required or also_roots(n))]
    while stack:
        name = stack.pop()
        if name in keep:
            continue
        keep.add(name)
        pkg = packages[name]
        for group in pkg.depends + pkg.recommends:
            for dep in group:
                for target in by_name.get(dep, ()):
                    if target not in keep and target not in removed:
                        stack.append(target)
    return keep
