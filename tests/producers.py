"""Image archives as each producer writes them, for the producer conformance suite.

Every generator here reproduces one producer's archive layout and layer quirks, written
from that producer's own source (cited in each docstring), with slimview.sample.builder
doing the byte work. A generator returns the archive and the layer tars it wrote;
``figures`` derives every expected number (per-layer bytes and entries, the final tree,
visible and hidden bytes, dive's efficiency and wasted bytes) from those tars with its
own deliberately simple overlay and dive model, sharing no code with slimview.

containers/image (skopeo, podman, buildah) is on this machine as skopeo, so
test_producers.py runs it for real instead of imitating it.
"""

from __future__ import annotations

import copy
import gzip
import hashlib
import io
import json
import posixpath
import tarfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from slimview.sample.builder import Layer, TarWriter, compress, digest

EPOCH_1980 = 315_532_801  # 1980-01-01T00:00:01Z, the buildpacks lifecycle's normalised mtime
CREATED = "2024-03-01T12:00:00Z"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
AMD64 = {"architecture": "amd64", "os": "linux"}
ARM64 = {"architecture": "arm64", "os": "linux", "variant": "v8"}
UNKNOWN = {"architecture": "unknown", "os": "unknown"}
ESTARGZ_NAMES = frozenset({".no.prefetch.landmark", "stargz.index.json"})


@dataclass
class Produced:
    """An archive as a producer wrote it."""

    path: Path  # the archive file or layout directory
    layers: list[Layer]  # the layer tars in image order, exactly as written
    kind: str  # the source kind slimview should name it
    tag: str = ""  # the ARCHIVE:TAG a user would give, if one is needed
    extras: list[frozenset[str]] = field(default_factory=list)  # per layer: estargz's own root entries
    dive_reads_it: bool = True  # dive reads this very archive as its producer meant

    @property
    def reference(self) -> str:
        return f"{self.path}:{self.tag}" if self.tag else str(self.path)


# -- what the images hold ----------------------------------------------------------------


