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


def write_atomic(path: str, data: bytes | str, *, force: bool = False, mode: int = 0o644) -> None:
    """Write ``data`` to ``path`` via a temporary file renamed into place.

    An interrupted write leaves the previous file intact; an existing file is replaced
    only with ``force``.
    """
    with atomic_file(path, force=force, mode=mode) as fh:
        fh.write(data.encode("utf-8") if isinstance(data, str) else data)


@contextmanager
def atomic_file(path: str, *, force: bool = False, mode: int = 0o644) -> Iterator[BinaryIO]:
    """A file to write ``path``'s new content into, renamed into place when the block ends
    (for output too large to hold in memory first). Same guarantees as ``write_atomic``."""
    if os.path.lexists(path) and not force:
        raise RefusedOverwrite(f"{path} exists; pass --force to overwrite it")
    if os.path.isdir(path):
        raise SlimviewError(f"{path} is a directory")
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise SlimviewError(f"cannot write {path}: directory {directory} does not exist")
    try:
        fd, tmp = tempfile.mkstemp(dir=directory, prefix="." + os.path.basename(path) + ".", suffix=".tmp")
    except OSError as exc:
        raise SlimviewError(f"cannot write {path}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as fh:
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
        if isinstance(exc, OSError):
            raise SlimviewError(f"cannot write {path}: {exc.strerror}") from None
        raise
