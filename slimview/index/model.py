"""The index's typed results: per-layer changes, the merged filesystem, and the waste figures."""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from functools import cached_property
from typing import Iterator, NamedTuple

from slimview.index.layer import Entry, LayerFiles
from slimview.source.model import HistoryEntry, LayerRef, SourceImage
from slimview.source.tarstream import EntryType


class Change:
    """How an entry relates to the layers below it."""

    ADDED = 1
    MODIFIED = 2
    UNCHANGED = 3  # re-emitted with the same content and attributes
    DELETED = 4

    NAMES = {1: "added", 2: "modified", 3: "unchanged", 4: "deleted"}


def pack(layer: int, entry: int) -> int:
    return (layer << 32) | entry


def unpack(ref: int) -> tuple[int, int]:
    return ref >> 32, ref & 0xFFFFFFFF


class Hidden(NamedTuple):
    """Bytes stored by one layer that a later one (or the same) deleted or overwrote."""

    path: str
    size: int
    stored_in: int  # layer index that stored the bytes
    hidden_by: int  # layer index that deleted or overwrote them
    how: str  # "deleted" or "overwritten"
    entry: int = -1  # index of the stored entry in layer ``stored_in`` (-1: unknown)


@dataclass
class LayerStats:
    entries: int = 0
    size: int = 0  # sum of regular file sizes stored in the layer
    added: int = 0
    modified: int = 0
    unchanged: int = 0
    deleted: int = 0  # paths of lower layers removed (whiteouts, opaque dirs, replacements)
    bytes_added: int = 0
    bytes_modified: int = 0
    bytes_unchanged: int = 0  # identical files stored again
    bytes_deleted: int = 0  # lower bytes this layer deleted
    bytes_overwritten: int = 0  # lower bytes this layer replaced
    hidden_stored: int = 0  # bytes stored here that are not visible in the final image


@dataclass
class LayerIndex:
    """One layer: its entries with change kinds against the layers below, and its totals."""

    index: int
    ref: LayerRef
    history: HistoryEntry | None
    files: LayerFiles
    changes: bytearray = field(default_factory=bytearray)  # Change per entry
    deleted_paths: list[tuple[str, int]] = field(default_factory=list)  # (path, packed ref of what was there)
    stats: LayerStats = field(default_factory=LayerStats)
    _lookup: dict[str, int] | None = None

    @property
    def instruction(self) -> str:
        """The history line that made the layer (its comment when it has none, e.g. an import)."""
        if self.history is None:
            return ""
        return self.history.created_by or (f"({self.history.comment})" if self.history.comment else "")

    @property
    def digest(self) -> str:
        return self.ref.diff_id or self.files.tar_digest

    def find(self, path: str) -> int | None:
        """Entry index of ``path`` in this layer (the last copy), built lazily."""
        if self._lookup is None:
            self._lookup = {p: i for i, p in enumerate(self.files.paths)}
        return self._lookup.get(path)

    def entries(self) -> Iterator[tuple[Entry, int]]:
        for i in range(len(self.files)):
            yield self.files.entry(i), self.changes[i]


@dataclass
class DiveEfficiency:
    """dive 0.13's figures, computed the way dive computes them, for like-for-like comparison."""

    score: float
    wasted_bytes: int  # dive's "inefficientBytes"
    user_size: int  # bytes in all layers but the first
    wasted_user_percent: float
    inefficient_paths: list[tuple[str, int, int]]  # (path, cumulative bytes, occurrences)


