"""An image in a registry as the index needs it: manifest (through an index or manifest
list, by platform), config, and its layers streamed into the index.

Manifests are read whole but capped (4 MiB) and checked against their digest (the one
asked for, or the registry's Docker-Content-Digest); the config comes from the layer
cache when it knows the digest, else from the registry, checked the same way. Layers the
cache already has are not fetched: a second run reads manifests only.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from slimview.display import printable
from slimview.errors import InputError, RegistryError
from slimview.source.archive import (
    CONFIG_TYPES,
    DIGEST_RE,
    FOREIGN_TYPES,
    INDEX_TYPES,
    MAX_INDEX_DEPTH,
    MAX_JSON_BYTES,
    MT_DOCKER_LIST,
    MT_OCI_INDEX,
    check_config,
    check_descriptor,
    config_platform,
    load_json,
)
from slimview.source.model import Describe, Described, LayerRef, LayerSink, Progress, SizeMeasure, SourceImage, not_described
from slimview.source.platform import host_platform, parse_platform, platform_matches, platform_mismatch, platform_text
from slimview.source.registry.blobs import PARALLEL_BLOBS, BlobJob, fetch_blobs
from slimview.source.registry.reference import RegistryReference, parse_reference
from slimview.source.registry.transport import RegistryTransport

MAX_MANIFEST_BYTES = 4 << 20
MAX_LAYERS = 1000

MT_OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
MANIFEST_TYPES = (MT_OCI_MANIFEST, MT_DOCKER_MANIFEST)
ACCEPT = f"{MT_OCI_INDEX}, {MT_DOCKER_LIST}, {MT_OCI_MANIFEST}, {MT_DOCKER_MANIFEST}"
SCHEMA1_TYPES = (
    "application/vnd.docker.distribution.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
)
GENERIC_TYPES = ("", "application/json", "application/octet-stream", "text/plain")
LAYER_TYPES = FOREIGN_TYPES | {
    "application/vnd.docker.image.rootfs.diff.tar.gzip",
    "application/vnd.docker.image.rootfs.diff.tar",
    "application/vnd.oci.image.layer.v1.tar",
    "application/vnd.oci.image.layer.v1.tar+gzip",
    "application/vnd.oci.image.layer.v1.tar+zstd",
}


def open_registry_image(
    reference: str,
    sink: LayerSink,
    progress: Progress,
    *,
    platform: str | None = None,
    insecure: bool = False,
    foreign_layers: bool = False,
    cached_config: Callable[[str], bytes | None] = lambda digest: None,
    layer_cached: Callable[[str], bool] = lambda diff_id: False,
    described: Describe = not_described,
) -> SourceImage:
    """Describe the registry image ``reference`` and stream into ``sink`` the layers the cache
    lacks; ``described`` gets the image (sizes from its manifest) before any layer is fetched."""
    ref = parse_reference(reference)
    transport = RegistryTransport(ref, insecure=insecure, pool_size=PARALLEL_BLOBS + 2)
    try:
        transport.connect()
        manifest, chosen_platform = _image_manifest(transport, ref, platform)
        label = str(ref)
        config_desc, layer_descs = _manifest_parts(manifest, label)
        config_digest = config_desc["digest"]
        config_bytes = cached_config(config_digest)
        if config_bytes is None:
            config_bytes = _fetch_config(transport, ref, config_desc, label)
        config = load_json(config_bytes, f"{label}: image config")
        if not isinstance(config, dict):
            raise InputError(f"{label}: image config is not a JSON object")
        check_config(config, label)
        why = platform_mismatch(config, platform) if platform and not chosen_platform else ""
        if why:
            raise RegistryError(f"{label} {why}")
        diff_ids = _diff_ids(config, len(layer_descs), label)
        layers, jobs = _plan_layers(ref, layer_descs, diff_ids, layer_cached, foreign_layers)
        tags = [f"{ref.host}/{ref.repository}:{ref.tag}"] if ref.tag else []
        source = SourceImage(
            reference, "registry", label, tags, config, config_digest, layers,
            platform=chosen_platform or config_platform(config), config_bytes=config_bytes,
        )
        described(Described(source, tuple(layer.stored_size for layer in layers), SizeMeasure.STORED_BYTES))
        fetch_blobs(transport, jobs, sink, progress, label)
    finally:
        transport.close()
    return source


def shown(text: object, limit: int = 100) -> str:
    """A string a registry sent, fit for a message or a note: printable, and short."""
    value = printable(str(text))
    return value if len(value) <= limit else value[:limit] + "…"


# -- manifests ---------------------------------------------------------------------------


def _fetch_manifest(transport: RegistryTransport, ref: RegistryReference, wanted: str, label: str) -> tuple[dict, str]:
    """The manifest or index ``wanted`` (a tag or digest) names: (document, media type)."""
    path = f"/v2/{ref.repository}/manifests/{wanted}"
    with transport.get(path, {"Accept": ACCEPT}) as response:
        status = response.status_code
        if status == 404:
            raise RegistryError(f"{label}: no such image on {ref.host}{transport.error_summary(response)}")
        if status == 403:
            raise RegistryError(f"{label}: registry {ref.host} denies access to {ref.repository} (403){transport.error_summary(response)}")
        if status != 200:
            raise RegistryError(f"{label}: registry {ref.host} answered {status} for the manifest{transport.error_summary(response)}")
        body = transport.read_capped(response, MAX_MANIFEST_BYTES, f"{label}: the manifest")
        content_type = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
        said_digest = response.headers.get("Docker-Content-Digest", "")
    digest = "sha256:" + hashlib.sha256(body).hexdigest()
    if wanted.startswith("sha256:") and digest != wanted:
        raise RegistryError(f"{label}: the manifest the registry sent for {wanted} hashes to {digest}; refusing it")
    if DIGEST_RE.match(said_digest) and said_digest != digest:
        raise RegistryError(f"{label}: the manifest does not match the digest the registry gives for it ({said_digest}); refusing it")
    doc = load_json(body, f"{label}: manifest")
    if not isinstance(doc, dict):
        raise RegistryError(f"{label}: the manifest is not a JSON object")
    return doc, _media_type(content_type, doc, label)


def _media_type(content_type: str, doc: dict, label: str) -> str:
    declared = doc.get("mediaType")
    if content_type in SCHEMA1_TYPES or declared in SCHEMA1_TYPES or doc.get("schemaVersion") == 1:
        raise RegistryError(f"{label}: a Docker schema 1 manifest (deprecated since 2017), which slimview does not read; push the image again")
    known = INDEX_TYPES | set(MANIFEST_TYPES)
    if content_type in known:
        if declared is not None and declared != content_type:
            raise RegistryError(f"{label}: the registry sent the manifest as {content_type} but it says it is {shown(declared)}")
        return content_type
    if content_type not in GENERIC_TYPES:
        raise RegistryError(f"{label}: the registry answered with {shown(content_type)}, not an image manifest")
    if declared in known:
        return str(declared)
    # OCI lets a document leave out its mediaType; tell an index from a manifest by shape.
    if declared is None and isinstance(doc.get("manifests"), list):
        return MT_OCI_INDEX
    if declared is None and isinstance(doc.get("layers"), list):
        return MT_OCI_MANIFEST
    raise RegistryError(f"{label}: the registry sent something that is not an image manifest (media type {shown(declared or content_type or 'none')})")


def _image_manifest(transport: RegistryTransport, ref: RegistryReference, platform: str | None) -> tuple[dict, str]:
    """The image manifest ``ref`` names, through indexes by platform: (manifest, platform text or '')."""
    label = str(ref)
    wanted = ref.manifest_ref
    chosen = ""
    for _ in range(MAX_INDEX_DEPTH + 1):
        doc, media_type = _fetch_manifest(transport, ref, wanted, label)
        if media_type not in INDEX_TYPES:
            return doc, chosen
        desc = _choose_platform(doc, platform, label)
        wanted = desc["digest"]
        chosen = platform_text(desc.get("platform") or {}) or chosen
    raise RegistryError(f"{label}: image indexes nest deeper than {MAX_INDEX_DEPTH}")


def _choose_platform(index: dict, platform: str | None, label: str) -> dict:
    entries = index.get("manifests")
    if not isinstance(entries, list):
        raise RegistryError(f"{label}: the image index has no manifests list")
    for desc in entries:
        check_descriptor(desc, label, "the image index")
        _check_digest(desc, label)
    images = [
        d for d in entries
        if (d.get("annotations") or {}).get("vnd.docker.reference.type") != "attestation-manifest"
        and (d.get("platform") or {}).get("os") != "unknown"
        and d.get("mediaType", MT_OCI_MANIFEST) in set(MANIFEST_TYPES) | INDEX_TYPES
    ]
    if not images:
        raise RegistryError(f"{label}: the image index lists no image manifests")
    placed = [d for d in images if d.get("platform")]
    if not placed:
        if len(images) == 1:
            return images[0]
        raise RegistryError(f"{label}: the image index lists {len(images)} images without platforms; name one by digest (…@sha256:…)")
    wanted = parse_platform(platform) if platform else host_platform()
    matching = [d for d in placed if platform_matches(d["platform"], wanted)]
    if not matching:
        have = ", ".join(sorted({platform_text(d["platform"]) for d in placed}))
        raise RegistryError(f"{label} has no image for platform {platform_text(wanted)} (it has: {have}); use --platform")
    exact = [d for d in matching if (d["platform"].get("variant") or "") == (wanted.get("variant") or "")]
    return (exact or matching)[0]


def _check_digest(desc: dict, label: str) -> None:
    if not DIGEST_RE.match(desc["digest"]):
        raise RegistryError(f"{label}: descriptor digest {desc['digest'][:80]!r} is not sha256:<64 hex digits> (the only algorithm slimview reads)")
    size = desc.get("size")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise RegistryError(f"{label}: descriptor {desc['digest']} has no valid size")


def _manifest_parts(manifest: dict, label: str) -> tuple[dict, list[dict]]:
    config, layers = manifest.get("config"), manifest.get("layers")
    if not isinstance(config, dict) or not isinstance(layers, list):
        raise RegistryError(f"{label}: the image manifest lacks config or layers")
    if len(layers) > MAX_LAYERS:
        raise RegistryError(f"{label}: the manifest lists {len(layers):,} layers, over the limit of {MAX_LAYERS}")
    check_descriptor(config, label, "the image manifest's config")
    _check_digest(config, label)
    media_type = config.get("mediaType")
    if media_type not in CONFIG_TYPES:
        raise RegistryError(f"{label}: not a container image (its config is {shown(media_type or 'untyped')})")
    for layer in layers:
        check_descriptor(layer, label, "the image manifest's layer list")
        _check_digest(layer, label)
        if layer.get("mediaType") not in LAYER_TYPES:
            raise RegistryError(f"{label}: layer {layer['digest']} has media type {shown(layer.get('mediaType') or 'none')}, not an image layer slimview can read")
        urls = layer.get("urls") or []
        if not isinstance(urls, list) or not all(isinstance(u, str) for u in urls):
            raise RegistryError(f"{label}: layer {layer['digest']} has a malformed urls list")
    return config, layers


def _fetch_config(transport: RegistryTransport, ref: RegistryReference, desc: dict, label: str) -> bytes:
    size = desc["size"]
    if size > MAX_JSON_BYTES:
        raise RegistryError(f"{label}: the image config is {size:,} bytes, over the {MAX_JSON_BYTES >> 20} MiB limit")
    with transport.get(f"/v2/{ref.repository}/blobs/{desc['digest']}") as response:
        if response.status_code != 200:
            raise RegistryError(f"{label}: the registry answered {response.status_code} for the image config{transport.error_summary(response)}")
        data = transport.read_capped(response, size, f"{label}: the image config")
    if len(data) != size or "sha256:" + hashlib.sha256(data).hexdigest() != desc["digest"]:
        raise RegistryError(f"{label}: the image config the registry sent does not match its digest {desc['digest']}; refusing it")
    return data


def _diff_ids(config: dict, count: int, label: str) -> list[str]:
    rootfs = config.get("rootfs") or {}
    diff_ids = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
    if not isinstance(diff_ids, list) or not all(isinstance(d, str) and DIGEST_RE.match(d) for d in diff_ids):
        raise InputError(f"{label}: image config has no rootfs.diff_ids list of sha256 digests")
    if len(diff_ids) != count:
        raise InputError(f"{label}: the manifest lists {count} layers but the config's rootfs.diff_ids has {len(diff_ids)}")
    return diff_ids


def _plan_layers(
    ref: RegistryReference, descs: list[dict], diff_ids: list[str], layer_cached: Callable[[str], bool], foreign_layers: bool
) -> tuple[list[LayerRef], list[BlobJob]]:
    """The image's layers, and the blobs to fetch for those the cache lacks (each once: a
    blob listed twice is streamed under one name, which both layers carry)."""
    layers: list[LayerRef] = []
    jobs: dict[str, BlobJob] = {}
    for i, (desc, diff_id) in enumerate(zip(descs, diff_ids)):
        digest, media_type = desc["digest"], desc["mediaType"]
        name = f"blob {digest}"
        skipped = ""
        if media_type in FOREIGN_TYPES and not foreign_layers:
            where = ", ".join(shown(u) for u in desc.get("urls") or []) or "the registry"
            skipped = (
                f"foreign (non-distributable) layer {digest} of {desc['size']:,} bytes at {where} was not fetched: "
                "its files are not counted (pass --allow-foreign-layers to fetch it)"
            )
        elif digest not in jobs and not layer_cached(diff_id):
            locations = tuple(desc.get("urls") or []) + (f"/v2/{ref.repository}/blobs/{digest}",)
            jobs[digest] = BlobJob(digest, desc["size"], locations, name)
        layers.append(LayerRef(i, diff_id, digest, media_type, desc["size"], name, None, skipped=skipped))
    return layers, list(jobs.values())
