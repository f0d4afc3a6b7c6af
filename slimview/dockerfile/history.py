"""A layer's history line (``created_by``) as the Dockerfile instruction that made it.

Each builder writes its own dialect into ``history[].created_by``:

- the classic builder: ``/bin/sh -c apt-get update`` for RUN (``|2 A=1 B=2 /bin/sh -c …``
  with build args), ``/bin/sh -c #(nop)  ENV A=b`` for metadata steps (Go-formatted:
  ``CMD ["a" "b"]``, ``VOLUME [/data]``), and ``/bin/sh -c #(nop) COPY file:<hash> in /dst``
  where the copied sources survive only as a content hash;
- BuildKit: ``RUN /bin/sh -c … # buildkit``, ``COPY . . # buildkit``, ``WORKDIR /app``,
  ``EXPOSE map[8000/tcp:{}]``, ``HEALTHCHECK &{["CMD-SHELL" "…"] "30s" …}``. A RUN's own
  flags are not recorded: ``RUN --mount=type=cache,target=/root/.cache/pip pip install x``
  becomes ``RUN /bin/sh -c pip install x # buildkit``;
- buildah and podman: the classic shapes, but metadata steps keep the Dockerfile's own
  text (``/bin/sh -c #(nop) CMD ["a", "b"]``, one space after ``#(nop)``), and a RUN is
  the Dockerfile's text after the shell, flags and all: ``|1 V=1 /bin/sh -c
  --mount=type=cache,target=/c pip install x``, ``/bin/sh -c ["echo", "exec form"]``.

One reader takes the builder's noise away (build args, shell prefix, ``#(nop)``,
``# buildkit``) and finds the keyword and a RUN's flags; on top of it, two readings:

- ``recorded_instruction``: values as the builder recorded them, what findings inspect;
  ``short_instruction`` and ``quoted`` show it to people (one line; backquoted and
  shortened for a finding's title);
- ``parse_history_line``: the instruction as a Dockerfile writes it (Go-formatted values
  converted, ENV written with ``$NAME``, hashed sources marked), what the rewrite rebuilds.
  What the history does not record is marked, never invented:
  ``COPY <unknown source: file:d8a006482ae0…> /dst``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from slimview.dockerfile.instruction import KEYWORDS, Instruction, split_run_flags
from slimview.dockerfile.values import env_assignments, exec_array, exposed_ports, healthcheck, json_array, labels, quote_value, word_list

DEFAULT_SHELL = ("/bin/sh", "-c")
BUILDKIT_SUFFIX = " # buildkit"
HASH_SHOWN = 12  # hex digits of an unrecoverable source hash kept in the output
EXEC_FORM_GUESS = "exec form: the history joins its arguments with spaces, so their boundaries are a guess"
NO_HISTORY = "(no history)"  # shown for a layer whose history line is empty

_NOP = re.compile(r"^(?P<shell>.*?) ?#\(nop\) (?P<formatted> ?)(?P<rest>.*)$", re.DOTALL)
_BUILD_ARGS = re.compile(r"^\|(?P<count>\d+) ")
# Any POSIX shell run with -c, for lines read without knowing the SHELL in effect (no "^":
# it is matched at a position, after build args).
_ANY_SHELL = re.compile(r"(?:\S*/)?(?:sh|bash|ash|dash|zsh|ksh)(?: -[A-Za-z]+| [-+]o [\w-]+)*? -c ")
_HASHED_SOURCE = re.compile(
    r"^(?:(?P<flags>--\S*?)\s*)?(?P<kind>file|dir|multi):(?P<hash>[0-9a-f]{8,}) in (?P<dest>.+?)\s*$", re.DOTALL
)
_LINE_BREAK = re.compile(r"\s*\n\s*")


@dataclass(frozen=True)
class _Step:
    """A history line with the builder's noise taken away."""

    line: str  # the line, stripped, without " # buildkit"
    keyword: str  # "" when the line names no step
    rest: str  # after the keyword (a RUN's flags and shell prefix removed), values as recorded
    flags: tuple[str, ...] = ()  # a RUN's flags
    shell_form: bool = False  # RUN: a shell prefix was found (else the command is exec form or unknown)
    keyword_written: bool = False  # the builder wrote the keyword (BuildKit, #(nop) steps)
    formatted: bool = False  # values as Docker prints them (Go-formatted, expanded, unquoted)