def fill(seed: str, size: int) -> bytes:
    """``size`` bytes that differ from any other seed's."""
    return (hashlib.sha256(seed.encode()).hexdigest().encode() * (size // 64 + 1))[:size]


def base_layer() -> Layer:
    """A small distribution base layer, as pulled base images hold them (relative names)."""
    return (
        Layer("ADD rootfs.tar.xz /").dir("bin").dir("etc").dir("usr").dir("usr/lib").dir("var").dir("var/cache")
        .file("bin/sh", fill("sh", 1200), mode=0o755).file("etc/os-release", "ID=base\nVERSION_ID=1\n")
        .file("etc/passwd", "root:x:0:0:root:/root:/bin/sh\n").file("usr/lib/libc.so.6", fill("libc", 4000))
        .file("var/cache/index.db", fill("index", 2500)).symlink("lib", "usr/lib")
    )


def restamp(layer: Layer, *, rename: Callable[[str], str] | None = None, mtime: int | None = None,
            uid: int | None = None, gid: int | None = None, owner: str | None = None) -> Layer:
    """``layer`` with every header rewritten the way a producer normalises them."""
    out = Layer(layer.created_by, comment=layer.comment)
    for info, data in layer.members:
        info = copy.copy(info)
        if rename is not None:
            info.name = rename(info.name)
        if mtime is not None:
            info.mtime = mtime
        if uid is not None:
            info.uid = uid
        if gid is not None:
            info.gid = gid
        if owner is not None:
            info.uname = info.gname = owner
        out.members.append((info, data))
    return out


def _dir_info(name: str, mode: int = 0o755, mtime: int = 0, uid: int = 0) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.mtime, info.uid, info.gid = tarfile.DIRTYPE, mode, mtime, uid, uid
    return info


def config_doc(diff_ids: list[str], history: list[dict] | None, *, created: str = CREATED, env: list[str] | None = None,
               entrypoint: list[str] | None = None, cmd: list[str] | None = None, user: str = "",
               platform: dict | None = None, **extra) -> dict:
    runtime: dict = {"Env": env or ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]}
    if entrypoint is not None:
        runtime["Entrypoint"] = entrypoint
    if cmd is not None:
        runtime["Cmd"] = cmd
    if user:
        runtime["User"] = user
    doc: dict = {**(platform or AMD64), "created": created, "config": runtime,
                 "rootfs": {"type": "layers", "diff_ids": diff_ids}}
    if history is not None:
        doc["history"] = history
    doc.update(extra)
    return doc


def _history(layers: list[Layer], **fields) -> list[dict]:
    return [{"created": CREATED, "created_by": layer.created_by, **fields} for layer in layers]


def _json(doc, **kw) -> bytes:
    return json.dumps(doc, separators=(",", ":"), **kw).encode()


def write_archive(path: Path, members: list[tuple[str, bytes | None]], *, mode: int = 0o644, mtime: int = 0,
           links: dict[str, str] | None = None) -> None:
    """An outer archive: ``(name, data)`` members in order, data None for a directory."""
    with open(path, "wb") as fh:
        writer = TarWriter(fh)
        for name, data in members:
            if links and name in links:
                writer.add_symlink(name, links[name], mtime=mtime)
            elif data is None:
                writer.add_dir(name, mtime=mtime)
            else:
                writer.add(name, data, mode=mode, mtime=mtime)
        writer.close()


def write_layout(root: Path, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)


# -- Docker -----------------------------------------------------------------------------------


def docker_legacy_save(tmp: Path) -> Produced:
    """``docker save`` before Docker 25 (moby image/tarexport/save.go): one directory per
    v1 layer id with ``VERSION``, ``json`` and ``layer.tar``; a layer whose diff_id was
    already saved is written as a symlink ``../<first id>/layer.tar`` (saveLayer's
    diffIDPaths); ``<config hex>.json``, manifest.json and repositories, each encoded with a
    trailing newline; the whole directory tarred in name order (pkg/archive)."""
    copied = Layer("COPY conf/ /etc/app/").dir("etc").dir("etc/app").file("etc/app/app.conf", fill("conf", 300))
    layers = [
        base_layer(),
        copied,
        Layer("RUN fetch-assets").dir("srv").file("srv/assets.bin", fill("assets", 6000)).file("srv/version", "1\n"),
        Layer("RUN rm /srv/assets.bin").dir("srv").whiteout("srv/assets.bin"),
        copied,  # the same COPY again: the same diff_id
    ]
    tars = [layer.tar() for layer in layers]
    diff_ids = [digest(t) for t in tars]
    config = _json(config_doc(diff_ids, _history(layers), cmd=["/bin/sh"]))
    members: dict[str, bytes | None] = {}
    links: dict[str, str] = {}
    first: dict[str, str] = {}
    ids, parent = [], ""
    for i, (tar_bytes, diff_id) in enumerate(zip(tars, diff_ids)):
        v1_id = hashlib.sha256(f"{parent} {diff_id} {i}".encode()).hexdigest()
        members[v1_id + "/"] = None
        members[f"{v1_id}/VERSION"] = b"1.0"
        members[f"{v1_id}/json"] = _json({"id": v1_id, "parent": parent} if parent else {"id": v1_id})
        if diff_id in first:
            members[f"{v1_id}/layer.tar"] = b""
            links[f"{v1_id}/layer.tar"] = f"../{first[diff_id]}/layer.tar"
        else:
            members[f"{v1_id}/layer.tar"] = tar_bytes
            first[diff_id] = v1_id
        ids.append(v1_id)
        parent = v1_id
    members[digest(config)[7:] + ".json"] = config
    members["manifest.json"] = _json([{"Config": digest(config)[7:] + ".json", "RepoTags": ["app:legacy"],
                                       "Layers": [f"{i}/layer.tar" for i in ids]}]) + b"\n"
    members["repositories"] = _json({"app": {"legacy": ids[-1]}}) + b"\n"
    path = tmp / "docker-legacy.tar"
    write_archive(path, sorted(members.items()), links=links)
    # dive reads a symlinked layer.tar as an empty layer: it is given skopeo's copy instead
    return Produced(path, layers, "docker-archive", dive_reads_it=False)


def docker_25_save(tmp: Path, *, fixed: bool = True) -> Produced:
    """``docker save`` from Docker 25 on, graph-driver store (moby image/tarexport/save.go
    after moby#44598): an OCI layout inside the save: layers as ``blobs/sha256/<diff_id>``
    (uncompressed), every legacy v1 layer config and the image config as blobs too, an OCI
    manifest per tag in index.json (``io.containerd.image.name`` and
    ``org.opencontainers.image.ref.name``), and manifest.json naming blobs. ``fixed=False``
    is 25.0.0, whose OCI manifest lists no layers at all (moby#47065): readers must use
    manifest.json."""
    layers = [
        base_layer(),
        Layer("RUN apt-get install -y curl").dir("usr").dir("usr/bin").file("usr/bin/curl", fill("curl", 3500), mode=0o755)
        .dir("var").dir("var/cache").file("var/cache/index.db", fill("index2", 2600)),
        Layer("COPY app /app").dir("app").file("app/server", fill("server", 5000), mode=0o755),
    ]
    tars = [layer.tar() for layer in layers]
    diff_ids = [digest(t) for t in tars]
    config = _json(config_doc(diff_ids, _history(layers), entrypoint=["/app/server"]))
    blobs: dict[str, bytes] = {digest(t)[7:]: t for t in tars}
    parent = ""
    for diff_id in diff_ids:
        legacy = _json({"id": hashlib.sha256((parent + diff_id).encode()).hexdigest(), "created": "1970-01-01T00:00:00Z"})
        blobs[digest(legacy)[7:]] = legacy
        parent = digest(legacy)
    blobs[digest(config)[7:]] = config
    manifest = _json({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": digest(config), "size": len(config), "platform": AMD64},
        "layers": [{"mediaType": OCI_LAYER, "digest": d, "size": len(t)} for d, t in zip(diff_ids, tars)] if fixed else [],
    })
    blobs[digest(manifest)[7:]] = manifest
    members: dict[str, bytes | None] = {"blobs/": None, "blobs/sha256/": None}
    members.update({f"blobs/sha256/{h}": b for h, b in blobs.items()})
    members["index.json"] = _json({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [{
        "mediaType": OCI_MANIFEST, "digest": digest(manifest), "size": len(manifest), "platform": AMD64,
        "annotations": {"io.containerd.image.name": "docker.io/library/app:25", "org.opencontainers.image.ref.name": "25"},
    }]})
    members["manifest.json"] = _json([{"Config": f"blobs/sha256/{digest(config)[7:]}", "RepoTags": ["app:25"],
                                       "Layers": [f"blobs/sha256/{d[7:]}" for d in diff_ids]}]) + b"\n"
    members["oci-layout"] = b'{"imageLayoutVersion":"1.0.0"}'
    members["repositories"] = _json({"app": {"25": diff_ids[-1][7:]}}) + b"\n"
    path = tmp / ("docker-25.tar" if fixed else "docker-25.0.0.tar")
    write_archive(path, sorted(members.items()))
    return Produced(path, layers, "docker-archive-oci")


def _image_blobs(layers: list[Layer], config: dict, *, compression: str | None, layer_type: str, manifest_type: str,
                 config_type: str, layer_annotations: list[dict] | None = None, blobs: list[bytes] | None = None):
    """An image's blobs and its manifest descriptor (config, layers stored as given)."""
    stored = blobs if blobs is not None else [compress(layer.tar(), compression) for layer in layers]
    config_bytes = _json(config)
    layer_descs = []
    for i, blob in enumerate(stored):
        desc = {"mediaType": layer_type, "digest": digest(blob), "size": len(blob)}
        if layer_annotations:
            desc["annotations"] = layer_annotations[i]
        layer_descs.append(desc)
    manifest = _json({"schemaVersion": 2, "mediaType": manifest_type,
                      "config": {"mediaType": config_type, "digest": digest(config_bytes), "size": len(config_bytes)},
                      "layers": layer_descs})
    files = {digest(b)[7:]: b for b in stored}
    files[digest(config_bytes)[7:]] = config_bytes
    files[digest(manifest)[7:]] = manifest
    return files, {"mediaType": manifest_type, "digest": digest(manifest), "size": len(manifest)}


def _containerd_archive(path: Path, blobs: dict[str, bytes], index: list[dict], manifest_json: list | None) -> None:
    """containerd's images/archive exporter (what Docker's containerd image store and
    BuildKit's docker and oci exporters write with): every record sorted by name,
    duplicates dropped, blobs mode 0444, "blobs/" and "blobs/sha256/" directory records,
    index.json, oci-layout and (unless skipped) manifest.json."""
    members: dict[str, bytes | None] = {"blobs/": None, "blobs/sha256/": None}
    members.update({f"blobs/sha256/{h}": b for h, b in blobs.items()})
    members["index.json"] = _json({"schemaVersion": 2, "manifests": index})
    members["oci-layout"] = b'{"imageLayoutVersion":"1.0.0"}'
    if manifest_json is not None:
        members["manifest.json"] = _json(manifest_json)
    write_archive(path, sorted(members.items()), mode=0o444)


def _attestation(subject: dict) -> tuple[dict[str, bytes], dict]:
    """BuildKit's provenance attestation manifest for ``subject`` (in-toto layer, an
    unknown/unknown platform, vnd.docker.reference.* annotations)."""
    statement = _json({"_type": "https://in-toto.io/Statement/v0.1", "predicateType": "https://slsa.dev/provenance/v0.2",
                       "subject": [{"name": "pkg:docker/app", "digest": {"sha256": subject["digest"][7:]}}]})
    config = _json({"architecture": "unknown", "os": "unknown", "config": {},
                    "rootfs": {"type": "layers", "diff_ids": [digest(statement)]}})
    manifest = _json({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                      "config": {"mediaType": OCI_CONFIG, "digest": digest(config), "size": len(config)},
                      "layers": [{"mediaType": "application/vnd.in-toto+json", "digest": digest(statement), "size": len(statement),
                                  "annotations": {"in-toto.io/predicate-type": "https://slsa.dev/provenance/v0.2"}}]})
    desc = {"mediaType": OCI_MANIFEST, "digest": digest(manifest), "size": len(manifest), "platform": UNKNOWN,
            "annotations": {"vnd.docker.reference.digest": subject["digest"], "vnd.docker.reference.type": "attestation-manifest"}}
    return {digest(b)[7:]: b for b in (statement, config, manifest)}, desc


def _app_layers() -> list[Layer]:
    return [
        base_layer(),
        Layer("RUN apk add --no-cache python3").dir("usr").dir("usr/bin").file("usr/bin/python3", fill("py", 7000), mode=0o755)
        .dir("usr/lib").file("usr/lib/libpython3.so", fill("libpy", 9000)),
        Layer("COPY . /app").dir("app").file("app/main.py", "print('hi')\n").file("app/data.bin", fill("data", 4000)),
        Layer("RUN python3 -m compileall /app && rm /app/data.bin").dir("app").whiteout("app/data.bin")
        .dir("app/__pycache__").file("app/__pycache__/main.cpython-311.pyc", fill("pyc", 180)),
    ]


def docker_containerd_store_save(tmp: Path) -> Produced:
    """``docker save`` from Docker's containerd image store (moby daemon/containerd/
    image_exporter.go → containerd's archive exporter with WithPlatform, WithSkipMissing,
    WithSkipNonDistributableBlobs): index.json names the image's *index* (its name on the
    top descriptor); that index lists amd64, arm64 and their attestation manifests, but
    only the daemon platform's blobs are exported (the others are matched out by the
    platform filter); layers stay gzip as pulled; manifest.json names the amd64 image."""
    layers = _app_layers()
    diff_ids = [digest(layer.tar()) for layer in layers]
    config = config_doc(diff_ids, _history(layers), cmd=["python3", "/app/main.py"])
    blobs, amd64 = _image_blobs(layers, config, compression="gzip", layer_type=OCI_LAYER + "+gzip",
                                manifest_type=OCI_MANIFEST, config_type=OCI_CONFIG)
    arm64 = {"mediaType": OCI_MANIFEST, "digest": digest(b"arm64 manifest, not exported"), "size": 1234}
    _attest_blobs, amd64_attestation = _attestation(amd64)
    _arm_blobs, arm64_attestation = _attestation(arm64)
    index = _json({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        {**amd64, "platform": AMD64}, {**arm64, "platform": ARM64}, amd64_attestation, arm64_attestation]})
    blobs[digest(index)[7:]] = index
    top = {"mediaType": OCI_INDEX, "digest": digest(index), "size": len(index),
           "annotations": {"io.containerd.image.name": "docker.io/library/app:ctrd", "org.opencontainers.image.ref.name": "ctrd"}}
    manifest = json.loads(blobs[amd64["digest"][7:]])
    manifest_json = [{"Config": "blobs/sha256/" + manifest["config"]["digest"][7:], "RepoTags": ["app:ctrd"],
                      "Layers": ["blobs/sha256/" + d["digest"][7:] for d in manifest["layers"]]}]
    path = tmp / "docker-containerd.tar"
    _containerd_archive(path, blobs, [top], manifest_json)
    return Produced(path, layers, "docker-archive-oci")


