"""The plain-text report: layers, totals, waste and findings, for a terminal."""

from __future__ import annotations

import textwrap

from slimview.display import human_bytes, percent
from slimview.dockerfile.history import NO_HISTORY, short_instruction
from slimview.findings import Analysis, FindingKind
from slimview.index.model import ImageIndex
from slimview.report import text_width
from slimview.report.explain import kind_facts, layer_fact, path_facts


def _layers_table(index: ImageIndex, width: int) -> list[str]:
    lines = [" #  SIZE        +ADD    ~MOD    -DEL   HIDDEN LATER  INSTRUCTION"]
    fixed = 54
    for layer in index.layers:
        s = layer.stats
        instr = short_instruction(layer.instruction) or NO_HISTORY
        room = max(20, width - fixed)
        if len(instr) > room:
            instr = instr[: room - 1] + "…"
        lines.append(
            f"{layer.index:>2}  {human_bytes(s.size):>10} {s.added:>7,} {s.modified:>7,} {s.deleted:>7,} "
            f"{human_bytes(s.hidden_stored) if s.hidden_stored else '-':>13}  {instr}"
        )
    return lines


def _wrapped(label: str, text: str, width: int) -> list[str]:
    indent = " " * 14
    head = f"{label + ':':<13}" if label else " " * 13
    lines = textwrap.wrap(
        text, width=max(40, width), initial_indent=indent + head, subsequent_indent=indent + " " * 13,
        break_on_hyphens=False, break_long_words=False,
    )
    return lines or [f"{indent}{label}:"]


def _findings(analysis: Analysis, width: int) -> list[str]:
    """Each finding: bytes, severity and title, then its layer, kind-specific facts, paths and fix."""
    findings = analysis.findings
    if not findings:
        return ["Findings: none"]
    size = analysis.index.size
    avoidable = analysis.avoidable_bytes
    out = [f"Findings ({len(findings)}, ranked by bytes; together {human_bytes(avoidable)}, {percent(avoidable, size)} of the image)"]
    for n, finding in enumerate(findings, 1):
        amount = human_bytes(finding.bytes) if finding.bytes else "-"
        out.append("")
        out.append(f"{n:>3}. {amount:>8}  {finding.severity.upper():<6} {finding.title}")
        layer = layer_fact(finding)
        if layer:
            out.extend(_wrapped("layer", layer, width))
        for label, text in kind_facts(finding):
            out.extend(_wrapped(label, text, width))
        paths = path_facts(finding)
        if paths and finding.kind not in (FindingKind.SECRET, FindingKind.LARGE_FILE):
            out.extend(_wrapped("paths", paths, width))
        elif finding.kind == FindingKind.SECRET:
            out.extend(_wrapped("path", path_facts(finding, 1), width))
        for k, line in enumerate(finding.fix.splitlines()):
            out.extend(_wrapped("fix" if k == 0 else "", line, width))
    return out


def render_text(analysis: Analysis, *, width: int | None = None) -> str:
    index = analysis.index
    width = width or text_width()
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
    avoidable = analysis.avoidable_bytes
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
    out.extend(_findings(analysis, width))
    if index.notes:
        out.append("")
        out.append("Notes")
        out.extend(f"  {n}" for n in index.notes[:20])
        if len(index.notes) > 20:
            out.append(f"  … and {len(index.notes) - 20} more")
    return "\n".join(out) + "\n"
