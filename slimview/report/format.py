"""Formatting at the edge: sizes and shares for people.

Instructions are shown by slimview.dockerfile.history.short_instruction.
"""

from __future__ import annotations

import humanize


def human_bytes(n: int) -> str:
    """Decimal units, as docker and dive print them (1 MB = 1,000,000 bytes)."""
    if n < 1000:
        return f"{n} B"
    return humanize.naturalsize(n, format="%.1f")


def percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f} %" if whole else "0.0 %"
