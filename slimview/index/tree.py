"""The image's files as a tree: one layer's changes, or everything visible after a layer.

dive's aggregated view is "the tree after layer N"; slimview answers it here, from the
merge's own records, so that nothing else works out the layering rules again. A view is
built in one pass over its paths into per-directory children and directory sizes; the
explorer then only sorts, filters and draws what is on screen.

Sizes follow the one rule of model.py's ``bodies``, as the final filesystem's totals do.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from itertools import chain
from typing import TYPE_CHECKING

from slimview.index.layer import Entry
from slimview.index.model import Change, EntryRef, bodies, directory_sizes, entry_ref, ref_layer, split_ref
from slimview.source.tarstream import EntryType

if TYPE_CHECKING:
    from slimview.index.model import ImageIndex

LAYER = "layer"  # this layer's changes only
AGGREGATE = "aggregate"  # everything visible after this layer
BY_NAME = "name"
BY_SIZE = "size"
CHECK_EVERY = 1 << 16  # entries between cancellation checks in the long loops

FILE = EntryType.FILE
DIR = EntryType.DIR


class Cancelled(Exception):
    """A newer request made this build pointless."""


def _never() -> bool:
    return False


def name_of(path: str) -> str:
    return path.rpartition("/")[2]


# -- which entries a view shows ----------------------------------------------------------------


def state_after(index: ImageIndex, layer_no: int, should_stop: Callable[[], bool] = _never) -> dict[str, EntryRef]:
    """path → entry ref of everything visible after ``layer_no`` (the final view for the top layer).

    Replays the merge's recorded deletions and each layer's entries; a layer's deletions
    of lower paths come before its entries (whiteouts only act on lower layers, and a
    replaced directory's children go before the replacement lands), while paths a layer
    removed from itself (an entry later replaced by a directory) go after.
    """
    if layer_no == len(index.layers) - 1:
        return index.final
    return replay(index, layer_no, should_stop)


def replay(index: ImageIndex, layer_no: int, should_stop: Callable[[], bool] = _never) -> dict[str, EntryRef]:
    """``state_after`` worked out from the layers' records (for the top layer it equals
    the merge's ``index.final``, which the tests check)."""
    state: dict[str, EntryRef] = {}
    for k in range(layer_no + 1):
        layer = index.layers[k]
        own = []
        for path, ref in layer.deleted_paths:
            if ref_layer(ref) < k:
                state.pop(path, None)
            else:
                own.append((path, ref))
        for i, path in enumerate(layer.files.paths):
            state[path] = entry_ref(k, i)
            if not i % CHECK_EVERY and should_stop():
                raise Cancelled
        for path, ref in own:
            if state.get(path) == ref:
                del state[path]
    return state


class TreeView:
    """One view of the image's files: which entry each path shows, what the layer deleted,
    each directory's children and the bytes below it."""

    def __init__(
        self,
        index: ImageIndex,
        mode: str,
        layer_no: int,
        refs: dict[str, EntryRef],
        deleted: dict[str, EntryRef],
        kids: dict[str, list[str]],
        dir_bytes: dict[str, int],
        changed_below: frozenset[str] = frozenset(),
    ):
        self.index = index
        self.mode = mode
        self.layer_no = layer_no
        self.refs = refs  # path → entry ref of what this view shows there
        self.deleted = deleted  # path → entry ref of what this layer removed
        self.kids = kids  # directory → child paths, unsorted
        self.dir_bytes = dir_bytes  # directory → bytes of the files below it
        self.changed_below = changed_below  # directories holding something this layer added, modified or deleted
        self._sorted: dict[tuple[str, str], list[str]] = {}
        self._files = [layer.files for layer in index.layers]
        self._changes = [layer.changes for layer in index.layers]

    # -- one path ------------------------------------------------------------------------------
    def ref(self, path: str) -> EntryRef | None:
        ref = self.refs.get(path)
        return ref if ref is not None else self.deleted.get(path)

    def entry(self, path: str) -> tuple[Entry, int] | None:
        """The entry at ``path`` (what was there, for a deletion) and the layer holding it."""
        ref = self.ref(path)
        if ref is None:
            return None
        layer, i = split_ref(ref)
        return self._files[layer].entry(i), layer

    def kind(self, path: str) -> int | None:
        """The Change to mark ``path`` with, or None when this layer did not touch it."""
        if path in self.deleted and path not in self.refs:
            return Change.DELETED
        ref = self.refs.get(path)
        if ref is None:
            return None
        layer, i = split_ref(ref)
        # 0: not known yet (a layer listed before the layers below it were read)
        return (self._changes[layer][i] or None) if layer == self.layer_no else None

    def size(self, path: str) -> int:
        """Bytes below a directory, or a file's own size."""
        total = self.dir_bytes.get(path)
        if total is not None:
            return total
        ref = self.ref(path)
        if ref is None:
            return 0
        layer, i = split_ref(ref)
        files = self._files[layer]
        return files.sizes[i] if files.types[i] == FILE else 0

    def is_dir(self, path: str) -> bool:
        if path in self.kids:
            return True
        ref = self.ref(path)
        if ref is None:
            return False
        layer, i = split_ref(ref)
        return self._files[layer].types[i] == DIR

    # -- directories ---------------------------------------------------------------------------
    def children(self, path: str, order: str = BY_NAME) -> list[str]:
        """The children of ``path`` in ``order`` (sorted once per directory and order)."""
        key = (path, order)
        ordered = self._sorted.get(key)
        if ordered is None:
            kids = self.kids.get(path, [])
            if order == BY_SIZE:
                size = self.size
                ordered = sorted(kids, key=lambda p: (-size(p), name_of(p)))
            else:
                ordered = sorted(kids, key=name_of)
            self._sorted[key] = ordered
        return ordered

    def directories(self) -> Iterable[str]:
        return self.kids.keys()

    def paths(self) -> Iterator[str]:
        """Every path the view shows, deletions included."""
        yield from self.refs
        for p in self.deleted:
            if p not in self.refs:
                yield p

    def ancestors(self, path: str) -> list[str]:
        """Directories from the top down to ``path``'s parent."""
        out = []
        q = path.rpartition("/")[0]
        while q:
            out.append(q)
            q = q.rpartition("/")[0]
        out.reverse()
        return out


def _add_child(kids: dict[str, list[str]], path: str) -> None:
    parent = path.rpartition("/")[0]
    siblings = kids.get(parent)
    if siblings is None:
        kids[parent] = [path]
    else:
        siblings.append(path)


def build_view(index: ImageIndex, mode: str, layer_no: int, should_stop: Callable[[], bool] = _never) -> TreeView:
    """One layer's changes (LAYER) or the files after it (AGGREGATE), as a tree."""
    layer = index.layers[layer_no]
    refs: dict[str, EntryRef]
    if mode == LAYER:
        refs = {path: entry_ref(layer_no, i) for i, path in enumerate(layer.files.paths)}
    else:
        refs = state_after(index, layer_no, should_stop)
    deleted = {path: ref for path, ref in layer.deleted_paths if ref_layer(ref) < layer_no and path not in refs}

    kids: dict[str, list[str]] = {}
    for n, path in enumerate(chain(refs, deleted), 1):
        if not n % CHECK_EVERY and should_stop():
            raise Cancelled
        _add_child(kids, path)
    # Directories no entry names (a layer may hold "usr/bin/x" without "usr/bin").
    implied: set[str] = set()
    for directory in list(kids):
        d = directory
        while d and d not in refs and d not in deleted and d not in implied:
            implied.add(d)
            _add_child(kids, d)
            d = d.rpartition("/")[0]

    hidden = [entry_ref(h.stored_in, h.entry) for h in index.hidden if h.entry >= 0] if refs is index.final else []
    dir_bytes = directory_sizes(bodies(index, refs, hidden), kids)
    return TreeView(index, mode, layer_no, refs, deleted, kids, dir_bytes, changed_directories(index, layer_no, deleted, should_stop))


def changed_directories(
    index: ImageIndex, layer_no: int, deleted: Iterable[str], should_stop: Callable[[], bool] = _never
) -> frozenset[str]:
    """The directories above every path layer ``layer_no`` added, modified or deleted (what
    dive marks as modified: a closed directory still says something changed inside)."""
    layer = index.layers[layer_no]
    changes = layer.changes
    out: set[str] = set()

    def above(path: str) -> None:
        parent = path.rpartition("/")[0]
        while parent and parent not in out:
            out.add(parent)
            parent = parent.rpartition("/")[0]

    if len(changes) == len(layer.files):  # else not merged yet: its changes are not known
        for i, path in enumerate(layer.files.paths):
            if changes[i] in (Change.ADDED, Change.MODIFIED):
                above(path)
            if not i % CHECK_EVERY and should_stop():
                raise Cancelled
    for path in deleted:
        above(path)
    return frozenset(out)
