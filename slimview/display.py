"""How slimview shows values to people: sizes, shares, and text that came from an image.

Sizes use decimal units, as docker and dive print them (1 MB = 1,000,000 bytes). Text from
an image (file names, link targets, labels) or typed by a user may hold bytes that are not
UTF-8 and characters a terminal would act on (newlines, escape sequences): ``printable``
is the one place that makes it safe to print. (The JSON report keeps control characters,
which JSON escapes itself, and only escapes undecodable bytes: see report/jsondoc.py.)
"""

from __future__ import annotations

import humanize


def human_bytes(n: int) -> str:
    """``n`` bytes in decimal units: "512 B", "1.2 MB"."""
    if n < 1000:
        return f"{n} B"
    return humanize.naturalsize(n, format="%.1f")


def signed_bytes(n: int) -> str:
    """A change in bytes with its sign: "+1.2 MB", "-512 B", "0 B"."""
    return ("+" if n > 0 else "-" if n < 0 else "") + human_bytes(abs(n))


def exact_bytes(n: int) -> str:
    """``n`` bytes for a person, with the exact count from 1 kB on: "1.2 MB (1,234,567 B)"."""
    return human_bytes(n) if abs(n) < 1000 else f"{human_bytes(n)} ({n:,} B)"


def plural(n: int, word: str, words: str | None = None) -> str:
    """``n`` and the noun that goes with it: "1 entry", "2,048 entries", "0 layers"."""
    return f"{n:,} {word if n == 1 else (words or word + 's')}"


def percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f} %" if whole else "0.0 %"


def printable(text: str) -> str:
    """``text`` safe to print: undecodable bytes (kept as surrogates) as ``\\xNN``, control
    and other non-printable characters as Python escapes (``\\n``, ``\\x1b``)."""
    text = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


def quoted_path(path: str) -> str:
    """A path for a message, printable and in quotes: ``'app/.env'``."""
    return "'" + printable(path) + "'"
