"""Images in a local engine (Docker, or podman's Docker-compatible socket), via the docker SDK.

The save is consumed as a stream straight into the index: it is never held in memory
and never written to disk; from a unix socket it is read raw (see enginesave.py). When
the cache already knows the image's config and every layer (by diff_id, as the engine
reports them), no save happens at all.
"""

from __future__ import annotations

import difflib
import json
import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

from slimview.dockerfile.history import recorded_instruction
from slimview.dockerfile.instruction import CONFIG_ONLY
from slimview.errors import EngineError, ImageNotFound, InputError
from slimview.source.archive import build_source, check_config, config_platform, stream_archive
from slimview.source.compression import DECOMPRESSION_ERRORS
from slimview.source.enginesave import SaveRefused, SaveStream, discard_early, save_name, take_early, unix_socket
from slimview.source.model import ByteStream, Describe, Described, LayerRef, LayerSink, Progress, SizeMeasure, SourceImage, no_progress, not_described
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


def engine_has_image(reference: str) -> bool:
    """Does the local engine answer, and have an image ``reference``? (False when no engine answers.)"""
    try:
        client = connect(timeout=5)
    except EngineError:
        return False
    try:
        client.api.inspect_image(reference)
        return True
    except Exception:  # not found, or a name the engine cannot parse: either way not an image
        return False
    finally:
        client.close()


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


def _save_stream(client, image, name: str, progress: Callable[[int], None]) -> ByteStream:
    """The engine's save of ``image`` (asked for as ``name``): off its unix socket, taking
    the request the command line sent early if it asked for the same; else via the SDK."""
    path = unix_socket(engine_host())
    if path is None:
        return _ChunkStream(iter(image.save(chunk_size=SAVE_CHUNK, named=name if name in (image.tags or []) else False)), progress)
    stream = take_early(path, name) or SaveStream(path, name)
    stream.progress = progress
    return stream


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


def describe_from_engine(client, reference: str, attrs: dict, tags: list[str]) -> Described:
    """The image as the engine's inspect (``attrs``) and history describe it, before any save.

    The config is put together from both; which history steps made no layer is inferred
    (see ``_empty_steps``), so the save's own config replaces it once it arrives.
    """
    diff_ids = (attrs.get("RootFS") or {}).get("Layers") or []
    try:
        steps = list(reversed(client.api.history(reference)))  # the engine lists the newest first
    except Exception:  # a description is a head start, not a requirement: the save still comes
        steps = []
    empty = _empty_steps(steps, len(diff_ids))
    history = []
    sizes = []
    for step, no_layer in zip(steps, empty):
        entry: dict[str, str | bool] = {"created": _iso(step.get("Created")), "created_by": str(step.get("CreatedBy") or ""), "comment": str(step.get("Comment") or "")}
        if no_layer:
            entry["empty_layer"] = True
        else:
            sizes.append(int(step.get("Size") or 0))
        history.append(entry)
    config = {
        "architecture": attrs.get("Architecture") or "",
        "os": attrs.get("Os") or "",
        "created": attrs.get("Created") or "",
        "config": attrs.get("Config") or {},
        "history": history,
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }
    if attrs.get("Variant"):
        config["variant"] = attrs["Variant"]
    image_id = str(attrs.get("Id") or "")
    name = reference if reference in tags else (tags[0] if tags else image_id[7:19])
    layers = [LayerRef(i, d, "", "", -1, f"engine layer {i}", None) for i, d in enumerate(diff_ids)]
    source = SourceImage(reference, "engine", name, tags, config, image_id, layers, platform=config_platform(config))
    if len(sizes) != len(layers):
        sizes = [-1] * len(layers)
    return Described(source, tuple(sizes), SizeMeasure.FILE_BYTES, provisional=True)


def _empty_steps(steps: list[dict], layer_count: int) -> list[bool]:
    """Which of the engine's history steps (oldest first) made no layer.

    The engine's history gives each step's size, 0 for a step without a layer but also for
    a layer without file bytes (``RUN rm …``, BuildKit's WORKDIR). A step with bytes made a
    layer; of the others, as many as there are steps beyond the layers are taken as empty:
    config-only steps (ENV, CMD, …, or any classic ``#(nop)`` but ADD and COPY) first,
    then WORKDIR, then the rest, each group from the newest step down.
    """
    surplus = len(steps) - layer_count
    empty = [False] * len(steps)
    if surplus <= 0:
        return empty

    def rank(i: int) -> int:
        created_by = str(steps[i].get("CreatedBy") or "")
        keyword = recorded_instruction(created_by).keyword
        if keyword in CONFIG_ONLY or ("#(nop)" in created_by and keyword not in ("ADD", "COPY")):
            return 0
        return 1 if keyword == "WORKDIR" else 2

    candidates = [i for i, step in enumerate(steps) if not int(step.get("Size") or 0)]
    for i in sorted(candidates, key=lambda i: (rank(i), -i))[:surplus]:
        empty[i] = True
    return empty


