"""Images in a local engine (Docker, or podman's Docker-compatible socket), via the docker SDK.

The save is consumed as a stream straight into the index: it is never held in memory
and never written to disk. When the cache already knows the image's config and every
layer (by diff_id, as the engine reports them), no save happens at all.
"""

from __future__ import annotations

import difflib
import json
import os
from collections.abc import Callable, Iterator

from slimview.errors import EngineError, ImageNotFound, InputError
from slimview.source.archive import build_source, check_config, config_platform, stream_archive
from slimview.source.compression import DECOMPRESSION_ERRORS
from slimview.source.model import LayerRef, LayerSink, Progress, SourceImage, no_progress
from slimview.source.platform import platform_mismatch

SAVE_CHUNK = 1 << 20

PODMAN_SOCKETS = ("/run/podman/podman.sock",)


def engine_host() -> str:
    """Where we will look for an engine: DOCKER_HOST, else Docker's socket, else podman's."""
    host = os.environ.get("DOCKER_HOST")
    if host:
        return host
    if os.path.exists("/var/run/docker.sock"):
        return "unix:///var/run/docker.sock"
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    candidates = ([os.path.join(runtime, "podman", "podman.sock")] if runtime else []) + list(PODMAN_SOCKETS)
    for sock in candidates:
        if os.path.exists(sock):
            return "unix://" + sock
    return "unix:///var/run/docker.sock"


def connect(timeout: int = 600):
    """A docker SDK client for the local engine, or one clear EngineError."""
    import docker  # imported here: the SDK is slow to import and only this source needs it

    host = engine_host()
    try:
        client = docker.DockerClient(base_url=host, timeout=timeout)
        client.ping()
        return client
    except docker.errors.DockerException as exc:
        raise EngineError(_explain_connect_error(host, exc)) from None
    except Exception as exc:  # requests/urllib3 errors surface in many shapes
        raise EngineError(_explain_connect_error(host, exc)) from None


def _explain_connect_error(host: str, exc: BaseException) -> str:
    text = str(exc)
    if "Permission denied" in text or "PermissionError" in text:
        return f"cannot talk to the engine at {host}: permission denied on its socket (join the docker group, or set DOCKER_HOST)"
    if "No such file" in text or "FileNotFoundError" in text or "Connection refused" in text or "ConnectionRefused" in text:
        return f"no container engine is running at {host} (start Docker or podman, or set DOCKER_HOST; image files and OCI layouts work without one)"
    first = text.splitlines()[0] if text else exc.__class__.__name__
    return f"cannot talk to the engine at {host}: {first[:200]}"


def _suggest(client, reference: str) -> str:
    try:
        # The raw list: images.list() inspects each image too, and fails when one is
        # removed meanwhile (a busy engine), which would lose the suggestion.
        summaries = client.api.images()
        tags = sorted({t for img in summaries for t in (img.get("RepoTags") or []) if t != "<none>:<none>"})
    except Exception:
        return ""
    if not tags:
        return " (the engine has no tagged images)"
    repo = reference.rsplit(":", 1)[0] if ":" in reference.rsplit("/", 1)[-1] else reference
    close = difflib.get_close_matches(reference, tags, n=3, cutoff=0.5)
    close += [t for t in tags if t.startswith(repo + ":") and t not in close][:3]
    if close:
        return "; did you mean " + ", ".join(close[:4]) + "?"
    return "; local images include " + ", ".join(tags[:4])


class _ChunkStream:
    """File-like view of the SDK's chunk generator, reporting bytes so far."""

    def __init__(self, chunks: Iterator[bytes], progress: Callable[[int], None]):
        self._chunks = chunks
        self._buf = b""
        self._done = 0
        self._progress = progress

    def read(self, n: int = -1) -> bytes:
        # The engine sends small chunks (tens of kB): gather them in a list and join once.
        # Appending each to a growing buffer copied ~30 MB per 1 MiB read.
        parts = [self._buf] if self._buf else []
        have = len(self._buf)
        while n < 0 or have < n:
            try:
                chunk = next(self._chunks)
            except StopIteration:
                break
            have += len(chunk)
            parts.append(chunk)
        if have != len(self._buf):
            self._done += have - len(self._buf)
            self._progress(self._done)
        data = parts[0] if len(parts) == 1 else b"".join(parts)
        if 0 <= n < len(data):
            data, self._buf = data[:n], data[n:]
        else:
            self._buf = b""
        return data

    def readable(self) -> bool:
        return True


