"""dive-compatible efficiency, computed exactly the way dive 0.13 computes it.

Users compare tools, so slimview reports dive's score and "inefficient bytes" too — with
dive's semantics, quirks included (documented here because they explain why dive's
number differs from slimview's hidden bytes):

- dive visits only the *leaves* of each layer's tree; a directory that has children in a
  layer never counts, so ``rm -rf dir`` costs nothing in dive's maths unless ``dir`` was a
  leaf somewhere;
- a whiteout of a file counts 0 bytes; a whiteout of a directory counts the sizes of the
  directory's subtree in the tree stacked so far;
- opaque whiteouts (``.wh..wh..opq``) are ignored entirely;
- a whiteout naming a path that does not exist stops dive's visit of the rest of that
  layer (leaves are visited child-first, children sorted byte-wise);
- a parent directory implied by a deeper entry, with no entry of its own, stacks as a
  zero-size non-directory.

slimview's own measure, hidden bytes (see merge.py), has none of these blind spots.

Memory: dive keeps a tree of every layer and one of the stacked image, and a record of
every path. Only what can change the figures is kept here: the stacked tree holds just
the nodes at or below a path some whiteout deletes (nothing else is ever looked up in
it), and a path gets a record only if a second layer may count it (a path of the first
layer that no later layer names is counted once, straight into the totals). A
million-entry image needs tens of megabytes here, not hundreds. ``tests/dive_model.py``
is dive's algorithm written plainly; the tests hold the two to the same figures.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterator

from slimview.index.layer import WHITEOUT_PREFIX, LayerFiles
from slimview.index.model import DiveEfficiency
from slimview.source.tarstream import EntryType

Payload = tuple[bool, int]  # a node of dive's tree: (is a directory, size)
_IMPLIED: Payload = (False, 0)


class _Tree:
    """Just enough of dive's FileTree: node payloads and children."""

    __slots__ = ("nodes", "kids")

    def __init__(self):
        self.nodes: dict[str, Payload] = {}
        self.kids: dict[str, set[str]] = {}

    def add(self, path: str, payload: Payload) -> None:
        """dive's AddPath: create missing ancestors (empty payload), then set the payload."""
        nodes = self.nodes
        if path not in nodes:
            child = path
            parent = child.rpartition("/")[0]
            while True:
                kids = self.kids.get(parent)
                if kids is None:
                    self.kids[parent] = {child}
                else:
                    kids.add(child)
                if not parent or parent in nodes:
                    break
                nodes[parent] = _IMPLIED
                child, parent = parent, parent.rpartition("/")[0]
        nodes[path] = payload

    def remove(self, path: str) -> None:
        if path not in self.nodes:
            return
        stack = [path]
        while stack:
            p = stack.pop()
            self.nodes.pop(p, None)
            stack.extend(self.kids.pop(p, ()))
        siblings = self.kids.get(path.rpartition("/")[0])
        if siblings is not None:
            siblings.discard(path)

    def subtree_size(self, path: str) -> int:
        total = 0
        stack = [path]
        while stack:
            p = stack.pop()
            total += self.nodes.get(p, _IMPLIED)[1]
            stack.extend(self.kids.get(p, ()))
        return total


class _Deleted:
    """The paths some layer's whiteout deletes, and everything below them: the only nodes
    of the stacked tree dive ever looks at."""

    def __init__(self, layers: list[LayerFiles]):
        self.targets = {target for files in layers for target in files.whiteouts}
        self._dirs: dict[str, bool] = {"": False}

    def _below(self, directory: str) -> bool:
        known = self._dirs.get(directory)
        if known is not None:
            return known
        chain = []  # from ``directory`` up to the first directory already decided
        while known is None:
            chain.append(directory)
            directory = directory.rpartition("/")[0]
            known = self._dirs.get(directory)
        for d in reversed(chain):
            known = known or d in self.targets
            self._dirs[d] = known
        return known

    def __contains__(self, path: str) -> bool:
        return path in self.targets or self._below(path.rpartition("/")[0])


