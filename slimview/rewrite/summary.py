"""The rewrite as a person reads it on a terminal: estimated sizes, changes, notes."""

from __future__ import annotations

from slimview.display import human_bytes
from slimview.rewrite.model import Rewrite

UNKNOWN = "not known"


def estimate_phrase(before: int, after: int, excluded: str = "", arrow: str = "->") -> str:
    """``873.1 MB -> 377.1 MB (43 % of the original)``; with a runtime base of unknown size,
    what the estimate leaves out instead of a share it cannot give."""
    sizes = f"{human_bytes(before)} {arrow} {human_bytes(after)}"
    if excluded:
        return f"{sizes} plus {excluded} (not in the local engine, so its size is left out)"
    return f"{sizes} ({100 * after / before:.0f} % of the original)" if before else sizes


def _table(rows: list[tuple[str, ...]], align: str) -> list[str]:
    """Rows as aligned columns; ``align`` has "l" or "r" per column."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(align))]
    out = []
    for row in rows:
        cells = [cell.ljust(w) if a == "l" else cell.rjust(w) for cell, w, a in zip(row, widths, align)]
        out.append("  " + "  ".join(cells).rstrip())
    return out


def render_summary(rewrite: Rewrite) -> str:
    before, after = rewrite.size_before, rewrite.size_after
    rows: list[tuple[str, ...]] = [("", "before", "after")]
    rows += [(row.label, human_bytes(row.before), UNKNOWN if row.after is None else human_bytes(row.after)) for row in rewrite.sizes]
    rows.append(("total", human_bytes(before), human_bytes(after) + (" + base" if rewrite.base_excluded else "")))
    lines = ["Estimated size (`slimview verify` builds the rewrite and measures it):", *_table(rows, "lrr")]
    if before and not rewrite.base_excluded:
        lines.append(f"  the rewrite would be {100 * after / before:.0f} % of the original")
    if rewrite.fixes:
        lines.append("")
        lines.append("Fixes:")
        lines += _table([(c.kind, human_bytes(c.bytes) if c.bytes else "", c.summary) for c in rewrite.fixes], "lrl")
    if rewrite.notes:
        lines.append("")
        lines += [f"Note: {note}." for note in rewrite.notes]
    return "\n".join(lines) + "\n"
