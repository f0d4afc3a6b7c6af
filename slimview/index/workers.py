"""Index the layers the cache lacks, using every CPU this process may run on.

Large layers go to worker processes (a large uncompressed one cut into parts, see
parts.py) while small ones are indexed here meanwhile; with one CPU, or one job, all run
in this process.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from functools import partial

from slimview.errors import SlimviewError
from slimview.index.blob import BlobReader, ReadAhead, fingerprint_from
from slimview.index.layer import LayerFiles, index_layer_stream, keep_program, read_programs_again
from slimview.index.memory import tune_allocator
from slimview.index.options import IndexOptions
from slimview.index.parts import Part, PartResult, combine, index_part, plan, sampled_entries, splittable
from slimview.source.model import BlobRef, Progress, SourceImage
from slimview.source.tarstream import RangeReader

# Layers smaller than this are indexed in-process: a worker would cost more than it saves.
PARALLEL_MIN_BYTES = 32 << 20
# Read ahead at most this far beyond the jobs that are done (see blob.ReadAhead): enough to
# keep the disk reading while both workers parse small files for a few seconds.
READ_AHEAD_MAX = 2 << 30


def index_blob(
    blob: BlobRef, where: str, verify: bool | None, max_entries: int, fingerprint: bool = True, programs_later: bool = False
) -> LayerFiles:
    """Index one stored layer in full, computing its blob fingerprint on the way if asked
    (``programs_later``: see :func:`index_layer_stream`)."""
    tune_allocator()
    reader = BlobReader(blob.path, blob.offset, blob.size, window=(0, blob.size if fingerprint else 0))
    try:
        files = index_layer_stream(reader, where=where, verify=verify, max_entries=max_entries, programs_later=programs_later)
        if fingerprint:
            files.blob_fingerprint = fingerprint_from(blob.size, reader.segment_digests())
        return files
    finally:
        reader.close()


def _read_programs(files: LayerFiles, blob: BlobRef, where: str) -> None:
    """Read the programs :func:`index_blob` passed over (``programs_later``): where they lie
    in an uncompressed blob (only the ELF tables are read), else from the layer's tar again."""
    if files.compression == "none":
        for i, offset, stored in files.unread_programs:
            with RangeReader(blob.path, blob.offset + offset, stored) as body:
                keep_program(files, i, body)
    else:
        with BlobReader(blob.path, blob.offset, blob.size) as raw:
            read_programs_again(files, raw, where)
    files.unread_programs.clear()