# -- BuildKit exporters ------------------------------------------------------------------------


def buildkit_docker(tmp: Path) -> Produced:
    """``buildx build --output type=docker`` (BuildKit exporter/oci, docker variant, through
    containerd's archive exporter): Docker media types, gzip layers, the manifest
    descriptor named in index.json, and manifest.json for ``docker load``."""
    layers = _app_layers()
    diff_ids = [digest(layer.tar()) for layer in layers]
    config = config_doc(diff_ids, _history(layers, comment="buildkit.dockerfile.v0"), cmd=["python3", "/app/main.py"])
    blobs, desc = _image_blobs(layers, config, compression="gzip", layer_type=DOCKER_LAYER_GZIP,
                               manifest_type=DOCKER_MANIFEST, config_type=DOCKER_CONFIG)
    desc["annotations"] = {"io.containerd.image.name": "docker.io/library/app:bk", "org.opencontainers.image.ref.name": "bk"}
    manifest = json.loads(blobs[desc["digest"][7:]])
    manifest_json = [{"Config": "blobs/sha256/" + manifest["config"]["digest"][7:], "RepoTags": ["app:bk"],
                      "Layers": ["blobs/sha256/" + d["digest"][7:] for d in manifest["layers"]]}]
    path = tmp / "buildkit-docker.tar"
    _containerd_archive(path, blobs, [desc], manifest_json)
    return Produced(path, layers, "docker-archive-oci")


def buildkit_oci(tmp: Path, *, compression: str = "gzip") -> Produced:
    """``buildx build --output type=oci`` with the default provenance attestation (BuildKit
    exporter/oci, no manifest.json): index.json names an image index holding the image and
    its attestation manifest, both exported. ``compression="zstd"`` is
    ``compression=zstd`` (``tar+zstd`` layers)."""
    layers = _app_layers()
    diff_ids = [digest(layer.tar()) for layer in layers]
    config = config_doc(diff_ids, _history(layers, comment="buildkit.dockerfile.v0"), cmd=["python3", "/app/main.py"])
    blobs, desc = _image_blobs(layers, config, compression=compression, layer_type=f"{OCI_LAYER}+{compression}",
                               manifest_type=OCI_MANIFEST, config_type=OCI_CONFIG)
    attestation_blobs, attestation = _attestation(desc)
    blobs.update(attestation_blobs)
    index = _json({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [{**desc, "platform": AMD64}, attestation]})
    blobs[digest(index)[7:]] = index
    top = {"mediaType": OCI_INDEX, "digest": digest(index), "size": len(index),
           "annotations": {"io.containerd.image.name": "docker.io/library/app:oci", "org.opencontainers.image.ref.name": "oci"}}
    path = tmp / f"buildkit-oci-{compression}.tar"
    _containerd_archive(path, blobs, [top], None)
    return Produced(path, layers, "oci-archive", dive_reads_it=False)