def _read(created_by: str, shell: Sequence[str], any_shell: bool) -> _Step | None:
    """``shell``: the SHELL in effect; ``any_shell``: also take any ``sh -c`` prefix for one."""
    line = created_by.strip()
    if not line:
        return None
    line = line.removesuffix(BUILDKIT_SUFFIX)
    keyword, _, rest = line.partition(" ")
    if keyword in KEYWORDS:  # BuildKit writes the keyword itself
        if keyword == "RUN":
            return _run(line, rest, shell, any_shell, keyword_written=True)
        return _Step(line, keyword, rest.strip(), keyword_written=True, formatted=True)
    nop = _NOP.match(line)
    if nop is not None:
        keyword, _, rest = nop.group("rest").partition(" ")
        keyword = keyword.upper()
        if keyword not in KEYWORDS:
            return _Step(line, "", nop.group("rest").strip())
        # The classic builder prints metadata steps after two spaces, Go-formatted;
        # buildah after one space, as written in the Dockerfile.
        formatted = bool(nop.group("formatted")) or keyword in ("COPY", "ADD")
        return _Step(line, keyword, rest.strip(), keyword_written=True, formatted=formatted)
    return _run(line, line, shell, any_shell, keyword_written=False)


def _shell_prefix(command: str, shell: Sequence[str], any_shell: bool, pos: int = 0) -> int:
    """Length of the shell prefix (``/bin/sh -c ``) at ``command[pos:]``; 0 for none."""
    for prefix in (" ".join(shell) + " ", " ".join(DEFAULT_SHELL) + " "):
        if command.startswith(prefix, pos):
            return len(prefix)
    m = _ANY_SHELL.match(command, pos) if any_shell else None
    return m.end() - pos if m else 0


def _strip_build_args(command: str, shell: Sequence[str], any_shell: bool) -> str:
    """Drop the ``|N A=1 B=2`` prefix the builders record for build args in effect."""
    m = _BUILD_ARGS.match(command)
    if m is None:
        return command
    rest = command[m.end() :]
    count = int(m.group("count"))
    # Values may hold spaces: for the shell form, the first shell prefix after the
    # assignments ends them; the exec form has only word splitting to go by.
    assigned = 0
    start = 0
    at = rest.find(" ")
    while at >= 0:
        assigned += rest.count("=", start, at)
        start = at
        if assigned >= count and _shell_prefix(rest, shell, any_shell, at + 1):
            return rest[at + 1 :]
        at = rest.find(" ", at + 1)
    words = rest.split(" ")
    return " ".join(words[count:])


def _run(line: str, command: str, shell: Sequence[str], any_shell: bool, keyword_written: bool) -> _Step:
    command = _strip_build_args(command, shell, any_shell)
    flags, command = split_run_flags(command)
    prefix = _shell_prefix(command, shell, any_shell)
    if not prefix:
        return _Step(line, "RUN", command, flags, keyword_written=keyword_written)
    more, script = split_run_flags(command[prefix:])  # buildah keeps the Dockerfile's flags after the shell
    return _Step(line, "RUN", script, flags + more, shell_form=True, keyword_written=keyword_written)


# -- as recorded: what findings inspect and people are shown ----------------------------------


def recorded_instruction(created_by: str) -> Instruction:
    """The step ``created_by`` records, its values as the builder wrote them.

    ``Instruction("RUN", "apt-get update")`` for ``RUN /bin/sh -c apt-get update # buildkit``;
    keyword "" for an empty line or one that names no Dockerfile step (an import, a tool's
    note, a classic exec-form RUN, which has no shell prefix to tell it by).
    """
    step = _read(created_by, DEFAULT_SHELL, any_shell=True)
    if step is None:
        return Instruction("", "")
    if step.keyword == "RUN" and not step.shell_form and not step.keyword_written:
        return Instruction("", step.rest)
    return Instruction(step.keyword, step.rest.strip(), flags=step.flags)


