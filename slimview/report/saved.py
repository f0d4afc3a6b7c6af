"""Reports already rendered: ``slimview report`` run again on an unchanged image file
prints the saved output instead of indexing the image again.

A report is a pure function of the image's bytes, the options that shape it, the text
width (text format) and slimview's own code. The saved copy is keyed by all of these: the
image file by the same identity the layer cache trusts (path, device, inode, size, mtime
and ctime; any write moves ctime), the code by the size and mtime of every module of the
package. Anything else — an engine reference, a directory, ``--tag``, ``-o``, ``--verify``
… — takes the normal path, which re-renders.

This module is imported before anything else on every run, so it imports little beyond
what the interpreter has already loaded at start-up (xxhash, when there is a key to look up).
"""

from __future__ import annotations

import os
import sys
import tempfile

from slimview.fsutil import default_cache_dir
from slimview.report import text_width

FORMAT = 2
KEEP = 16  # saved reports kept; the oldest beyond this are removed
STALE_TEMP_SECONDS = 3600  # a temporary file this old was left by a killed run
_FORMATS = ("text", "json", "markdown", "sarif")
_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _root() -> str:
    return os.path.join(default_cache_dir(), f"reports-v{FORMAT}")


def request_from_argv(argv: list[str]) -> tuple[str, str, bool] | None:
    """(image, format, no_files) for the plain ``report IMAGE [--json|--format F] [--no-files]``
    shapes; None for anything else (the normal path handles it)."""
    if len(argv) < 2 or argv[0] != "report":
        return None
    image, fmt, no_files = None, None, False
    args = iter(argv[1:])
    for arg in args:
        if arg == "--json" and fmt in (None, "json"):
            fmt = "json"
        elif arg == "--no-files":
            no_files = True
        elif arg == "--format" or arg.startswith("--format="):
            value = arg[len("--format=") :] if "=" in arg else next(args, None)
            if value not in _FORMATS or fmt is not None:
                return None
            fmt = value
        elif arg.startswith("-") or image is not None:
            return None
        else:
            image = arg
    if image is None:
        return None
    return image, fmt or "text", no_files


# Libraries whose upgrade could change a report's bytes (JSON encoding, hashes, sizes shown).
_OUTPUT_LIBRARIES = ("orjson", "xxhash", "humanize")


def _code_stamp() -> str:
    """Size and mtime of every file of the package, and of the libraries that shape the
    output: a changed module or an upgraded library changes every key."""
    from importlib.util import find_spec

    parts = [sys.version]
    for name in _OUTPUT_LIBRARIES:
        origin = getattr(find_spec(name), "origin", None) or ""
        for path in (origin, os.path.dirname(origin)):
            try:
                st = os.stat(path)
                parts.append(f"{name}:{path}:{st.st_size}:{st.st_mtime_ns}")
            except OSError:
                parts.append(f"{name}:?")
    for top, dirs, files in os.walk(_PACKAGE):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(files):
            if name.endswith((".py", ".md", ".json", ".tcss")):
                st = os.stat(os.path.join(top, name))
                parts.append(f"{top[len(_PACKAGE):]}/{name}:{st.st_size}:{st.st_mtime_ns}")
    return "\0".join(parts)


def key_for(image: str, fmt: str, no_files: bool) -> str | None:
    """The full key of a report, None when the image is not a plain file (or is gone)."""
    try:
        st = os.stat(image)
    except (OSError, ValueError):
        return None
    if not os.path.isfile(image):
        return None
    width = text_width() if fmt == "text" else 0
    encoding = f"{sys.stdout.encoding}:{sys.stdout.errors}" if sys.stdout is not None else ""
    return (
        f"slimview-report-v{FORMAT}\0{os.path.realpath(image)}\0{st.st_dev}:{st.st_ino}:{st.st_size}:"
        f"{st.st_mtime_ns}:{st.st_ctime_ns}\0{fmt}:{int(no_files)}:{width}:{encoding}\0{_code_stamp()}"
    )


def _name(key: str) -> str:
    """The file a key is saved in (two keys sharing one only replace each other: the whole
    key is checked on load)."""
    import xxhash

    return xxhash.xxh3_128_hexdigest(key.encode("utf-8", "surrogateescape"))


def _header(key: str) -> bytes:
    """A saved report starts with its whole key (its length, then the key), then the output,
    then an xxh3-128 of the output."""
    raw = key.encode("utf-8", "surrogateescape")
    return len(raw).to_bytes(4, "big") + raw


def load(key: str) -> bytes | None:
    """The saved output for ``key``, None when absent, for another key, or damaged."""
    import xxhash

    try:
        with open(os.path.join(_root(), _name(key)), "rb") as fh:
            data = fh.read()
    except OSError:
        return None
    header = _header(key)
    if len(data) < len(header) + 16 or not data.startswith(header):
        return None
    body, check = data[len(header) : -16], data[-16:]
    if xxhash.xxh3_128_digest(body) != check:
        return None
    return body


def store(key: str, output: bytes) -> None:
    """Save ``output`` under ``key`` (atomically; a failure to save is not an error)."""
    import xxhash

    root = _root()
    try:
        os.makedirs(root, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=root, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(_header(key))
                fh.write(output)
                fh.write(xxhash.xxh3_128_digest(output))
            os.replace(tmp, os.path.join(root, _name(key)))
        except BaseException:
            os.unlink(tmp)
            raise
        _prune(root)
    except OSError:
        pass


def _prune(root: str) -> None:
    """Keep the newest KEEP reports; remove temporary files killed runs left behind."""
    import time

    entries, stale = [], []
    cutoff = (time.time() - STALE_TEMP_SECONDS) * 1e9
    for entry in os.scandir(root):
        try:
            mtime = entry.stat(follow_symlinks=False).st_mtime_ns
        except OSError:
            continue
        if not entry.name.startswith(".tmp-"):
            entries.append((mtime, entry.path))
        elif mtime < cutoff:
            stale.append(entry.path)
    for _mtime, path in sorted(entries, reverse=True)[KEEP:] + [(0, p) for p in stale]:
        try:
            os.unlink(path)
        except OSError:
            pass


def replay(argv: list[str]) -> bool:
    """Write the saved report for ``argv`` to stdout; False when there is none to replay."""
    request = request_from_argv(argv)
    if request is None or os.environ.get("SLIMVIEW_NO_REPLAY") or sys.stdout is None:
        return False
    key = key_for(*request)
    output = load(key) if key is not None else None
    if output is None:
        return False
    out = sys.stdout.buffer
    out.write(output)
    out.flush()
    return True
