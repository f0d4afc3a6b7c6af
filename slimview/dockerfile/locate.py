"""Which line of the user's Dockerfile made each layer of the image built from it.

The image's history lists the final stage's steps last, in order, one entry each (a layer,
or an empty one for ENV, CMD…); the steps before them are the base image's. So the
history is read backwards beside the final stage's instructions: each history entry is
matched with the next instruction of the same kind. An instruction a builder does not
record (ARG) is passed over. What is left of the history once the stage's instructions
are used up came with the base image, which the stage's ``FROM`` line brings in.

The match goes by kind of step only, since builders rewrite the text (BuildKit records
``COPY --from=build /a /a`` as ``COPY /a /a`` and expands ``$PATH`` in ENV); a Dockerfile
that does not match the image's history gives no location rather than a wrong one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from slimview.dockerfile.history import recorded_instruction
from slimview.dockerfile.stages import Dockerfile, parse_dockerfile, read_dockerfile
from slimview.source.model import SourceImage

NOT_RECORDED = frozenset({"ARG", "ONBUILD"})  # steps some builders leave out of the history


@dataclass(frozen=True)
class Location:
    """Lines of a Dockerfile, 1-based and inclusive, as editors and SARIF count them."""

    path: str
    start: int
    end: int

    def __str__(self) -> str:
        return f"{self.path}:{self.start}" if self.start == self.end else f"{self.path}:{self.start}-{self.end}"


@dataclass(frozen=True)
class DockerfileMap:
    """Where each layer of an image was made in its Dockerfile."""

    path: str
    layers: dict[int, Location]

    def at(self, layer: int | None) -> Location | None:
        return None if layer is None else self.layers.get(layer)

    def first(self, layers: Iterable[int]) -> Location | None:
        """The location of the first of ``layers`` that has one."""
        return next((loc for layer in layers if (loc := self.layers.get(layer)) is not None), None)


def _from_line(dockerfile: Dockerfile, path: str) -> Location:
    line = dockerfile.stages[-1].from_line + 1
    return Location(path, line, line)


def locate(dockerfile: Dockerfile, path: str, source: SourceImage) -> DockerfileMap:
    """The Dockerfile line of each layer of ``source``, built from ``dockerfile`` (``path``
    is how locations name it). Layers left without a match are absent from the map."""
    history = source.history
    layer = len(source.layers) - 1  # the layer the newest history entry that made one made
    instructions = [i for i in dockerfile.stages[-1].instructions if i.keyword]
    found: dict[int, Location] = {}
    j = len(instructions) - 1
    i = len(history) - 1
    while i >= 0 and j >= 0:
        entry = history[i]
        keyword = recorded_instruction(entry.created_by).keyword
        instruction = instructions[j]
        if keyword != instruction.keyword:
            if instruction.keyword in NOT_RECORDED:
                j -= 1
                continue
            return DockerfileMap(path, {})  # not the Dockerfile this image was built from
        if not entry.empty_layer:
            if instruction.lines is not None:
                start, end = instruction.lines
                found[layer] = Location(path, start + 1, end + 1)
            layer -= 1
        i -= 1
        j -= 1
    if any(instructions[k].keyword not in NOT_RECORDED for k in range(j + 1)):
        return DockerfileMap(path, {})  # the history ran out first: not this image's Dockerfile
    base = _from_line(dockerfile, path)
    for k in range(layer + 1):  # the rest came with the base image
        found[k] = base
    return DockerfileMap(path, found)


def locate_file(path: str, source: SourceImage) -> DockerfileMap:
    """``locate`` for the Dockerfile at ``path``."""
    return locate(parse_dockerfile(read_dockerfile(path), path), path, source)
