"""What the rewrite starts from: the stage it targets, from the image's history or from the
user's own Dockerfile (with their comments, and any earlier stages kept as written).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from slimview.dockerfile.instruction import Instruction
from slimview.dockerfile.stages import parse_dockerfile
from slimview.index.model import ImageIndex
from slimview.rewrite.base import BaseImage
from slimview.rewrite.reconstruct import reconstruct


@dataclass
class RewriteSource:
    """The stage to rewrite and what surrounds it."""

    origin: str  # for the header: "the history of python-inference:latest", "Dockerfile ./Dockerfile"
    base: str  # the FROM image of the stage ("" when unknown)
    instructions: list[Instruction]  # after FROM
    from_history: bool  # True: reconstructed (values expanded, sources maybe unknown)
    preamble: list[Instruction] = field(default_factory=list)  # ARGs (and comments) before the first FROM
    earlier_stages: str = ""  # text of the stages before the final one, verbatim
    stage_names: set[str] = field(default_factory=set)  # names (AS x) of the earlier stages
    base_env: tuple[str, ...] = ()  # ENV the base image sets (inherited, never copied)
    base_layers: int = 0  # the image's bottom layers that came with the base
    from_comments: list[str] = field(default_factory=list)  # the user's comments above the stage's FROM


def from_image(index: ImageIndex, base: BaseImage) -> RewriteSource:
    source = index.source
    start = base.history or 0
    instructions = reconstruct(source.history, len(source.layers), start, base.env)
    # Without a known base, the base's own steps are part of the list; its root filesystem
    # (an ADD of a hashed tarball at /, or an import) is no step a rewrite can repeat.
    base_layers = base.layers
    if not base.known or base.history is None:
        instructions = [i for i in instructions if i.keyword and not _is_rootfs(i)]
        made = [i.layer for i in instructions if i.layer is not None]
        base_layers = min(made) if made else len(source.layers)
    return RewriteSource(f"the history of {source.name}", base.name, instructions, True, base_env=base.env, base_layers=base_layers)


def _is_rootfs(instruction: Instruction) -> bool:
    return instruction.keyword == "ADD" and instruction.args.startswith("<unknown source") and instruction.args.endswith(" /")


def from_dockerfile(text: str, path: str) -> RewriteSource:
    """The user's Dockerfile: the final stage is rewritten, earlier stages are kept as written."""
    dockerfile = parse_dockerfile(text, path)
    final = dockerfile.stages[-1]
    earlier = dockerfile.stages[:-1]
    # The earlier stages' text runs from the first FROM to the comments above the final one.
    written = dockerfile.lines(earlier[0].from_line, final.comments_line).rstrip() + "\n" if earlier else ""
    names = {stage.name for stage in earlier if stage.name}
    return RewriteSource(
        f"Dockerfile {path}", final.base, final.instructions, False, dockerfile.preamble, written, names,
        from_comments=final.comments,
    )
