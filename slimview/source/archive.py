"""Images on disk: docker-archive (legacy and Docker 25+), oci-archive and OCI layout directories.

An uncompressed archive is scanned once for member offsets (headers only, bodies are
skipped by seeking) and every blob is then read in place by byte range: nothing is
extracted. A compressed archive (``docker save | gzip``) cannot be seeked, so it is read
as one stream and each layer is handed to the index as it passes.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import posixpath
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from slimview.errors import InputError, LimitExceeded
from slimview.source.compression import DECOMPRESSION_ERRORS, PeekableReader, open_decompressed, sniff
from slimview.source.model import BlobRef, ByteStream, LayerRef, LayerSink, Progress, SourceImage, no_progress
from slimview.source.platform import host_platform, parse_platform, platform_matches, platform_mismatch, platform_text
from slimview.source.tarstream import EntryType, RangeReader, TarError, TarReader, checksum_ok, located

MAX_JSON_BYTES = 16 << 20
MAX_INDEX_DEPTH = 4
MAX_LISTED = 10_000  # manifests an OCI layout's indexes may list in all
DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}$")

MT_OCI_INDEX = "application/vnd.oci.image.index.v1+json"
MT_DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
INDEX_TYPES = {MT_OCI_INDEX, MT_DOCKER_LIST}
CONFIG_TYPES = frozenset({"application/vnd.docker.container.image.v1+json", "application/vnd.oci.image.config.v1+json"})
# Non-distributable layers: registries serve them from elsewhere, and copies and saves
# (containerd's export, skopeo, crane) leave their blobs out.
FOREIGN_TYPES = frozenset({
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
    "application/vnd.oci.image.layer.nondistributable.v1.tar",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
})
REF_ANNOTATIONS = ("io.containerd.image.name", "org.opencontainers.image.ref.name")


@dataclass
class Member:
    name: str
    type: int
    offset: int
    size: int
    linkname: str


def _clean_member(name: str) -> str:
    cleaned = posixpath.normpath("/" + name).lstrip("/")
    return cleaned


def _digest_path(digest: str) -> str:
    if not isinstance(digest, str) or not DIGEST_RE.match(digest):
        raise InputError(f"malformed digest {digest!r} (expected sha256:<64 hex>)")
    return "blobs/sha256/" + digest.split(":", 1)[1]


def load_json(data: bytes, what: str) -> Any:
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"{what} is not valid JSON ({exc.__class__.__name__})") from None
    except RecursionError:
        raise InputError(f"{what} nests too deeply to be an image's metadata") from None


class Store(Protocol):
    """Blob access common to archives, layout directories and streamed archives."""

    label: str

    def exists(self, name: str) -> bool: ...

    def read(self, name: str, what: str) -> bytes: ...

    def blob_ref(self, name: str) -> BlobRef | None:
        """Where the blob lies on disk; None when it was only streamed past."""

    def canonical(self, name: str) -> str:
        """``name`` after following the archive's links (skopeo links repeated layers)."""


class ArchiveStore:
    """Members of an uncompressed tar on disk, located by one header-only scan."""

    def __init__(self, path: str, progress: Progress):
        self.path = path
        self.label = path
        self.members: dict[str, Member] = {}
        size = os.path.getsize(path)
        with open(path, "rb") as fh:
            reader = TarReader(fh, seekable=True)
            try:
                for entry in reader:
                    name = _clean_member(entry.name)
                    self.members[name] = Member(name, entry.type, entry.offset, entry.stored, entry.linkname)
                    progress("scan", reader.offset, size)
                    if len(self.members) > 1_000_000:
                        raise LimitExceeded(f"{path}: more than 1,000,000 members; not an image archive")
            except TarError as exc:
                raise located(exc, path) from None

    def resolve(self, name: str, what: str) -> Member:
        seen = 0
        name = _clean_member(name)
        while True:
            member = self.members.get(name)
            if member is None:
                raise InputError(f"{self.label}: {what} '{name}' is missing from the archive")
            if member.type == EntryType.SYMLINK:
                # skopeo and podman write repeated layers as symlinks to the first copy.
                name = _clean_member(posixpath.join(posixpath.dirname(name), member.linkname))
            elif member.type == EntryType.HARDLINK:
                name = _clean_member(member.linkname)
            else:
                return member
            seen += 1
            if seen > 16:
                raise InputError(f"{self.label}: {what} '{name}' is a link loop")

    def exists(self, name: str) -> bool:
        try:
            self.resolve(name, "member")
        except InputError:
            return False
        return True

    def read(self, name: str, what: str) -> bytes:
        member = self.resolve(name, what)
        if member.size > MAX_JSON_BYTES:
            raise LimitExceeded(f"{self.label}: {what} is {member.size} bytes, over the 16 MiB limit")
        with open(self.path, "rb") as fh:
            fh.seek(member.offset)
            data = fh.read(member.size)
        if len(data) != member.size:
            raise InputError(f"{self.label}: archive is truncated inside {what}")
        return data

    def blob_ref(self, name: str) -> BlobRef:
        member = self.resolve(name, "layer")
        if member.type != EntryType.FILE:
            raise InputError(f"{self.label}: layer '{name}' is not a regular file in the archive")
        return BlobRef(self.path, member.offset, member.size)

    def canonical(self, name: str) -> str:
        return self.resolve(name, "member").name


