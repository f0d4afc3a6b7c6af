"""``slimview extract``: one file, or one whole layer as a tar, written out of an indexed image.

What is written goes into the directory DEST the user names (created if missing), under
one name: the file's own name, or ``layer-N.tar``. Nothing is written anywhere else: the
name is a single path component, and the file is written to a temporary file in DEST
and renamed over the name, so a symlink already there is replaced, never followed. An
existing file is replaced only with ``force``. A file holding a secret (content.py's one
rule) is written only with ``include_secrets``; a layer tar leaves such files out unless
it is given, and says which.
"""

from __future__ import annotations

import os
import posixpath
import tarfile
import tempfile
from dataclasses import dataclass
from typing import BinaryIO

from slimview.display import quoted_path
from slimview.errors import InputError, SlimviewError
from slimview.fsutil import atomic_file, ensure_directory
from slimview.index.content import VIEW_LIMIT, Reopen, SecretWithheld, copy_stream, layer_tar, secret_in
from slimview.index.layer import normalise_path
from slimview.index.model import ImageIndex, entry_ref, split_ref
from slimview.source.tarstream import EntryType, TarError, TarReader, located


@dataclass(frozen=True)
class Extracted:
    """What was written: ``path`` (``size`` bytes), from layer ``layer``; for a layer tar, the
    files left out because they hold secrets."""

    path: str
    size: int
    layer: int
    withheld: tuple[str, ...] = ()


def image_path(path: str) -> str:
    """A path as the user typed it (``/usr/bin/make``) as the index keys it (``usr/bin/make``)."""
    cleaned = posixpath.normpath("/" + path).lstrip("/")
    if not cleaned:
        raise InputError("name a file in the image, not its root directory")
    return normalise_path(cleaned, "the path")


def file_name(path: str) -> str:
    """The name ``extract_file`` writes ``path`` under in DEST."""
    return posixpath.basename(image_path(path))


def layer_file_name(layer_no: int) -> str:
    """The name ``extract_layer`` writes layer ``layer_no`` under in DEST."""
    return f"layer-{layer_no}.tar"


def extract_file(
    index: ImageIndex,
    path: str,
    dest: str,
    *,
    layer: int | None = None,
    force: bool = False,
    include_secrets: bool = False,
    reopen: Reopen | None = None,
) -> Extracted:
    """Write the file at ``path`` into ``dest``: as the final image shows it (symlinks on the
    way followed inside the image), or as layer ``layer`` stored it."""
    wanted = image_path(path)
    layer_no, stored_path = _locate(index, wanted, layer)
    files = index.layers[layer_no].files
    i = index.layers[layer_no].find(stored_path)
    refused = secret_in(index.layers[layer_no], i, stored_path)
    if refused is not None and not include_secrets:
        raise _refusal(refused)
    target = _target(dest, file_name(wanted))
    mode = files.modes[i] & 0o755 if i is not None else 0o644
    with atomic_file(target, force=force, mode=mode) as out:
        with layer_tar(index, layer_no, reopen, scratch=dest) as tar:
            head = _copy_body(tar, stored_path, out, layer_no)
        if not include_secrets:
            refused = secret_in(index.layers[layer_no], i, stored_path, head)
            if refused is not None:
                raise _refusal(refused)
        size = out.tell()
    return Extracted(target, size, layer_no)


def extract_layer(
    index: ImageIndex,
    layer_no: int,
    dest: str,
    *,
    force: bool = False,
    include_secrets: bool = False,
    reopen: Reopen | None = None,
) -> Extracted:
    """Write layer ``layer_no``'s tar into ``dest`` as ``layer-N.tar``: byte for byte (its
    sha256 is the layer's diff_id), or without the files holding secrets."""
    if not 0 <= layer_no < len(index.layers):
        raise InputError(f"the image has layers 0 to {len(index.layers) - 1}, not {layer_no}")
    target = _target(dest, layer_file_name(layer_no))
    with atomic_file(target, force=force) as out:
        with layer_tar(index, layer_no, reopen, scratch=dest) as tar:
            digest = copy_stream(tar, out)
        diff_id = index.layers[layer_no].ref.diff_id
        if diff_id and digest != diff_id:
            raise InputError(f"layer {layer_no} read back as {digest}, not its diff_id {diff_id} (the archive changed since it was indexed?)")
        withheld = () if include_secrets else _secrets_in_tar(index, layer_no, out)
        if withheld:
            _leave_out(out, withheld, dest)
        size = out.seek(0, os.SEEK_END)
    return Extracted(target, size, layer_no, withheld)


