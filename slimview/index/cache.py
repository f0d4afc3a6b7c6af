"""On-disk cache of layer indexes, keyed by layer diff_id, shared by every image using the layer.

Trust rules: an entry is used only if its checksum verifies and it names the diff_id we
look for; a blob seen in an archive maps to a diff_id only after a full read verified
that the blob decompresses to exactly that diff_id (the mapping is keyed by a fingerprint
of every stored byte, remembered per unchanged file so reopening an archive does not
hash it again). Anything else is rebuilt. Writes go to
a temporary file that is renamed into place, so concurrent runs and kills mid-write never
leave a half-written entry behind.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import tempfile
import time

import xxhash

from slimview.elf import Program
from slimview.fsutil import default_cache_dir
from slimview.index.blob import blob_bytes, stored_compression
from slimview.index.blob import blob_fingerprint as fingerprint_of_blob
from slimview.index.capture import POLICY_VERSION
from slimview.index.layer import LayerFiles
from slimview.source.model import BlobRef

FORMAT = 4
MAGIC = b"SLIMVIEW-LAYER\x00"
HEX64 = re.compile(r"^[0-9a-f]{64}$")
STALE_TEMP_SECONDS = 3600
SAMPLE_SPAN = 64 << 10


def blob_fingerprint(blob: BlobRef) -> str:
    """A blob's fingerprint (see index/blob.py), reading it (for callers outside the index).

    Sampling the head and tail would let a blob changed in the middle pass for the old
    one and serve its stale index; the index computes this while it reads a blob, so it
    costs no extra read there.
    """
    return fingerprint_of_blob(blob.path, blob.offset, blob.size)


def _sample_key(blob: BlobRef) -> str:
    """Size, first and last 64 KiB: cheap, and only ever a hint that a full hash may match."""
    h = hashlib.sha256(f"{blob.size}:".encode())
    h.update(blob_bytes(blob, 0, SAMPLE_SPAN))
    tail = max(0, blob.size - SAMPLE_SPAN)
    h.update(blob_bytes(blob, tail, blob.size - tail))
    return h.hexdigest()


def _hex(digest: str) -> str | None:
    value = digest.split(":", 1)[1] if digest.startswith("sha256:") else ""
    return value if HEX64.match(value) else None


class LayerCache:
    def __init__(self, root: str | None = None):
        self.root = os.path.join(root or default_cache_dir(), f"index-v{FORMAT}.{POLICY_VERSION}")
        self._ok = True
        self._swept = False
        self.hits = 0
        self.misses = 0
        self._checked: dict[str, LayerFiles] = {}  # validated by has_layer, awaiting get_layer
        self._fingerprints: dict[str, str] = {}

    # -- paths -----------------------------------------------------------------------------
    def _path(self, kind: str, name: str) -> str:
        return os.path.join(self.root, kind, name[:2], name)

    def _write(self, kind: str, name: str, data: bytes | list[bytes]) -> None:
        """Write ``data`` (or its pieces, in turn) as the entry ``name`` of ``kind``."""
        if not self._ok:
            return
        if not self._swept:  # once per run that writes: what killed runs left behind
            self._swept = True
            self.sweep_temporaries()
        path = self._path(kind, name)
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".tmp-")
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.writelines([data] if isinstance(data, bytes) else data)
                os.replace(tmp, path)
            except BaseException:
                try:
                    os.unlink(tmp)
                except OSError:
                    pass
                raise
        except OSError:
            self._ok = False  # read-only or full disk: run without caching rather than fail

    def _read(self, kind: str, name: str) -> bytes | None:
        try:
            with open(self._path(kind, name), "rb") as fh:
                return fh.read()
        except OSError:
            return None

    def _drop(self, kind: str, name: str) -> None:
        try:
            os.unlink(self._path(kind, name))
        except OSError:
            pass

    # -- configs ---------------------------------------------------------------------------
    def get_config(self, digest: str) -> bytes | None:
        name = _hex(digest)
        data = self._read("configs", name) if name else None
        if data is None or "sha256:" + hashlib.sha256(data).hexdigest() != digest:
            return None
        return data

    def put_config(self, digest: str, data: bytes) -> None:
        name = _hex(digest)
        if name and "sha256:" + hashlib.sha256(data).hexdigest() == digest:
            self._write("configs", name, data)

    # -- layers ----------------------------------------------------------------------------
    def has_layer(self, diff_id: str) -> bool:
        """Does the cache hold a *valid* index of ``diff_id``? A corrupt entry is dropped and
        answers no, so an engine image is saved again rather than left without the layer.
        The decoded entry is kept for the get_layer call that follows."""
        files = self.get_layer(diff_id)
        if files is None:
            return False
        self._checked[diff_id] = files
        return True

    def get_layer(self, diff_id: str, compression: str = "none") -> LayerFiles | None:
        """The cached index of ``diff_id``; ``compression`` is how the caller's copy is stored
        (the same layer may be cached from a zstd blob and reopened from a plain save)."""
        checked = self._checked.pop(diff_id, None)
        if checked is not None:
            checked.compression = compression
            return checked
        name = _hex(diff_id)
        if not name:
            return None
        data = self._read("layers", name)
        if data is None:
            self.misses += 1
            return None
        files = decode_layer(data, diff_id)
        if files is None:
            self._drop("layers", name)  # corrupt or stale: rebuild
            self.misses += 1
            return None
        self.hits += 1
        files.compression = compression
        return files

    def put_layer(self, files: LayerFiles) -> None:
        name = _hex(files.tar_digest)
        if name:
            self._write("layers", name, encode_layer(files))

    def _stat_key(self, blob: BlobRef) -> str:
        st = os.stat(blob.path)
        ident = (
            f"{os.path.realpath(blob.path)}\0{st.st_dev}:{st.st_ino}:{st.st_size}:"
            f"{st.st_mtime_ns}:{st.st_ctime_ns}:{blob.offset}:{blob.size}"
        )
        return hashlib.sha256(ident.encode("utf-8", "surrogateescape")).hexdigest()

    def fingerprint(self, blob: BlobRef) -> str | None:
        """The blob's fingerprint, None when the cache cannot know this blob.

        Remembered from the read that indexed it, for as long as the file holding it is
        unchanged (same inode, size, mtime and ctime; any write moves ctime). A blob in
        another file (a second image sharing base layers) is hashed in full, but only when
        a cached blob has the same size, head and tail: a blob the cache has never seen
        costs no read here; it is indexed, which computes its fingerprint.
        """
        key = self._stat_key(blob)
        known = self._fingerprints.get(key)
        if known is None:
            stored = self._read("stat", key)
            known = stored.decode("ascii", "replace") if stored is not None else ""
            if not HEX64.match(known):
                candidate = self._read("samples", _sample_key(blob))
                if candidate is None or blob_fingerprint(blob) != candidate.decode("ascii", "replace"):
                    return None
                known = candidate.decode("ascii")
                self._write("stat", key, known.encode("ascii"))
            self._fingerprints[key] = known
        return known

    def remember_fingerprint(self, blob: BlobRef, fingerprint: str) -> None:
        if not HEX64.match(fingerprint):
            return
        try:
            key = self._stat_key(blob)
        except OSError:
            return
        self._fingerprints[key] = fingerprint
        self._write("stat", key, fingerprint.encode("ascii"))
        self._write("samples", _sample_key(blob), fingerprint.encode("ascii"))

    def layer_for_blob(self, blob: BlobRef, diff_id: str, *, verified_only: bool = False) -> LayerFiles | None:
        """The cached index of ``blob``: by its diff_id if this exact blob was once verified to
        be ``diff_id``, else (unless ``verified_only``) by the blob's own fingerprint: an index
        made without digesting the layer is never filed under a diff_id it might not have."""
        try:
            fingerprint = self.fingerprint(blob)
        except OSError:
            return None
        if fingerprint is None:
            self.misses += 1
            return None
        files = None
        if _hex(diff_id):
            known = self._read("blobs", fingerprint)
            if known is not None and known.decode("ascii", "replace") == diff_id:
                files = self.get_layer(diff_id, stored_compression(blob))
        if files is None and verified_only:
            self.misses += 1
            return None
        if files is None:
            data = self._read("blob-layers", fingerprint)
            files = decode_layer(data, "fingerprint:" + fingerprint) if data is not None else None
            if files is None:
                if data is not None:
                    self._drop("blob-layers", fingerprint)
                self.misses += 1
                return None
            self.hits += 1
            files.compression = stored_compression(blob)
        files.source_key = files.tar_digest or "fingerprint:" + fingerprint
        return files

    def put_unverified(self, blob: BlobRef, files: LayerFiles) -> None:
        """File an index made without digesting its layer under the blob's fingerprint."""
        fingerprint = files.blob_fingerprint or self._known(blob)
        if not fingerprint:
            return
        files.source_key = "fingerprint:" + fingerprint
        self._write("blob-layers", fingerprint, encode_layer(files))

    def remember_blob(self, blob: BlobRef, diff_id: str) -> None:
        fingerprint = self._known(blob)
        if _hex(diff_id) and fingerprint:
            self._write("blobs", fingerprint, diff_id.encode("ascii"))

    def _known(self, blob: BlobRef) -> str | None:
        try:
            return self.fingerprint(blob)
        except OSError:
            return None

    def sweep_temporaries(self) -> None:
        """Remove temp files left by runs that were killed mid-write."""
        now = time.time()
        for root, _dirs, files in os.walk(self.root):
            for f in files:
                if f.startswith(".tmp-"):
                    path = os.path.join(root, f)
                    try:
                        if now - os.path.getmtime(path) > STALE_TEMP_SECONDS:
                            os.unlink(path)
                    except OSError:
                        pass


