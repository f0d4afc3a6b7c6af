"""skopeo's ``dir:`` layout (containers/image's directory transport), read as an OCI layout.

A ``dir:`` copy is a directory holding ``version`` ("Directory Transport Version: 1.1"),
``manifest.json`` (the image's own manifest, Docker v2s2 or OCI, or a manifest list /
index when copied with ``--multi-arch``; each copied instance's manifest is then
``<hex>.manifest.json``) and every blob, config and layers alike, as a file named by its
hex digest (version 1.0 named layers ``<hex>.tar``). Compression is whatever the copy
kept or chose (``--dest-compress``, ``--dest-compress-format``), and the layers' media
types may say gzip over plain tars: the bytes are sniffed, as everywhere.

:class:`DirStore` shows such a directory as the OCI layout it amounts to, an
``index.json`` naming the top manifest and ``blobs/sha256/<hex>`` for every blob, so
choosing the image (platform, ref), checking digests and reading layers in place are the
same code as for OCI layouts.
"""

from __future__ import annotations

import hashlib
import json
import os
import re

from slimview.errors import InputError
from slimview.source.archive import LayoutStore, build_source, load_json
from slimview.source.model import BlobRef, SourceImage

VERSION_PREFIX = "Directory Transport Version: "
_BLOB = re.compile(r"^blobs/sha256/([0-9a-f]{64})$")


def is_dir_layout(path: str) -> bool:
    """Does ``path`` look like a ``dir:`` copy (a version file naming the directory transport)?"""
    try:
        with open(os.path.join(path, "version"), "rb") as fh:
            head = fh.read(64)
    except OSError:
        return False
    return head.startswith(VERSION_PREFIX.encode()) and os.path.isfile(os.path.join(path, "manifest.json"))


class DirStore:
    """A ``dir:`` copy seen as an OCI layout (see the module doc)."""

    def __init__(self, path: str):
        self.label = path
        self._files = LayoutStore(path)
        top = self._files.read("manifest.json", "manifest.json")
        doc = load_json(top, f"{path}: manifest.json")
        if not isinstance(doc, dict):
            raise InputError(f"{path}: manifest.json is not an image manifest or manifest list")
        digest = "sha256:" + hashlib.sha256(top).hexdigest()
        media_type = doc.get("mediaType")
        if not isinstance(media_type, str) or not media_type:
            media_type = "application/vnd.oci.image.index.v1+json" if "manifests" in doc else "application/vnd.oci.image.manifest.v1+json"
        self._top = digest[7:]
        self._index = json.dumps(
            {"schemaVersion": 2, "manifests": [{"mediaType": media_type, "digest": digest, "size": len(top)}]}
        ).encode()

    def _name(self, name: str) -> str:
        """The file in the directory that holds OCI layout member ``name`` ("" if none)."""
        if name == "index.json":
            return ""
        m = _BLOB.match(name)
        if not m:
            return ""
        hex_digest = m.group(1)
        if hex_digest == self._top:
            return "manifest.json"
        # an instance of a copied manifest list, a blob (1.1), a layer as version 1.0 named it
        for candidate in (f"{hex_digest}.manifest.json", hex_digest, f"{hex_digest}.tar"):
            if self._files.exists(candidate):
                return candidate
        return hex_digest

    def exists(self, name: str) -> bool:
        if name == "index.json":
            return True
        file = self._name(name)
        return bool(file) and self._files.exists(file)

    def read(self, name: str, what: str) -> bytes:
        if name == "index.json":
            return self._index
        file = self._name(name)
        if not file:
            raise InputError(f"{self.label}: {what} '{name}' is missing")
        return self._files.read(file, what)

    def blob_ref(self, name: str) -> BlobRef:
        file = self._name(name)
        if not file:
            raise InputError(f"{self.label}: layer blob '{name}' is missing")
        return self._files.blob_ref(file)

    def canonical(self, name: str) -> str:
        return name


def open_dir_layout(path: str, reference: str, tag: str | None, platform: str | None) -> SourceImage:
    """Open the ``dir:`` copy at ``path``; ``tag`` may name an instance of a copied list by digest."""
    store = DirStore(path)
    return build_source(store, reference, "dir", tag, platform)
