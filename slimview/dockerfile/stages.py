"""A user's Dockerfile, read with dockerfile-parse into its stages and their instructions.

Each instruction keeps the comment lines written above it; a RUN's flags are kept apart
from its shell script, as in instructions read from history.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from dockerfile_parse import DockerfileParser  # type: ignore[import-untyped]  # ships no type information

from slimview.dockerfile.instruction import Instruction, split_run_flags
from slimview.errors import InputError


@dataclass
class Stage:
    """One ``FROM`` and the instructions after it."""

    base: str  # the image it starts from ("" when FROM names none)
    name: str  # its ``AS`` name, "" when unnamed
    instructions: list[Instruction]  # after FROM
    comments: list[str]  # the comment lines directly above FROM
    from_line: int  # 0-based line of the FROM
    comments_line: int  # 0-based first line of those comments (from_line when there are none)


@dataclass
class Dockerfile:
    text: str
    preamble: list[Instruction]  # ARGs (and their comments) before the first FROM
    stages: list[Stage]

    def lines(self, start: int, end: int) -> str:
        """Lines ``start`` to ``end`` (0-based, end excluded) as written."""
        return "".join(self.text.splitlines(keepends=True)[start:end])


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


def parse_dockerfile(text: str, path: str) -> Dockerfile:
    """The stages of a Dockerfile's ``text`` (``path`` names it in errors)."""
    structure = DockerfileParser(fileobj=io.BytesIO(text.encode("utf-8"))).structure
    froms = [i for i, item in enumerate(structure) if item["instruction"] == "FROM"]
    if not froms:
        raise InputError(f"{path} has no FROM instruction")
    stages = []
    for n, at in enumerate(froms):
        # Comments directly above a FROM belong to its stage, not to the one before.
        first_comment = at
        while first_comment > 0 and structure[first_comment - 1]["instruction"] == "COMMENT":
            first_comment -= 1
        end = froms[n + 1] if n + 1 < len(froms) else len(structure)
        base, name = _from(structure[at]["value"])
        stages.append(Stage(
            base,
            name,
            _instructions(structure[at + 1 : end]),
            [item["value"] for item in structure[first_comment:at]],
            structure[at]["startline"],
            structure[first_comment]["startline"],
        ))
    return Dockerfile(text, _instructions(structure[: froms[0]]), stages)


def _from(value: str) -> tuple[str, str]:
    """(image, stage name) of ``FROM [--platform=…] image [AS name]``."""
    words = value.split()
    name = words[-1] if len(words) >= 3 and words[-2].upper() == "AS" else ""
    images = [w for w in words if not w.startswith("--")]
    return (images[0] if images else ""), name


def _instructions(items: list[dict]) -> list[Instruction]:
    """Instructions with the comments above each; comments after the last are dropped."""
    out: list[Instruction] = []
    comments: list[str] = []
    for item in items:
        if item["instruction"] == "COMMENT":
            comments.append(item["value"])
            continue
        keyword = item["instruction"].upper()
        flags, args = split_run_flags(item["value"]) if keyword == "RUN" else ((), item["value"])
        out.append(Instruction(keyword, args.strip(), comments, flags=flags, lines=(item["startline"], item["endline"])))
        comments = []
    return out
