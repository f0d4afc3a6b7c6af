"""apk's database: every installed package, with its files, in ``lib/apk/db/installed``,
and the packages asked for by name in ``etc/apk/world`` (the rest came as dependencies).
"""

from __future__ import annotations

from slimview.index.model import ImageIndex
from slimview.packages.attribution import attribute
from slimview.packages.history import Listings, captured, mark_history, snapshots
from slimview.packages.model import Manager, Package, PackageDatabase, package_name
from slimview.packages.paths import APK_INSTALLED, APK_WORLD


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
            elif tag == "I":
                pkg.installed_bytes = int(value) if value.isdigit() else 0
            elif tag == "D":
                pkg.depends = [[package_name(t)] for t in value.split() if not t.startswith("!")]
            elif tag == "p":
                pkg.provides = [package_name(t) for t in value.split()]
            elif tag == "F":
                folder = value
            elif tag == "R":
                owned.append(f"{folder}/{value}" if folder else value)
        if pkg is not None:
            packages[pkg.name] = pkg
            files[pkg.name] = owned
    return packages, files


def parse_apk_world(body: bytes) -> set[str]:
    """The names ``etc/apk/world`` asks for."""
    return {package_name(t) for t in body.decode("utf-8", "replace").split()}


def _listings(index: ImageIndex) -> Listings:
    listings: Listings = []
    for layer in index.layers:
        got = captured(index, layer.index, lambda p: p == APK_INSTALLED)
        if got:
            listings.append((layer.index, parse_apk_installed(got[-1][2])[0]))
    return listings


def read_apk(index: ImageIndex) -> PackageDatabase | None:
    """The final image's apk database, or None when it has none."""
    body = index.kept_body(APK_INSTALLED)
    if body is None:
        return None
    packages, owned = parse_apk_installed(body)
    world = index.kept_body(APK_WORLD)
    if world is not None:
        requested = parse_apk_world(world)
        for name, pkg in packages.items():
            pkg.auto = name not in requested
    listings = _listings(index)
    removals = mark_history(packages, listings)
    owner = attribute(index, packages, owned)
    return PackageDatabase(Manager.APK, packages, owner, removals, snapshots(listings))
