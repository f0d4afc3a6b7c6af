"""Read file bodies and whole layers back out of an indexed image.

One rule decides which bodies are never shown or handed out: those the index found a
secret in while it read the layer, and those the secret scanner finds one in now (in
their first ``VIEW_LIMIT`` bytes, see secretscan.py). ``secret_in`` is that rule; the
explorer's viewer and ``slimview extract`` both apply it.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import BinaryIO

from slimview.errors import InputError
from slimview.index.layer import normalise_path
from slimview.index.model import ImageIndex, LayerIndex
from slimview.index.secretscan import Match, scan
from slimview.source.compression import DECOMPRESSION_ERRORS, open_decompressed
from slimview.source.model import ByteStream, LayerSink
from slimview.source.tarstream import EntryType, RangeReader, TarError, TarReader, located

VIEW_LIMIT = 1 << 20
COPY_CHUNK = 1 << 20

# Opens the image again, handing the layers it streams to the sink; the predicate says
# which layers (by diff_id) need not be read (as the cache's ``layer_cached`` does).
Reopen = Callable[[LayerSink, Callable[[str], bool]], object]


class SecretWithheld(InputError):
    """The body holds a secret: slimview names its kind and fingerprint, never its value."""

    def __init__(self, path: str, summary: str):
        super().__init__(f"{path!r} holds a secret ({summary}); slimview does not display it")
        self.path = path
        self.summary = summary  # the kinds of secret and their fingerprints


def _withheld(path: str, matches: list[tuple[str, str, str, int]] | list[Match]) -> SecretWithheld:
    found = [m if isinstance(m, Match) else Match(*m) for m in matches]
    kinds = ", ".join(sorted({m.kind for m in found}))
    prints = ", ".join(m.fingerprint for m in found[:3])
    return SecretWithheld(path, f"{kinds}; fingerprints {prints}")


def secret_in(layer: LayerIndex, i: int | None, path: str, head: bytes | None = None) -> SecretWithheld | None:
    """The one rule: entry ``i`` of ``layer`` (at ``path``) is withheld when the index found a
    secret in it, or the scanner finds one in ``head`` (its body's first bytes) now."""
    recorded = layer.files.secrets.get(i) if i is not None else None
    if recorded:
        return _withheld(path, recorded)
    if head is not None:
        found = scan(path, head[:VIEW_LIMIT])
        if found:
            return _withheld(path, found)
    return None


def read_body(index: ImageIndex, layer_no: int, path: str, limit: int = VIEW_LIMIT) -> bytes:
    """The first ``limit`` bytes of ``path`` as stored in layer ``layer_no``.

    Bodies the index kept (package databases, config files) come from memory; other
    files are read again from the archive. Streamed sources (an engine save, a compressed
    tarball) cannot be re-read and raise InputError for files the index did not keep.
    Raises SecretWithheld for a body holding a secret.
    """
    layer = index.layers[layer_no]
    i = layer.find(path)
    if i is None:
        raise InputError(f"layer {layer_no} has no entry {path!r}")
    if layer.files.types[i] != EntryType.FILE:
        raise InputError(f"{path!r} in layer {layer_no} is a {EntryType.NAMES[layer.files.types[i]]}, not a file")
    refused = secret_in(layer, i, path)
    if refused is not None:
        raise refused
    kept = layer.files.captured.get(i)
    if kept is not None:
        body = kept[:limit]
    else:
        with layer_tar(index, layer_no) as tar:
            body = _body_in(tar, path, limit, layer_no)
    refused = secret_in(layer, i, path, body)
    if refused is not None:
        raise refused
    return body


def _body_in(tar: ByteStream, path: str, limit: int, layer_no: int) -> bytes:
    reader = TarReader(tar)
    body = None
    try:
        for entry in reader:
            # Keep reading after a match: a later duplicate wins, as in the merge.
            if entry.type == EntryType.FILE and normalise_path(entry.name, "layer") == path:
                body = reader.read_data(entry.stored) if entry.stored <= limit else _head(reader, limit)
    except TarError as exc:
        raise located(exc, f"layer {layer_no}") from None
    if body is None:
        raise InputError(f"{path!r} not found when re-reading layer {layer_no}")
    return body[:limit]


def _head(reader: TarReader, limit: int) -> bytes:
    data = reader.open_data()
    head = b""
    while len(head) < limit:
        chunk = data.read(limit - len(head))
        if not chunk:
            break
        head += chunk
    data.skip_rest()
    return head


@contextmanager
def layer_tar(index: ImageIndex, layer_no: int, reopen: Reopen | None = None, scratch: str | None = None) -> Iterator[ByteStream]:
    """Layer ``layer_no``'s uncompressed tar, read front to back.

    A layer stored on disk is read from its blob. A layer its source streamed (an engine
    save, a registry blob, a compressed tarball) is read again from the source with
    ``reopen`` into a scratch file in ``scratch`` (a directory; the system's by default),
    checked against its diff_id; without ``reopen`` that is an InputError.
    """
    blob = index.layers[layer_no].ref.blob
    if blob is not None:
        raw = RangeReader(blob.path, blob.offset, blob.size)
        stream = None
        try:
            stream, _kind = open_decompressed(raw)
            yield stream
        except DECOMPRESSION_ERRORS as exc:
            raise InputError(f"layer {layer_no} could not be re-read ({exc.__class__.__name__})") from None
        finally:
            if stream is not None:
                stream.close()
            raw.close()
        return
    if reopen is None:
        raise InputError("file contents are only available for images read from a tarball or OCI layout on disk")
    with tempfile.TemporaryFile(dir=scratch) as copy:
        _copy_streamed(index, layer_no, reopen, copy)
        copy.seek(0)
        yield copy


def _copy_streamed(index: ImageIndex, layer_no: int, reopen: Reopen, out: BinaryIO) -> None:
    """Read the source again and copy layer ``layer_no``'s tar into ``out``.

    A layer is recognised by the name it streams under when the index knows it (it read
    the layers from this source); else (an index from the cache) by its digest.
    """
    ref = index.layers[layer_no].ref
    names = {layer.ref.member for layer in index.layers}
    found = False

    def sink(name: str, stream: ByteStream, /, *, digest: bool = True) -> None:
        # Digested whatever the source vouches for: the digest is how the layer is recognised.
        nonlocal found
        if found or (name in names and name != ref.member):
            return
        out.seek(0)
        out.truncate()
        tar, _kind = open_decompressed(stream)
        try:
            copied = copy_stream(tar, out)
        except DECOMPRESSION_ERRORS as exc:
            raise InputError(f"layer {layer_no} could not be re-read ({exc.__class__.__name__})") from None
        finally:
            tar.close()
        found = copied == ref.diff_id

    reopen(sink, lambda diff_id: diff_id != ref.diff_id)
    if not found:
        raise InputError(f"layer {layer_no} ({ref.diff_id}) was not among the layers read again from {index.source.reference}")


def copy_stream(stream: ByteStream, out: BinaryIO) -> str:
    """Copy ``stream`` to its end into ``out``; returns the sha256 digest of what was copied."""
    digest = hashlib.sha256()
    while True:
        chunk = stream.read(COPY_CHUNK)
        if not chunk:
            break
        digest.update(chunk)
        out.write(chunk)
    out.flush()
    return "sha256:" + digest.hexdigest()