class LayoutStore:
    """An OCI image layout directory; blob names are validated digests, never free paths."""

    def __init__(self, path: str):
        self.path = path
        self.label = path

    def _file(self, name: str) -> str:
        name = _clean_member(name)
        full = os.path.join(self.path, name)
        # Never follow a symlink out of the layout.
        real = os.path.realpath(full)
        root = os.path.realpath(self.path)
        if os.path.commonpath([real, root]) != root:
            raise InputError(f"{self.label}: '{name}' points outside the layout directory")
        return full

    def exists(self, name: str) -> bool:
        return os.path.isfile(self._file(name))

    def read(self, name: str, what: str) -> bytes:
        full = self._file(name)
        try:
            size = os.path.getsize(full)
            if size > MAX_JSON_BYTES:
                raise LimitExceeded(f"{self.label}: {what} is {size} bytes, over the 16 MiB limit")
            with open(full, "rb") as fh:
                return fh.read()
        except FileNotFoundError:
            raise InputError(f"{self.label}: {what} '{name}' is missing") from None
        except IsADirectoryError:
            raise InputError(f"{self.label}: {what} '{name}' is a directory") from None
        except PermissionError:
            raise InputError(f"{self.label}: {what} '{name}' is not readable (permission denied)") from None

    def blob_ref(self, name: str) -> BlobRef:
        full = self._file(name)
        try:
            size = os.path.getsize(full)
        except FileNotFoundError:
            raise InputError(f"{self.label}: layer blob '{name}' is missing") from None
        if not os.path.isfile(full):
            raise InputError(f"{self.label}: layer blob '{name}' is not a regular file")
        if not os.access(full, os.R_OK):
            raise InputError(f"{self.label}: layer blob '{name}' is not readable (permission denied)")
        return BlobRef(full, 0, size)

    def canonical(self, name: str) -> str:
        return _clean_member(name)


class StreamStore:
    """What a one-pass read of an archive kept: its JSON members, and the names of the
    layers it handed to the sink as they passed."""

    def __init__(self, label: str):
        self.label = label
        self.json: dict[str, bytes] = {}
        self.layers: set[str] = set()
        self.links: dict[str, str] = {}
        self.sizes: dict[str, int] = {}

    def canonical(self, name: str) -> str:
        name = _clean_member(name)
        for _ in range(16):
            if name not in self.links:
                return name
            name = self.links[name]
        raise InputError(f"{self.label}: '{name}' is a link loop")

    def exists(self, name: str) -> bool:
        name = self.canonical(name)
        return name in self.json or name in self.layers

    def read(self, name: str, what: str) -> bytes:
        name = self.canonical(name)
        if name not in self.json:
            raise InputError(f"{self.label}: {what} '{name}' is missing from the archive")
        return self.json[name]

    def blob_ref(self, name: str) -> None:
        return None


def stream_archive(raw: ByteStream, label: str, sink: Callable[[str, ByteStream], None], progress: Progress, total: int | None) -> StreamStore:
    """Read a (decompressed) outer tar once, keeping JSON and indexing layers as they pass."""
    store = StreamStore(label)
    try:
        _stream_members(TarReader(raw), store, sink, progress, total)
    except TarError as exc:
        raise located(exc, label) from None
    return store