def estargz_blob(layer: Layer) -> tuple[bytes, Layer]:
    """``layer`` as estargz writes it (containerd/stargz-snapshotter estargz.Writer): a
    no-prefetch landmark first, each entry in its own gzip member, then the TOC
    (stargz.index.json) with the tar's end in one more member, and the 51-byte footer (an
    empty gzip member whose extra field holds the TOC's offset). Returns the blob and the
    layer as its tar holds it (landmark and TOC included)."""
    out, toc_entries = io.BytesIO(), []
    written = Layer(layer.created_by)

    def add(info: tarfile.TarInfo, data: bytes | None, tail: bytes = b"") -> None:
        body = info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")
        if data:
            body += data + bytes(-len(data) % 512)
        out.write(gzip_member(body + tail))
        written.members.append((info, data))

    landmark = tarfile.TarInfo(".no.prefetch.landmark")
    landmark.size = 1
    add(landmark, b"\x0f")
    for info, data in layer.members:
        toc_entries.append({"name": info.name, "type": "dir" if info.isdir() else "reg", "size": info.size, "offset": out.tell()})
        add(info, data)
    toc = json.dumps({"version": 1, "entries": toc_entries}, indent="\t").encode()
    toc_info = tarfile.TarInfo("stargz.index.json")
    toc_info.size = len(toc)
    toc_offset = out.tell()
    add(toc_info, toc, bytes(1024))
    subfield = b"%016xSTARGZ" % toc_offset
    extra = b"SG" + len(subfield).to_bytes(2, "little") + subfield
    stored = b"\x01\x00\x00\xff\xff"  # an empty deflate stored block: gzip.NoCompression
    out.write(b"\x1f\x8b\x08\x04" + bytes(4) + b"\x00\xff" + len(extra).to_bytes(2, "little") + extra + stored + bytes(8))
    return out.getvalue(), written


def gzip_member(data: bytes) -> bytes:
    squeezer = zlib.compressobj(6, zlib.DEFLATED, 31)
    return squeezer.compress(data) + squeezer.flush()


def buildkit_estargz(tmp: Path) -> Produced:
    """``buildx build --output type=oci,compression=estargz,force-compression=true``:
    estargz layers under ``tar+gzip`` with their TOC digest and uncompressed size
    annotated on each layer descriptor (BuildKit util/compression/estargz.go)."""
    written = [estargz_blob(layer) for layer in _app_layers()]
    layers = [layer for _blob, layer in written]
    raw = [gzip.decompress(blob) for blob, _layer in written]
    config = config_doc([digest(r) for r in raw], _history(layers, comment="buildkit.dockerfile.v0"), cmd=["python3", "/app/main.py"])
    annotations = [{"containerd.io/snapshot/stargz/toc.digest": digest(r[-3000:]), "io.containers.estargz.uncompressed-size": str(len(r))}
                   for r in raw]
    blobs, desc = _image_blobs(layers, config, compression=None, layer_type=OCI_LAYER + "+gzip", manifest_type=OCI_MANIFEST,
                               config_type=OCI_CONFIG, layer_annotations=annotations, blobs=[b for b, _layer in written])
    desc["annotations"] = {"org.opencontainers.image.ref.name": "estargz"}
    path = tmp / "buildkit-estargz.tar"
    _containerd_archive(path, blobs, [desc], None)
    return Produced(path, layers, "oci-archive", extras=[ESTARGZ_NAMES] * len(layers), dive_reads_it=False)


# -- go-containerregistry writers: kaniko, ko, crane ---------------------------------------


def ggcr_tarball(path: Path, images: list[tuple[list[str], bytes, list[bytes]]]) -> None:
    """go-containerregistry's tarball.MultiRefWrite (kaniko --tar-path, ko --tarball, crane
    pull): per image its config as ``sha256:<hex>``, each layer once as ``<hex>.tar.gz``
    (the compressed digest), manifest.json last; no directories, mode 0644, zero mtime."""
    members: list[tuple[str, bytes | None]] = []
    manifest, seen = [], set()
    for tags, config, blobs in images:
        members.append((digest(config), config))
        names = []
        for blob in blobs:
            name = digest(blob)[7:] + ".tar.gz"
            names.append(name)
            if name not in seen:
                seen.add(name)
                members.append((name, blob))
        manifest.append({"Config": digest(config), "RepoTags": tags, "Layers": names})
    members.append(("manifest.json", _json(manifest)))
    write_archive(path, members)


def kaniko_layer(layer: Layer, links: dict[str, str] | None = None) -> Layer:
    """A layer as kaniko's snapshotter tars it (pkg/util/tar_util.go): a "/" entry for the
    root first, names without a leading "/", directories ending in "/", whiteouts with
    zero mode and time, hard links to their target's *absolute* path, no user names."""
    out = Layer(layer.created_by)
    out.members.append((_dir_info("/", 0o755, 1_709_294_400), None))
    for info, data in layer.members:
        info = copy.copy(info)
        info.uname = info.gname = ""
        if posixpath.basename(info.name).startswith(".wh."):
            info.mode, info.mtime = 0, 0
        if links and info.name in links:
            info.type, info.linkname, info.size, data = tarfile.LNKTYPE, "/" + links[info.name], 0, None
        out.members.append((info, data))
    return out


def kaniko(tmp: Path, *, deletes_only: bool = False) -> Produced:
    """``kaniko --no-push --tar-path`` (executor, snapshots written by pkg/util/tar_util.go,
    the image by go-containerregistry's tarball writer). ``deletes_only``: a Dockerfile
    whose one RUN only deletes from the base: its layer holds the "/" entry and a whiteout,
    0 bytes (dive's userWastedPercent is then +Inf)."""
    base = base_layer()
    if deletes_only:
        user = [kaniko_layer(Layer("RUN rm -rf /var/cache/index.db").dir("var").dir("var/cache").whiteout("var/cache/index.db"))]
    else:
        user = [
            kaniko_layer(Layer("RUN apt-get install -y perl").dir("usr").dir("usr/bin")
                         .file("usr/bin/perl5.36", fill("perl", 8000), mode=0o755).file("usr/bin/perl", b"")
                         .dir("var").dir("var/cache").file("var/cache/index.db", fill("index3", 2700)),
                         links={"usr/bin/perl": "usr/bin/perl5.36"}),
            kaniko_layer(Layer("COPY app.jar /app/").dir("app").file("app/app.jar", fill("jar", 5000))),
            kaniko_layer(Layer("RUN rm -rf /var/cache/index.db").dir("var").dir("var/cache").whiteout("var/cache/index.db")),
        ]
    layers = [base, *user]
    blobs = [compress(layer.tar(), "gzip") for layer in layers]
    history = [{"created": CREATED, "created_by": layer.created_by, **({"author": "kaniko"} if i else {})}
               for i, layer in enumerate(layers)]
    config = _json(config_doc([digest(layer.tar()) for layer in layers], history, cmd=["/bin/sh"]))
    path = tmp / ("kaniko-rm.tar" if deletes_only else "kaniko.tar")
    ggcr_tarball(path, [(["registry.example.com/team/app:kaniko"], config, blobs)])
    return Produced(path, layers, "docker-archive")


