"""dpkg's database: ``var/lib/dpkg/status`` (distroless: one stanza per file in
``status.d/``), a file list per package in ``info/<name>[:arch].list``, and apt's
``extended_states`` marking what was installed only as a dependency.
"""

from __future__ import annotations

import re

from slimview.index.model import ImageIndex
from slimview.packages.attribution import attribute
from slimview.packages.history import Listings, captured, mark_history, snapshots, visible_captured
from slimview.packages.model import Manager, Package, PackageDatabase
from slimview.packages.paths import APT_EXTENDED_STATES, DPKG_INFO, DPKG_LIST_SUFFIX, DPKG_STATUS, DPKG_STATUS_D

# dpkg states in which a package's files are on disk.
_PRESENT = frozenset({"installed", "half-installed", "unpacked", "half-configured", "triggers-awaited", "triggers-pending"})
_DEP_NAME = re.compile(r"^\s*([^\s(:]+)")


def _stanzas(body: bytes) -> list[dict[str, str]]:
    """Deb822 paragraphs as {field: value}; continuation lines are dropped (none is needed)."""
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
    """A relationship field as groups of alternatives, names only (no versions or arch)."""
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


def _kib(value: str) -> int:
    """dpkg's Installed-Size (KiB) in bytes; 0 when absent or malformed."""
    return int(value) * 1024 if value.isdigit() else 0


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
            installed_bytes=_kib(fields.get("Installed-Size", "")),
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


def parse_dpkg_list(body: bytes) -> list[str]:
    """Paths of a dpkg ``.list`` file, relative (without the leading slash)."""
    return [line[1:] for line in body.decode("utf-8", "surrogateescape").split("\n") if len(line) > 1]


def _is_status_part(path: str) -> bool:
    return path.startswith(DPKG_STATUS_D) and not path.endswith(".md5sums")


def _is_file_list(path: str) -> bool:
    return path.startswith(DPKG_INFO) and path.endswith(DPKG_LIST_SUFFIX)


def _listings(index: ImageIndex) -> Listings:
    """Each layer that wrote a status file or status.d stanzas, with the packages listed then."""
    listings: Listings = []
    status_d: dict[str, Package] = {}
    for layer in index.layers:
        got = captured(index, layer.index, lambda p: p == DPKG_STATUS or p.startswith(DPKG_STATUS_D))
        if not got:
            continue
        whole = [body for _i, path, body in got if path == DPKG_STATUS]
        if whole:
            listings.append((layer.index, parse_dpkg_status(whole[-1])))
        parts = [body for _i, path, body in got if _is_status_part(path)]
        if parts:
            for body in parts:
                status_d.update(parse_dpkg_status(body))
            listings.append((layer.index, dict(status_d)))
    return listings


def _file_lists(index: ImageIndex, packages: dict[str, Package]) -> dict[str, list[str]]:
    """Visible ``info/*.list`` files, by package name."""
    owned: dict[str, list[str]] = {}
    for _layer, _i, path, body in visible_captured(index, _is_file_list):
        name = path[len(DPKG_INFO):-len(DPKG_LIST_SUFFIX)]
        if name not in packages:
            name = name.split(":", 1)[0]
        owned[name] = parse_dpkg_list(body)
    return owned


def read_dpkg(index: ImageIndex) -> PackageDatabase | None:
    """The final image's dpkg database, or None when it has none."""
    status = index.kept_body(DPKG_STATUS)
    parts = [body for _layer, _i, _path, body in visible_captured(index, _is_status_part)]
    if status is None and not parts:
        return None
    packages = parse_dpkg_status(status) if status is not None else {}
    for body in parts:
        packages.update(parse_dpkg_status(body))
    extended = index.kept_body(APT_EXTENDED_STATES)
    auto = parse_extended_states(extended) if extended else set()
    for name, pkg in packages.items():
        pkg.auto = name in auto
    listings = _listings(index)
    removals = mark_history(packages, listings)
    owner = attribute(index, packages, _file_lists(index, packages))
    return PackageDatabase(Manager.DPKG, packages, owner, removals, snapshots(listings))
