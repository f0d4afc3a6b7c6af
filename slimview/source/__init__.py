"""Stage 1, source: find the image the user named and describe its config and layers.

``open_image`` accepts an engine reference (``name:tag``, an id), a path to a save
tarball (optionally gzip/zstd compressed, optionally ``PATH:TAG`` to pick one image), an
oci-archive, or an OCI layout directory.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from slimview.errors import InputError
from slimview.source.model import BlobRef, HistoryEntry, LayerRef, LayerSink, Progress, SourceImage, no_progress

__all__ = [
    "BlobRef",
    "HistoryEntry",
    "LayerRef",
    "SourceImage",
    "open_image",
    "split_reference",
    "no_progress",
]

_FILE_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.zst", ".tar.zstd", ".gz", ".zst", ".oci")


def split_reference(reference: str) -> tuple[str, str | None, bool]:
    """Split a user's IMAGE into (path or engine reference, tag, is_local_path)."""
    if os.path.lexists(reference):
        return reference, None, True
    # PATH:TAG, where the tag itself may contain a colon (name:version).
    pos = reference.find(":")
    while pos > 0:
        head = reference[:pos]
        if os.path.lexists(head) and not os.path.isdir(head) or os.path.isfile(os.path.join(head, "index.json")):
            return head, reference[pos + 1 :] or None, True
        pos = reference.find(":", pos + 1)
    looks_like_path = reference.startswith(("/", "./", "../", "~")) or reference.endswith(_FILE_SUFFIXES)
    if looks_like_path:
        raise InputError(f"{reference}: no such file or directory")
    return reference, None, False


def open_image(
    reference: str,
    *,
    sink: LayerSink,
    tag: str | None = None,
    platform: str | None = None,
    progress: Progress = no_progress,
    cached_config: Callable[[str], bytes | None] = lambda digest: None,
    layer_cached: Callable[[str], bool] = lambda diff_id: False,
) -> SourceImage:
    """Open ``reference``. Layers that can only be streamed are passed to ``sink`` as they pass."""
    from slimview.source.archive import open_archive_file, open_layout_dir

    if not reference:
        raise InputError("no image given")
    target, path_tag, local = split_reference(os.path.expanduser(reference))
    tag = tag or path_tag
    if not local:
        from slimview.source.engine import open_engine_image

        return open_engine_image(target, sink, progress, cached_config=cached_config, layer_cached=layer_cached)
    if os.path.isdir(target):
        return open_layout_dir(target, reference, tag, platform)
    if not os.path.isfile(target):
        raise InputError(f"{target}: not a regular file or directory")
    if not os.access(target, os.R_OK):
        raise InputError(f"{target}: not readable (permission denied)")
    return open_archive_file(target, reference, tag, platform, sink, progress)