# -- serialisation ---------------------------------------------------------------------------


def _join(strings: list[str]) -> bytes:
    return "\0".join(strings).encode("utf-8", "surrogateescape")


def _split(data: bytes, n: int) -> list[str]:
    if n == 0:
        return []
    return data.decode("utf-8", "surrogateescape").split("\0")


def encode_layer(files: LayerFiles) -> list[bytes]:
    """The cache entry for ``files``, as the pieces to write in turn: the kept bodies
    (package databases: megabytes) are written from where they are, not copied into one
    buffer with everything else (the entry was held three times over while it was written:
    on the Go sample, whose program was kept then, 20 MB at the run's peak)."""
    sections: list[list[bytes]] = [
        [_join(files.paths)],
        [bytes(files.types)],
        [files.sizes.tobytes()],
        [files.modes.tobytes()],
        [files.uids.tobytes()],
        [files.gids.tobytes()],
        [bytes(files.hashes)],
        [json.dumps({str(k): v for k, v in files.links.items()}, ensure_ascii=False).encode("utf-8", "surrogateescape")],
        [_join(files.whiteouts)],
        [_join(files.opaque_dirs)],
        [json.dumps([[k, len(v)] for k, v in files.captured.items()]).encode()],
        list(files.captured.values()),
        [json.dumps({str(k): v for k, v in files.secrets.items()}, ensure_ascii=False).encode("utf-8", "surrogateescape")],
        [json.dumps({str(k): v.to_json() for k, v in files.programs.items()}, ensure_ascii=False).encode("utf-8", "surrogateescape")],
    ]
    header = json.dumps(
        {
            "format": FORMAT,
            "byteorder": sys.byteorder,
            "diff_id": files.tar_digest,
            "key": files.tar_digest or files.source_key,
            "tar_bytes": files.tar_bytes,
            "compression": files.compression,
            "entries": len(files.paths),
            "whiteouts": len(files.whiteouts),
            "opaque_dirs": len(files.opaque_dirs),
            "notes": files.notes,
            "estargz_extras": files.estargz_extras,
            "sections": [sum(len(piece) for piece in section) for section in sections],
        }
    ).encode()
    pieces = [MAGIC + len(header).to_bytes(4, "little") + header, *(piece for section in sections for piece in section)]
    check = xxhash.xxh3_128()
    for piece in pieces:
        check.update(piece)
    return [*pieces, check.digest()]