def _iso(created: object) -> str:
    """The engine's history time (seconds since the epoch) as the config writes it."""
    if not isinstance(created, int) or created <= 0:
        return ""
    return datetime.fromtimestamp(created, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def open_engine_image(
    reference: str,
    sink: LayerSink,
    progress: Progress = no_progress,
    *,
    cached_config: Callable[[str], bytes | None] = lambda digest: None,
    layer_cached: Callable[[str], bool] = lambda diff_id: False,
    described: Describe = not_described,
    client=None,
    platform: str | None = None,
) -> SourceImage:
    """Describe ``reference`` from the engine, saving (streamed) only what the cache lacks.
    ``platform``, when given, must be the image's: an engine image is of one platform.

    Before a save, ``described`` gets the image as the engine's inspect and history calls
    give it (a save takes seconds before its first byte; these take milliseconds).
    """
    import docker
    import requests
    import urllib3

    client = client or connect()
    try:
        image = inspect_image(client, reference)
    except ImageNotFound:
        if discard_early():  # the command line found the image and asked for its save
            raise ImageNotFound(f"image {reference!r} disappeared from the engine during the save") from None
        raise
    attrs = image.attrs
    why = platform_mismatch({"os": attrs.get("Os"), "architecture": attrs.get("Architecture"), "variant": attrs.get("Variant")}, platform) if platform else ""
    if why:
        raise InputError(f"engine image {reference} {why}")
    image_id = image.id
    diff_ids = (image.attrs.get("RootFS") or {}).get("Layers") or []
    tags = list(image.tags or [])
    config_bytes = cached_config(image_id)
    if config_bytes is not None and diff_ids and all(layer_cached(d) for d in diff_ids):
        discard_early()
        config = json.loads(config_bytes)
        check_config(config, f"engine image {reference}")
        layers = [LayerRef(i, d, "", "", -1, f"engine layer {i}", None) for i, d in enumerate(diff_ids)]
        name = reference if reference in tags else (tags[0] if tags else image_id[7:19])
        return SourceImage(
            reference, "engine", name, tags, config, image_id, layers,
            platform=config_platform(config), config_bytes=config_bytes,
        )

    total = int(image.attrs.get("Size") or 0) or None
    described(describe_from_engine(client, reference, image.attrs, tags))
    label = f"engine image {reference}"
    name = save_name(reference, tags, image_id)
    try:
        stream = _save_stream(client, image, name, lambda n: progress("save", n, total))
        # The engine computed the diff_ids it reports from the layers it saves: the streamed
        # layers are not digested again (a third of the work per byte).
        try:
            store = stream_archive(stream, label, lambda member, layer: sink(member, layer, digest=False), no_progress, total)
        finally:
            if isinstance(stream, SaveStream):
                stream.close()
    except SaveRefused as exc:
        if exc.status == 404:
            raise ImageNotFound(f"image {reference!r} disappeared from the engine during the save") from None
        raise EngineError(f"the engine failed to save {reference!r}: {exc.message}") from None
    except (docker.errors.NotFound, docker.errors.ImageNotFound):
        raise ImageNotFound(f"image {reference!r} disappeared from the engine during the save") from None
    except docker.errors.APIError as exc:
        raise EngineError(f"the engine failed to save {reference!r}: {exc.explanation or exc}") from None
    except (requests.exceptions.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
        raise EngineError(f"the engine stream for {reference!r} was cut mid-save ({exc.__class__.__name__}); is the engine still running?") from None
    except InputError as exc:
        raise EngineError(f"the engine's save of {reference!r} was unreadable: {exc}") from None
    except DECOMPRESSION_ERRORS as exc:
        raise EngineError(f"the engine stream for {reference!r} broke mid-save ({exc.__class__.__name__})") from None
    if not store.exists("manifest.json"):
        raise EngineError(f"the engine's save of {reference!r} ended before its manifest (stream cut or engine stopped)")
    tag = reference if reference in tags else None
    source = build_source(store, reference, "engine", tag if tag else None, None)
    if tags and source.name not in tags:
        source.name = tags[0]
    return source
