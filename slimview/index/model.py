"""The index's typed results: per-layer changes, the merged filesystem, and the waste figures."""

from __future__ import annotations

import posixpath
from array import array
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import NamedTuple, NewType

from slimview.elf import Program
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


EntryRef = NewType("EntryRef", int)
"""One entry of one layer: the layer number in the high 32 bits, the entry's position in
the layer's columns in the low 32. The index keeps one per path of every view (millions
in a large image), where a tuple each would cost several times the memory."""

_ENTRY_BITS = 32
_ENTRY_MASK = (1 << _ENTRY_BITS) - 1


def entry_ref(layer: int, entry: int) -> EntryRef:
    return EntryRef((layer << _ENTRY_BITS) | entry)


def split_ref(ref: int) -> tuple[int, int]:
    """(layer, entry) of an :data:`EntryRef`."""
    return ref >> _ENTRY_BITS, ref & _ENTRY_MASK


def ref_layer(ref: int) -> int:
    return ref >> _ENTRY_BITS


class Hidden(NamedTuple):
    """Bytes stored by one layer that a later one (or the same) deleted or overwrote."""

    path: str
    size: int
    stored_in: int  # layer index that stored the bytes
    hidden_by: int  # layer index that deleted or overwrote them
    how: str  # "deleted" or "overwritten"
    entry: int = -1  # index of the stored entry in layer ``stored_in`` (-1: unknown)


class HiddenFiles:
    """Every :class:`Hidden` of an image, kept in columns (a large image hides hundreds of
    thousands of files: a tuple and two ints each was six times the memory); iterating
    makes each record on demand."""

    __slots__ = ("paths", "sizes", "layers", "deleted", "entries")

    def __init__(self, records: Iterable[Hidden] = ()):
        self.paths: list[str] = []
        self.sizes = array("q")
        self.layers = array("l")  # stored_in, hidden_by: two per record
        self.deleted = bytearray()  # how: 1 "deleted", 0 "overwritten"
        self.entries = array("q")
        for record in records:
            self.append(record)

    def append(self, record: Hidden) -> None:
        self.paths.append(record.path)
        self.sizes.append(record.size)
        self.layers.append(record.stored_in)
        self.layers.append(record.hidden_by)
        self.deleted.append(record.how == "deleted")
        self.entries.append(record.entry)

    def __len__(self) -> int:
        return len(self.paths)

    def __iter__(self) -> Iterator[Hidden]:
        layers = self.layers
        for k, (path, size, deleted, entry) in enumerate(zip(self.paths, self.sizes, self.deleted, self.entries)):
            yield Hidden(path, size, layers[2 * k], layers[2 * k + 1], "deleted" if deleted else "overwritten", entry)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, HiddenFiles) and list(self) == list(other)

    def __repr__(self) -> str:
        return f"HiddenFiles({list(self)!r})"


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


class Deletions:
    """The lower paths a layer deleted, each with the entry that was there: (path, EntryRef)
    pairs kept in two columns (a large deletion is a hundred thousand of them)."""

    __slots__ = ("paths", "refs")

    def __init__(self, pairs: Iterable[tuple[str, int]] = ()):
        self.paths: list[str] = []
        self.refs = array("q")
        for path, ref in pairs:
            self.append(path, ref)

    def append(self, path: str, ref: int) -> None:
        self.paths.append(path)
        self.refs.append(ref)

    def __len__(self) -> int:
        return len(self.paths)

    def __iter__(self) -> Iterator[tuple[str, EntryRef]]:
        return zip(self.paths, self.refs)  # type: ignore[arg-type]

    def __getitem__(self, at: slice) -> list[tuple[str, EntryRef]]:
        return list(zip(self.paths[at], self.refs[at]))  # type: ignore[arg-type]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Deletions) and self.paths == other.paths and self.refs == other.refs

    def __repr__(self) -> str:
        return f"Deletions({list(self)!r})"


