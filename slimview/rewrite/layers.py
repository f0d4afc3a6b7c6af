"""What the image's layers hold, read from the index: what each layer added, what a COPY
brought in, what layers stored under a directory, a file's body (its OS packages are
slimview/packages' to read; what a stack's files say, the stack's module).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from slimview.errors import InputError
from slimview.index.capture import PROGRAM_MAX
from slimview.index.content import read_body
from slimview.index.model import Change, ImageIndex, entry_ref, split_ref
from slimview.source.tarstream import EntryType


def added_bytes(index: ImageIndex, layer_no: int, exclude: tuple[str, ...] = ()) -> int:
    """Regular-file bytes a layer adds or modifies, leaving out paths under ``exclude``."""
    layer = index.layers[layer_no]
    files = layer.files
    total = 0
    for i, path in enumerate(files.paths):
        if files.types[i] == EntryType.FILE and layer.changes[i] in (Change.ADDED, Change.MODIFIED) and not path.startswith(exclude):
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


def stored_under(index: ImageIndex, where: tuple[str, ...] | re.Pattern[str], first_layer: int = 0) -> tuple[int, int]:
    """(visible, hidden) bytes that layers from ``first_layer`` on store under the prefixes
    ``where`` names, or at paths its pattern finds (a cache rule's, findings/caches.py)."""
    found = where.search if isinstance(where, re.Pattern) else lambda path: path.startswith(where)
    visible = hidden = 0
    for layer in index.layers[first_layer:]:
        files = layer.files
        for i, path in enumerate(files.paths):
            if files.types[i] == EntryType.FILE and found(path):
                if index.final.get(path) == entry_ref(layer.index, i):
                    visible += files.sizes[i]
                else:
                    hidden += files.sizes[i]
    return visible, hidden


def file_body(index: ImageIndex, path: str, layer_no: int | None = None) -> bytes | None:
    """The body of ``path`` (in the final filesystem, or as layer ``layer_no`` stored it):
    the one the index kept (index/capture.py keeps a Node project's package.json and
    lockfiles), else read again from an archive on disk; None when
    neither can give it (a body the policy dropped from a streamed save) or it holds a secret.
    The one place the rewrite reads a body."""
    if layer_no is None:
        ref = index.final.get(path)
        if ref is None:
            return None
        layer_no = split_ref(ref)[0]
    layer = index.layers[layer_no]
    i = layer.find(path)
    if i is None or layer.files.types[i] != EntryType.FILE:
        return None
    if layer.files.secrets.get(i):
        return None
    kept = layer.files.captured.get(i)
    if kept is not None:
        return kept
    try:
        return read_body(index, layer_no, path, PROGRAM_MAX)
    except InputError:
        return None