def ko(tmp: Path) -> Produced:
    """``ko build --push=false --tarball`` (ko pkg/build/gobuild.go): on a distroless base, a
    kodata layer ("/var", "/var/run", "/var/run/ko" and its files by absolute name, mode
    0555, zero time) and the binary layer (a relative "ko-app" directory, the binary as
    "/ko-app/<name>"); entrypoint, KO_DATA_PATH and PATH set; written by ggcr's tarball."""
    kodata = Layer("ko build ko://example.com/cmd/app", comment="kodata contents, at $KO_DATA_PATH")
    for name in ("/var", "/var/run", "/var/run/ko"):
        kodata.members.append((_dir_info(name, 0o555), None))
    kodata.file("/var/run/ko/index.html", fill("html", 1500), mode=0o555).file("/var/run/ko/logo.png", fill("png", 3000), mode=0o555)
    binary = Layer("ko build ko://example.com/cmd/app", comment="go build output, at /ko-app/app")
    binary.members.append((_dir_info("ko-app", 0o555), None))
    binary.file("/ko-app/app", fill("gobin", 12000), mode=0o555)
    layers = [restamp(base_layer(), mtime=0), restamp(kodata, mtime=0), restamp(binary, mtime=0)]
    history = [{"created": "1970-01-01T00:00:00Z", "created_by": "bazel build ..."}] + [
        {"author": "ko", "created": "0001-01-01T00:00:00Z", "created_by": layer.created_by, "comment": layer.comment}
        for layer in layers[1:]
    ]
    config = _json(config_doc(
        [digest(layer.tar()) for layer in layers], history, created="0001-01-01T00:00:00Z", entrypoint=["/ko-app/app"],
        env=["PATH=/usr/local/bin:/usr/bin:/bin:/ko-app", "KO_DATA_PATH=/var/run/ko"], user="65532", author="github.com/google/ko",
    ))
    path = tmp / "ko.tar"
    ggcr_tarball(path, [(["ko.local/app:latest"], config, [compress(layer.tar(), "gzip") for layer in layers])])
    return Produced(path, layers, "docker-archive")


def crane_pull(tmp: Path, *, fmt: str) -> Produced:
    """``crane pull --format tarball|legacy|oci``: ggcr's tarball (two tags of one image
    share its entry), its legacy/tarball (``<v1 id>/layer.tar``, ``json``, ``VERSION``,
    ``<config hex>.json``, manifest.json, repositories, in write order, no directories),
    or an OCI layout (layout.Write: index.json without annotations)."""
    layers = _app_layers()
    tars = [layer.tar() for layer in layers]
    config = _json(config_doc([digest(t) for t in tars], _history(layers), cmd=["python3", "/app/main.py"]))
    blobs = [compress(t, "gzip") for t in tars]
    if fmt == "tarball":
        path = tmp / "crane.tar"
        ggcr_tarball(path, [(["index.docker.io/library/app:1", "index.docker.io/library/app:latest"], config, blobs)])
        return Produced(path, layers, "docker-archive", tag="app:1")
    if fmt == "legacy":
        path = tmp / "crane-legacy.tar"
        _legacy_tarball(path, layers, config, ["index.docker.io/library/app:1"])
        return Produced(path, layers, "docker-archive")
    files, desc = _image_blobs(layers, json.loads(config), compression="gzip", layer_type=DOCKER_LAYER_GZIP,
                               manifest_type=DOCKER_MANIFEST, config_type=DOCKER_CONFIG)
    root = tmp / "crane-oci"
    write_layout(root, {"oci-layout": b'{"imageLayoutVersion":"1.0.0"}', "index.json": _json({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [desc]}),
                   **{f"blobs/sha256/{h}": b for h, b in files.items()}})
    return Produced(root, layers, "oci-layout", dive_reads_it=False)


def _legacy_tarball(path: Path, layers: list[Layer], config: bytes, tags: list[str], *, repeat_as_symlink: bool = False) -> None:
    """go-containerregistry's legacy/tarball.MultiWrite (crane --format legacy; rules_docker's
    join_layers). ``repeat_as_symlink`` writes a repeated layer as Docker's legacy save
    does, a symlink to the first copy (the layout rules_docker#1261 taught its tools)."""
    members: list[tuple[str, bytes | None]] = [(digest(config)[7:] + ".json", config)]
    links: dict[str, str] = {}
    names, parent, first = [], "", {}
    for tar_bytes in (layer.tar() for layer in layers):
        v1_id = hashlib.sha256(f"{digest(compress(tar_bytes, 'gzip'))[7:]} {parent}".encode()).hexdigest()
        name = f"{v1_id}/layer.tar"
        if repeat_as_symlink and tar_bytes in first:
            members.append((name, b""))
            links[name] = f"../{first[tar_bytes]}"
        else:
            members.append((name, tar_bytes))
            first[tar_bytes] = name
        members.append((f"{v1_id}/json", _json({"id": v1_id, **({"parent": parent} if parent else {})})))
        members.append((f"{v1_id}/VERSION", b"1.0"))
        names.append(name)
        parent = v1_id
    members.append(("manifest.json", _json([{"Config": digest(config)[7:] + ".json", "RepoTags": tags, "Layers": names}])))
    repos: dict[str, dict[str, str]] = {}
    for tag in tags:
        repo, _, version = tag.rpartition(":")
        repos.setdefault(repo, {})[version] = parent
    members.append(("repositories", _json(repos)))
    write_archive(path, members, links=links)


# -- Jib ----------------------------------------------------------------------------------


def jib_layer(name: str, files: dict[str, bytes]) -> Layer:
    """A layer as Jib's ReproducibleLayerBuilder writes it: every parent directory added,
    entries sorted by name, relative names (commons-compress strips the leading "/"),
    1970-01-01T00:00:01Z on everything, root-owned, no user names."""
    entries: dict[str, tuple[tarfile.TarInfo, bytes | None]] = {}
    for path, data in files.items():
        parts = path.split("/")
        for k in range(1, len(parts)):
            parent = "/".join(parts[:k])
            entries.setdefault(parent + "/", (_dir_info(parent + "/", 0o755, 1), None))
        info = tarfile.TarInfo(path)
        info.size, info.mode, info.mtime = len(data), 0o644, 1
        entries[path] = (info, data)
    layer = Layer(name)
    layer.members = [entries[k] for k in sorted(entries)]
    return layer


def _jib_layers() -> list[Layer]:
    return [
        base_layer(),
        jib_layer("dependencies", {"app/libs/guava-33.0.jar": fill("guava", 9000), "app/libs/slf4j-2.0.jar": fill("slf4j", 2000)}),
        jib_layer("resources", {"app/resources/application.yml": fill("yml", 400)}),
        jib_layer("classes", {"app/classes/com/example/Main.class": fill("main", 1600)}),
        jib_layer("jvm arg files", {"app/jib-classpath-file": b"/app/resources:/app/classes:/app/libs/*\n",
                                    "app/jib-main-class-file": b"com.example.Main\n"}),
    ]