def _stream_members(reader: TarReader, store: StreamStore, sink: Callable[[str, ByteStream], None], progress: Progress, total: int | None) -> None:
    label = store.label
    count = 0
    for entry in reader:
        count += 1
        if count > 1_000_000:
            raise LimitExceeded(f"{label}: more than 1,000,000 members; not an image archive")
        name = _clean_member(entry.name)
        if entry.type in (EntryType.SYMLINK, EntryType.HARDLINK):
            target = entry.linkname
            if entry.type == EntryType.SYMLINK:
                target = posixpath.join(posixpath.dirname(name), target)
            store.links[name] = _clean_member(target)
            continue
        if entry.type != EntryType.FILE:
            continue
        data = reader.open_data()
        peek = PeekableReader(data)
        head = peek.peek(512)
        if head[:1] in (b"{", b"[") and entry.stored <= MAX_JSON_BYTES:
            store.json[name] = peek.read()
        elif sniff(head) != "none" or _looks_like_tar(head):
            sink(name, peek)
            store.layers.add(name)
            store.sizes[name] = entry.stored
        data.skip_rest()
        progress("read", reader.offset, total)


def _looks_like_tar(head: bytes) -> bool:
    if len(head) < 512:
        return False
    if head.count(0) == 512:
        return True  # an empty layer: just the end-of-archive blocks
    return checksum_ok(head[:512])


# ---------------------------------------------------------------------------------------
# Selecting the image: docker manifest.json or OCI index.json


# manifest.json keys as Docker reads them: Go's JSON decoding matches field names without
# regard to case, and Jib writes "config", "repoTags" and "layers".
_MANIFEST_KEYS = {key.lower(): key for key in ("Config", "RepoTags", "Layers", "Parent", "LayerSources")}


def _manifest_item(item: Any) -> Any:
    """A manifest.json entry with its keys spelled as Docker spells them (the last of keys
    differing only in case wins, as in Go)."""
    if not isinstance(item, dict):
        return item
    return {_MANIFEST_KEYS.get(key.lower(), key) if isinstance(key, str) else key: value for key, value in item.items()}


def _select_docker_manifest(manifest: Any, store: Store, tag: str | None) -> dict:
    if not isinstance(manifest, list) or not manifest:
        raise InputError(f"{store.label}: manifest.json is not a non-empty list of images")
    manifest = [_manifest_item(item) for item in manifest]
    for item in manifest:
        if not isinstance(item, dict) or not isinstance(item.get("Config"), str) or not isinstance(item.get("Layers"), list):
            raise InputError(f"{store.label}: manifest.json entry lacks Config or Layers")
        tags = item.get("RepoTags")
        if tags is not None and not (isinstance(tags, list) and all(isinstance(t, str) for t in tags)):
            raise InputError(f"{store.label}: manifest.json RepoTags is not a list of strings")
    if tag is None:
        if len(manifest) == 1:
            return manifest[0]
        choices = ", ".join(_describe_entry(m, i) for i, m in enumerate(manifest))
        raise InputError(f"{store.label} holds {len(manifest)} images; pick one with ARCHIVE:TAG or --tag ({choices})")
    for item in manifest:
        tags = item.get("RepoTags") or []
        if tag in tags or _normalise_tag(tag) in [_normalise_tag(t) for t in tags]:
            return item
        if tag.startswith("sha256:") and len(tag) > 7 and _config_id(item["Config"]).startswith(tag):
            return item
    choices = ", ".join(_describe_entry(m, i) for i, m in enumerate(manifest))
    raise InputError(f"{store.label} has no image tagged {tag!r} (it holds: {choices})")


def _describe_entry(item: dict, i: int) -> str:
    tags = item.get("RepoTags") or []
    if tags:
        return " ".join(tags)
    return f"untagged #{i + 1} ({_config_id(item.get('Config', '?'))[:19]})"


def _config_id(name: str) -> str:
    """The image id a manifest.json Config names (``blobs/sha256/<hex>``, ``<hex>.json``, or
    go-containerregistry's ``sha256:<hex>``)."""
    base = posixpath.basename(name)
    if base.startswith("sha256:"):
        return base
    return "sha256:" + (base[:-5] if base.endswith(".json") else base)


def _normalise_tag(tag: str) -> str:
    name, _, version = tag.rpartition(":") if ":" in tag.rsplit("/", 1)[-1] else (tag, "", "latest")
    # go-containerregistry names Docker Hub index.docker.io
    for prefix in ("docker.io/library/", "index.docker.io/library/", "docker.io/", "index.docker.io/", "library/"):
        if name.startswith(prefix):
            name = name[len(prefix) :]
    return f"{name}:{version or 'latest'}"


