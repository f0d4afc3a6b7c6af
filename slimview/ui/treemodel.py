"""What the file tree pane shows: a view of the index's files (``slimview.index.tree``),
filtered and flattened into rows.

The view itself — which entry each path shows after a layer, children, sizes, change
marks — is the index's; this module only decides which of its paths are shown (a regex,
change kinds, a finding's files) and in what order, touching only what is on screen or
asked for, so a million-entry image stays responsive. No Textual here: the widget in
``widgets/filetree.py`` only draws the rows.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from slimview.index.model import Change, ImageIndex
from slimview.index.tree import AGGREGATE, BY_NAME, CHECK_EVERY, Cancelled, TreeView, build_view

Row = tuple[str, int]  # (path, depth)


def _never() -> bool:
    return False


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


def has_children(view: TreeView, path: str, selection: Selection | None = None) -> bool:
    if selection is not None:
        return path in selection.parents
    return path in view.kids


def children(view: TreeView, path: str, order: str = BY_NAME, selection: Selection | None = None) -> list[str]:
    ordered = view.children(path, order)
    if selection is None:
        return ordered
    shown = selection.shown
    return [p for p in ordered if p in shown]


def rows(
    view: TreeView,
    path: str,
    depth: int,
    expanded: Callable[[str], bool],
    order: str = BY_NAME,
    selection: Selection | None = None,
) -> list[Row]:
    """The rows below ``path`` (not ``path`` itself), descending into expanded directories."""
    out: list[Row] = []
    stack: list[Row] = [(p, depth) for p in reversed(children(view, path, order, selection))]
    kids = view.kids if selection is None else selection.parents
    while stack:
        row = stack.pop()
        out.append(row)
        p = row[0]
        if p in kids and expanded(p):
            d = row[1] + 1
            stack.extend((c, d) for c in reversed(children(view, p, order, selection)))
    return out


def select(
    view: TreeView,
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
        candidates: Iterable[str] = [p for p in only if p in view.refs or p in view.deleted]
    else:
        candidates = view.paths()
    kind = view.kind
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
        q = p.rpartition("/")[0] if p else None
        while q is not None:
            parents.add(q)
            if q in shown or not q:
                break
            shown.add(q)
            q = q.rpartition("/")[0]
    return Selection(frozenset(shown), frozenset(parents), matches)


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
    selection = select(view, query.compiled(), query.kinds, query.only, should_stop)
    if selection is not None or expanded is None:
        return view, selection, rows(view, "", 0, _always, query.order, selection)
    return view, selection, rows(view, "", 0, expanded.__contains__, query.order, selection)


def _always(path: str) -> bool:
    return True
