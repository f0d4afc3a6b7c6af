"""The changed files of a comparison as a tree to walk: each directory with the sum of the
changes below it, its children largest change first. The explorer's compare mode draws
it; building it needs nothing but the comparison's file changes (which a layer of the
alignment can narrow down to the changes its layers made)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from slimview.compare.model import LayerPair, LayerStatus, PathDelta


@dataclass(frozen=True)
class ChangeNode:
    path: str
    delta: int
    changes: tuple[PathDelta, ...]  # a file's own changes (visible and hidden bodies); () for a directory

    @property
    def is_dir(self) -> bool:
        return not self.changes

    @property
    def name(self) -> str:
        return self.path.rpartition("/")[2]


class ChangeTree:
    def __init__(self, changes: Iterable[PathDelta]):
        self.files: dict[str, list[PathDelta]] = defaultdict(list)
        self.dir_delta: dict[str, int] = defaultdict(int)
        self.kids: dict[str, set[str]] = defaultdict(set)
        for d in changes:
            self.files[d.path].append(d)
            child = d.path
            while child:
                parent = child.rpartition("/")[0]
                self.kids[parent].add(child)
                if parent:
                    self.dir_delta[parent] += d.delta
                child = parent
        self.total = sum(d.delta for ds in self.files.values() for d in ds)

    def node(self, path: str) -> ChangeNode:
        if path in self.kids and path:
            return ChangeNode(path, self.dir_delta[path], ())
        own = tuple(self.files.get(path, ()))
        return ChangeNode(path, sum(d.delta for d in own), own)

    def children(self, directory: str = "") -> list[ChangeNode]:
        """The changed entries directly in ``directory`` ("" is the root), largest change
        first. A path that is a directory in one image and a file in the other is listed as
        the directory (its own change as a file is listed in it under its name)."""
        nodes = [self.node(p) for p in self.kids.get(directory, ())]
        if directory and directory in self.files and directory in self.kids:
            nodes.append(ChangeNode(directory, sum(d.delta for d in self.files[directory]), tuple(self.files[directory])))
        return sorted(nodes, key=lambda n: (-abs(n.delta), n.path, n.is_dir))

    def __len__(self) -> int:
        return len(self.files)


def made_by(pair: LayerPair, changes: Iterable[PathDelta]) -> list[PathDelta]:
    """The changes the layers of one row of the alignment made: bodies those layers stored
    in the image after, or stored in the image before (for what was removed)."""
    if pair.status == LayerStatus.SHARED:
        return []
    return [d for d in changes if (d.after_layer is not None and d.after_layer in pair.after)
            or (d.before_layer is not None and d.before_layer in pair.before)]