@dataclass
class LayerIndex:
    """One layer: its entries with change kinds against the layers below, and its totals."""

    index: int
    ref: LayerRef
    history: HistoryEntry | None
    files: LayerFiles
    changes: bytearray = field(default_factory=bytearray)  # Change per entry
    deleted_paths: Deletions = field(default_factory=Deletions)  # (path, the entry that was there)
    stats: LayerStats = field(default_factory=LayerStats)
    _lookup: dict[str, int] | None = None
    _link_bodies: dict[str, int] | None = None

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
        """Entry index of ``path`` in this layer (the last copy), from a lookup of the whole
        layer built on first use: for a person's questions. A pass over many paths uses
        :meth:`find_many` (a large layer's lookup is tens of megabytes, kept)."""
        if self._lookup is None:
            self._lookup = {p: i for i, p in enumerate(self.files.paths)}
        return self._lookup.get(path)

    def find_many(self, paths: Iterable[str]) -> dict[str, int]:
        """Entry index (the last copy) of each of ``paths`` this layer has, in one pass that
        keeps only those."""
        if self._lookup is not None:
            return {p: i for p in paths if (i := self._lookup.get(p)) is not None}
        wanted = set(paths)
        found: dict[str, int] = {}
        if wanted:
            for i, p in enumerate(self.files.paths):
                if p in wanted:
                    found[p] = i
        return found

    def link_body(self, i: int) -> int | None:
        """Entry index of the path hard link ``i`` names (its last copy in this layer)."""
        if self._link_bodies is None:
            files = self.files
            self._link_bodies = self.find_many(files.links[j] for j in files.links if files.types[j] == EntryType.HARDLINK)
        return self._link_bodies.get(self.files.links[i])

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
    final: dict[str, EntryRef]  # path → the entry visible there in the final image
    hidden: HiddenFiles
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
        """(path, bytes) of every file body visible in the final image, each counted once."""
        return bodies(self, self.final, (entry_ref(h.stored_in, h.entry) for h in self.hidden if h.entry >= 0))

    @property
    def hidden_bytes(self) -> int:
        return sum(h.size for h in self.hidden)

    @property
    def entry_count(self) -> int:
        return sum(len(layer.files) for layer in self.layers)

    # -- lookups -----------------------------------------------------------------------------
    @cached_property
    def visible(self) -> list[bytearray]:
        """Per layer, a mask over its entries: 1 where the final filesystem shows that entry."""
        masks = [bytearray(len(layer.files)) for layer in self.layers]
        for ref in self.final.values():
            layer, i = split_ref(ref)
            masks[layer][i] = 1
        return masks

    def kept_body(self, path: str, *, follow_symlinks: bool = True) -> bytes | None:
        """The body the index kept (see capture.py) of the file the final filesystem shows at
        ``path``, following symlinks (``etc/os-release`` → ``usr/lib/os-release``); None when
        there is no such file or its body was not kept."""
        found = self.resolve(path) if follow_symlinks else path
        ref = self.final.get(found) if found is not None else None
        if ref is None:
            return None
        layer_no, i = split_ref(ref)
        return self.layers[layer_no].files.captured.get(i)

    def program(self, path: str) -> Program | None:
        """What the ELF program the final filesystem shows at ``path`` is (the index read
        it as it passed, see capture.py); None when it is no program the index read."""
        ref = self.final.get(path)
        if ref is None:
            return None
        layer_no, i = split_ref(ref)
        return self.layers[layer_no].files.programs.get(i)

    def resolve(self, path: str) -> str | None:
        """``path`` in the final filesystem with every symlink on the way followed
        (``lib64/ld-linux-x86-64.so.2`` → ``usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2``);
        None when it leads nowhere or loops."""
        todo = [p for p in path.split("/") if p]
        done = ""
        hops = 0
        while todo:
            candidate = f"{done}/{todo.pop(0)}" if done else todo.pop(0)
            ref = self.final.get(candidate)
            if ref is None:
                if not todo:
                    return None
                done = candidate  # a directory only implied by the paths below it
                continue
            layer_no, i = split_ref(ref)
            files = self.layers[layer_no].files
            if files.types[i] != EntryType.SYMLINK:
                done = candidate
                continue
            hops += 1
            if hops > 40:
                return None
            link = files.links.get(i, "")
            target = link if link.startswith("/") else posixpath.join(posixpath.dirname(candidate), link)
            todo = [p for p in posixpath.normpath("/" + target).split("/") if p] + todo
            done = ""
        return done or None

    def final_entry(self, path: str) -> tuple[Entry, int] | None:
        """The visible entry at ``path`` and the layer it comes from."""
        ref = self.final.get(path)
        if ref is None:
            return None
        layer, i = split_ref(ref)
        return self.layers[layer].files.entry(i), layer

    def content_ref(self, ref: EntryRef) -> EntryRef | None:
        """The entry that holds the bytes of the entry at ``ref``: itself, unless it is a hard
        link; None for a hard link that leads nowhere or to another hard link (a loop).

        A hard link names an earlier entry of its own layer's tar, so it is resolved there:
        what later layers did to the target's path does not change the link's bytes.
        """
        layer_no, i = split_ref(ref)
        files = self.layers[layer_no].files
        if files.types[i] != EntryType.HARDLINK:
            return ref
        body = self.layers[layer_no].link_body(i)
        # Not in its own layer (a hand-made tar): whatever the path holds now.
        target = entry_ref(layer_no, body) if body is not None else self.final.get(files.links[i])
        if target is None:
            return None
        target_layer, j = split_ref(target)
        return None if self.layers[target_layer].files.types[j] == EntryType.HARDLINK else target

    def content_entry(self, path: str) -> Entry | None:
        """The visible entry at ``path``, following a hard link to the entry that holds the bytes."""
        ref = self.final.get(path)
        body = self.content_ref(ref) if ref is not None else None
        if body is None:
            return None
        layer_no, i = split_ref(body)
        return self.layers[layer_no].files.entry(i)

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
            layer, i = split_ref(ref)
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
        return directory_sizes(self.visible_bodies())


