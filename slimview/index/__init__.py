"""Stage 2, index: map every file to the layer that added, changed or deleted it.

``build_index(reference)`` opens the image (stage 1), indexes each layer once (from the
cache when possible, in parallel processes when several large layers are cold), verifies
each layer against the config's diff_id, merges them, and computes the waste figures.
"""

from __future__ import annotations

import gc
import hashlib
import os
import threading
from contextlib import contextmanager
from array import array
from dataclasses import dataclass, replace

from slimview.errors import InputError, LimitExceeded
from slimview.index.blob import BlobReader, fingerprint_from, tune_allocator
from slimview.index.cache import LayerCache
from slimview.index.layer import DEFAULT_MAX_ENTRIES, Entry, LayerFiles, index_layer_stream
from slimview.index.merge import merge_layers
from slimview.index.model import Change, DiveEfficiency, Hidden, ImageIndex, LayerIndex, LayerStats
from slimview.index.waste import dive_efficiency
from slimview.source import open_image
from slimview.source.model import BlobRef, Progress, SourceImage, no_progress
from slimview.source.tarstream import EntryType

__all__ = [
    "Change",
    "DiveEfficiency",
    "Entry",
    "EntryType",
    "Hidden",
    "ImageIndex",
    "IndexOptions",
    "LayerFiles",
    "LayerIndex",
    "LayerStats",
    "build_index",
    "index_source",
]

# Layers smaller than this are indexed in-process: a worker would cost more than it saves.
PARALLEL_MIN_BYTES = 32 << 20


@dataclass
class IndexOptions:
    tag: str | None = None
    platform: str | None = None
    use_cache: bool = True
    cache_dir: str | None = None
    # Digest layers (sha256) to check them against rootfs.diff_ids: True always, None
    # (default) for streams and compressed layers, where it costs next to nothing.
    verify: bool | None = None
    workers: int = 0  # 0: one per CPU
    max_entries: int = DEFAULT_MAX_ENTRIES


def _index_blob(blob: BlobRef, where: str, verify: bool | None, max_entries: int) -> LayerFiles:
    tune_allocator()
    reader = BlobReader(blob.path, blob.offset, blob.size)
    try:
        files = index_layer_stream(reader, where=where, verify=verify, max_entries=max_entries)
        files.blob_fingerprint = fingerprint_from(blob.size, reader.segment_digests())
        return files
    finally:
        reader.close()


def _where(source_label: str, i: int, diff_id: str) -> str:
    short = diff_id[7:19] if diff_id.startswith("sha256:") else "?"
    return f"{source_label}: layer {i} ({short})"