def read_ahead_budget() -> int:
    """READ_AHEAD_MAX, or a quarter of the memory available if that is less: pages read
    ahead must still be in the page cache when their job reads them."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return min(READ_AHEAD_MAX, int(line.split()[1]) * 1024 // 4)
    except (OSError, ValueError, IndexError):
        pass
    return 0


def layer_label(reference: str, i: int, diff_id: str) -> str:
    """How messages name layer ``i`` of the image the user called ``reference``."""
    short = diff_id[7:19] if diff_id.startswith("sha256:") else "?"
    return f"{reference}: layer {i} ({short})"


def usable_cpus() -> int:
    """CPUs this process may run on (a container or taskset may allow fewer than the host has)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def index_cold(
    source: SourceImage,
    cold: list[int],
    files: list[LayerFiles | None],
    options: IndexOptions,
    progress: Progress,
    on_layer: Callable[[int, LayerFiles], None] = lambda i, files: None,
    fingerprint: bool = True,
) -> None:
    """Fill ``files[i]`` for every layer ``i`` in ``cold`` (each has a blob on disk), telling
    ``on_layer`` as each is done. ``fingerprint``: compute the blobs' fingerprints (the
    cache's name for them; without a cache, hashing every byte a second time buys nothing)."""
    tune_allocator()  # before the workers fork: they inherit it
    workers = options.workers or usable_cpus()
    total = len(source.layers)
    blobs: dict[int, BlobRef] = {}
    for i in cold:
        blob = source.layers[i].blob
        assert blob is not None, "only layers stored on disk are indexed here"
        blobs[i] = blob
    big = sorted((i for i in cold if blobs[i].size >= PARALLEL_MIN_BYTES), key=lambda i: blobs[i].size, reverse=True)
    small = [i for i in cold if i not in big]
    cut = [i for i in big if workers >= 2 and options.verify is not True and splittable(blobs[i])]
    parts = plan([(i, blobs[i].size) for i in cut], workers)
    # Longest first: whole layers (they cannot be split), then parts by their estimated
    # entries, then by size. Parts of small files started first keep the CPUs busy while
    # the disk reads ahead for the parts of big files (see ReadAhead), which need little CPU.
    entries = {p: sampled_entries(blobs[p.layer], p) for p in parts}
    jobs: list[Part | int] = [i for i in big if i not in cut] + [p for p in parts]
    jobs.sort(key=lambda job: (1, entries[job], job.size) if isinstance(job, Part) else (2, 0, blobs[job].size), reverse=True)
    done = total - len(cold)

    def extent(job: Part | int) -> tuple[str, int, int]:
        if isinstance(job, Part):
            blob = blobs[job.layer]
            return blob.path, blob.offset + job.lo, job.size
        return blobs[job].path, blobs[job].offset, blobs[job].size

    def where(i: int) -> str:
        return layer_label(source.reference, i, source.layers[i].diff_id)

    def whole(i: int, programs_later: bool = False) -> LayerFiles:
        return index_blob(blobs[i], where(i), options.verify, options.max_entries, fingerprint, programs_later)

    def joined(i: int, ordered: list[PartResult]) -> LayerFiles:
        combined = combine(ordered, blobs[i], where(i), options.max_entries)
        return combined if combined is not None else whole(i)

    def finished(i: int, layer_files: LayerFiles) -> None:
        nonlocal done
        files[i] = layer_files
        done += 1
        on_layer(i, layer_files)
        progress("layers", done, total)

    if workers < 2 or len(jobs) < 2:
        order = sorted(cold)  # in order: the first layer that fails is the one named
        with ReadAhead([extent(i) for i in order], read_ahead_budget()) as readahead:
            for k, i in enumerate(order):
                finished(i, whole(i))
                readahead.done(k)
        return

    # Layers finish in any order here; a failure is kept until every layer below it is
    # known to be sound, so the error names the first offending layer in image order.
    failed: dict[int, SlimviewError] = {}

    def attempt(i: int, work: Callable[[], LayerFiles]) -> None:
        if failed and i > min(failed):
            return  # a layer below already failed: its error is the one to report
        try:
            finished(i, work())
        except SlimviewError as exc:
            failed[i] = exc

    # fork is cheapest; from a threaded process (the TUI) forkserver avoids inheriting locks.
    method = "fork" if threading.active_count() == 1 else "forkserver"
    context = multiprocessing.get_context(method)
    readahead = ReadAhead([extent(job) for job in jobs], read_ahead_budget())
    with readahead, ProcessPoolExecutor(max_workers=min(workers, len(jobs)), mp_context=context) as pool:
        pending = {i: sum(1 for p in parts if p.layer == i) for i in cut}
        whole_layers: list[tuple[int, Future[LayerFiles]]] = []
        part_results: list[tuple[int, Future[PartResult]]] = []
        submit: Callable = pool.submit
        for k, job in enumerate(jobs):
            if isinstance(job, Part):
                # Each part may hold its share of the entry limit (a part over it sends the layer
                # to one pass), so the parts together never hold more than one pass would.
                share = options.max_entries // pending[job.layer] + 1
                future = submit(index_part, blobs[job.layer], job, where(job.layer), share, fingerprint)
                part_results.append((job.layer, future))
            else:
                future = submit(index_blob, blobs[job], where(job), options.verify, options.max_entries, fingerprint)
                whole_layers.append((job, future))
            future.add_done_callback(lambda _, k=k: readahead.done(k))
        # Programs in the layers read here wait until the workers are gone: reading one means
        # importing pyelftools and holding the program, which in this process, its pages
        # shared with the workers', costs twice what it does alone (go sample: 67 MB, 53
        # without; the body alone, held, 61).
        for i in sorted(small):
            attempt(i, partial(whole, i, programs_later=True))
        for i, future in whole_layers:
            attempt(i, future.result)
        results: dict[int, list[PartResult]] = {i: [] for i in cut}
        for i, part_future in part_results:
            results[i].append(part_future.result())  # a part that fails says so in its result
            pending[i] -= 1
            if pending[i] == 0:
                attempt(i, partial(joined, i, sorted(results[i], key=lambda r: r.part.lo)))
    for i in sorted(small):
        layer_files = files[i]
        if layer_files is not None and layer_files.unread_programs and not (failed and i > min(failed)):
            try:
                _read_programs(layer_files, blobs[i], where(i))
            except SlimviewError as exc:
                failed[i] = exc
    if failed:
        raise failed[min(failed)]