def _jib_config(layers: list[Layer]) -> dict:
    history = [{"created": "2024-01-10T08:00:00Z", "created_by": "/bin/sh -c #(nop) ADD file:abc in / "}] + [
        {"created": "1970-01-01T00:00:01Z", "author": "Jib", "created_by": "jib-maven-plugin:3.4.0", "comment": layer.created_by}
        for layer in layers[1:]
    ]
    return config_doc([digest(layer.tar()) for layer in layers], history, created="1970-01-01T00:00:00Z",
                      entrypoint=["java", "-cp", "@/app/jib-classpath-file", "com.example.Main"])


def jib_docker(tmp: Path) -> Produced:
    """Jib's ``jibBuildTar`` / ``jib:buildTar`` in Docker format (jib-core ImageTarball.
    dockerWriteTo): layers ``<digest>.tar.gz``, the config as ``config.json``, and
    manifest.json with Jackson's field names ``config``, ``repoTags``, ``layers``."""
    layers = _jib_layers()
    blobs = [compress(layer.tar(), "gzip") for layer in layers]
    config = _json(_jib_config(layers))
    members: list[tuple[str, bytes | None]] = [(digest(b)[7:] + ".tar.gz", b) for b in blobs]
    members.append(("config.json", config))
    members.append(("manifest.json", _json([{"config": "config.json", "repoTags": ["registry.example.com/app:1.0"],
                                             "layers": [digest(b)[7:] + ".tar.gz" for b in blobs]}])))
    path = tmp / "jib-docker.tar"
    write_archive(path, members, mtime=1)
    return Produced(path, layers, "docker-archive")


def jib_oci(tmp: Path) -> Produced:
    """Jib's tar in OCI format (ImageTarball.ociWriteTo): blobs, then ``oci-layout``
    (``{"imageLayoutVersion": "1.0.0"}``) and index.json whose ref name is the full
    reference with its tag."""
    layers = _jib_layers()
    files, desc = _image_blobs(layers, _jib_config(layers), compression="gzip", layer_type=OCI_LAYER + "+gzip",
                               manifest_type=OCI_MANIFEST, config_type=OCI_CONFIG)
    desc["annotations"] = {"org.opencontainers.image.ref.name": "registry.example.com/app:1.0"}
    members: list[tuple[str, bytes | None]] = [(f"blobs/sha256/{h}", b) for h, b in files.items()]
    members.append(("oci-layout", b'{"imageLayoutVersion": "1.0.0"}'))
    members.append(("index.json", _json({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [desc]})))
    path = tmp / "jib-oci.tar"
    write_archive(path, members, mtime=1)
    return Produced(path, layers, "oci-archive", dive_reads_it=False)


# -- buildpacks -----------------------------------------------------------------------------


def lifecycle_layer(created_by: str, paths: dict[str, bytes | str | None], *, uid: int = 1000) -> Layer:
    """A layer as the buildpacks lifecycle writes it (lifecycle archive/tar.go
    AddFileToArchive): absolute names, each path's missing parent directories written
    before it (root-owned, as stat'ed), everything else owned by the cnb user, every mtime
    1980-01-01T00:00:01Z. ``paths``: file contents, a "->target" symlink, None a directory."""
    layer = Layer(created_by)
    written: set[str] = set()
    for path, value in paths.items():
        chain, parent = [], posixpath.dirname(path)
        while parent not in ("/", "") and parent not in written and parent not in paths:
            chain.append(parent)
            parent = posixpath.dirname(parent)
        for name in reversed(chain):  # addParentDirsUnique: root-owned, as stat'ed
            layer.members.append((_dir_info(name, 0o755, EPOCH_1980, 0), None))
            written.add(name)
        written.add(path)
        info = tarfile.TarInfo(path)
        info.mtime, info.uid, info.gid = EPOCH_1980, uid, uid
        if value is None:
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            layer.members.append((info, None))
        elif isinstance(value, str) and value.startswith("->"):
            info.type, info.mode, info.linkname = tarfile.SYMTYPE, 0o777, value[2:]
            layer.members.append((info, None))
        else:
            data = value.encode() if isinstance(value, str) else value
            info.size, info.mode = len(data), 0o644
            layer.members.append((info, data))
    return layer


def buildpacks(tmp: Path) -> Produced:
    """``pack build`` / Spring Boot's ``bootBuildImage`` image as buildpacks' imgutil writes
    it to a file (imgutil local/store.go addImageToTar): ``<config hex>.json``, each layer
    uncompressed as ``/sha256:<diff_id hex>.tar`` (a leading "/" and a colon in the name)
    and named so in manifest.json, zero headers (mode 0644, no time). Its layers are the
    lifecycle's, all by absolute name."""
    layers = [
        base_layer(),
        lifecycle_layer("Layer: 'jre', Created by buildpack: paketo-buildpacks/bellsoft-liberica@10.4.0", {
            "/layers/paketo-buildpacks_bellsoft-liberica/jre": None,
            "/layers/paketo-buildpacks_bellsoft-liberica/jre/bin/java": fill("java", 9500),
            "/layers/paketo-buildpacks_bellsoft-liberica/jre/lib/modules": fill("modules", 14000),
        }),
        lifecycle_layer("Application Layer", {
            "/workspace": None, "/workspace/BOOT-INF/lib/spring-core.jar": fill("spring", 6000),
            "/workspace/BOOT-INF/classes/application.yml": "server.port: 8080\n",
        }),
        lifecycle_layer("Buildpacks Application Launcher", {"/cnb/lifecycle/launcher": fill("launcher", 3000)}, uid=0),
        lifecycle_layer("Buildpacks Launcher Config", {
            "/cnb/process": None, "/cnb/process/web": "->/cnb/lifecycle/launcher",
            "/layers/config": None, "/layers/config/metadata.toml": "[[processes]]\ntype = \"web\"\n",
        }, uid=0),
    ]
    tars = [layer.tar() for layer in layers]
    history = [{"created": "1980-01-01T00:00:01Z", "created_by": layer.created_by} for layer in layers]
    config = _json(config_doc([digest(t) for t in tars], history, created="1980-01-01T00:00:01Z", user="1000:1000",
                              entrypoint=["/cnb/process/web"],
                              env=["PATH=/cnb/process:/cnb/lifecycle:/usr/local/bin:/usr/bin:/bin", "CNB_LAYERS_DIR=/layers"]))
    names = [f"/{digest(t)}.tar" for t in tars]
    members: list[tuple[str, bytes | None]] = [(digest(config)[7:] + ".json", config), *zip(names, tars)]
    members.append(("manifest.json", _json([{"Config": digest(config)[7:] + ".json", "RepoTags": ["docker.io/library/app:latest"],
                                             "Layers": names}])))
    path = tmp / "buildpacks.tar"
    write_archive(path, members)
    return Produced(path, layers, "docker-archive")


