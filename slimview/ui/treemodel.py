"""What the file tree shows: one view of the image, built once, drawn row by row.

A view is either one layer's changes (its tar entries and the paths it deleted) or the
whole filesystem as it stands after a layer (dive's aggregated view), with that layer's
changes marked. Building a view is one pass over its paths into per-directory children
maps and directory sizes; everything after that (sorting a directory, filtering,
flattening the expanded part into rows) touches only what is on screen or asked for, so
a million-entry image stays responsive.

No Textual here: the widget in ``widgets/filetree.py`` only draws the rows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Iterable

from slimview.index.layer import Entry
from slimview.index.model import Change, ImageIndex
from slimview.source.tarstream import EntryType

LAYER = "layer"  # this layer's changes only
AGGREGATE = "aggregate"  # everything visible after this layer
BY_NAME = "name"
BY_SIZE = "size"

FILE = EntryType.FILE
DIR = EntryType.DIR
LOW32 = 0xFFFFFFFF
CHECK_EVERY = 1 << 16  # entries between cancellation checks in the long loops

Row = tuple[str, int]  # (path, depth)


class Cancelled(Exception):
    """A newer request made this build pointless."""


def _never() -> bool:
    return False


def parent_of(path: str) -> str:
    return path.rpartition("/")[0]


def name_of(path: str) -> str:
    return path.rpartition("/")[2]


@dataclass(frozen=True)
class Selection:
    """The paths a filter keeps: matches plus their ancestors, and which of them have kept children."""

    shown: frozenset[str]
    parents: frozenset[str]
    matches: int


@dataclass(frozen=True)
class TreeQuery:
    """Everything that decides which rows the tree shows, except which directories are open."""

    mode: str = AGGREGATE
    layer_no: int = 0
    order: str = BY_NAME
    pattern: str = ""  # a regular expression searched in "/"-rooted paths
    kinds: frozenset[int] | None = None  # the change kinds kept (None: all)
    only: frozenset[str] | None = None  # keep just these paths (a finding's files)
    only_label: str = ""  # what ``only`` is, for the filter line

    @property
    def filtered(self) -> bool:
        return bool(self.pattern) or self.kinds is not None or self.only is not None

    def compiled(self) -> re.Pattern[str] | None:
        """The pattern compiled (re.error for a bad one)."""
        return re.compile(self.pattern) if self.pattern else None


class TreeView:
    """One view of the image's files (see the module docstring)."""

    def __init__(
        self,
        index: ImageIndex,
        mode: str,
        layer_no: int,
        refs: dict[str, int],
        deleted: dict[str, int],
        kids: dict[str, list[str]],
        dir_bytes: dict[str, int],
    ):
        self.index = index
        self.mode = mode
        self.layer_no = layer_no
        self.refs = refs  # path → packed (layer, entry) of what this view shows there
        self.deleted = deleted  # path → packed ref of what this layer removed
        self.kids = kids  # directory → child paths, unsorted
        self.dir_bytes = dir_bytes  # directory → bytes of the files below it
        self._sorted: dict[tuple[str, str], list[str]] = {}
        self._files = [layer.files for layer in index.layers]
        self._changes = [layer.changes for layer in index.layers]

    # -- one path ------------------------------------------------------------------------------
    def ref(self, path: str) -> int | None:
        ref = self.refs.get(path)
        return ref if ref is not None else self.deleted.get(path)

    def entry(self, path: str) -> tuple[Entry, int] | None:
        """The entry at ``path`` (what was there, for a deletion) and the layer holding it."""
        ref = self.ref(path)
        if ref is None:
            return None
        layer = ref >> 32
        return self._files[layer].entry(ref & LOW32), layer

    def kind(self, path: str) -> int | None:
        """The Change to mark ``path`` with, or None when this layer did not touch it."""
        if path in self.deleted and path not in self.refs:
            return Change.DELETED
        ref = self.refs.get(path)
        if ref is None or ref >> 32 != self.layer_no:
            return None
        return self._changes[self.layer_no][ref & LOW32]

    def size(self, path: str) -> int:
        """Bytes below a directory, or a file's own size."""
        total = self.dir_bytes.get(path)
        if total is not None:
            return total
        ref = self.ref(path)
        if ref is None:
            return 0
        files = self._files[ref >> 32]
        i = ref & LOW32
        return files.sizes[i] if files.types[i] == FILE else 0

    def is_dir(self, path: str) -> bool:
        if path in self.kids:
            return True
        ref = self.ref(path)
        return ref is not None and self._files[ref >> 32].types[ref & LOW32] == DIR

    def has_children(self, path: str, selection: Selection | None = None) -> bool:
        if selection is not None:
            return path in selection.parents
        return path in self.kids

    # -- directories ---------------------------------------------------------------------------
    def children(self, path: str, order: str = BY_NAME, selection: Selection | None = None) -> list[str]:
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
        if selection is None:
            return ordered
        shown = selection.shown
        return [p for p in ordered if p in shown]

    def rows(
        self,
        path: str,
        depth: int,
        expanded: Callable[[str], bool],
        order: str = BY_NAME,
        selection: Selection | None = None,
    ) -> list[Row]:
        """The rows below ``path`` (not ``path`` itself), descending into expanded directories."""
        out: list[Row] = []
        stack: list[Row] = [(p, depth) for p in reversed(self.children(path, order, selection))]
        kids = self.kids if selection is None else selection.parents
        while stack:
            row = stack.pop()
            out.append(row)
            p = row[0]
            if p in kids and expanded(p):
                d = row[1] + 1
                stack.extend((c, d) for c in reversed(self.children(p, order, selection)))
        return out

    def directories(self) -> Iterable[str]:
        return self.kids.keys()

    # -- filtering -----------------------------------------------------------------------------
    def select(
        self,
        pattern: re.Pattern[str] | None = None,
        kinds: frozenset[int] | None = None,
        only: Iterable[str] | None = None,
        should_stop: Callable[[], bool] = _never,
    ) -> Selection | None:
        """Keep the paths whose "/"-rooted path matches ``pattern``, whose change is one of
        ``kinds`` (UNCHANGED stands for every unmarked path) and that are in ``only``;
        None when nothing filters."""
        if pattern is None and kinds is None and only is None:
            return None
        shown: set[str] = set()
        parents: set[str] = set()
        if only is not None:
            candidates: Iterable[str] = [p for p in only if p in self.refs or p in self.deleted]
        else:
            candidates = _chain_keys(self.refs, self.deleted)
        kind = self.kind
        search = pattern.search if pattern is not None else None
        n = matches = 0
        for p in candidates:
            n += 1
            if not n % CHECK_EVERY and should_stop():
                raise Cancelled
            if kinds is not None:
                k = kind(p)
                if (k if k is not None else Change.UNCHANGED) not in kinds:
                    continue
            if search is not None and not search("/" + p):
                continue
            matches += 1
            if p in shown:
                continue  # already kept as an ancestor of an earlier match
            shown.add(p)
            q = parent_of(p) if p else None
            while q is not None:
                parents.add(q)
                if q in shown or not q:
                    break
                shown.add(q)
                q = parent_of(q)
        return Selection(frozenset(shown), frozenset(parents), matches)

    def ancestors(self, path: str) -> list[str]:
        """Directories from the top down to ``path``'s parent."""
        out = []
        q = parent_of(path)
        while q:
            out.append(q)
            q = parent_of(q)
        out.reverse()
        return out


