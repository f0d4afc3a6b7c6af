"""What the source stage hands to the index: an image's config, history and ordered layers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol


@dataclass(frozen=True)
class BlobRef:
    """A byte range of a file on disk holding one blob (possibly compressed)."""

    path: str
    offset: int
    size: int


@dataclass(frozen=True)
class LayerRef:
    """One layer of the selected image, in manifest order (bottom first)."""

    index: int
    diff_id: str  # "sha256:…" of the uncompressed tar, from the config's rootfs.diff_ids
    digest: str  # digest of the stored blob when the format names it, else ""
    media_type: str
    stored_size: int  # bytes as stored (compressed or not); -1 when unknown
    member: str  # archive member or blob path; a streamed layer's name as the sink was given it
    blob: BlobRef | None = None  # random access; None when the layer was streamed (or is cached)
    # Why the source did not read this layer (a registry's foreign layer left unfetched);
    # the index counts it as empty and says so. "" for every layer that was read.
    skipped: str = ""


@dataclass(frozen=True)
class HistoryEntry:
    created_by: str
    created: str = ""
    comment: str = ""
    author: str = ""
    empty_layer: bool = False


class ByteStream(Protocol):
    """What bytes are read from, front to back: a file, a decompressor, an engine or HTTP stream."""

    def read(self, n: int = -1, /) -> bytes: ...


class Progress(Protocol):
    def __call__(self, stage: str, done: int, total: int | None) -> None: ...


def no_progress(stage: str, done: int, total: int | None) -> None:
    """The default progress callback: ignore it."""


class LayerSink(Protocol):
    """Called for every layer met while streaming, with its member name and its stream (still
    compressed if it was stored so); the index keeps what it read under that name.

    ``digest`` False: the source vouches for the layer's diff_id itself (the local engine
    computed the diff_ids it reports and saves), so the index does not digest the stream
    and takes it to be the diff_id the image's config gives that layer.
    """

    def __call__(self, name: str, stream: ByteStream, /, *, digest: bool = True) -> None: ...


class SizeMeasure(Enum):
    """What the layer sizes a source gives before reading its layers count; the value is
    how the explorer writes it after a size ("12.3 MB of files", "4.1 MB stored")."""

    FILE_BYTES = "of files"  # the bytes of a layer's regular files (the engine's history)
    STORED_BYTES = "stored"  # a layer's blob as stored (compressed or not)


@dataclass
class SourceImage:
    """An image ready for indexing: parsed config, history and its layers in order."""

    reference: str  # what the user asked for
    kind: str  # docker-archive, docker-archive-oci, oci-layout, oci-archive, dir, engine, registry
    name: str  # a repo tag, or the short config digest
    repo_tags: list[str]
    config: dict
    config_digest: str
    layers: list[LayerRef]
    platform: str = ""
    config_bytes: bytes = b""
    warnings: list[str] = field(default_factory=list)

    @property
    def history(self) -> list[HistoryEntry]:
        entries = []
        for item in self.config.get("history") or []:
            if not isinstance(item, dict):
                continue
            entries.append(
                HistoryEntry(
                    created_by=str(item.get("created_by", "")),
                    created=str(item.get("created", "")),
                    comment=str(item.get("comment", "")),
                    author=str(item.get("author", "")),
                    empty_layer=bool(item.get("empty_layer", False)),
                )
            )
        return entries

    def layer_history(self) -> list[HistoryEntry | None]:
        """The history entry that made each layer, aligned by skipping ``empty_layer`` items."""
        out: list[HistoryEntry | None] = []
        non_empty = [h for h in self.history if not h.empty_layer]
        # When history has fewer non-empty entries than layers (squashed or hand-made
        # images), align from the top: the newest entries describe the newest layers.
        offset = len(self.layers) - len(non_empty)
        for i in range(len(self.layers)):
            j = i - offset
            out.append(non_empty[j] if 0 <= j < len(non_empty) else None)
        return out

    @property
    def image_config(self) -> dict:
        return self.config.get("config") or {}


@dataclass(frozen=True)
class Described:
    """An image as its source knows it before reading any layer: config, history, layers
    and their sizes, for a caller that shows the image while it is read.

    ``provisional``: the config was put together from what the engine answers at once (its
    inspect and history calls; which history steps made no layer is then inferred) and the
    image's own config, from the save, replaces it when the index is done.
    """

    image: SourceImage
    sizes: tuple[int, ...]  # per layer, in ``measure``; -1 where the source does not say
    measure: SizeMeasure
    provisional: bool = False

    @property
    def known_bytes(self) -> int:
        return sum(size for size in self.sizes if size > 0)


Describe = Callable[[Described], None]


def not_described(image: Described) -> None:
    """The default ``described`` callback: ignore it."""