class _LayerTree:
    """dive's tree of one layer, described rather than built: its leaves in dive's order,
    and its nodes at or below a deleted path."""

    def __init__(self, files: LayerFiles):
        self.files = files
        paths = files.paths
        # A path stored twice is one node, where it was first added, with its last entry.
        self.last: dict[str, int] | None = None
        if len(set(paths)) != len(paths):
            self.last = {}
            for i, path in enumerate(paths):
                self.last[path] = i
        self.whiteouts = {_whiteout_node(target): target for target in files.whiteouts}
        self.extras = dict(files.estargz_extras)  # dive knows nothing of estargz: its TOC is a file
        opaque = [o for o in dict.fromkeys(files.opaque_dirs) if o]  # the marker is never added
        self.parents = parents = _ancestors((*paths, *self.whiteouts, *opaque, *self.extras))
        # An opaque directory with nothing below it is a leaf, unless it is an entry (a leaf already).
        lone = {o for o in opaque if o not in parents}
        if lone:
            lone.difference_update(p for p in paths if p in lone)
        self.lone_opaque = [o for o in opaque if o in lone]
        self.opaque = opaque

    def leaves(self) -> Iterator[tuple[str, int]]:
        """(node, size) of every node without children, in the order dive's tree holds them."""
        parents = self.parents
        sizes = self.files.sizes
        entries = self.last.items() if self.last is not None else ((p, i) for i, p in enumerate(self.files.paths))
        for path, i in entries:
            if path not in parents:
                yield path, sizes[i]
        for node in self.whiteouts:
            if node not in parents:
                yield node, 0
        for opaque in self.lone_opaque:
            yield opaque, 0
        for path, size in self.extras.items():
            if path not in parents:
                yield path, size

    def nodes_in(self, deleted: _Deleted, *, whiteouts: bool) -> dict[str, Payload]:
        """The layer's nodes at or below a deleted path, with dive's payloads (its whiteout
        nodes too when ``whiteouts``)."""
        files = self.files
        types, sizes = files.types, files.sizes
        out: dict[str, Payload] = {}
        for i, path in enumerate(files.paths):
            if path in deleted:
                out[path] = (types[i] == EntryType.DIR, sizes[i])
        for path in self.parents:
            if path not in out and path in deleted:
                out[path] = _IMPLIED
        if whiteouts:
            for node in self.whiteouts:
                if node in deleted:
                    out[node] = _IMPLIED
        for path in self.opaque:
            if path not in out and path in deleted:
                out[path] = _IMPLIED
        for path, size in self.extras.items():
            if path in deleted:
                out[path] = (False, size)
        if not whiteouts:
            for node in self.whiteouts:
                out.pop(node, None)
        return out


def _ancestors(paths) -> set[str]:
    """Every directory above any of ``paths`` (the root excluded)."""
    found: set[str] = set()
    last = None
    for path in paths:
        parent = path.rpartition("/")[0]
        if parent == last:
            continue
        last = parent
        while parent and parent not in found:
            found.add(parent)
            parent = parent.rpartition("/")[0]
    return found


