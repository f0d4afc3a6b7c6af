"""Stage 1, source: find the image the user named and describe its config and layers.

``open_image`` accepts an engine reference (``name:tag``, an id), a path to a save
tarball (optionally gzip/zstd compressed, optionally ``PATH:TAG`` to pick one image), an
oci-archive, an OCI layout directory, skopeo's ``dir:`` layout, or a registry reference (``registry://HOST/REPO:TAG``
or skopeo's ``docker://…``, see registry/).
"""

from __future__ import annotations

import os
from collections.abc import Callable

from slimview.errors import InputError
from slimview.source.archive import open_archive_file, open_layout_dir
from slimview.source.dirlayout import is_dir_layout, open_dir_layout
from slimview.source.engine import open_engine_image
from slimview.source.model import BlobRef, Describe, HistoryEntry, LayerRef, LayerSink, Progress, SourceImage, no_progress, not_described
from slimview.source.registry.reference import is_registry_reference

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
    """Split a user's IMAGE into (path or engine/registry reference, tag, is_local_path)."""
    if is_registry_reference(reference):
        return reference, None, False
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
    insecure: bool = False,
    foreign_layers: bool = False,
    described: Describe = not_described,
) -> SourceImage:
    """Open ``reference``. Layers that can only be streamed are passed to ``sink`` as they pass.

    Sources that read layers over a wire (an engine, a registry) call ``described`` with the
    image before the first layer arrives; the others describe it by returning.
    ``insecure`` and ``foreign_layers`` apply to registry references only: plain HTTP or
    unverified TLS to that registry, and fetching non-distributable layers.
    """
    if not reference:
        raise InputError("no image given")
    if is_registry_reference(reference):
        if tag:
            raise InputError("--tag picks an image inside an archive or layout; name the tag in the registry reference (…/REPO:TAG)")
        # Imported here: the HTTP stack costs 0.1 s of start-up that no other source needs.
        from slimview.source.registry.image import open_registry_image

        return open_registry_image(
            reference, sink, progress, platform=platform, insecure=insecure, foreign_layers=foreign_layers,
            cached_config=cached_config, layer_cached=layer_cached, described=described,
        )
    target, path_tag, local = split_reference(os.path.expanduser(reference))
    if not local:
        if tag:
            raise InputError("--tag picks an image inside an archive or layout; name the tag in the engine reference (NAME:TAG)")
        return open_engine_image(target, sink, progress, cached_config=cached_config, layer_cached=layer_cached, platform=platform,
                                 described=described)
    if tag and path_tag and tag != path_tag:
        raise InputError(f"{reference} names the image {path_tag!r} but --tag says {tag!r}; give one of them")
    tag = tag or path_tag
    if os.path.isdir(target):
        if not os.path.isfile(os.path.join(target, "index.json")) and is_dir_layout(target):
            return open_dir_layout(target, reference, tag, platform)
        return open_layout_dir(target, reference, tag, platform)
    if not os.path.isfile(target):
        raise InputError(f"{target}: not a regular file or directory")
    if not os.access(target, os.R_OK):
        raise InputError(f"{target}: not readable (permission denied)")
    return open_archive_file(target, reference, tag, platform, sink, progress)
