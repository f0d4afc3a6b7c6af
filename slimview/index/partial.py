"""An image's index while its layers are read: what the explorer shows before the end.

Each layer's own files can be listed as soon as that layer is read; how they change the
layers below (added, modified, deleted), the merged filesystem and the waste figures need
every layer below, and come with the finished index (``build_index``).
"""

from __future__ import annotations

from slimview.index.layer import LayerFiles
from slimview.index.model import DiveEfficiency, HiddenFiles, ImageIndex, LayerIndex, LayerStats
from slimview.source.model import Described


class PartialIndex:
    """The layers as described, each with its files once read (change kinds unknown)."""

    def __init__(self, described: Described):
        self.described = described
        source = described.image
        histories = source.layer_history()
        self.layers = [LayerIndex(ref.index, ref, histories[ref.index], LayerFiles()) for ref in source.layers]
        self.read: set[int] = set()
        # Views of a layer's own files need only that layer: the merge's fields stay empty.
        self.index = ImageIndex(source, self.layers, {}, HiddenFiles(), DiveEfficiency(0.0, 0, 0, 0.0, []))

    def add(self, layer_no: int, files: LayerFiles) -> None:
        """Layer ``layer_no`` was read."""
        ref = self.layers[layer_no].ref
        stats = LayerStats(entries=len(files), size=files.file_bytes)
        self.layers[layer_no] = LayerIndex(layer_no, ref, self.layers[layer_no].history, files, bytearray(len(files)), stats=stats)
        self.read.add(layer_no)

    def size(self, layer_no: int) -> int:
        """The layer's bytes: its files' once read, else what its source said (-1: unknown)."""
        if layer_no in self.read:
            return self.layers[layer_no].stats.size
        return self.described.sizes[layer_no]

    @property
    def complete(self) -> bool:
        return len(self.read) == len(self.layers)