@dataclass(frozen=True)
class _Listed:
    """An image manifest an OCI index lists, with the descriptors that lead to it from
    index.json (outermost first; the last is the manifest's own)."""

    path: tuple[dict, ...]

    @property
    def desc(self) -> dict:
        return self.path[-1]

    @property
    def name(self) -> str:
        """The outermost name on the way: the level users name images at."""
        return next((n for n in (_ref_name(d.get("annotations") or {}) for d in self.path) if n), "")

    @property
    def label(self) -> str:
        """As listed to the user: its name, else its manifest digest (which picks it)."""
        return self.name or f"untagged ({str(self.desc.get('digest', ''))[:19]})"

    @property
    def platform(self) -> dict:
        return self.desc.get("platform") or {}

    def named(self, level: int, wanted: str) -> bool:
        if level >= len(self.path):
            return False
        desc = self.path[level]
        return _tag_matches(wanted, _ref_name(desc.get("annotations") or {})) or _digest_matches(wanted, desc)


def _oci_manifests(
    store: Store, index: Any, depth: int = 0, above: tuple[dict, ...] = (), out: list[_Listed] | None = None,
    parsed: dict[str, Any] | None = None,
) -> list[_Listed]:
    """Every manifest an OCI index lists, through nested indexes present in the store
    (each read once, however often it is listed)."""
    if depth > MAX_INDEX_DEPTH:
        raise InputError(f"{store.label}: image indexes nest deeper than {MAX_INDEX_DEPTH}")
    if not isinstance(index, dict) or not isinstance(index.get("manifests"), list):
        raise InputError(f"{store.label}: index.json lacks a manifests list")
    out = [] if out is None else out
    parsed = {} if parsed is None else parsed
    for desc in index["manifests"]:
        check_descriptor(desc, store.label, "index.json")
        if desc.get("mediaType") in INDEX_TYPES:
            path = _digest_path(desc["digest"])
            if path not in parsed:
                if not store.exists(path):
                    continue
                parsed[path] = load_json(store.read(path, "image index"), f"{store.label}: image index {desc['digest']}")
            _oci_manifests(store, parsed[path], depth + 1, (*above, desc), out, parsed)
        else:
            out.append(_Listed((*above, desc)))
        # nested indexes may list each other many times over: bound what they add up to
        if len(out) > MAX_LISTED:
            raise LimitExceeded(f"{store.label}: its indexes list more than {MAX_LISTED:,} manifests; not an image layout")
    return out


def check_descriptor(desc: Any, label: str, where: str) -> None:
    """An OCI descriptor must have the field types the spec gives them (digest, mediaType,
    annotations, platform); anything else is one clear error rather than a crash later."""
    ok = isinstance(desc, dict) and isinstance(desc.get("digest"), str) and isinstance(desc.get("mediaType", ""), (str, type(None)))
    if ok:
        annotations = desc.get("annotations") or {}
        platform = desc.get("platform") or {}
        ok = (
            isinstance(annotations, dict)
            and all(isinstance(v, str) for v in annotations.values())
            and isinstance(platform, dict)
            and all(isinstance(platform.get(k) or "", str) for k in ("os", "architecture", "variant"))
        )
    if not ok:
        raise InputError(f"{label}: {where} has a malformed descriptor")


def _ref_name(annotations: dict) -> str:
    for key in REF_ANNOTATIONS:
        if annotations.get(key):
            return str(annotations[key])
    return ""


def artifact_kind(manifest: Any) -> str:
    """What a manifest holds when it is not an image (an SBOM, a signature, a Helm chart…),
    as the manifest says it; "" for an image. OCI artifacts carry an artifactType, or a
    config whose media type is not an image config's (often the empty descriptor)."""
    if not isinstance(manifest, dict):
        return ""
    config = manifest.get("config")
    config_type = config.get("mediaType") if isinstance(config, dict) else None
    artifact_type = manifest.get("artifactType")
    if isinstance(artifact_type, str) and artifact_type and artifact_type not in CONFIG_TYPES:
        return artifact_type
    if isinstance(config_type, str) and config_type and config_type not in CONFIG_TYPES:
        return config_type
    return ""


def _listed_kind(store: Store, listed: _Listed) -> str:
    """artifact_kind of a listed manifest ("" when it is an image, or is not in the store)."""
    declared = listed.desc.get("artifactType")
    if isinstance(declared, str) and declared and declared not in CONFIG_TYPES:
        return declared
    if listed.desc.get("platform"):
        return ""  # an index's platform entries are images (attestations were set aside)
    path = _digest_path(listed.desc["digest"])
    if not store.exists(path):
        return ""
    return artifact_kind(load_json(store.read(path, "image manifest"), f"{store.label}: image manifest"))