def bodies(index: ImageIndex, refs: Mapping[str, int], hidden: Iterable[int] = ()) -> Iterator[tuple[str, int]]:
    """(path, bytes) of every file body the view ``refs`` shows, each counted once: the one
    rule every size of a set of files follows (the final filesystem, a tree view).

    A regular file counts its bytes; a hard link counts its body's bytes once, when the
    body is not shown under its own name in the same view (``rm a`` keeps the bytes ``b``
    still names). A body whose own name is not in the view stays visible through a hard link to it; it
    is listed once, under the first such link. ``hidden``: refs of bodies already counted
    as hidden (the final view's), which a link cannot make visible again.
    """
    hidden_bodies = set(hidden)
    orphans: dict[EntryRef, str] = {}
    layers = index.layers
    for path, ref in refs.items():
        layer, i = split_ref(ref)
        files = layers[layer].files
        type_ = files.types[i]
        if type_ == EntryType.FILE:
            if files.sizes[i]:
                yield path, files.sizes[i]
        elif type_ == EntryType.HARDLINK:
            body = layers[layer].link_body(i)
            if body is None or files.types[body] != EntryType.FILE or not files.sizes[body]:
                continue
            body_ref = entry_ref(layer, body)
            if body_ref in hidden_bodies or refs.get(files.paths[body]) == body_ref:
                continue
            if body_ref not in orphans or path < orphans[body_ref]:
                orphans[body_ref] = path
    for orphan, path in orphans.items():
        layer, i = split_ref(orphan)
        yield path, layers[layer].files.sizes[i]


def directory_sizes(sized: Iterable[tuple[str, int]], directories: Iterable[str] = ()) -> dict[str, int]:
    """Bytes below each directory ('' is the root) of the (path, bytes) ``sized``: every
    ancestor of a body, plus ``directories`` (0 when nothing below them has bytes)."""
    sizes = dict.fromkeys(directories, 0)
    for path, size in sized:
        parent = path.rpartition("/")[0]
        sizes[parent] = sizes.get(parent, 0) + size
    for directory in list(sizes):
        d = directory
        while d:
            d = d.rpartition("/")[0]
            if d in sizes:
                break
            sizes[d] = 0
    # Deepest first, each directory's total added to its parent once.
    for d in sorted(sizes, key=lambda p: p.count("/") if p else -1, reverse=True):
        if d:
            parent = d.rpartition("/")[0]
            sizes[parent] += sizes[d]
    return sizes