def _refusal(withheld: SecretWithheld) -> SlimviewError:
    return SlimviewError(f"{quoted_path('/' + withheld.path)} holds a secret ({withheld.summary}); pass --include-secrets to write it anyway")


def _locate(index: ImageIndex, path: str, layer: int | None) -> tuple[int, str]:
    """(layer, path in that layer's tar) of the regular file holding ``path``'s bytes."""
    if layer is None:
        found = index.resolve(path)
        ref = index.final.get(found) if found is not None else None
        if ref is None:
            raise InputError(f"the image has no file {quoted_path('/' + path)}")
    else:
        if not 0 <= layer < len(index.layers):
            raise InputError(f"the image has layers 0 to {len(index.layers) - 1}, not {layer}")
        i = index.layers[layer].find(path)
        if i is None:
            raise InputError(f"layer {layer} has no entry {quoted_path('/' + path)}")
        ref = entry_ref(layer, i)
    body = index.content_ref(ref)
    if body is None:
        raise InputError(f"{quoted_path('/' + path)} is a hard link to a file that is not in the image")
    layer_no, i = split_ref(body)
    files = index.layers[layer_no].files
    kind = files.types[i]
    if kind == EntryType.SYMLINK:
        raise InputError(f"{quoted_path('/' + path)} in layer {layer_no} is a symlink to {quoted_path(files.links.get(i, ''))}; name the file it points to")
    if kind != EntryType.FILE:
        what = "directory; extract a file, or a whole layer with --layer N" if kind == EntryType.DIR else EntryType.NAMES[kind]
        raise InputError(f"{quoted_path('/' + path)} is a {what}")
    return layer_no, files.paths[i]


def _copy_body(tar, path: str, out: BinaryIO, layer_no: int) -> bytes:
    """Copy the body of ``path`` (its last copy in the tar, as the merge takes it) into
    ``out``; returns its first VIEW_LIMIT bytes."""
    reader = TarReader(tar)
    head = None
    try:
        for entry in reader:
            if entry.type != EntryType.FILE or normalise_path(entry.name, "layer") != path:
                continue
            out.seek(0)
            out.truncate()
            data = reader.open_data()
            head = b""
            while True:
                chunk = data.read(1 << 20)
                if not chunk:
                    break
                if len(head) < VIEW_LIMIT:
                    head += chunk[: VIEW_LIMIT - len(head)]
                out.write(chunk)
    except TarError as exc:
        raise located(exc, f"layer {layer_no}") from None
    if head is None:
        raise InputError(f"{quoted_path('/' + path)} not found when reading layer {layer_no} again")
    return head


def _secrets_in_tar(index: ImageIndex, layer_no: int, tar: BinaryIO) -> tuple[str, ...]:
    """The paths of the files in the layer tar ``tar`` that hold secrets."""
    layer = index.layers[layer_no]
    found: list[str] = []
    tar.seek(0)
    reader = TarReader(tar)
    try:
        for entry in reader:
            if entry.type != EntryType.FILE:
                continue
            path = normalise_path(entry.name, f"layer {layer_no}")
            data = reader.open_data()
            head = data.read(VIEW_LIMIT)
            data.skip_rest()
            if path not in found and secret_in(layer, layer.find(path), path, head) is not None:
                found.append(path)
    except TarError as exc:
        raise located(exc, f"layer {layer_no}") from None
    return tuple(found)


def _leave_out(out: BinaryIO, withheld: tuple[str, ...], scratch: str) -> None:
    """Rewrite the tar in ``out`` without ``withheld`` (and hard links to them)."""
    left_out = set(withheld)

    def kept(member: tarfile.TarInfo) -> bool:
        if _tar_path(member.name) in left_out:
            return False
        return not (member.islnk() and _tar_path(member.linkname) in left_out)

    with tempfile.TemporaryFile(dir=scratch) as copy:
        out.seek(0)
        copy_stream(out, copy)
        copy.seek(0)
        out.seek(0)
        out.truncate()
        with tarfile.open(fileobj=copy, mode="r:") as source, tarfile.open(fileobj=out, mode="w:", format=tarfile.PAX_FORMAT) as result:
            for member in source:
                if kept(member):
                    result.addfile(member, source.extractfile(member) if member.isreg() else None)
    out.flush()


def _tar_path(name: str) -> str:
    try:
        return normalise_path(name, "layer")
    except InputError:
        return name


def _target(dest: str, name: str) -> str:
    """``dest/name``, with ``dest`` made when missing."""
    ensure_directory(dest)
    return os.path.join(dest, name)
