"""Turn an image's history back into the Dockerfile that built it.

Each history line is read by slimview.dockerfile.history (every builder's dialect, values
as a Dockerfile writes them); this module follows a whole history: the SHELL and ENV in
effect from step to step, the layer each step made, and the cut where the base image's
own steps end. Everything here is a pure function of the history strings.
"""

from __future__ import annotations

from collections.abc import Sequence

from slimview.dockerfile.history import DEFAULT_SHELL, parse_history_line
from slimview.dockerfile.instruction import Instruction, render_instructions
from slimview.dockerfile.values import exec_array
from slimview.rewrite.base import BaseImage
from slimview.source.model import HistoryEntry, SourceImage


def entry_layers(history: Sequence[HistoryEntry], layer_count: int) -> list[int | None]:
    """The layer each history entry made (None for metadata-only entries).

    Aligned from the top, as SourceImage.layer_history does, when history describes
    fewer layers than the image has.
    """
    made = sum(1 for h in history if not h.empty_layer)
    layer = layer_count - made
    out: list[int | None] = []
    for h in history:
        if h.empty_layer:
            out.append(None)
        else:
            out.append(layer if layer >= 0 else None)
            layer += 1
    return out


def reconstruct(
    history: Sequence[HistoryEntry], layer_count: int, start: int = 0, base_env: Sequence[str] = ()
) -> list[Instruction]:
    """Instructions for ``history[start:]``.

    ``start``: the entries that belong to the base image; ``base_env``: its ENV
    (``NAME=value`` strings), so that ``ENV PATH=/app/bin:$PATH`` comes back as written.
    """
    layers = entry_layers(history, layer_count)
    shell: Sequence[str] = DEFAULT_SHELL
    env = dict(item.partition("=")[::2] for item in base_env)
    out: list[Instruction] = []
    for entry, layer in list(zip(history, layers))[start:]:
        instruction = parse_history_line(entry.created_by, shell, env)
        if instruction is None:
            what = f"layer {layer}" if layer is not None else "a step"
            note = f" ({entry.comment})" if entry.comment else ""
            instruction = Instruction("", "", [f"{what} has no recorded instruction{note}: its contents cannot be rebuilt from history"])
        if instruction.keyword == "SHELL":
            shell = exec_array(instruction.args) or shell
        instruction.layer = layer
        out.append(instruction)
    return out


def reconstruct_dockerfile(source: SourceImage, base: BaseImage) -> str:
    """The Dockerfile that built ``source``: a header saying where it came from, FROM, the steps.

    When the base's share of the history is unknown, every step is shown, FROM scratch.
    """
    cut = base.history is not None
    steps = reconstruct(source.history, len(source.layers), base.history or 0, base.env)
    header = [f"Reconstructed by slimview from the history of {source.name}.", f"Base: {base.describe()}"]
    if not cut:
        header.append("Which steps are the base's own is unknown: every step is shown, from scratch.")
    return render_instructions([Instruction("", "", header), Instruction("FROM", base.name if cut else "scratch"), *steps])