@dataclass
class ImageIndex:
    """The whole image: layers, merged filesystem, and waste."""

    source: SourceImage
    layers: list[LayerIndex]
    final: dict[str, int]  # path → packed (layer, entry) of what is visible in the final image
    hidden: list[Hidden]
    dive: DiveEfficiency
    notes: list[str] = field(default_factory=list)

    # -- totals ------------------------------------------------------------------------------
    @property
    def size(self) -> int:
        """Sum of all layers' regular file bytes (what dive calls the image size)."""
        return sum(layer.stats.size for layer in self.layers)

    @property
    def visible_bytes(self) -> int:
        return sum(size for _path, size in self.visible_bodies())

    def visible_bodies(self) -> Iterator[tuple[str, int]]:
        """(path, bytes) of every file body visible in the final image, each counted once.

        A body whose own name was deleted or overwritten stays visible through a remaining
        hard link to it; it is listed once, under the first such link.
        """
        orphans: dict[int, str] = {}
        hidden = {pack(h.stored_in, h.entry) for h in self.hidden if h.entry >= 0}
        for path, ref in self.final.items():
            layer, i = unpack(ref)
            files = self.layers[layer].files
            type_ = files.types[i]
            if type_ == EntryType.FILE:
                if files.sizes[i]:
                    yield path, files.sizes[i]
            elif type_ == EntryType.HARDLINK:
                body = self.layers[layer].find(files.links[i])
                if body is None or files.types[body] != EntryType.FILE or not files.sizes[body]:
                    continue
                body_ref = pack(layer, body)
                if body_ref in hidden or self.final.get(files.paths[body]) == body_ref:
                    continue
                if body_ref not in orphans or path < orphans[body_ref]:
                    orphans[body_ref] = path
        for body_ref, path in orphans.items():
            layer, i = unpack(body_ref)
            yield path, self.layers[layer].files.sizes[i]

    @property
    def hidden_bytes(self) -> int:
        return sum(h.size for h in self.hidden)

    @property
    def entry_count(self) -> int:
        return sum(len(layer.files) for layer in self.layers)

    # -- lookups -----------------------------------------------------------------------------
    def entry_at(self, ref: int) -> Entry:
        layer, i = unpack(ref)
        return self.layers[layer].files.entry(i)

    @cached_property
    def visible(self) -> list[bytearray]:
        """Per layer, a mask over its entries: 1 where the final filesystem shows that entry."""
        masks = [bytearray(len(layer.files)) for layer in self.layers]
        for ref in self.final.values():
            masks[ref >> 32][ref & 0xFFFFFFFF] = 1
        return masks

    def kept_body(self, path: str, *, follow_symlinks: bool = True) -> bytes | None:
        """The body the index kept (see capture.py) of the file the final filesystem shows at
        ``path``, following symlinks (``etc/os-release`` → ``usr/lib/os-release``); None when
        there is no such file or its body was not kept."""
        for _ in range(16):
            ref = self.final.get(path)
            if ref is None:
                return None
            layer_no, i = unpack(ref)
            files = self.layers[layer_no].files
            if files.types[i] != EntryType.SYMLINK or not follow_symlinks:
                return files.captured.get(i)
            link = files.links.get(i, "")
            target = link if link.startswith("/") else posixpath.join(posixpath.dirname(path), link)
            path = posixpath.normpath(target).lstrip("/")
        return None

    def final_entry(self, path: str) -> tuple[Entry, int] | None:
        """The visible entry at ``path`` and the layer it comes from."""
        ref = self.final.get(path)
        if ref is None:
            return None
        layer, i = unpack(ref)
        return self.layers[layer].files.entry(i), layer

    def content_entry(self, path: str) -> Entry | None:
        """The visible entry at ``path``, following hard links to the entry that holds the bytes.

        A hard link names an earlier entry of its own layer's tar, so it is resolved there:
        the target path may since have been deleted or replaced by a later layer.
        """
        found = self.final_entry(path)
        if found is None:
            return None
        entry, layer_no = found
        if entry.type != EntryType.HARDLINK:
            return entry
        layer = self.layers[layer_no]
        body = layer.find(entry.link)
        if body is not None:
            target = layer.files.entry(body)
        else:
            # Not in its own layer (a hand-made tar): whatever the path holds now.
            found = self.final_entry(entry.link)
            target = found[0] if found else None
        return target if target is not None and target.type != EntryType.HARDLINK else None

    def path_history(self, path: str) -> list[tuple[int, int]]:
        """Every layer that touched ``path``: (layer index, Change)."""
        out = []
        for layer in self.layers:
            i = layer.find(path)
            if i is not None:
                out.append((layer.index, layer.changes[i]))
            elif any(p == path for p, _ in layer.deleted_paths):
                out.append((layer.index, Change.DELETED))
        return out

    def final_files(self) -> Iterator[tuple[str, Entry, int]]:
        """(path, entry, layer) for every visible path, in no particular order."""
        for path, ref in self.final.items():
            layer, i = unpack(ref)
            yield path, self.layers[layer].files.entry(i), layer

    def hidden_by_pair(self) -> dict[tuple[int, int], int]:
        """Hidden bytes grouped by (layer that stored them, layer that hid them)."""
        out: dict[tuple[int, int], int] = {}
        for h in self.hidden:
            key = (h.stored_in, h.hidden_by)
            out[key] = out.get(key, 0) + h.size
        return out

    def directory_sizes(self) -> dict[str, int]:
        """Visible bytes under each directory of the final filesystem ('' is the root)."""
        sizes: dict[str, int] = {}
        for path, size in self.visible_bodies():
            parent = posixpath.dirname(path)
            while True:
                sizes[parent] = sizes.get(parent, 0) + size
                if not parent:
                    break
                parent = posixpath.dirname(parent)
        return sizes

