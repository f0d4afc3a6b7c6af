"""Read one file's body out of an indexed image, in memory, without extracting anything.

One rule decides which bodies are never shown: those the index found a secret in while
it read the layer, and those the secret scanner finds one in now (secretscan.py).
"""

from __future__ import annotations

from slimview.errors import InputError
from slimview.index.layer import normalise_path
from slimview.index.model import ImageIndex
from slimview.index.secretscan import Match, scan
from slimview.source.compression import DECOMPRESSION_ERRORS, open_decompressed
from slimview.source.tarstream import EntryType, RangeReader, TarError, TarReader, located

VIEW_LIMIT = 1 << 20


class SecretWithheld(InputError):
    """The body holds a secret: slimview names its kind and fingerprint, never its value."""


def _withheld(path: str, matches: list[tuple[str, str, str, int]] | list[Match]) -> SecretWithheld:
    found = [m if isinstance(m, Match) else Match(*m) for m in matches]
    kinds = ", ".join(sorted({m.kind for m in found}))
    prints = ", ".join(m.fingerprint for m in found[:3])
    return SecretWithheld(f"{path!r} holds a secret ({kinds}; fingerprints {prints}); slimview does not display it")


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
    recorded = layer.files.secrets.get(i)
    if recorded:
        raise _withheld(path, recorded)
    kept = layer.files.captured.get(i)
    body = kept[:limit] if kept is not None else _reread(index, layer_no, path, limit)
    found = scan(path, body)
    if found:
        raise _withheld(path, found)
    return body


def _reread(index: ImageIndex, layer_no: int, path: str, limit: int) -> bytes:
    blob = index.layers[layer_no].ref.blob
    if blob is None:
        raise InputError("file contents are only available for images read from a tarball or OCI layout on disk")
    raw = RangeReader(blob.path, blob.offset, blob.size)
    try:
        stream, _kind = open_decompressed(raw)
        reader = TarReader(stream)
        body = None
        for entry in reader:
            # Keep reading after a match: a later duplicate wins, as in the merge.
            if entry.type == EntryType.FILE and normalise_path(entry.name, "layer") == path:
                body = reader.read_data(entry.stored) if entry.stored <= limit else _head(reader, limit)
        if body is None:
            raise InputError(f"{path!r} not found when re-reading layer {layer_no}")
        return body[:limit]
    except TarError as exc:
        raise located(exc, f"layer {layer_no}") from None
    except DECOMPRESSION_ERRORS as exc:
        raise InputError(f"layer {layer_no} could not be re-read ({exc.__class__.__name__})") from None
    finally:
        raw.close()


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