# -- nix ----------------------------------------------------------------------------------


def nix_stream_layered(tmp: Path, *, store_paths: int = 60) -> Produced:
    """nixpkgs dockerTools.streamLayeredImage / buildLayeredImage (pkgs/build-support/
    docker/stream_layered_image.py): one layer per store path (here ``store_paths`` of
    them), each holding "/nix", "/nix/store" and the path by *absolute* name, every mtime
    1970-01-01T00:00:01Z, root-owned with user names; layers as ``<diff_id>/layer.tar``
    only; a customisation layer made by GNU tar; config and manifest.json indented by 4,
    history with ``created`` and ``comment`` and no ``created_by``."""
    layers = []
    for k in range(store_paths):
        store = f"/nix/store/{hashlib.sha256(b'%d' % k).hexdigest()[:32]}-pkg{k}"
        layer = Layer(f"store paths: ['{store}']")
        for name in ("/nix", "/nix/store", store, store + "/lib"):
            layer.members.append((_dir_info(name, 0o555 if name.startswith(store) else 0o755, 1), None))
        layer.file(f"{store}/lib/libpkg{k}.so", fill(f"pkg{k}", 100 + 37 * k), mode=0o444)
        layers.append(restamp(layer, mtime=1, owner="root"))
    app = f"/nix/store/{hashlib.sha256(b'app').hexdigest()[:32]}-app"
    custom = Layer("customisation layer").dir("bin").symlink("bin/app", f"{app}/bin/app").dir("etc")
    custom.file("etc/passwd", "root:x:0:0::/root:/bin/sh\n")
    layers.append(restamp(custom, mtime=1))
    tars = [layer.tar(tarfile.GNU_FORMAT if layer is layers[-1] else tarfile.PAX_FORMAT) for layer in layers]
    diff_ids = [digest(t) for t in tars]
    created = "1970-01-01T00:00:01+00:00"
    config = json.dumps({"created": created, "architecture": "amd64", "os": "linux", "config": {"Cmd": ["/bin/app"]},
                         "rootfs": {"diff_ids": diff_ids, "type": "layers"},
                         "history": [{"created": created, "comment": layer.created_by} for layer in layers]}, indent=4).encode()
    members: list[tuple[str, bytes | None]] = [(f"{d[7:]}/layer.tar", t) for d, t in zip(diff_ids, tars)]
    members.append((digest(config)[7:] + ".json", config))
    members.append(("manifest.json", json.dumps([{"Config": digest(config)[7:] + ".json", "RepoTags": ["app:nix"],
                                                  "Layers": [f"{d[7:]}/layer.tar" for d in diff_ids]}], indent=4).encode()))
    path = tmp / "nix.tar"
    write_archive(path, members, mtime=1)
    return Produced(path, layers, "docker-archive")


def nix_build_image(tmp: Path) -> Produced:
    """nixpkgs dockerTools.buildImage (mkPureLayer, mkRootLayer): each layer made by
    ``tar -C layer --sort=name --mtime=@1 -cf layer.tar .``: GNU tar, every name under
    "./", the "./" root entry itself; legacy ``<id>/layer.tar`` with ``json`` and
    ``VERSION``."""
    layers = [
        restamp(base_layer(), rename=lambda n: "./" + n, mtime=1),
        restamp(Layer("runAsRoot").dir("etc").file("etc/passwd", "root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/:/bin/sh\n")
                .dir("var").dir("var/cache").whiteout("var/cache/index.db"), rename=lambda n: "./" + n, mtime=1),
    ]
    for layer in layers:
        layer.members.insert(0, (_dir_info("./", 0o755, 1), None))
    path = tmp / "nix-build-image.tar"
    tars = [layer.tar(tarfile.GNU_FORMAT) for layer in layers]
    config = _json(config_doc([digest(t) for t in tars], None, created="1970-01-01T00:00:01Z"))
    members: list[tuple[str, bytes | None]] = []
    names, parent = [], ""
    for t in tars:
        v1_id = hashlib.sha256((parent + digest(t)).encode()).hexdigest()
        members += [(f"{v1_id}/", None), (f"{v1_id}/VERSION", b"1.0"),
                    (f"{v1_id}/json", _json({"id": v1_id, **({"parent": parent} if parent else {})})), (f"{v1_id}/layer.tar", t)]
        names.append(f"{v1_id}/layer.tar")
        parent = v1_id
    members.append((digest(config)[7:] + ".json", config))
    members.append(("manifest.json", _json([{"Config": digest(config)[7:] + ".json", "RepoTags": ["app:nix-image"], "Layers": names}])))
    members.append(("repositories", _json({"app": {"nix-image": parent}})))
    write_archive(path, members, mtime=1)
    return Produced(path, layers, "docker-archive")


# -- Bazel ----------------------------------------------------------------------------------


def _bazel_layers() -> list[Layer]:
    app = Layer("bazel build //app:layer").dir("app").file("app/server", fill("bzl", 7000), mode=0o755)
    return [base_layer(), app, Layer("bazel build //app:config").dir("app").file("app/config.json", '{"port": 8080}\n'), app]


def rules_oci_layout(tmp: Path) -> Produced:
    """rules_oci's ``oci_image`` output: an OCI layout directory (index.json naming the
    manifest without a ref name, blobs), gzip layers; a layer used twice is one blob."""
    layers = _bazel_layers()
    config = config_doc([digest(layer.tar()) for layer in layers], _history(layers), created="1970-01-01T00:00:00Z",
                        entrypoint=["/app/server"])
    files, desc = _image_blobs(layers, config, compression="gzip", layer_type=OCI_LAYER + "+gzip", manifest_type=OCI_MANIFEST,
                               config_type=OCI_CONFIG)
    root = tmp / "rules-oci-layout"
    write_layout(root, {"oci-layout": b'{"imageLayoutVersion":"1.0.0"}', "index.json": _json({"schemaVersion": 2, "manifests": [desc]}),
                   **{f"blobs/sha256/{h}": b for h, b in files.items()}})
    return Produced(root, layers, "oci-layout", dive_reads_it=False)


def rules_oci_tarball(tmp: Path) -> Produced:
    """rules_oci's ``oci_tarball`` (oci/private/tarball.sh.tpl): the config copied to
    ``blobs/sha256/<hex>``, each layer to ``blobs/sha256/<hex>.tar.gz``, manifest.json from
    yq (indented), the staging directory tarred by GNU tar as ``manifest.json blobs``."""
    layers = _bazel_layers()
    tars = [layer.tar() for layer in layers]
    config = _json(config_doc([digest(t) for t in tars], _history(layers), created="1970-01-01T00:00:00Z", entrypoint=["/app/server"]))
    blobs = [compress(t, "gzip") for t in tars]
    manifest = json.dumps([{"Config": f"blobs/sha256/{digest(config)[7:]}", "RepoTags": ["bazel/app:latest"],
                            "Layers": [f"blobs/sha256/{digest(b)[7:]}.tar.gz" for b in blobs]}], indent=2).encode()
    members: list[tuple[str, bytes | None]] = [("manifest.json", manifest), ("blobs/", None), ("blobs/sha256/", None),
                                               (f"blobs/sha256/{digest(config)[7:]}", config)]
    members += sorted({(f"blobs/sha256/{digest(b)[7:]}.tar.gz", b) for b in blobs})
    path = tmp / "rules-oci.tar"
    with open(path, "wb") as fh:
        writer = TarWriter(fh, format=tarfile.GNU_FORMAT)
        for name, data in members:
            if data is None:
                writer.add_dir(name)
            else:
                writer.add(name, data)
        writer.close()
    return Produced(path, layers, "docker-archive")


