"""What each layer's copy of a package database listed: which layer installed each package,
which packages a later layer removed, and the versions as of every layer.

A layer that installs or removes packages writes a new copy of the database; the index
keeps every copy (``files.captured``), so the history needs no second read of the image.
"""

from __future__ import annotations

from collections.abc import Callable

from slimview.index.model import ImageIndex
from slimview.packages.model import Package, Removal, Snapshot

# Each layer that wrote the database, with the packages its copy lists, bottom first.
Listings = list[tuple[int, dict[str, Package]]]


def captured(index: ImageIndex, layer_no: int, want: Callable[[str], bool]) -> list[tuple[int, str, bytes]]:
    """(entry, path, body) of the bodies layer ``layer_no`` stores and the index kept,
    for the paths ``want`` accepts, in the layer's order."""
    files = index.layers[layer_no].files
    return [(i, files.paths[i], body) for i, body in files.captured.items() if want(files.paths[i])]


def visible_captured(index: ImageIndex, want: Callable[[str], bool]) -> list[tuple[int, int, str, bytes]]:
    """(layer, entry, path, body) of kept bodies the final image shows, for paths ``want`` accepts."""
    out: list[tuple[int, int, str, bytes]] = []
    for layer in index.layers:
        vis = index.visible[layer.index]
        out.extend((layer.index, i, path, body) for i, path, body in captured(index, layer.index, want) if vis[i])
    return out


def mark_history(packages: dict[str, Package], listings: Listings) -> list[Removal]:
    """Set each package's ``installed_in`` from the first listing that names it, and find the
    packages a later layer removed (with what they depended on that stayed installed)."""
    removals = []
    previous: dict[str, Package] = {}
    for layer_no, listed in listings:
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


def snapshots(listings: Listings) -> list[Snapshot]:
    """The listings as {package: version} per layer."""
    return [(layer_no, {n: p.version for n, p in listed.items()}) for layer_no, listed in listings]
