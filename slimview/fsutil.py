"""Writing the user's files: atomically, and never over an existing file without ``force``."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import BinaryIO

from slimview.errors import SlimviewError


def default_cache_dir() -> str:
    """slimview's cache directory: $XDG_CACHE_HOME/slimview, else ~/.cache/slimview."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "slimview")


class RefusedOverwrite(SlimviewError):
    """The target exists and the user did not pass --force."""


def ensure_directory(path: str) -> None:
    """Make the directory ``path`` (and its parents) unless it exists; one clear error if it cannot be."""
    if os.path.isdir(path):
        return
    if os.path.lexists(path):
        raise SlimviewError(f"{path} exists and is not a directory")
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as exc:
        raise SlimviewError(f"cannot make the directory {path}: {exc.strerror or exc}") from None


def write_atomic(path: str, data: bytes | str, *, force: bool = False, mode: int = 0o644) -> None:
    """Write ``data`` to ``path`` via a temporary file renamed into place.

    An interrupted write leaves the previous file intact; an existing file is replaced
    only with ``force``.
    """
    if isinstance(data, str):
        data = data.encode("utf-8")
    with atomic_file(path, force=force, mode=mode) as out:
        out.write(data)


@contextmanager
def atomic_file(path: str, *, force: bool = False, mode: int = 0o644) -> Iterator[BinaryIO]:
    """A temporary file beside ``path`` to write (and read back) in the block, renamed over
    ``path`` when the block succeeds and removed when it fails (for output too large to
    hold in memory first).

    The checks come first, before the block does any work: an existing ``path`` is
    replaced only with ``force``. The rename replaces a symlink at ``path``; it never
    writes through one.
    """
    if os.path.lexists(path) and not force:
        raise RefusedOverwrite(f"{path} exists; pass --force to overwrite it")
    if os.path.isdir(path) and not os.path.islink(path):
        raise SlimviewError(f"{path} is a directory")
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise SlimviewError(f"cannot write {path}: directory {directory} does not exist")
    try:
        fd, tmp = tempfile.mkstemp(dir=directory, prefix="." + os.path.basename(path) + ".", suffix=".tmp")
    except OSError as exc:
        raise SlimviewError(f"cannot write {path}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "w+b") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, OSError) and not isinstance(exc, ConnectionError):
            raise SlimviewError(f"cannot write {path}: {exc.strerror or exc}") from None
        raise