def _is_attestation(listed: _Listed) -> bool:
    """BuildKit's provenance and SBOM attestations: listed beside the images, not images."""
    desc = listed.desc
    return (desc.get("annotations") or {}).get("vnd.docker.reference.type") == "attestation-manifest" or (
        listed.platform.get("os") == "unknown"
    )


def _select_oci(store: Store, tag: str | None, platform: str | None) -> tuple[dict, str, str]:
    index = load_json(store.read("index.json", "index.json"), f"{store.label}: index.json")
    listed = [c for c in _oci_manifests(store, index) if not _is_attestation(c)]
    if not listed:
        raise InputError(f"{store.label}: index.json lists no image manifests")
    kinds: dict[str, str] = {}
    for c in listed:
        if c.desc["digest"] not in kinds:
            kinds[c.desc["digest"]] = _listed_kind(store, c)
    images = [c for c in listed if not kinds[c.desc["digest"]]]
    ref = ""
    if tag is not None:
        # A name counts at the level it was given at: a ref on a nested index names every
        # image under it, whatever the manifests inside call themselves.
        tagged: list[_Listed] = []
        depth = max(len(c.path) for c in listed)
        for level in range(depth):
            tagged = [c for c in listed if c.named(level, tag)]
            if tagged:
                ref = next((n for n in (_ref_name(c.path[level].get("annotations") or {}) for c in tagged) if n), "")
                break
        if not tagged:
            holds = ", ".join(sorted({c.label for c in images})) or "no images, only artifacts"
            raise InputError(f"{store.label} has no image tagged {tag!r} (it holds: {holds})")
        if all(kinds[c.desc["digest"]] for c in tagged):
            found = ", ".join(sorted({kinds[c.desc["digest"]] for c in tagged}))
            raise InputError(f"{store.label}: {tag!r} is not an image but an artifact ({found})")
        candidates = [c for c in tagged if not kinds[c.desc["digest"]]]
    else:
        if not images:
            found = ", ".join(sorted(set(kinds.values())))
            raise InputError(f"{store.label} holds no image, only artifacts ({found})")
        candidates = images
    present = [c for c in candidates if store.exists(_digest_path(c.desc["digest"]))]
    wanted = parse_platform(platform) if platform else None
    if wanted is not None:
        listed_for = [c for c in candidates if c.platform and platform_matches(c.platform, wanted)]
        present_for = [c for c in present if not c.platform or platform_matches(c.platform, wanted)]
        if listed_for and not any(c.platform for c in present_for):
            raise InputError(
                f"{store.label} lists an image for {platform_text(wanted)} but not its manifest (a copy or save "
                "without that platform)"
            )
        if not present_for and any(c.platform for c in candidates):
            have = ", ".join(sorted({platform_text(c.platform) for c in candidates if c.platform}))
            raise InputError(f"{store.label} has no image for platform {platform_text(wanted)} (it has: {have}); use --platform")
        present = present_for
    if not present:
        raise InputError(f"{store.label}: none of the listed image manifests is present in the layout")
    platformed = [c for c in present if c.platform]
    if len(present) > 1 and platformed:
        target = wanted or host_platform()
        matching = [c for c in platformed if platform_matches(c.platform, target)]
        if not matching:
            have = ", ".join(sorted({platform_text(c.platform) for c in platformed}))
            raise InputError(f"{store.label} has no image for platform {platform_text(target)} (it has: {have}); use --platform")
        exact = [c for c in matching if (c.platform.get("variant") or "") == (target.get("variant") or "")]
        present = exact or matching
    distinct = {c.name for c in present}
    # Several left is fine when they are one image's platform variants; else the user chooses.
    if len(present) > 1 and tag is None and (len(distinct) > 1 or not all(c.platform for c in present)):
        labels = ", ".join(sorted({c.label for c in present}))
        raise InputError(f"{store.label} holds {len(present)} images; pick one with ARCHIVE:TAG or --tag ({labels})")
    chosen = present[0]
    return chosen.desc, ref or chosen.name, platform_text(chosen.platform)


def _digest_matches(wanted: str, desc: dict) -> bool:
    return wanted.startswith("sha256:") and len(wanted) > 7 and str(desc.get("digest", "")).startswith(wanted)


