"""Formatting at the edge: sizes for people, instructions without builder noise."""

from __future__ import annotations

import re

import humanize


def human_bytes(n: int) -> str:
    """Decimal units, as docker and dive print them (1 MB = 1,000,000 bytes)."""
    if n < 1000:
        return f"{n} B"
    return humanize.naturalsize(n, format="%.1f")


def percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f} %" if whole else "0.0 %"


_NOP = re.compile(r"^/bin/sh -c #\(nop\)\s*")
_SHELL = re.compile(r"^(/bin/sh|/bin/bash) -c ")
_ARGS = re.compile(r"^\|\d+(?: \S+=\S*)* ")


def short_instruction(created_by: str) -> str:
    """A history line as a person would write it: 'RUN apt-get update', 'COPY . .'."""
    text = created_by.strip()
    if not text:
        return ""
    text = _ARGS.sub("", text)
    if _NOP.match(text):
        return _NOP.sub("", text).strip()
    if text.endswith("# buildkit"):
        text = text[: -len("# buildkit")].rstrip()
        if text.startswith("RUN "):
            return "RUN " + _SHELL.sub("", text[4:])
        return text
    if _SHELL.match(text):
        return "RUN " + _SHELL.sub("", text)
    return text