def _chain_keys(a: dict, b: dict) -> Iterable[str]:
    yield from a
    for p in b:
        if p not in a:
            yield p


def state_after(index: ImageIndex, layer_no: int, should_stop: Callable[[], bool] = _never) -> dict[str, int]:
    """path → packed ref of everything visible after ``layer_no`` (the final view for the top layer).

    Replays the merge's recorded deletions and each layer's entries; a layer's deletions
    of lower paths come before its entries (whiteouts only act on lower layers, and a
    replaced directory's children go before the replacement lands), while paths a layer
    removed from itself (an entry later replaced by a directory) go after.
    """
    if layer_no == len(index.layers) - 1:
        return index.final
    return replay(index, layer_no, should_stop)


def replay(index: ImageIndex, layer_no: int, should_stop: Callable[[], bool] = _never) -> dict[str, int]:
    """``state_after`` computed from the layers (for the top layer it equals ``index.final``)."""
    state: dict[str, int] = {}
    for k in range(layer_no + 1):
        layer = index.layers[k]
        own = []
        for path, ref in layer.deleted_paths:
            if ref >> 32 < k:
                state.pop(path, None)
            else:
                own.append((path, ref))
        base = k << 32
        for i, path in enumerate(layer.files.paths):
            state[path] = base | i
            if not i % CHECK_EVERY and should_stop():
                raise Cancelled
        for path, ref in own:
            if state.get(path) == ref:
                del state[path]
    return state


