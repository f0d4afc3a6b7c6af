"""Where the base image ends: which bottom layers and history entries an image inherited.

In order of trust:

1. the local engine: an image whose layers (``RootFS.Layers``) are a prefix of ours is
   the base; the longest such prefix wins;
2. the history itself: buildah and podman record ``FROM name`` as the comment of a
   stage's first step;
3. labels the build left: ``org.opencontainers.image.base.name``, or the
   ``org.opencontainers.image.ref.name``/``version`` pair official images carry (a name
   only: which layers are the base's stays unknown);
4. otherwise the base is unknown.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from slimview.errors import EngineError
from slimview.source.engine import connect
from slimview.source.model import SourceImage

BASE_NAME_LABEL = "org.opencontainers.image.base.name"
REF_NAME_LABEL = "org.opencontainers.image.ref.name"
VERSION_LABEL = "org.opencontainers.image.version"


@dataclass(frozen=True)
class LocalImage:
    """An image in the local engine, as base matching needs it."""

    id: str
    tags: tuple[str, ...]
    layers: tuple[str, ...]  # diff_ids, bottom first
    history: tuple[str, ...] = ()  # created_by of each history entry, oldest first
    env: tuple[str, ...] = ()
    size: int = 0  # bytes, as `docker image inspect` reports


@dataclass(frozen=True)
class BaseImage:
    """The image another was built FROM, and how much of it is inherited."""

    name: str  # "debian:bookworm"; "" when unknown
    layers: int  # bottom layers that belong to the base (0 when unknown)
    history: int | None  # history entries that belong to the base; None when unknown
    how: str  # "engine", "history", "label" or "unknown"
    env: tuple[str, ...] = field(default=())  # the base's own ENV, when known
    size: int | None = None  # the base's size in bytes, when the engine told us

    @property
    def known(self) -> bool:
        return bool(self.name)

    def describe(self) -> str:
        """One sentence for a Dockerfile comment or a report."""
        if self.how == "engine":
            layers = "its layer matches" if self.layers == 1 else f"its {self.layers} layers match"
            return f"{self.name} ({layers} that local image)."
        if self.how == "history":
            return f"{self.name} (named by the history's FROM comment)."
        if self.how == "label":
            return f"{self.name} (named by the image's labels)."
        return "unknown (no local image shares these layers and no label names one)."


UNKNOWN = BaseImage("", 0, None, "unknown")


def match_local(source: SourceImage, images: Sequence[LocalImage]) -> BaseImage | None:
    """The local image whose layers are the longest prefix of ``source``'s, if any."""
    ours = [layer.diff_id for layer in source.layers]
    history = [h.created_by for h in source.history]
    best: LocalImage | None = None
    for image in images:
        n = len(image.layers)
        if image.id == source.config_digest or n == 0 or n > len(ours) or list(image.layers) != ours[:n]:
            continue
        if image.history and len(image.history) >= len(history):
            continue  # the same image under another id, or one built on top of ours
        if best is None or _better(image, best):
            best = image
    if best is None:
        return None
    name = sorted(best.tags)[0] if best.tags else best.id[7:19]
    return BaseImage(name, len(best.layers), _history_cut(source, best), "engine", best.env, best.size)


def _better(a: LocalImage, b: LocalImage) -> bool:
    """Longer prefix first; then tagged images; then the name, for a stable choice."""
    return (-len(a.layers), not a.tags, sorted(a.tags)[:1]) < (-len(b.layers), not b.tags, sorted(b.tags)[:1])


def _history_cut(source: SourceImage, base: LocalImage) -> int:
    """How many of ``source``'s history entries the base accounts for."""
    history = [h.created_by for h in source.history]
    if base.history and history[: len(base.history)] == list(base.history):
        return len(base.history)
    # Rebuilt or squashed history: end after the entry that made the base's last layer.
    made = 0
    for i, entry in enumerate(source.history):
        if not entry.empty_layer:
            made += 1
            if made == len(base.layers):
                return i + 1
    return 0


def from_history(source: SourceImage) -> BaseImage | None:
    """buildah/podman's ``FROM name`` comment on the first step after the base."""
    for i, entry in enumerate(source.history):
        if entry.comment.startswith("FROM "):
            name = entry.comment[5:].strip().split()[0]
            layers = sum(1 for h in source.history[:i] if not h.empty_layer)
            return BaseImage(_short_name(name), layers, i, "history")
    return None


def from_labels(source: SourceImage) -> BaseImage | None:
    labels = source.image_config.get("Labels") or {}
    name = labels.get(BASE_NAME_LABEL)
    if not name and labels.get(REF_NAME_LABEL) and labels.get(VERSION_LABEL):
        name = f"{labels[REF_NAME_LABEL]}:{labels[VERSION_LABEL]}"
    if not name:
        return None
    return BaseImage(_short_name(name), 0, None, "label")


def _short_name(name: str) -> str:
    """``docker.io/library/debian:bookworm`` as people write it: ``debian:bookworm``."""
    for prefix in ("docker.io/library/", "docker.io/"):
        if name.startswith(prefix):
            return name[len(prefix) :]
    return name


def find_base(source: SourceImage, images: Sequence[LocalImage] | None) -> BaseImage:
    """The base of ``source``; ``images`` is the local engine's list (None: no engine)."""
    for found in (match_local(source, images or ()), from_history(source), from_labels(source)):
        if found is not None:
            return found
    return UNKNOWN


# -- the local engine --------------------------------------------------------------------------


def local_images(client) -> list[LocalImage]:
    """Every image in the engine, with layers, ENV and size (one inspect each). An image
    removed while we look is skipped."""
    import docker

    try:
        ids = [item["Id"] for item in client.api.images()]
    except docker.errors.DockerException as exc:
        raise EngineError(f"cannot list the engine's images: {exc}") from None
    out = []
    for image_id in ids:
        try:
            attrs = client.api.inspect_image(image_id)
        except docker.errors.NotFound:
            continue
        except docker.errors.DockerException as exc:
            raise EngineError(f"cannot inspect the engine's image {image_id[:19]}: {exc}") from None
        layers = tuple((attrs.get("RootFS") or {}).get("Layers") or ())
        env = tuple((attrs.get("Config") or {}).get("Env") or ())
        tags = tuple(t for t in attrs.get("RepoTags") or () if t != "<none>:<none>")
        out.append(LocalImage(image_id, tags, layers, (), env, int(attrs.get("Size") or 0)))
    return out


def image_history(client, image_id: str) -> tuple[str, ...]:
    """created_by of each history entry of a local image, oldest first (() if it vanished)."""
    import docker

    try:
        return tuple(item.get("CreatedBy", "") for item in reversed(client.api.history(image_id)))
    except docker.errors.NotFound:
        return ()


def engine_images(source: SourceImage, client=None) -> list[LocalImage] | None:
    """The local engine's images (history filled in for those that could be ``source``'s
    base), or None when no engine answers."""
    if client is None:
        try:
            client = connect(timeout=30)
        except EngineError:
            return None
    ours = [layer.diff_id for layer in source.layers]
    out = []
    for image in local_images(client):
        if image.layers and list(image.layers) == ours[: len(image.layers)]:
            image = LocalImage(image.id, image.tags, image.layers, image_history(client, image.id), image.env, image.size)
        out.append(image)
    return out
