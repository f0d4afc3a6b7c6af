"""What the index announces before it is done, for a caller that shows an image while it is read.

``build_index(..., events=...)`` calls ``events.described`` once the image's layers are
known, before they are read: an engine image from its inspect and history calls (before
the save, which takes seconds to start), a registry image from its manifest and config
(before any blob), an archive on disk once its manifest is read. Then ``events.indexed``
for each layer as its files are known: those in the cache at once, the others as each is
read, in whatever order they finish. Both may be called from the index's worker threads.
A caller that only wants the finished index passes nothing.
"""

from __future__ import annotations

import threading
from typing import Protocol

from slimview.index.layer import LayerFiles
from slimview.source.model import Described


class IndexEvents(Protocol):
    def described(self, image: Described) -> None: ...

    def indexed(self, layer: int, files: LayerFiles) -> None: ...


class NoEvents:
    """The default: nobody is listening."""

    def described(self, image: Described) -> None:
        pass

    def indexed(self, layer: int, files: LayerFiles) -> None:
        pass


NO_EVENTS = NoEvents()


class Announcer:
    """Hands what the stages learn to ``events``, numbering layers that were streamed.

    A streamed layer (an engine save, a registry blob, a compressed tarball) is known by the
    name it passed under, which says nothing of its place in the image: its digest does, once
    it is read (a ``listening`` announcer has every streamed layer digested, even those the
    source vouches for). Layers read before the image is described (a compressed tarball
    describes itself only at its end) are announced when it is.
    """

    def __init__(self, events: IndexEvents):
        self.events = events
        self.listening = not isinstance(events, NoEvents)
        self._positions: dict[str, list[int]] | None = None  # diff_id → the layers it is
        self._waiting: list[LayerFiles] = []
        self._announced: set[int] = set()
        self._lock = threading.Lock()

    @property
    def is_described(self) -> bool:
        return self._positions is not None

    def described(self, image: Described) -> None:
        positions: dict[str, list[int]] = {}
        for layer in image.image.layers:
            positions.setdefault(layer.diff_id, []).append(layer.index)
        with self._lock:
            first = self._positions is None
            self._positions = positions
            waiting, self._waiting = self._waiting, []
        if first:
            self.events.described(image)
        for files in waiting:
            self.streamed(files)

    def streamed(self, files: LayerFiles) -> None:
        """A streamed layer was read: announce every layer with its digest."""
        with self._lock:
            if self._positions is None:
                self._waiting.append(files)
                return
            layers = self._positions.get(files.tar_digest, [])
        for i in layers:
            self.indexed(i, files)

    def indexed(self, layer: int, files: LayerFiles) -> None:
        with self._lock:
            if layer in self._announced:
                return
            self._announced.add(layer)
        self.events.indexed(layer, files)