@contextmanager
def gc_paused():
    """Pause the cyclic garbage collector while building large acyclic structures.

    Indexing allocates millions of small containers and frees none; with the collector on,
    its full passes over them made a million-entry image a third slower.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def build_index(reference: str, options: IndexOptions | None = None, progress: Progress = no_progress) -> ImageIndex:
    """Open ``reference`` and index it completely."""
    with gc_paused():
        return _build_index(reference, options, progress)


def _build_index(reference: str, options: IndexOptions | None, progress: Progress) -> ImageIndex:
    options = options or IndexOptions()
    cache = LayerCache(options.cache_dir) if options.use_cache else None
    streamed_count = [0]
    streamed_entries = [0]

    def sink(name, stream):
        tune_allocator()
        streamed_count[0] += 1
        progress("index", streamed_count[0], None)
        files = index_layer_stream(stream, where=f"{reference}: {name}", verify=True, max_entries=options.max_entries)
        streamed_entries[0] += _entry_count(files)
        _check_total(reference, streamed_entries[0], options.max_entries)  # early: before more layers stream in
        return files

    source = open_image(
        reference,
        sink=sink,
        tag=options.tag,
        platform=options.platform,
        progress=progress,
        cached_config=cache.get_config if cache else (lambda d: None),
        layer_cached=cache.has_layer if cache else (lambda d: False),
    )
    return index_source(source, options, progress, cache)


def index_source(
    source: SourceImage, options: IndexOptions, progress: Progress = no_progress, cache: LayerCache | None = None
) -> ImageIndex:
    total_layers = len(source.layers)
    files: list[LayerFiles | None] = [None] * total_layers
    cold: list[int] = []
    for layer in source.layers:
        if layer.index in source.streamed:
            files[layer.index] = source.streamed[layer.index]
        elif cache is not None and layer.blob is not None:
            files[layer.index] = cache.layer_for_blob(layer.blob, layer.diff_id, verified_only=options.verify is True)
        elif cache is not None and source.kind == "engine":
            files[layer.index] = cache.get_layer(layer.diff_id)
            if files[layer.index] is not None and layer.stored_size < 0:  # as a save would have stored it
                source.layers[layer.index] = replace(layer, stored_size=files[layer.index].tar_bytes)
        if files[layer.index] is None:
            if layer.blob is None:
                raise InputError(f"{source.reference}: layer {layer.index} is neither in the archive stream nor in the cache")
            cold.append(layer.index)
    progress("layers", total_layers - len(cold), total_layers)

    if cold:
        _index_cold(source, cold, files, options, progress, total_layers)
    _check_total(source.reference, sum(_entry_count(f) for f in files), options.max_entries)

    for layer in source.layers:
        got = files[layer.index]
        if got.tar_digest and layer.diff_id and got.tar_digest != layer.diff_id:
            raise InputError(
                f"{source.reference}: layer {layer.index} does not match the image config: its content is "
                f"{got.tar_digest} but rootfs.diff_ids[{layer.index}] is {layer.diff_id} (archive corrupt or altered)"
            )
    if cache is not None:
        for i in cold:
            blob = source.layers[i].blob
            cache.remember_fingerprint(blob, files[i].blob_fingerprint)
            if files[i].tar_digest:
                cache.put_layer(files[i])
                if files[i].tar_digest == source.layers[i].diff_id:  # only a digested blob vouches for its diff_id
                    cache.remember_blob(blob, source.layers[i].diff_id)
            else:
                cache.put_unverified(blob, files[i])
        for i in source.streamed:
            if files[i].tar_digest:
                cache.put_layer(files[i])
        if source.config_bytes:
            cache.put_config(source.config_digest, source.config_bytes)

    return assemble(source, files, cache)


def _entry_count(files: LayerFiles) -> int:
    return len(files) + len(files.whiteouts) + len(files.opaque_dirs)


def _check_total(reference: str, total: int, max_entries: int) -> None:
    """--max-entries bounds the whole image, not each layer."""
    if total > max_entries:
        raise LimitExceeded(f"{reference}: {total:,} entries in all layers, over the limit of {max_entries:,} (raise --max-entries if this image is real)")


def assemble(source: SourceImage, files: list[LayerFiles], cache: LayerCache | None = None) -> ImageIndex:
    """Merge indexed layers into the final view and compute the waste figures.

    The merge depends only on the layers' contents and order, so its results are cached
    under the chain of layer digests: reopening an image skips the merge entirely.
    """
    histories = source.layer_history()
    layers = [LayerIndex(ref.index, ref, histories[ref.index], files[ref.index]) for ref in source.layers]
    key = merged_key(files)
    cached = cache.get_merged(key) if cache is not None and key else None
    restored = cached is not None and _restore_merged(layers, cached)
    if restored:
        final, hidden, merge_notes, dive = restored
    else:
        final, hidden, merge_notes = merge_layers(layers)
        dive = dive_efficiency(files)
        if cache is not None and key:
            cache.put_merged(key, _freeze_merged(layers, final, hidden, merge_notes, dive))
    notes = list(source.warnings) + merge_notes
    for layer in layers:
        notes.extend(f"layer {layer.index}: {n}" for n in layer.files.notes)
    return ImageIndex(source, layers, final, hidden, dive, notes)


MERGED_FORMAT = 5  # bump when the merge rules change: cached results become stale


def merged_key(files: list[LayerFiles]) -> str:
    digests = [f.source_key or f.tar_digest for f in files]
    if not all(digests):
        return ""
    return hashlib.sha256(f"merged-v{MERGED_FORMAT}:".encode() + "\n".join(digests).encode()).hexdigest()


def _freeze_merged(layers, final, hidden, notes, dive) -> tuple:
    return (
        MERGED_FORMAT,
        [(bytes(layer.changes), layer.deleted_paths, tuple(vars(layer.stats).values())) for layer in layers],
        array("q", final.values()).tobytes(),
        [tuple(h) for h in hidden],
        notes,
        (dive.score, dive.wasted_bytes, dive.user_size, dive.wasted_user_percent, dive.inefficient_paths),
    )


def _restore_merged(layers, frozen):
    """Rebuild merge results from the cache; None when they do not fit these layers."""
    try:
        fmt, per_layer, final_refs, hidden, notes, dive = frozen
        if fmt != MERGED_FORMAT or len(per_layer) != len(layers):
            return None
        for layer, (changes, deleted, stats) in zip(layers, per_layer):
            if len(changes) != len(layer.files):
                return None
            layer.changes = bytearray(changes)
            layer.deleted_paths = [tuple(d) for d in deleted]
            layer.stats = LayerStats(*stats)
        refs = array("q")
        refs.frombytes(final_refs)
        paths = [layer.files.paths for layer in layers]
        final = {paths[r >> 32][r & 0xFFFFFFFF]: r for r in refs}
        score, wasted, user_size, percent, inefficient = dive
        return (
            final,
            [Hidden(*h) for h in hidden],
            list(notes),
            DiveEfficiency(score, wasted, user_size, percent, [tuple(p) for p in inefficient]),
        )
    except (ValueError, TypeError, IndexError):
        return None


def _usable_cpus() -> int:
    """CPUs this process may run on (a container or taskset may allow fewer than the host has)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _index_cold(source, cold, files, options, progress, total_layers) -> None:
    """Index the layers the cache did not have: large ones in worker processes (a large
    uncompressed one cut into parts, see parts.py), small ones here meanwhile."""
    from slimview.index.parts import combine, index_part, plan, splittable

    tune_allocator()  # before the workers fork: they inherit it
    workers = options.workers or _usable_cpus()
    blobs = {i: source.layers[i].blob for i in cold}
    big = sorted((i for i in cold if blobs[i].size >= PARALLEL_MIN_BYTES), key=lambda i: blobs[i].size, reverse=True)
    small = sorted((i for i in cold if i not in big), key=lambda i: blobs[i].size, reverse=True)
    cut = [i for i in big if workers >= 2 and options.verify is not True and splittable(blobs[i])]
    parts = plan([(i, blobs[i].size) for i in cut], workers)
    jobs = sorted([(p.size, p) for p in parts] + [(blobs[i].size, i) for i in big if i not in cut], key=lambda j: j[0], reverse=True)
    done = total_layers - len(cold)

    def where(i):
        return _where(source.reference, i, source.layers[i].diff_id)

    def whole(i):
        return blobs[i], where(i), options.verify, options.max_entries

    def finished(i, layer_files):
        nonlocal done
        files[i] = layer_files
        done += 1
        progress("layers", done, total_layers)

    if workers < 2 or len(jobs) < 2:
        for i in big + small:
            finished(i, _index_blob(*whole(i)))
        return

    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    # fork is cheapest; from a threaded process (the TUI) forkserver avoids inheriting locks.
    method = "fork" if threading.active_count() == 1 else "forkserver"
    context = multiprocessing.get_context(method)
    with ProcessPoolExecutor(max_workers=min(workers, len(jobs)), mp_context=context) as pool:
        pending = {i: sum(1 for p in parts if p.layer == i) for i in cut}
        futures = []
        for _size, job in jobs:
            if isinstance(job, int):
                futures.append((job, None, pool.submit(_index_blob, *whole(job))))
            else:
                # Each part may hold its share of the entry limit (a part over it sends the layer
                # to one pass), so the parts together never hold more than one pass would.
                share = options.max_entries // pending[job.layer] + 1
                futures.append((job.layer, job, pool.submit(index_part, blobs[job.layer], job, where(job.layer), share)))
        for i in small:
            finished(i, _index_blob(*whole(i)))
        results: dict[int, list] = {i: [] for i in cut}
        for i, part, future in futures:
            if part is None:
                finished(i, future.result())
                continue
            results[i].append(future.result())
            pending[i] -= 1
            if pending[i] == 0:
                ordered = sorted(results[i], key=lambda r: r.part.lo)
                joined = combine(ordered, blobs[i], where(i), options.max_entries)
                finished(i, joined if joined is not None else _index_blob(*whole(i)))
