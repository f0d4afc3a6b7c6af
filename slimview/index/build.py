"""Build an image's index: open it (stage 1), index each layer once, check it, merge.

Each layer comes from the first of: the stream the source read it from (an engine save,
a compressed tarball), the cache (by diff_id, or by the fingerprint of a blob on disk),
or a fresh read of its blob (see workers.py). Every layer that was digested is checked
against the config's diff_id before anything is cached or merged.
"""

from __future__ import annotations

import threading
from dataclasses import replace

from slimview.errors import InputError, LimitExceeded
from slimview.index.cache import LayerCache
from slimview.index.events import NO_EVENTS, Announcer, IndexEvents
from slimview.index.layer import LayerFiles, index_layer_stream
from slimview.index.memory import gc_paused, tune_allocator
from slimview.index.merge import merge_layers
from slimview.index.model import ImageIndex, LayerIndex
from slimview.index.options import IndexOptions
from slimview.index.waste import dive_efficiency
from slimview.index.workers import index_cold, layer_label
from slimview.source import open_image
from slimview.source.compression import media_type_compression
from slimview.source.model import ByteStream, Described, LayerRef, Progress, SizeMeasure, SourceImage, no_progress


def build_index(
    reference: str, options: IndexOptions | None = None, progress: Progress = no_progress, events: IndexEvents = NO_EVENTS
) -> ImageIndex:
    """Open ``reference`` and index it completely, announcing to ``events`` what is known
    before the end (see events.py)."""
    options = options or IndexOptions()
    with gc_paused():
        cache = LayerCache(options.cache_dir) if options.use_cache else None
        announcer = Announcer(events)
        streamed = StreamedLayers(reference, options, progress, announcer)
        try:
            source = open_image(
                reference,
                sink=streamed.index,
                tag=options.tag,
                platform=options.platform,
                progress=progress,
                cached_config=cache.get_config if cache else (lambda d: None),
                layer_cached=cache.has_layer if cache else (lambda d: False),
                insecure=options.insecure,
                foreign_layers=options.foreign_layers,
                described=announcer.described,
            )
        except LimitExceeded:
            raise
        except InputError:
            # A stream that breaks after a layer failed (a truncated save): the layer's
            # error came first and says more.
            if streamed.failed:
                raise next(iter(streamed.failed.values())) from None
            raise
        if not announcer.is_described:
            announcer.described(Described(source, tuple(layer.stored_size for layer in source.layers), SizeMeasure.STORED_BYTES))
        return index_source(source, options, progress, cache, streamed, announcer)


class StreamedLayers:
    """The sink for layers a source can only stream: indexes each as it passes, keyed by
    the member name the source read it from. Safe to call from several threads."""

    def __init__(self, reference: str, options: IndexOptions, progress: Progress, announcer: Announcer | None = None):
        self.reference = reference
        self.options = options
        self.progress = progress
        self.announcer = announcer
        self.results: dict[str, LayerFiles] = {}
        self.failed: dict[str, InputError] = {}
        self.vouched: set[str] = set()  # members the source vouched for (see LayerSink)
        self._entries = 0
        self._lock = threading.Lock()

    def index(self, name: str, stream: ByteStream, /, *, digest: bool = True) -> None:
        tune_allocator()
        # A layer the source vouches for needs no digest, except by a caller shown each layer
        # as it is read: its digest is all that places a streamed layer in the image.
        verify = digest or (self.announcer is not None and self.announcer.listening)
        try:
            files = index_layer_stream(stream, where=self.where(name), verify=verify, max_entries=self.options.max_entries)
        except LimitExceeded:
            raise
        except InputError as exc:
            # Kept, not raised: layers stream in the archive's order, not the image's, and
            # the error must name the first offending layer in the image (see index_source).
            with self._lock:
                self.failed[name] = exc
            return
        with self._lock:
            self.results[name] = files
            if not digest:
                self.vouched.add(name)
            self._entries += entry_count(files)
            self.progress("index", len(self.results), None)
            # Early, before more layers stream in: --max-entries bounds the whole image.
            check_total(self.reference, self._entries, self.options.max_entries)
        if self.announcer is not None:
            self.announcer.streamed(files)

    def where(self, name: str) -> str:
        return f"{self.reference}: {name}"

    def failure(self, layer: LayerRef) -> InputError | None:
        """The error reading ``layer``'s stream gave, naming it as every layer is named."""
        exc = self.failed.get(layer.member)
        if exc is None:
            return None
        text, streamed = str(exc), self.where(layer.member) + ": "
        label = layer_label(self.reference, layer.index, layer.diff_id) + ": "
        return type(exc)(label + text[len(streamed):] if text.startswith(streamed) else text)