def short_instruction(created_by: str) -> str:
    """A history line on one line, as a person would write it: 'RUN apt-get update', 'COPY . .';
    "" for an empty line."""
    return _LINE_BREAK.sub(" ", recorded_instruction(created_by).text)


def quoted(created_by: str, limit: int = 70) -> str:
    """The instruction in backquotes for a title, shortened to ``limit`` characters."""
    text = " ".join(recorded_instruction(created_by).text.split()) or NO_HISTORY
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return f"`{text}`"


def copies_context(step: Instruction) -> bool:
    """Whether a recorded COPY or ADD read the build context (not another stage, not a URL)."""
    if step.keyword not in ("COPY", "ADD"):
        return False
    args = step.args
    # "ADD file:<hash> in /" is how a base image's root filesystem is recorded, not a build context.
    base_rootfs = step.keyword == "ADD" and re.match(r"^file:\S+ in /\s*$", args) is not None
    # BuildKit records `COPY --from=builder /opt/venv /opt/venv` without its --from; a copy
    # whose every source is absolute is taken from another stage, not the context.
    words = [w for w in args.split() if not w.startswith("--")]
    from_stage = len(words) >= 2 and all(w.startswith("/") for w in words[:-1])
    return "--from=" not in args and not re.search(r"(?:^|\s)https?://", args) and not base_rootfs and not from_stage


# -- as a Dockerfile writes it: what the rewrite rebuilds ---------------------------------------


def parse_history_line(
    created_by: str, shell: Sequence[str] = DEFAULT_SHELL, env: dict[str, str] | None = None
) -> Instruction | None:
    """The Dockerfile instruction that ``created_by`` records; None for an empty line.

    ``shell`` is the SHELL in effect (RUN lines start with it); ``env`` the variables in
    effect (ENV values that extend one are written with ``$NAME``), updated by ENV lines.
    """
    step = _read(created_by, shell, any_shell=False)
    if step is None:
        return None
    if step.keyword == "RUN":
        if step.shell_form:
            # A newline would end the instruction: continue the line instead.
            return Instruction("RUN", step.rest.replace("\n", " \\\n"), flags=step.flags)
        return Instruction("RUN", json_array(step.rest.split(" ")), [EXEC_FORM_GUESS], flags=step.flags)
    if not step.keyword:
        return Instruction("", "", [f"unrecognised history step: {step.line}"])
    return _metadata(step.keyword, step.rest, step.formatted, {} if env is None else env)


def _metadata(keyword: str, text: str, formatted: bool, env: dict[str, str]) -> Instruction:
    """A non-RUN step. ``formatted``: values as Docker prints them (expanded, unquoted).
    ``env``: variables in effect, updated by ENV."""
    if keyword in ("CMD", "ENTRYPOINT"):
        items = exec_array(text)
        return Instruction(keyword, json_array(items) if items is not None else text)
    if keyword in ("SHELL", "VOLUME"):
        items = exec_array(text) if text.startswith('["') else word_list(text)
        return Instruction(keyword, json_array(items) if items is not None else text)
    if keyword == "EXPOSE":
        return Instruction(keyword, exposed_ports(text))
    if keyword == "HEALTHCHECK":
        return Instruction(keyword, healthcheck(text))
    if keyword in ("COPY", "ADD"):
        return Instruction(keyword, _hashed_copy(text))
    if keyword == "ENV" and formatted:
        return Instruction(keyword, env_assignments(text, env))
    if keyword == "LABEL" and formatted:
        return Instruction(keyword, labels(text))
    if keyword == "ARG" and formatted and "=" in text:
        name, _, value = text.partition("=")
        return Instruction(keyword, f"{name}={quote_value(value)}")
    return Instruction(keyword, text)


def _hashed_copy(text: str) -> str:
    """``file:<hash> in /dst`` (classic builder, buildah) with the source marked unknown."""
    m = _HASHED_SOURCE.match(text)
    if m is None:
        return text.strip()
    flags = (m.group("flags") + " ") if m.group("flags") else ""
    source = f"<unknown source: {m.group('kind')}:{m.group('hash')[:HASH_SHOWN]}…>"
    return f"{flags}{source} {m.group('dest')}"
