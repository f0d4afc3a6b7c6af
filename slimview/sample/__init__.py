"""The bundled sample image, generated on demand (deterministically) so nothing large is shipped."""

from __future__ import annotations

import os

from slimview.fsutil import default_cache_dir
from slimview.sample.mini import SAMPLE_NAME, write_sample


def bundled_sample_path() -> str:
    """Path of the bundled sample image tarball, written into the cache on first use."""
    directory = os.path.join(default_cache_dir(), "sample")
    path = os.path.join(directory, SAMPLE_NAME)
    if not os.path.exists(path):
        os.makedirs(directory, exist_ok=True)
        write_sample(path)
    return path