def decode_layer(data: bytes, diff_id: str) -> LayerFiles | None:
    """Decode a cache entry; None if it is corrupt, stale, or for another layer."""
    try:
        if len(data) < len(MAGIC) + 20 or not data.startswith(MAGIC):
            return None
        body, check = data[:-16], data[-16:]
        if xxhash.xxh3_128_digest(body) != check:
            return None
        pos = len(MAGIC)
        hlen = int.from_bytes(body[pos : pos + 4], "little")
        pos += 4
        header = json.loads(body[pos : pos + hlen])
        pos += hlen
        if header.get("format") != FORMAT or header.get("byteorder") != sys.byteorder or header.get("key") != diff_id:
            return None
        sections = []
        for length in header["sections"]:
            sections.append(body[pos : pos + length])
            pos += length
        if pos != len(body):
            return None
        n = header["entries"]
        files = LayerFiles()
        files.paths = _split(sections[0], n)
        files.types = bytearray(sections[1])
        for column, raw in zip((files.sizes, files.modes, files.uids, files.gids), sections[2:6]):
            column.frombytes(raw)
        files.hashes = bytearray(sections[6])
        files.links = {int(k): v for k, v in json.loads(sections[7].decode("utf-8", "surrogateescape")).items()}
        files.whiteouts = _split(sections[8], header["whiteouts"])
        files.opaque_dirs = _split(sections[9], header["opaque_dirs"])
        at = 0
        for k, length in json.loads(sections[10]):
            files.captured[int(k)] = sections[11][at : at + length]
            at += length
        if at != len(sections[11]):
            return None
        files.secrets = {
            int(k): [tuple(m) for m in v] for k, v in json.loads(sections[12].decode("utf-8", "surrogateescape")).items()
        }
        files.programs = {
            int(k): Program.from_json(v) for k, v in json.loads(sections[13].decode("utf-8", "surrogateescape")).items()
        }
        files.tar_digest = header["diff_id"]
        files.source_key = header["key"]
        files.tar_bytes = header["tar_bytes"]
        files.compression = header["compression"]
        files.notes = list(header["notes"])
        files.estargz_extras = [(str(path), int(size)) for path, size in header["estargz_extras"]]
        if not (len(files.paths) == len(files.types) == len(files.sizes) == len(files.modes) == n and len(files.hashes) == 16 * n):
            return None
        return files
    except (ValueError, KeyError, TypeError, IndexError, UnicodeDecodeError):
        return None