def index_source(
    source: SourceImage,
    options: IndexOptions,
    progress: Progress = no_progress,
    cache: LayerCache | None = None,
    streamed: StreamedLayers | None = None,
    announcer: Announcer | None = None,
) -> ImageIndex:
    """Index the layers of an opened image; ``streamed`` holds those its source streamed."""
    announcer = announcer or Announcer(NO_EVENTS)
    total_layers = len(source.layers)
    files: list[LayerFiles | None] = [None] * total_layers
    cold: list[int] = []
    for layer in source.layers:
        failure = streamed.failure(layer) if streamed is not None and layer.blob is None else None
        if failure is not None:
            raise failure
        got = streamed.results.get(layer.member) if streamed is not None and layer.blob is None else None
        if got is not None and not got.tar_digest and streamed is not None and layer.member in streamed.vouched:
            got.tar_digest = layer.diff_id  # the engine's own diff_id for the stream it saved
        if layer.skipped:
            got = LayerFiles(notes=[layer.skipped])
        elif got is None and cache is not None and layer.blob is not None:
            got = cache.layer_for_blob(layer.blob, layer.diff_id, verified_only=options.verify is True)
        elif got is None and cache is not None:  # an engine's or a registry's layer the source found cached
            got = cache.get_layer(layer.diff_id, media_type_compression(layer.media_type))
            if got is not None and layer.stored_size < 0:  # as a save would have stored it
                source.layers[layer.index] = replace(layer, stored_size=got.tar_bytes)
        if got is None and layer.blob is None:
            raise InputError(f"{source.reference}: layer {layer.index} is neither in the archive stream nor in the cache")
        if got is None:
            cold.append(layer.index)
        else:
            announcer.indexed(layer.index, got)
        files[layer.index] = got
    progress("layers", total_layers - len(cold), total_layers)

    if cold:
        index_cold(source, cold, files, options, progress, announcer.indexed, fingerprint=cache is not None)
    indexed = [f for f in files if f is not None]
    assert len(indexed) == total_layers
    check_total(source.reference, sum(entry_count(f) for f in indexed), options.max_entries)

    for layer, got in zip(source.layers, indexed):
        if got.tar_digest and layer.diff_id and got.tar_digest != layer.diff_id:
            raise InputError(
                f"{source.reference}: layer {layer.index} does not match the image config: its content is "
                f"{got.tar_digest} but rootfs.diff_ids[{layer.index}] is {layer.diff_id} (archive corrupt or altered)"
            )
    if cache is not None:
        _remember(cache, source, indexed, cold)
    return assemble(source, indexed)


def _remember(cache: LayerCache, source: SourceImage, files: list[LayerFiles], cold: list[int]) -> None:
    """Cache what this run indexed. Only a digested layer is filed under its diff_id."""
    for i in cold:
        blob = source.layers[i].blob
        assert blob is not None
        cache.remember_fingerprint(blob, files[i].blob_fingerprint)
        if files[i].tar_digest:
            cache.put_layer(files[i])
            if files[i].tar_digest == source.layers[i].diff_id:  # only a digested blob vouches for its diff_id
                cache.remember_blob(blob, source.layers[i].diff_id)
        else:
            cache.put_unverified(blob, files[i])
    for layer in source.layers:
        if layer.blob is None and files[layer.index].tar_digest:
            cache.put_layer(files[layer.index])
    if source.config_bytes:
        cache.put_config(source.config_digest, source.config_bytes)


def entry_count(files: LayerFiles) -> int:
    return len(files) + len(files.whiteouts) + len(files.opaque_dirs)


def check_total(reference: str, total: int, max_entries: int) -> None:
    """--max-entries bounds the whole image, not each layer."""
    if total > max_entries:
        raise LimitExceeded(
            f"{reference}: {total:,} entries in all layers, over the limit of {max_entries:,} (raise --max-entries if this image is real)"
        )


def assemble(source: SourceImage, files: list[LayerFiles]) -> ImageIndex:
    """Merge indexed layers into the final view and compute the waste figures."""
    histories = source.layer_history()
    layers = [LayerIndex(ref.index, ref, histories[ref.index], files[ref.index]) for ref in source.layers]
    # dive's figures first: their trees are freed before the merged view is built, and
    # the peak is the larger of the two, not their sum (a million entries: 400 MB, not 530).
    dive = dive_efficiency(files)
    final, hidden, merge_notes = merge_layers(layers)
    notes = list(source.warnings) + merge_notes
    for layer in layers:
        notes.extend(f"layer {layer.index}: {n}" for n in layer.files.notes)
    return ImageIndex(source, layers, final, hidden, dive, notes)
