"""What the rewrite starts from: the final stage's instructions, from the image's history or
from the user's own Dockerfile (with their comments, and any earlier stages kept as written).
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field

from slimview.errors import InputError
from slimview.index.model import ImageIndex
from slimview.rewrite.base import BaseImage
from slimview.rewrite.model import Instruction
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


def read_dockerfile(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read()
    except FileNotFoundError:
        raise InputError(f"no Dockerfile at {path}") from None
    except IsADirectoryError:
        raise InputError(f"{path} is a directory; pass the Dockerfile itself") from None
    except UnicodeDecodeError:
        raise InputError(f"{path} is not UTF-8 text") from None
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from None


def from_dockerfile(text: str, path: str) -> RewriteSource:
    """The user's Dockerfile: the final stage is rewritten, earlier stages are kept as written."""
    from dockerfile_parse import DockerfileParser

    parser = DockerfileParser(fileobj=io.BytesIO(text.encode("utf-8")))
    structure = parser.structure
    froms = [i for i, item in enumerate(structure) if item["instruction"] == "FROM"]
    if not froms:
        raise InputError(f"{path} has no FROM instruction")
    lines = text.splitlines(keepends=True)
    last = froms[-1]
    # Comments directly above the final FROM belong to it, not to the earlier stage.
    first_comment = last
    while first_comment > 0 and structure[first_comment - 1]["instruction"] == "COMMENT":
        first_comment -= 1
    earlier = ""
    names: set[str] = set()
    if len(froms) > 1:
        earlier = "".join(lines[structure[froms[0]]["startline"] : structure[first_comment]["startline"]]).rstrip() + "\n"
        for i in froms[:-1]:
            words = structure[i]["value"].split()
            if len(words) >= 3 and words[-2].upper() == "AS":
                names.add(words[-1])
    preamble = _instructions(structure[: froms[0]])
    from_words = structure[last]["value"].split()
    base = from_words[0] if from_words else ""
    for word in from_words[:-1]:
        if word.startswith("--platform="):
            base = from_words[from_words.index(word) + 1]
    instructions = _instructions(structure[last + 1 :])
    source = RewriteSource(f"Dockerfile {path}", base, instructions, False, preamble, earlier, names)
    source.from_comments = [item["value"] for item in structure[first_comment:last]]
    return source


def _instructions(items: list[dict]) -> list[Instruction]:
    out: list[Instruction] = []
    comments: list[str] = []
    for item in items:
        if item["instruction"] == "COMMENT":
            comments.append(item["value"])
            continue
        out.append(Instruction(item["instruction"].upper(), item["value"].strip(), comments))
        comments = []
    return out