def _tag_matches(wanted: str, ref: str) -> bool:
    if not ref:
        return False
    if wanted == ref:
        return True
    # OCI layouts often name images by tag only ("latest"), containerd by full reference.
    if ":" not in ref and "/" not in ref:
        return wanted.rsplit(":", 1)[-1] == ref
    return _normalise_tag(wanted) == _normalise_tag(ref)


# ---------------------------------------------------------------------------------------


def _config_and_layers_docker(store: Store, tag: str | None) -> tuple[bytes, str, list[tuple[str, str, str, int]], list[str], dict]:
    manifest = load_json(store.read("manifest.json", "manifest.json"), f"{store.label}: manifest.json")
    item = _select_docker_manifest(manifest, store, tag)
    # LayerSources: the descriptors of foreign layers, by diff_id (Docker and crane write them).
    sources = item.get("LayerSources")
    foreign = {k: v.get("mediaType", "") for k, v in sources.items() if isinstance(v, dict)} if isinstance(sources, dict) else {}
    config_name = item["Config"]
    config_bytes = store.read(config_name, "image config")
    layers = []
    for name in item["Layers"]:
        if not isinstance(name, str):
            raise InputError(f"{store.label}: manifest.json lists a layer that is not a path")
        _check_member_path(name, store.label)
        digest = ""
        base = posixpath.basename(name)
        if name.startswith("blobs/sha256/") and re.fullmatch(r"[0-9a-f]{64}", base):
            digest = "sha256:" + base
        elif re.fullmatch(r"(sha256:)?[0-9a-f]{64}\.tar", base):
            digest = "sha256:" + base[-68:-4]  # skopeo and imgutil name layers by their diff_id
        elif re.fullmatch(r"[0-9a-f]{64}\.tar\.gz", base):
            digest = "sha256:" + base[:64]  # go-containerregistry, Jib and rules_oci by their blob's
        layers.append((name, digest, "", -1))
    return config_bytes, config_name, layers, list(item.get("RepoTags") or []), foreign


def _check_member_path(name: str, label: str) -> None:
    # A leading "/" names the archive's root, as docker load reads it (buildpacks' imgutil
    # writes "/sha256:<hex>.tar"); climbing out of the archive is refused.
    if ".." in name.split("/"):
        raise InputError(f"{label}: manifest names a layer outside the archive: {name!r}")


def _config_and_layers_oci(store: Store, tag: str | None, platform: str | None):
    desc, ref, plat = _select_oci(store, tag, platform)
    manifest = load_json(store.read(_digest_path(desc["digest"]), "image manifest"), f"{store.label}: image manifest")
    if not isinstance(manifest, dict) or not isinstance(manifest.get("config"), dict) or not isinstance(manifest.get("layers"), list):
        raise InputError(f"{store.label}: image manifest {desc['digest']} lacks config or layers")
    cfg_desc = manifest["config"]
    check_descriptor(cfg_desc, store.label, "the image manifest's config")
    config_bytes = store.read(_digest_path(cfg_desc.get("digest", "")), "image config")
    layers = []
    for layer in manifest["layers"]:
        check_descriptor(layer, store.label, "the image manifest's layer list")
        digest = layer.get("digest", "")
        size = layer.get("size", -1)
        layers.append((_digest_path(digest), digest, str(layer.get("mediaType", "")), size if isinstance(size, int) else -1))
    return config_bytes, cfg_desc.get("digest", ""), layers, [ref] if ref else [], plat


