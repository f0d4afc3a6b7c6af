"""Which visible files, and how many bytes, each package owns.

Package managers list the files they installed; each visible regular file goes to the
first package listing it, and a package's bytes are those files' sizes in the final
filesystem. Directories and links hold no bytes and are left out.
"""

from __future__ import annotations

import posixpath

from slimview.index.model import ImageIndex, split_ref
from slimview.packages.model import Package
from slimview.source.tarstream import EntryType

# Top-level directories a usr-merged system makes symlinks (bin → usr/bin, lib → usr/lib).
_MERGED_DIRS = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")


def symlinked_dirs(index: ImageIndex) -> dict[str, str]:
    """Top-level directories the final filesystem shows as symlinks, with their targets."""
    out = {}
    for name in _MERGED_DIRS:
        ref = index.final.get(name)
        if ref is None:
            continue
        layer_no, i = split_ref(ref)
        files = index.layers[layer_no].files
        if files.types[i] == EntryType.SYMLINK:
            target = files.links.get(i, "")
            out[name] = posixpath.normpath(target.lstrip("/") if target.startswith("/") else target)
    return out


def attribute(index: ImageIndex, packages: dict[str, Package], listed: dict[str, list[str]]) -> dict[str, str]:
    """Give each visible regular file to the first package ``listed`` names it under; fill in
    each package's files and bytes; return {path: package}.

    Package databases list files where the package put them (/bin/bash); on a usr-merged
    system the layer stores them at usr/bin/bash, so a path the final filesystem lacks is
    looked up again with its symlinked top-level directory replaced by the target.
    """
    owner: dict[str, str] = {}
    final = index.final
    merged = symlinked_dirs(index)
    types = [layer.files.types for layer in index.layers]
    sizes = [layer.files.sizes for layer in index.layers]
    for name, paths in listed.items():
        pkg = packages.get(name)
        if pkg is None:
            continue
        total = 0
        for path in paths:
            ref = final.get(path)
            if ref is None:
                top, _, rest = path.partition("/")
                if top not in merged or not rest:
                    continue
                path = f"{merged[top]}/{rest}"
                ref = final.get(path)
                if ref is None:
                    continue
            layer_no, i = split_ref(ref)
            if types[layer_no][i] != EntryType.FILE or path in owner:
                continue
            owner[path] = name
            size = sizes[layer_no][i]
            pkg.files.append(path)
            total += size
            pkg.bytes_by_layer[layer_no] = pkg.bytes_by_layer.get(layer_no, 0) + size
        pkg.bytes += total
    return owner
