"""Write image archives from a description, deterministically, without an engine.

Used for the bundled sample image and by the tests to make precise inputs in every
format engines and skopeo write: docker-archive (legacy and Docker 25+ layouts), OCI
layout directories and oci-archives, with plain, gzip or zstd layers. The pieces
(``Layer.tar`` in a chosen tar dialect, ``TarWriter``, ``compress``, ``digest``) are
what tests/producers.py writes each image producer's own archive layout with.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile
from collections.abc import Sequence
from dataclasses import dataclass, field

import zstandard

EPOCH = 1_700_000_000  # fixed mtime: the same description always gives the same bytes


@dataclass
class Layer:
    created_by: str
    members: list[tuple[tarfile.TarInfo, bytes | None]] = field(default_factory=list)
    comment: str = ""

    def _info(self, path: str, type_: bytes, mode: int, uid: int, gid: int) -> tarfile.TarInfo:
        info = tarfile.TarInfo(path)
        info.type = type_
        info.mode = mode
        info.uid = uid
        info.gid = gid
        info.mtime = EPOCH
        return info

    def dir(self, path: str, mode: int = 0o755, uid: int = 0, gid: int = 0) -> Layer:
        self.members.append((self._info(path, tarfile.DIRTYPE, mode, uid, gid), None))
        return self

    def file(self, path: str, data: bytes | str, mode: int = 0o644, uid: int = 0, gid: int = 0) -> Layer:
        if isinstance(data, str):
            data = data.encode()
        info = self._info(path, tarfile.REGTYPE, mode, uid, gid)
        info.size = len(data)
        self.members.append((info, data))
        return self

    def symlink(self, path: str, target: str) -> Layer:
        info = self._info(path, tarfile.SYMTYPE, 0o777, 0, 0)
        info.linkname = target
        self.members.append((info, None))
        return self

    def hardlink(self, path: str, target: str) -> Layer:
        info = self._info(path, tarfile.LNKTYPE, 0o644, 0, 0)
        info.linkname = target
        self.members.append((info, None))
        return self

    def whiteout(self, path: str) -> Layer:
        parent, name = os.path.split(path)
        return self.file(os.path.join(parent, ".wh." + name), b"", mode=0o600)

    def opaque(self, directory: str) -> Layer:
        return self.file(os.path.join(directory, ".wh..wh..opq"), b"", mode=0o600)

    def tar(self, format: int = tarfile.PAX_FORMAT) -> bytes:
        """The layer as a tar: PAX (what Go and Python write) or GNU_FORMAT (GNU tar)."""
        out = io.BytesIO()
        with tarfile.open(fileobj=out, mode="w", format=format) as tar:
            for info, data in self.members:
                tar.addfile(info, io.BytesIO(data) if data is not None else None)
        return out.getvalue()


@dataclass
class ImageSpec:
    layers: list[Layer]
    env: list[str] = field(default_factory=lambda: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"])
    cmd: list[str] | None = None
    entrypoint: list[str] | None = None
    workdir: str = ""
    user: str = ""
    exposed_ports: list[str] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    healthcheck: dict | None = None
    # Extra history entries without a layer, inserted before layer N: {N: [created_by, ...]}
    empty_history: dict[int, list[str]] = field(default_factory=dict)
    architecture: str = "amd64"


def compress(data: bytes, compression: str | None) -> bytes:
    """``data`` as a gzip or zstd blob (None: as it is)."""
    if compression == "gzip":
        return gzip.compress(data, mtime=0)
    if compression == "zstd":
        return zstandard.ZstdCompressor(level=3).compress(data)
    return data


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def config_json(spec: ImageSpec, diff_ids: list[str]) -> bytes:
    history: list[dict[str, object]] = []
    for i, layer in enumerate(spec.layers):
        for created_by in spec.empty_history.get(i, []):
            history.append({"created": "2023-11-14T22:13:20Z", "created_by": created_by, "empty_layer": True})
        entry: dict[str, object] = {"created": "2023-11-14T22:13:20Z", "created_by": layer.created_by}
        if layer.comment:
            entry["comment"] = layer.comment
        history.append(entry)
    for created_by in spec.empty_history.get(len(spec.layers), []):
        history.append({"created": "2023-11-14T22:13:20Z", "created_by": created_by, "empty_layer": True})
    config: dict = {"Env": spec.env}
    if spec.cmd is not None:
        config["Cmd"] = spec.cmd
    if spec.entrypoint is not None:
        config["Entrypoint"] = spec.entrypoint
    if spec.workdir:
        config["WorkingDir"] = spec.workdir
    if spec.user:
        config["User"] = spec.user
    if spec.exposed_ports:
        config["ExposedPorts"] = {p: {} for p in spec.exposed_ports}
    if spec.labels:
        config["Labels"] = spec.labels
    if spec.healthcheck:
        config["Healthcheck"] = spec.healthcheck
    doc = {
        "architecture": spec.architecture,
        "os": "linux",
        "created": "2023-11-14T22:13:20Z",
        "config": config,
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": history,
    }
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


class TarWriter:
    """An outer archive written member by member (every member with a fixed mtime unless told)."""

    def __init__(self, fileobj, format: int = tarfile.PAX_FORMAT):
        self.tar = tarfile.open(fileobj=fileobj, mode="w", format=format)

    def _info(self, name: str, type_: bytes, mode: int, mtime: int) -> tarfile.TarInfo:
        info = tarfile.TarInfo(name)
        info.type = type_
        info.mode = mode
        info.mtime = mtime
        return info

    def add(self, name: str, data: bytes, mode: int = 0o644, mtime: int = EPOCH) -> None:
        info = self._info(name, tarfile.REGTYPE, mode, mtime)
        info.size = len(data)
        self.tar.addfile(info, io.BytesIO(data))

    def add_dir(self, name: str, mode: int = 0o755, mtime: int = EPOCH) -> None:
        self.tar.addfile(self._info(name, tarfile.DIRTYPE, mode, mtime))

    def add_symlink(self, name: str, target: str, mtime: int = EPOCH) -> None:
        info = self._info(name, tarfile.SYMTYPE, 0o777, mtime)
        info.linkname = target
        self.tar.addfile(info)

    def close(self) -> None:
        self.tar.close()


def write_docker_archive(
    spec: ImageSpec,
    path: str,
    tags: list[str],
    *,
    layout: str = "legacy",
    compression: str | None = None,
    whole: str | None = None,
    extra_images: Sequence[tuple[ImageSpec, list[str]]] = (),
) -> None:
    """A ``docker save`` tarball. layout: legacy (<id>/layer.tar), oci (Docker 25+), skopeo."""
    raw = io.BytesIO()
    writer = TarWriter(raw)
    manifest = []
    written: set[str] = set()
    for image_spec, image_tags in [(spec, tags), *extra_images]:
        tars = [layer.tar() for layer in image_spec.layers]
        diff_ids = [digest(t) for t in tars]
        config = config_json(image_spec, diff_ids)
        layer_names = []
        for tar_bytes, diff_id in zip(tars, diff_ids):
            blob = compress(tar_bytes, compression)
            if layout == "oci":
                name = "blobs/sha256/" + digest(blob)[7:]
            elif layout == "skopeo":
                name = diff_id[7:] + ".tar"
            else:
                name = hashlib.sha256((diff_id + "v1").encode()).hexdigest() + "/layer.tar"
            if name in written and layout == "legacy":
                layer_names.append(name)
                continue
            if name not in written:
                if layout == "legacy":
                    writer.add_dir(name.split("/")[0])
                    writer.add(name.split("/")[0] + "/VERSION", b"1.0")
                writer.add(name, blob)
                written.add(name)
            layer_names.append(name)
        config_name = ("blobs/sha256/" + digest(config)[7:]) if layout == "oci" else digest(config)[7:] + ".json"
        if config_name not in written:
            writer.add(config_name, config)
            written.add(config_name)
        manifest.append({"Config": config_name, "RepoTags": image_tags or None, "Layers": layer_names})
    if layout == "oci":
        writer.add("oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
        writer.add("index.json", json.dumps({"schemaVersion": 2, "manifests": []}).encode())
    writer.add("manifest.json", json.dumps(manifest).encode())
    writer.close()
    data = raw.getvalue()
    if whole == "gzip":
        data = gzip.compress(data, mtime=0)
    elif whole == "zstd":
        data = zstandard.ZstdCompressor().compress(data)
    with open(path, "wb") as fh:
        fh.write(data)


def _oci_blobs(spec: ImageSpec, compression: str | None, ref_name: str, platform: dict | None = None):
    blobs: dict[str, bytes] = {}
    tars = [layer.tar() for layer in spec.layers]
    diff_ids = [digest(t) for t in tars]
    config = config_json(spec, diff_ids)
    blobs[digest(config)] = config
    media = {None: "tar", "gzip": "tar+gzip", "zstd": "tar+zstd"}[compression]
    layers = []
    for t in tars:
        blob = compress(t, compression)
        blobs[digest(blob)] = blob
        layers.append({"mediaType": f"application/vnd.oci.image.layer.v1.{media}", "digest": digest(blob), "size": len(blob)})
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": digest(config), "size": len(config)},
            "layers": layers,
        }
    ).encode()
    blobs[digest(manifest)] = manifest
    desc = {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest(manifest), "size": len(manifest)}
    if ref_name:
        desc["annotations"] = {"org.opencontainers.image.ref.name": ref_name}
    if platform:
        desc["platform"] = platform
    return blobs, desc


def oci_layout_files(
    images: list[tuple[ImageSpec, str, dict | None]], compression: str | None = None
) -> dict[str, bytes]:
    """Files of an OCI layout holding ``images`` as (spec, ref name, platform)."""
    files: dict[str, bytes] = {"oci-layout": b'{"imageLayoutVersion":"1.0.0"}'}
    manifests = []
    for spec, ref, platform in images:
        blobs, desc = _oci_blobs(spec, compression, ref, platform)
        for digest, blob in blobs.items():
            files["blobs/sha256/" + digest[7:]] = blob
        manifests.append(desc)
    files["index.json"] = json.dumps({"schemaVersion": 2, "manifests": manifests}).encode()
    return files


def write_oci_layout(spec: ImageSpec, directory: str, ref: str = "latest", compression: str | None = "gzip") -> None:
    for name, data in oci_layout_files([(spec, ref, None)], compression).items():
        full = os.path.join(directory, name)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "wb") as fh:
            fh.write(data)


def write_oci_archive(spec: ImageSpec, path: str, ref: str = "latest", compression: str | None = "gzip") -> None:
    with open(path, "wb") as fh:
        writer = TarWriter(fh)
        for name, data in oci_layout_files([(spec, ref, None)], compression).items():
            writer.add(name, data)
        writer.close()