def inspect_image(client, reference: str):
    import docker

    try:
        return client.images.get(reference)
    except docker.errors.ImageNotFound:
        raise ImageNotFound(f"no image {reference!r} in the local engine{_suggest(client, reference)}") from None
    except docker.errors.APIError as exc:
        if exc.status_code == 404:
            raise ImageNotFound(f"no image {reference!r} in the local engine{_suggest(client, reference)}") from None
        raise EngineError(f"the engine refused to describe {reference!r}: {exc.explanation or exc}") from None
    except docker.errors.DockerException as exc:
        raise EngineError(f"the engine failed while describing {reference!r}: {exc}") from None


def open_engine_image(
    reference: str,
    sink: LayerSink,
    progress: Progress = no_progress,
    *,
    cached_config: Callable[[str], bytes | None] = lambda digest: None,
    layer_cached: Callable[[str], bool] = lambda diff_id: False,
    client=None,
    platform: str | None = None,
) -> SourceImage:
    """Describe ``reference`` from the engine, saving (streamed) only what the cache lacks.
    ``platform``, when given, must be the image's: an engine image is of one platform."""
    import docker
    import requests
    import urllib3

    client = client or connect()
    image = inspect_image(client, reference)
    attrs = image.attrs
    why = platform_mismatch({"os": attrs.get("Os"), "architecture": attrs.get("Architecture"), "variant": attrs.get("Variant")}, platform) if platform else ""
    if why:
        raise InputError(f"engine image {reference} {why}")
    image_id = image.id
    diff_ids = (image.attrs.get("RootFS") or {}).get("Layers") or []
    tags = list(image.tags or [])
    config_bytes = cached_config(image_id)
    if config_bytes is not None and diff_ids and all(layer_cached(d) for d in diff_ids):
        config = json.loads(config_bytes)
        check_config(config, f"engine image {reference}")
        layers = [LayerRef(i, d, "", "", -1, f"engine layer {i}", None) for i, d in enumerate(diff_ids)]
        name = reference if reference in tags else (tags[0] if tags else image_id[7:19])
        return SourceImage(
            reference, "engine", name, tags, config, image_id, layers,
            platform=config_platform(config), config_bytes=config_bytes,
        )

    total = int(image.attrs.get("Size") or 0) or None
    label = f"engine image {reference}"
    try:
        # Save under the tag the user named: named=True would use the image's first tag, and
        # the save of an alias (busybox tagged app:dev) would not hold the name asked for.
        chunks = image.save(chunk_size=SAVE_CHUNK, named=reference if reference in tags else True)
        stream = _ChunkStream(iter(chunks), lambda n: progress("save", n, total))
        # The engine computed the diff_ids it reports from the layers it saves: the streamed
        # layers are not digested again (a third of the work per byte).
        store = stream_archive(stream, label, lambda name, layer: sink(name, layer, digest=False), no_progress, total)
    except (docker.errors.NotFound, docker.errors.ImageNotFound):
        raise ImageNotFound(f"image {reference!r} disappeared from the engine during the save") from None
    except docker.errors.APIError as exc:
        raise EngineError(f"the engine failed to save {reference!r}: {exc.explanation or exc}") from None
    except (requests.exceptions.RequestException, urllib3.exceptions.HTTPError, ConnectionError) as exc:
        raise EngineError(f"the engine stream for {reference!r} was cut mid-save ({exc.__class__.__name__}); is the engine still running?") from None
    except InputError as exc:
        raise EngineError(f"the engine's save of {reference!r} was unreadable: {exc}") from None
    except DECOMPRESSION_ERRORS as exc:
        raise EngineError(f"the engine stream for {reference!r} broke mid-save ({exc.__class__.__name__})") from None
    if not store.exists("manifest.json"):
        raise EngineError(f"the engine's save of {reference!r} ended before its manifest (stream cut or engine stopped)")
    tag = reference if reference in tags else None
    source = build_source(store, reference, "engine", tag if tag else None, None)
    source.diff_ids_vouched = True
    if tags and source.name not in tags:
        source.name = tags[0]
    return source
