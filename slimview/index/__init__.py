"""Stage 2, index: map every file to the layer that added, changed or deleted it.

``build_index(reference)`` opens the image (stage 1) and returns an :class:`ImageIndex`:
each layer's entries with their change against the layers below, the merged final
filesystem, and the waste figures. Where each idea lives:

- ``build.py``: opening, the layer cache tiers, diff_id checks, assembling the index;
- ``layer.py``: reading one layer tar into columns (``LayerFiles``);
- ``workers.py`` and ``parts.py``: indexing cold layers in parallel processes;
- ``merge.py``: applying layers the way overlayfs does (whiteouts, hard links);
- ``model.py``: the typed results, and the views derived from them;
- ``waste.py``: dive's efficiency figures; ``cache.py``: the on-disk cache;
- ``capture.py``/``secretscan.py``: which bodies are kept or scanned as layers pass;
- ``content.py``: reading one file's body back; ``blob.py``: stored blobs;
- ``memory.py``: allocator and garbage-collector settings for large images.
"""

from __future__ import annotations

from slimview.index.build import assemble, build_index, index_source
from slimview.index.layer import Entry, LayerFiles
from slimview.index.memory import gc_paused
from slimview.index.model import Change, DiveEfficiency, Hidden, ImageIndex, LayerIndex, LayerStats
from slimview.index.options import IndexOptions

__all__ = [
    "Change",
    "DiveEfficiency",
    "Entry",
    "Hidden",
    "ImageIndex",
    "IndexOptions",
    "LayerFiles",
    "LayerIndex",
    "LayerStats",
    "assemble",
    "build_index",
    "gc_paused",
    "index_source",
]