def rules_docker(tmp: Path) -> Produced:
    """rules_docker's ``container_image`` tarball (join_layers, go-containerregistry's
    legacy/tarball) with a repeated layer as a symlink to its first copy, as Docker's
    legacy save writes it and rules_docker reads it (rules_docker#1261)."""
    layers = _bazel_layers()
    config = _json(config_doc([digest(layer.tar()) for layer in layers], _history(layers), created="1970-01-01T00:00:00Z",
                              entrypoint=["/app/server"]))
    path = tmp / "rules-docker.tar"
    _legacy_tarball(path, layers, config, ["bazel/app:latest"], repeat_as_symlink=True)
    return Produced(path, layers, "docker-archive", dive_reads_it=False)


# -- expected figures -------------------------------------------------------------------------


@dataclass
class Figures:
    layer_bytes: list[int]  # regular file bytes each layer stores (whiteouts, estargz extras left out)
    layer_entries: list[int]  # entries each layer holds (no root, whiteouts or estargz extras)
    final_paths: set[str]
    visible_bytes: int
    hidden_bytes: int
    dive_score: float
    dive_wasted: int
    dive_user_bytes: int


def _clean(name: str) -> str:
    return posixpath.normpath("/" + name).lstrip("/")


def figures(layers: list[Layer], extras: list[frozenset[str]] | None = None) -> Figures:
    """The figures slimview and dive must give for ``layers``, by a plain overlay and dive's
    leaf rule (only for what the generators write: whiteouts of files, no opaque dirs)."""
    extras = extras or [frozenset() for _ in layers]
    state: dict[str, tuple[str, tuple[int, str] | None]] = {}
    sizes: dict[tuple[int, str], int] = {}
    layer_bytes, layer_entries = [], []
    cumulative: dict[str, int] = {}
    minimum: dict[str, int] = {}
    count: dict[str, int] = {}
    dive_sizes: list[int] = []
    stacked: dict[str, int] = {}
    for k, layer in enumerate(layers):
        entries = [(info, _clean(info.name)) for info, _d in layer.members if _clean(info.name)]
        own = [(i, p) for i, p in entries if not posixpath.basename(p).startswith(".wh.") and p not in extras[k]]
        layer_entries.append(len(own))
        layer_bytes.append(sum(i.size for i, _p in own if i.isreg()))
        dive_sizes.append(sum(i.size for i, _p in entries))
        # the overlay: deletions act on lower layers first
        for _i, p in entries:
            base = posixpath.basename(p)
            if base.startswith(".wh."):
                target = posixpath.join(posixpath.dirname(p), base[4:])
                for q in [q for q in state if q == target or q.startswith(target + "/")]:
                    del state[q]
        for info, p in own:
            if info.isreg():
                body = (k, p)
                sizes[body] = info.size
                state[p] = ("file", body)
            elif info.islnk():
                state[p] = ("link", state.get(_clean(info.linkname), ("", None))[1])
            else:
                state[p] = ("dir" if info.isdir() else "other", None)
            parent = posixpath.dirname(p)
            while parent and parent not in state:
                state[parent] = ("dir", None)
                parent = posixpath.dirname(parent)
        # dive: each leaf of this layer's tree once (a whiteout counts its target, 0 for a file)
        nodes = {p: i.size for i, p in entries}
        ancestors = set()
        for p in nodes:
            parent = posixpath.dirname(p)
            while parent:
                ancestors.add(parent)
                parent = posixpath.dirname(parent)
        for p, size in nodes.items():
            if p in ancestors:
                continue
            base = posixpath.basename(p)
            if base.startswith(".wh."):
                p = posixpath.join(posixpath.dirname(p), base[4:])
                size = sum(s for q, s in stacked.items() if q.startswith(p + "/"))
            cumulative[p] = cumulative.get(p, 0) + size
            minimum[p] = min(minimum.get(p, size), size)
            count[p] = count.get(p, 0) + 1
        for p, size in nodes.items():
            base = posixpath.basename(p)
            if base.startswith(".wh."):
                target = posixpath.join(posixpath.dirname(p), base[4:])
                for q in [q for q in stacked if q == target or q.startswith(target + "/")]:
                    del stacked[q]
            else:
                stacked[p] = size
    visible = {body for _kind, body in state.values() if body is not None}
    visible_bytes = sum(sizes[b] for b in visible)
    total = sum(cumulative.values())
    return Figures(
        layer_bytes=layer_bytes, layer_entries=layer_entries, final_paths=set(state), visible_bytes=visible_bytes,
        hidden_bytes=sum(layer_bytes) - visible_bytes, dive_score=sum(minimum.values()) / total if total else 1.0,
        dive_wasted=sum(c for p, c in cumulative.items() if count[p] >= 2), dive_user_bytes=sum(dive_sizes[1:]),
    )


GENERATORS: dict[str, Callable[[Path], Produced]] = {
    "docker-legacy-save": docker_legacy_save,
    "docker-25-save": docker_25_save,
    "docker-25.0.0-save": lambda tmp: docker_25_save(tmp, fixed=False),
    "docker-containerd-store-save": docker_containerd_store_save,
    "buildkit-docker": buildkit_docker,
    "buildkit-oci": buildkit_oci,
    "buildkit-oci-zstd": lambda tmp: buildkit_oci(tmp, compression="zstd"),
    "buildkit-estargz": buildkit_estargz,
    "kaniko": kaniko,
    "kaniko-deletes-only": lambda tmp: kaniko(tmp, deletes_only=True),
    "jib-docker": jib_docker,
    "jib-oci": jib_oci,
    "buildpacks": buildpacks,
    "ko": ko,
    "crane-tarball": lambda tmp: crane_pull(tmp, fmt="tarball"),
    "crane-legacy": lambda tmp: crane_pull(tmp, fmt="legacy"),
    "crane-oci": lambda tmp: crane_pull(tmp, fmt="oci"),
    "nix-stream-layered": nix_stream_layered,
    "nix-build-image": nix_build_image,
    "rules-oci-layout": rules_oci_layout,
    "rules-oci-tarball": rules_oci_tarball,
    "rules-docker": rules_docker,
}