def build_source(store: Store, reference: str, kind: str, tag: str | None, platform: str | None) -> SourceImage:
    """Pick the image in ``store`` and describe its config and ordered layers."""
    plat = ""
    foreign: dict[str, str] = {}
    if store.exists("manifest.json"):
        config_bytes, config_name, layer_specs, tags, foreign = _config_and_layers_docker(store, tag)
        config = parse_config(config_bytes, store.label)
        if kind == "docker-archive" and store.exists("index.json"):
            kind = "docker-archive-oci"
            if platform and platform_mismatch(config, platform):
                # manifest.json names one platform's image (a save from containerd's image
                # store); the index beside it lists every platform the save holds.
                config_bytes, config_name, layer_specs, tags, plat = _config_and_layers_oci(store, tag, platform)
                config = parse_config(config_bytes, store.label)
    elif store.exists("index.json"):
        config_bytes, config_name, layer_specs, tags, plat = _config_and_layers_oci(store, tag, platform)
        config = parse_config(config_bytes, store.label)
    else:
        raise InputError(f"{store.label}: no manifest.json or index.json: not a docker save or OCI image")
    why = platform_mismatch(config, platform) if platform and not plat else ""
    if why:
        raise InputError(f"{store.label} {why}")
    config_digest = "sha256:" + hashlib.sha256(config_bytes).hexdigest()
    named = config_name.replace("blobs/sha256/", "sha256:")
    if DIGEST_RE.match(named) and named != config_digest:
        raise InputError(f"{store.label}: image config does not match its digest {named} (archive corrupt or altered)")
    if re.fullmatch(r"[0-9a-f]{64}\.json", posixpath.basename(config_name)) and "sha256:" + posixpath.basename(config_name)[:-5] != config_digest:
        raise InputError(f"{store.label}: image config does not match its name {config_name} (archive corrupt or altered)")
    rootfs = config.get("rootfs") or {}
    diff_ids = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
    if not isinstance(diff_ids, list) or not all(isinstance(d, str) for d in diff_ids):
        raise InputError(f"{store.label}: image config has no rootfs.diff_ids list")
    if len(diff_ids) != len(layer_specs):
        raise InputError(
            f"{store.label}: the manifest lists {len(layer_specs)} layers but the config's rootfs.diff_ids has {len(diff_ids)}"
        )
    layers = []
    for i, ((name, digest, media_type, size), diff_id) in enumerate(zip(layer_specs, diff_ids)):
        if (media_type or foreign.get(diff_id)) in FOREIGN_TYPES and not store.exists(name):
            raise InputError(
                f"{store.label}: layer {i} is a foreign (non-distributable) layer that was left out of the archive "
                f"({digest or diff_id}); its files cannot be counted"
            )
        blob = store.blob_ref(name)
        if blob is None:
            # Streamed past: the index keyed what it read by this (link-resolved) member name.
            name = store.canonical(name)
            if not isinstance(store, StreamStore) or name not in store.layers:
                raise InputError(f"{store.label}: layer {i} ('{name}') is listed in the manifest but absent from the archive")
            size = store.sizes.get(name, size)
        elif digest and digest != diff_id and _blob_is_uncompressed(blob):
            raise InputError(
                f"{store.label}: layer {i} is stored uncompressed as {digest} but the config says its diff_id is {diff_id}"
            )
        layers.append(LayerRef(i, diff_id, digest, media_type, blob.size if blob else size, name, blob))
    name = tags[0] if tags else config_digest[7:19]
    return SourceImage(
        reference, kind, name, tags, config, config_digest, layers,
        platform=plat or config_platform(config), config_bytes=config_bytes,
    )


# The image config fields slimview reads, with the JSON types the OCI image spec gives them
# (docker load refuses other types too). null is always accepted: Go writes nil that way.
_STRINGS = (str,)
_STRING_LIST = ("list", str)
_OBJECT = (dict,)
_CONFIG_FIELDS = {
    "os": _STRINGS, "architecture": _STRINGS, "variant": _STRINGS, "created": _STRINGS, "author": _STRINGS,
    "config": _OBJECT, "history": ("list", dict),
}
_RUNTIME_FIELDS = {
    "User": _STRINGS, "WorkingDir": _STRINGS, "StopSignal": _STRINGS, "Env": _STRING_LIST, "Cmd": _STRING_LIST,
    "Entrypoint": _STRING_LIST, "Shell": _STRING_LIST, "OnBuild": _STRING_LIST, "ExposedPorts": _OBJECT,
    "Volumes": _OBJECT, "Labels": ("map", str), "Healthcheck": _OBJECT,
}
_HISTORY_FIELDS = {"created_by": _STRINGS, "created": _STRINGS, "comment": _STRINGS, "author": _STRINGS, "empty_layer": (bool,)}
_HEALTHCHECK_FIELDS = {"Test": _STRING_LIST, "Interval": (int,), "Timeout": (int,), "StartPeriod": (int,), "Retries": (int,)}


def _check_fields(doc: dict, fields: dict, where: str, label: str) -> None:
    for key, kind in fields.items():
        value = doc.get(key)
        if value is None:
            continue
        if kind[0] == "list":
            ok = isinstance(value, list) and all(isinstance(v, kind[1]) for v in value)
            expected = "a list of " + ("strings" if kind[1] is str else "objects")
        elif kind[0] == "map":
            ok = isinstance(value, dict) and all(isinstance(v, kind[1]) for v in value.values())
            expected = "an object of strings"
        else:
            ok = isinstance(value, kind) and not (kind == (int,) and isinstance(value, bool))
            expected = {str: "a string", dict: "an object", bool: "true or false", int: "an integer"}[kind[0]]
        if not ok:
            raise InputError(f"{label}: image config field {where}{key} is not {expected}")


