"""What the user can ask of the index: which image, cache use, digest checks, limits,
and how to reach a registry."""

from __future__ import annotations

from dataclasses import dataclass

from slimview.index.layer import DEFAULT_MAX_ENTRIES


@dataclass
class IndexOptions:
    tag: str | None = None
    platform: str | None = None
    use_cache: bool = True
    cache_dir: str | None = None
    # Digest layers (sha256) to check them against rootfs.diff_ids: True always; None
    # (default): only layers streamed from a file or a registry (the cache files them
    # under their diff_id); blobs on disk are cached by their fingerprint instead.
    verify: bool | None = None
    workers: int = 0  # 0: one per CPU this process may use
    max_entries: int = DEFAULT_MAX_ENTRIES
    insecure: bool = False  # registry images: plain HTTP / unverified TLS to that registry
    foreign_layers: bool = False  # registry images: fetch non-distributable layers too