def build_view(index: ImageIndex, mode: str, layer_no: int, should_stop: Callable[[], bool] = _never) -> TreeView:
    """One pass over the view's paths: children maps, implied directories and sizes."""
    layer = index.layers[layer_no]
    if mode == LAYER:
        base = layer_no << 32
        refs = {path: base | i for i, path in enumerate(layer.files.paths)}
    else:
        refs = state_after(index, layer_no, should_stop)
    deleted = {path: ref for path, ref in layer.deleted_paths if ref >> 32 < layer_no and path not in refs}

    files = [lay.files for lay in index.layers]
    types = [f.types for f in files]
    sizes = [f.sizes for f in files]
    kids: dict[str, list[str]] = {}
    direct: dict[str, int] = {}
    n = 0
    for path, ref in refs.items():
        n += 1
        if not n % CHECK_EVERY and should_stop():
            raise Cancelled
        parent = path.rpartition("/")[0]
        siblings = kids.get(parent)
        if siblings is None:
            kids[parent] = [path]
        else:
            siblings.append(path)
        lay = ref >> 32
        i = ref & LOW32
        if types[lay][i] == FILE:
            size = sizes[lay][i]
            if size:
                direct[parent] = direct.get(parent, 0) + size
    for path in deleted:
        parent = path.rpartition("/")[0]
        siblings = kids.get(parent)
        if siblings is None:
            kids[parent] = [path]
        else:
            siblings.append(path)

    # Directories no entry names (a layer may hold "usr/bin/x" without "usr/bin").
    implied: set[str] = set()
    for directory in list(kids):
        d = directory
        while d and d not in refs and d not in deleted and d not in implied:
            implied.add(d)
            parent = d.rpartition("/")[0]
            siblings = kids.get(parent)
            if siblings is None:
                kids[parent] = [d]
            else:
                siblings.append(d)
            d = parent

    dir_bytes = dict.fromkeys(kids, 0)
    dir_bytes.update(direct)
    for d in sorted(kids, key=lambda p: p.count("/") if p else -1, reverse=True):
        if d:
            parent = d.rpartition("/")[0]
            dir_bytes[parent] = dir_bytes.get(parent, 0) + dir_bytes[d]
    return TreeView(index, mode, layer_no, refs, deleted, kids, dir_bytes)


class ViewCache:
    """The last few views built (one per (mode, layer)); a view of a big image costs a second."""

    def __init__(self, index: ImageIndex, keep: int = 3):
        self.index = index
        self.keep = keep
        self._views: dict[tuple[str, int], TreeView] = {}

    def get(self, mode: str, layer_no: int, should_stop: Callable[[], bool] = _never) -> TreeView:
        key = (mode, layer_no)
        view = self._views.pop(key, None)
        if view is None:
            view = build_view(self.index, mode, layer_no, should_stop)
        self._views[key] = view
        while len(self._views) > self.keep:
            del self._views[next(iter(self._views))]
        return view


def prepare(
    cache: ViewCache,
    query: TreeQuery,
    expanded: frozenset[str] | None,
    should_stop: Callable[[], bool] = _never,
) -> tuple[TreeView, Selection | None, list[Row]]:
    """The view, filter selection and rows for ``query``; ``expanded`` None opens every directory.

    A filtered tree opens every directory that holds a match.
    """
    view = cache.get(query.mode, query.layer_no, should_stop)
    selection = view.select(query.compiled(), query.kinds, query.only, should_stop)
    if selection is not None or expanded is None:
        rows = view.rows("", 0, _always, query.order, selection)
    else:
        rows = view.rows("", 0, expanded.__contains__, query.order, selection)
    return view, selection, rows


def _always(path: str) -> bool:
    return True