def parse_config(config_bytes: bytes, label: str) -> dict:
    """An image config's JSON, its fields of the types slimview reads."""
    config = load_json(config_bytes, f"{label}: image config")
    if not isinstance(config, dict):
        raise InputError(f"{label}: image config is not a JSON object")
    check_config(config, label)
    return config


def check_config(config: dict, label: str) -> None:
    """Refuse a config whose fields have the wrong JSON types, before anything reads them."""
    _check_fields(config, _CONFIG_FIELDS, "", label)
    runtime = config.get("config") or {}
    _check_fields(runtime, _RUNTIME_FIELDS, "config.", label)
    if runtime.get("Healthcheck"):
        _check_fields(runtime["Healthcheck"], _HEALTHCHECK_FIELDS, "config.Healthcheck.", label)
    for i, item in enumerate(config.get("history") or []):
        _check_fields(item, _HISTORY_FIELDS, f"history[{i}].", label)


def _blob_is_uncompressed(blob: BlobRef) -> bool:
    reader = RangeReader(blob.path, blob.offset, min(blob.size, 8))
    try:
        return sniff(reader.read(8)) == "none"
    finally:
        reader.close()


def config_platform(config: dict) -> str:
    return platform_text({"os": config.get("os", ""), "architecture": config.get("architecture", ""), "variant": config.get("variant", "")})


def open_archive_file(path: str, reference: str, tag: str | None, platform: str | None, sink: LayerSink, progress: Progress = no_progress) -> SourceImage:
    """Open a save tarball or oci-archive (plain, gzip or zstd compressed) at ``path``."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(512)
    except IsADirectoryError:
        raise InputError(f"{path}: is a directory without an OCI layout (no index.json / oci-layout)") from None
    except PermissionError:
        raise InputError(f"{path}: not readable (permission denied)") from None
    if not head:
        raise InputError(f"{path}: is empty")
    compression = sniff(head)
    if compression == "none":
        if not _looks_like_tar(head):
            raise InputError(f"{path}: not a tar archive, OCI layout or compressed save")
        store = ArchiveStore(path, progress)
        kind = "oci-archive" if store.exists("oci-layout") and not store.exists("manifest.json") else "docker-archive"
        return build_source(store, reference, kind, tag, platform)
    size = os.path.getsize(path)
    with open(path, "rb") as fh:
        counting = _CountingReader(fh, lambda n: progress("read", n, size))
        stream, _kind = open_decompressed(counting)
        try:
            peek = PeekableReader(stream)
            if not _looks_like_tar(peek.peek(512)):
                raise InputError(f"{path}: a {compression} stream that does not hold a tar archive")
            streamed = stream_archive(peek, path, sink, no_progress, None)
        except DECOMPRESSION_ERRORS as exc:
            raise InputError(f"{path}: corrupt or truncated {compression} data ({_short(exc)})") from None
        finally:
            stream.close()
    kind = "oci-archive" if streamed.exists("oci-layout") and not streamed.exists("manifest.json") else "docker-archive"
    return build_source(streamed, reference, kind, tag, platform)


def open_layout_dir(path: str, reference: str, tag: str | None, platform: str | None) -> SourceImage:
    if not os.path.isfile(os.path.join(path, "index.json")):
        raise InputError(f"{path}: is a directory without an OCI layout (no index.json)")
    store = LayoutStore(path)
    return build_source(store, reference, "oci-layout", tag, platform)


def _short(exc: BaseException) -> str:
    text = str(exc) or exc.__class__.__name__
    return text.splitlines()[0][:120]


class _CountingReader:
    def __init__(self, raw: io.BufferedReader, report: Callable[[int], None]):
        self._raw = raw
        self._done = 0
        self._report = report

    def read(self, n: int = -1) -> bytes:
        data = self._raw.read(n)
        self._done += len(data)
        self._report(self._done)
        return data

    def readinto(self, buffer) -> int:
        n = self._raw.readinto(buffer)
        self._done += n
        self._report(self._done)
        return n

    def readable(self) -> bool:
        return True