class _Tally:
    """dive's per-path record (bytes summed over layers, the smallest, the count), kept
    only for the paths in ``tracked``; any other path is counted once, into the totals."""

    def __init__(self, tracked: set[str]):
        self.tracked = tracked
        self.once = 0  # bytes of the paths counted only once
        self.slots: dict[str, int] = {}
        self.cumulative = array("q")
        self.minimum = array("q")
        self.count = array("q")

    def record(self, path: str, size: int) -> None:
        if path not in self.tracked:
            self.once += size
            return
        slot = self.slots.get(path)
        if slot is None:
            self.slots[path] = len(self.count)
            self.cumulative.append(size)
            self.minimum.append(size)
            self.count.append(1)
        else:
            self.cumulative[slot] += size
            if size < self.minimum[slot] or self.minimum[slot] < 0:
                self.minimum[slot] = size
            self.count[slot] += 1

    def missing(self, path: str) -> None:
        """dive registers a path (smallest -1, nothing summed) before its lookup fails."""
        if path not in self.slots:
            self.slots[path] = len(self.count)
            self.cumulative.append(0)
            self.minimum.append(-1)
            self.count.append(0)

    def efficiency(self, layers: list[LayerFiles]) -> DiveEfficiency:
        total = self.once + sum(self.cumulative)
        score = (self.once + sum(self.minimum)) / total if total else 1.0
        inefficient = [(p, self.cumulative[s], self.count[s]) for p, s in self.slots.items() if self.count[s] >= 2]
        inefficient.sort(key=lambda t: t[1], reverse=True)
        wasted = sum(c for _p, c, _n in inefficient)
        sizes = [f.file_bytes + sum(size for _path, size in f.estargz_extras) for f in layers]
        user_size = sum(sizes[1:])
        return DiveEfficiency(
            score=score,
            wasted_bytes=wasted,
            user_size=user_size,
            wasted_user_percent=(wasted / user_size) if user_size else 0.0,
            inefficient_paths=inefficient,
        )


def _counted_again(layers: list[LayerFiles], targets: set[str]) -> set[str]:
    """Every path a layer above the first may count: its nodes, and deleted paths."""
    paths = set(targets)
    for files in layers[1:]:
        paths.update(files.paths)
        paths.update(files.opaque_dirs)
        paths.update(path for path, _size in files.estargz_extras)
    return paths


def _whiteout_node(path: str) -> str:
    parent, _, name = path.rpartition("/")
    return f"{parent}/{WHITEOUT_PREFIX}{name}" if parent else WHITEOUT_PREFIX + name


def _visit_key(leaf: tuple[str, int]) -> list[bytes]:
    return [c.encode("utf-8", "surrogateescape") for c in leaf[0].split("/")]


def dive_efficiency(layers: list[LayerFiles]) -> DiveEfficiency:
    deleted = _Deleted(layers)
    tally = _Tally(_counted_again(layers, deleted.targets))
    stacked = _Tree()  # only its nodes at or below a deleted path
    for k, files in enumerate(layers):
        tree = _LayerTree(files)
        if k == 0:  # dive stacks onto (a copy of) the first layer's tree, whiteout nodes and all
            for path, payload in tree.nodes_in(deleted, whiteouts=True).items():
                stacked.add(path, payload)
        leaves: Iterator[tuple[str, int]] | list[tuple[str, int]] = tree.leaves()
        if any(target not in stacked.nodes for target in tree.whiteouts.values()):
            # dive stops visiting this layer at the first whiteout it cannot resolve.
            leaves = sorted(leaves, key=_visit_key)
        for leaf, size in leaves:
            target = tree.whiteouts.get(leaf)
            if target is None:
                tally.record(leaf, size)
                continue
            node = stacked.nodes.get(target)
            if node is None:
                tally.missing(target)
                break
            tally.record(target, stacked.subtree_size(target) if node[0] else 0)
        # dive's Stack: whiteouts remove, every other node (implied ones too) sets its payload.
        for target in tree.whiteouts.values():
            stacked.remove(target)
        if k > 0:
            for path, payload in tree.nodes_in(deleted, whiteouts=False).items():
                stacked.add(path, payload)
    return tally.efficiency(layers)


def dive_user_wasted_ratio(dive: DiveEfficiency) -> float:
    """dive's userWastedPercent exactly as its CI rule compares it: wasted bytes over the bytes
    of the layers above the first, a float64 division. So +Inf when those layers hold 0
    bytes yet something is wasted (an image whose own layers only delete from the base:
    dive fails the rule), NaN when nothing is wasted either (every comparison is false:
    the rule passes). The report shows 0 for both (``wasted_user_percent``)."""
    if dive.user_size:
        return dive.wasted_bytes / dive.user_size
    return math.inf if dive.wasted_bytes else math.nan
