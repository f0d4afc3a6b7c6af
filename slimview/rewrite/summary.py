"""The rewrite as a person reads it on a terminal: estimated sizes, changes, notes."""

from __future__ import annotations

from slimview.display import human_bytes
from slimview.rewrite.model import Rewrite


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
    rows += [(row.label, human_bytes(row.before), human_bytes(row.after)) for row in rewrite.sizes]
    share = f"{100 * after / before:.0f} % of the original" if before else ""
    rows.append(("total", human_bytes(before), human_bytes(after)))
    lines = ["Estimated size (`slimview verify` builds the rewrite and measures it):", *_table(rows, "lrr")]
    if share:
        lines.append(f"  the rewrite would be {share}")
    if rewrite.fixes:
        lines.append("")
        lines.append("Fixes:")
        lines += _table([(c.kind, human_bytes(c.bytes) if c.bytes else "", c.summary) for c in rewrite.fixes], "lrl")
    if rewrite.notes:
        lines.append("")
        lines += [f"Note: {note}." for note in rewrite.notes]
    return "\n".join(lines) + "\n"
