"""Read a layer's history line as the Dockerfile instruction that made it.

Detectors need to know what kind of step made a layer (a COPY from the build context, a
RUN that purged packages, a chown) and to quote it in titles and fixes the way a person
wrote it. Builders record the step differently: BuildKit writes ``RUN /bin/sh -c cmd #
buildkit``, the classic builder ``/bin/sh -c cmd`` or ``/bin/sh -c #(nop) COPY dir:… in
/app``, and build args prefix ``|2 A=1 B=2``.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

_NOP = re.compile(r"^/bin/sh -c #\(nop\)\s*")
_SHELL = re.compile(r"^(?:/bin/sh|/bin/bash|sh|bash) -c ")
_ARGS = re.compile(r"^\|\d+(?: \S+=\S*)* ")
_RUN_FLAGS = re.compile(r"^(?:--(?:mount|network|security)=\S+\s+)+")
_KEYWORDS = frozenset(
    {"RUN", "COPY", "ADD", "WORKDIR", "ENV", "ARG", "USER", "LABEL", "EXPOSE", "CMD", "ENTRYPOINT",
     "VOLUME", "HEALTHCHECK", "SHELL", "STOPSIGNAL", "ONBUILD", "MAINTAINER"}
)
# Shell words that end one command and start another.
_SEPARATORS = frozenset({"&&", "||", ";", "|", "&"})
# Package-manager options whose value is the next word, not a package.
_OPTIONS_WITH_VALUE = frozenset({"-o", "--option", "-t", "--target-release", "-c", "--config-file", "-X", "--repository", "--virtual"})
_PACKAGE_NAME = re.compile(r"^[A-Za-z0-9.][A-Za-z0-9+._-]*$")


@dataclass(frozen=True)
class Instruction:
    keyword: str  # RUN, COPY, ADD, … ; "" when the line is no Dockerfile step (an import)
    text: str  # the step as a person writes it: "RUN apt-get update", "COPY . ."

    @property
    def body(self) -> str:
        """Everything after the keyword (the shell command of a RUN)."""
        return self.text[len(self.keyword):].strip() if self.keyword else self.text

    @property
    def copies_context(self) -> bool:
        """A COPY or ADD that reads the build context (not another stage, not a URL)."""
        if self.keyword not in ("COPY", "ADD"):
            return False
        body = self.body
        # "ADD file:<hash> in /" is how a base image's root filesystem is recorded, not a build context.
        base_rootfs = self.keyword == "ADD" and re.match(r"^file:\S+ in /\s*$", body) is not None
        # BuildKit records `COPY --from=builder /opt/venv /opt/venv` without its --from; a copy
        # whose every source is absolute is taken from another stage, not the context.
        words = [w for w in body.split() if not w.startswith("--")]
        from_stage = len(words) >= 2 and all(w.startswith("/") for w in words[:-1])
        return "--from=" not in body and not re.search(r"(?:^|\s)https?://", body) and not base_rootfs and not from_stage

    def commands(self) -> list[list[str]]:
        """A RUN's shell command split into simple commands (word lists); [] otherwise."""
        if self.keyword != "RUN":
            return []
        try:
            lexer = shlex.shlex(self.body, posix=True, punctuation_chars=";&|")
            lexer.whitespace_split = True
            words = list(lexer)
        except ValueError:  # unbalanced quotes: fall back to plain splitting
            words = self.body.split()
        out: list[list[str]] = [[]]
        for word in words:
            if word in _SEPARATORS:
                out.append([])
            else:
                out[-1].append(word)
        return [c for c in out if c]


def parse_instruction(created_by: str) -> Instruction:
    text = created_by.strip()
    if not text:
        return Instruction("", "")
    text = _ARGS.sub("", text)
    if _NOP.match(text):
        text = _NOP.sub("", text).strip()
    elif text.endswith("# buildkit"):
        text = text[: -len("# buildkit")].rstrip()
        if text.startswith("RUN "):
            text = "RUN " + _SHELL.sub("", _RUN_FLAGS.sub("", text[4:]))
    elif _SHELL.match(text):
        text = "RUN " + _SHELL.sub("", text)
    keyword = text.split(None, 1)[0].upper() if text else ""
    if keyword not in _KEYWORDS:
        return Instruction("", text)
    return Instruction(keyword, text)


def quoted(created_by: str, limit: int = 70) -> str:
    """The instruction in backquotes for a title, shortened to ``limit`` characters."""
    text = parse_instruction(created_by).text or "(no history)"
    text = " ".join(text.split())
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return f"`{text}`"


def package_arguments(instruction: Instruction, tools: tuple[str, ...], verbs: tuple[str, ...]) -> list[str]:
    """Package names a RUN passes to ``tool verb`` (e.g. apt-get install, apk del)."""
    names: list[str] = []
    for words in instruction.commands():
        # Skip wrappers such as "DEBIAN_FRONTEND=noninteractive" or "sudo".
        while words and ("=" in words[0] or words[0] in ("sudo", "env")):
            words = words[1:]
        if len(words) < 2 or words[0].rsplit("/", 1)[-1] not in tools:
            continue
        verb_at = next((k for k, w in enumerate(words[1:], 1) if not w.startswith("-")), None)
        if verb_at is None or words[verb_at] not in verbs:
            continue
        skip = False
        for word in words[verb_at + 1:]:
            if skip:
                skip = False
            elif word in _OPTIONS_WITH_VALUE:
                skip = True
            elif not word.startswith("-") and "$" not in word:
                name = re.split(r"[=:<>]", word, maxsplit=1)[0]
                if _PACKAGE_NAME.match(name):
                    names.append(name)
    return names


def has_flag(instruction: Instruction, *flags: str) -> bool:
    return any(word in flags for words in instruction.commands() for word in words)
