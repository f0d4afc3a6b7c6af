"""The plain-text report: layers, totals, waste and findings, for a terminal."""

from __future__ import annotations

import shutil

from slimview.index.model import ImageIndex
from slimview.report import Report
from slimview.report.format import human_bytes, percent, short_instruction


def _layers_table(index: ImageIndex, width: int) -> list[str]:
    lines = [" #  SIZE        +ADD    ~MOD    -DEL   HIDDEN LATER  INSTRUCTION"]
    fixed = 54
    for layer in index.layers:
        s = layer.stats
        instr = short_instruction(layer.instruction) or "(no history)"
        room = max(20, width - fixed)
        if len(instr) > room:
            instr = instr[: room - 1] + "…"
        lines.append(
            f"{layer.index:>2}  {human_bytes(s.size):>10} {s.added:>7,} {s.modified:>7,} {s.deleted:>7,} "
            f"{human_bytes(s.hidden_stored) if s.hidden_stored else '-':>13}  {instr}"
        )
    return lines


def render_text(report: Report, *, width: int | None = None) -> str:
    index = report.index
    width = width or min(shutil.get_terminal_size((120, 24)).columns, 160)
    source = index.source
    size = index.size
    hidden = index.hidden_bytes
    dive = index.dive
    out = []
    tags = ", ".join(source.repo_tags) if source.repo_tags else source.config_digest[:19]
    out.append(f"{source.name}  ({source.kind}, {source.platform or 'platform unknown'}, {tags})")
    out.append(
        f"Image size   {human_bytes(size)} in {len(index.layers)} layers, {index.entry_count:,} entries"
    )
    out.append(f"Visible      {human_bytes(size - hidden)} in the final filesystem")
    out.append(f"Hidden       {human_bytes(hidden)} ({percent(hidden, size)}) stored but deleted or overwritten by a later layer")
    out.append(
        f"dive         efficiency {dive.score * 100:.2f} %, inefficient {human_bytes(dive.wasted_bytes)} "
        f"({dive.wasted_user_percent * 100:.2f} % of user layers)"
    )
    avoidable = report.avoidable_bytes
    out.append(f"Avoidable    {human_bytes(avoidable)} ({percent(avoidable, size)} of the image) by fixing the findings below")
    out.append("")
    out.extend(_layers_table(index, width))
    pairs = sorted(index.hidden_by_pair().items(), key=lambda kv: -kv[1])
    if pairs:
        out.append("")
        out.append("Hidden bytes: stored by one layer, then deleted or overwritten by another")
        for (stored, by), n in pairs[:10]:
            a = short_instruction(index.layers[stored].instruction)[:50]
            b = short_instruction(index.layers[by].instruction)[:50]
            out.append(f"  {human_bytes(n):>10}  stored by #{stored} {a}")
            out.append(f"  {'':>10}  hidden by #{by} {b}")
    out.append("")
    if report.findings:
        out.append(f"Findings ({len(report.findings)}, ranked by bytes)")
        for finding in report.findings:
            where = f" [layer {finding.layer}]" if finding.layer is not None else ""
            amount = human_bytes(finding.bytes) if finding.bytes else "-"
            out.append(f"  {amount:>10}  {finding.severity.upper():<6} {finding.title}{where}")
            if finding.fix:
                out.append(f"  {'':>10}  fix: {finding.fix.splitlines()[0]}")
    else:
        out.append("Findings: none")
    if index.notes:
        out.append("")
        out.append("Notes")
        out.extend(f"  {n}" for n in index.notes[:20])
        if len(index.notes) > 20:
            out.append(f"  … and {len(index.notes) - 20} more")
    return "\n".join(out) + "\n"
