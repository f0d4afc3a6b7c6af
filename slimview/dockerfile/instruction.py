"""One Dockerfile instruction, whether read from an image's history or from a Dockerfile.

``flags`` are RUN's own options (``--mount=…``, ``--network=…``, ``--security=…``), kept
apart from its shell script: the script is what gets cut into commands, and the flags are
written back as the person wrote them. COPY and ADD keep their options in ``args``, where
the rewrite's copy parser reads them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

KEYWORDS = frozenset(
    {"ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "HEALTHCHECK", "LABEL", "MAINTAINER",
     "ONBUILD", "RUN", "SHELL", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR"}
)
# Steps that only change the image's config and never make a layer, whichever builder ran them.
CONFIG_ONLY = KEYWORDS - {"ADD", "COPY", "RUN", "WORKDIR"}

# ``--name=value`` before a RUN's command (a command never starts with "--").
_RUN_FLAG = re.compile(r"--[A-Za-z][A-Za-z0-9-]*=\S*\s+")


@dataclass
class Instruction:
    """One instruction, with the comment lines written above it.

    ``keyword`` is upper case (RUN, COPY, ...), or "" for a block of comments only (for
    example a layer whose making the history does not describe) or, read from history, a
    line that names no Dockerfile step (``args`` then holds the line).
    """

    keyword: str
    args: str  # after the keyword and its flags: a RUN's shell script (or JSON array), COPY's flags and paths, ...
    comments: list[str] = field(default_factory=list)
    layer: int | None = None  # the image layer the instruction made, when known
    flags: tuple[str, ...] = ()  # RUN's options, as written: ("--mount=type=cache,target=/root/.cache/pip",)
    # Read from a Dockerfile: its first and last line there (0-based). Where an instruction
    # is written is not part of what it is: equal instructions may sit on other lines.
    lines: tuple[int, int] | None = field(default=None, compare=False)

    @property
    def text(self) -> str:
        """The instruction without its comments: ``RUN --mount=type=cache,target=/c pip install x``."""
        return " ".join(part for part in (self.keyword, *self.flags, self.args) if part)

    @property
    def exec_form(self) -> bool:
        """Arguments written as a JSON array (``RUN ["a", "b"]``), not for a shell."""
        return self.args.startswith("[")

    def render(self) -> str:
        lines = [f"# {c}" if c else "#" for c in self.comments]
        if self.keyword:
            lines.append(self.text)
        return "\n".join(lines)


def render_instructions(instructions: list[Instruction]) -> str:
    return "".join(i.render() + "\n" for i in instructions)


def split_run_flags(text: str) -> tuple[tuple[str, ...], str]:
    """``--mount=type=cache,target=/c pip install x`` as (("--mount=type=cache,target=/c",), "pip install x")."""
    flags = []
    rest = text.lstrip()
    while (m := _RUN_FLAG.match(rest)) is not None:
        flags.append(m.group().rstrip())
        rest = rest[m.end() :]
    return tuple(flags), rest
