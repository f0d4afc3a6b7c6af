"""dive 0.13's efficiency figures written plainly, as dive computes them: a tree for every
layer, one stacked tree, a record of every path. ``slimview/index/waste.py`` computes
the same figures keeping far less; the tests hold the two equal."""

from __future__ import annotations

from slimview.index.layer import WHITEOUT_PREFIX, LayerFiles
from slimview.index.model import DiveEfficiency
from slimview.source.tarstream import EntryType

_IMPLIED = (False, 0)


class _Tree:
    """Just enough of dive's FileTree: node payloads (is_dir, size) and children."""

    __slots__ = ("nodes", "kids")

    def __init__(self):
        self.nodes: dict[str, tuple[bool, int]] = {}
        self.kids: dict[str, set[str]] = {}

    def add(self, path: str, payload: tuple[bool, int] | None) -> None:
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
            nodes[path] = _IMPLIED
        if payload is not None:
            nodes[path] = payload

    def remove(self, path: str) -> bool:
        if path not in self.nodes:
            return False
        stack = [path]
        while stack:
            p = stack.pop()
            self.nodes.pop(p, None)
            stack.extend(self.kids.pop(p, ()))
        siblings = self.kids.get(path.rpartition("/")[0])
        if siblings is not None:
            siblings.discard(path)
        return True

    def subtree_size(self, path: str) -> int:
        total = 0
        stack = [path]
        while stack:
            p = stack.pop()
            total += self.nodes.get(p, _IMPLIED)[1]
            stack.extend(self.kids.get(p, ()))
        return total


def _whiteout_node(path: str) -> str:
    parent, _, name = path.rpartition("/")
    return f"{parent}/{WHITEOUT_PREFIX}{name}" if parent else WHITEOUT_PREFIX + name


def _layer_tree(files: LayerFiles) -> tuple[_Tree, dict[str, str]]:
    """dive's tree of one layer, plus its whiteout nodes (node path → path it deletes)."""
    tree = _Tree()
    for i, path in enumerate(files.paths):
        tree.add(path, (files.types[i] == EntryType.DIR, files.sizes[i]))
    whiteouts = {}
    for target in files.whiteouts:
        node = _whiteout_node(target)
        tree.add(node, (False, 0))
        whiteouts[node] = target
    for opaque in files.opaque_dirs:
        if opaque:
            tree.add(opaque, None)  # the marker is never added, but its ancestors are
    for path, size in files.estargz_extras:
        tree.add(path, (False, size))  # dive knows nothing of estargz: its TOC is a file
    return tree, whiteouts


def _visit_order(paths) -> list[str]:
    return sorted(paths, key=lambda p: [c.encode("utf-8", "surrogateescape") for c in p.split("/")])


def dive_efficiency_model(layers: list[LayerFiles]) -> DiveEfficiency:
    cumulative: dict[str, int] = {}
    minimum: dict[str, int] = {}
    count: dict[str, int] = {}
    stacked: _Tree | None = None

    def record(path: str, size: int) -> None:
        if path in cumulative:
            cumulative[path] += size
            if size < minimum[path] or minimum[path] < 0:
                minimum[path] = size
            count[path] += 1
        else:
            cumulative[path] = size
            minimum[path] = size
            count[path] = 1

    for k, files in enumerate(layers):
        tree, whiteouts = _layer_tree(files)
        lookup = tree if k == 0 else stacked
        leaves = [p for p in tree.nodes if p not in tree.kids]
        if any(lookup is None or target not in lookup.nodes for target in whiteouts.values()):
            # dive stops visiting this layer at the first whiteout it cannot resolve.
            leaves = _visit_order(leaves)
        for leaf in leaves:
            target = whiteouts.get(leaf)
            if target is None:
                record(leaf, tree.nodes[leaf][1])
                continue
            node = lookup.nodes.get(target) if lookup is not None else None
            if node is None:
                # dive registers the path (minimum size -1, nothing cumulative) before its
                # lookup fails, so the -1 lowers its score; then it stops the visit.
                if target not in cumulative:
                    cumulative[target], minimum[target], count[target] = 0, -1, 0
                break
            record(target, lookup.subtree_size(target) if node[0] and lookup is not None else 0)
        if stacked is None:
            stacked = tree  # dive stacks onto a copy of the first tree
        # dive's Stack: whiteouts remove, every other node (implied ones too) sets its payload.
        for target in whiteouts.values():
            stacked.remove(target)
        if k > 0:
            for path, payload in tree.nodes.items():
                if path not in whiteouts:
                    stacked.add(path, payload)

    total = sum(cumulative.values())
    score = sum(minimum.values()) / total if total else 1.0
    inefficient = [(p, cumulative[p], count[p]) for p in cumulative if count[p] >= 2]
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
