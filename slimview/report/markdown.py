"""The report as GitHub-flavoured Markdown, sized for a pull-request comment: the totals and
a table of findings up front, each finding's facts and fix in a collapsed section."""

from __future__ import annotations

import html

from slimview.display import human_bytes, percent
from slimview.dockerfile.history import NO_HISTORY, short_instruction
from slimview.findings import Analysis, FindingKind
from slimview.report.explain import kind_facts, layer_fact, path_facts

MAX_FINDINGS = 50  # a PR comment is limited to 65,536 characters


def _cell(text: str) -> str:
    """Text safe inside a table cell: no pipes or line breaks."""
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _inline(text: str) -> str:
    return text.replace("\n", " ")


def _layers(analysis: Analysis) -> list[str]:
    out = ["<details><summary>Layers</summary>", "", "| # | Size | Hidden later | Instruction |", "|--:|-----:|-----:|---|"]
    for layer in analysis.index.layers:
        s = layer.stats
        instr = short_instruction(layer.instruction) or NO_HISTORY
        if len(instr) > 100:
            instr = instr[:99] + "…"
        hidden = human_bytes(s.hidden_stored) if s.hidden_stored else "-"
        out.append(f"| {layer.index} | {human_bytes(s.size)} | {hidden} | `{_cell(instr)}` |")
    out += ["", "</details>"]
    return out


def render_markdown(analysis: Analysis) -> str:
    index = analysis.index
    size = index.size
    hidden = index.hidden_bytes
    avoidable = analysis.avoidable_bytes
    findings = analysis.findings
    out = [f"## slimview: `{_cell(index.source.name)}`", ""]
    out.append(
        f"**{human_bytes(size)}** in {len(index.layers)} layers · **{human_bytes(avoidable)} avoidable** "
        f"({percent(avoidable, size)} of the image) · {human_bytes(hidden)} hidden by later layers · "
        f"dive efficiency {index.dive.score * 100:.2f} %"
    )
    secrets = [f for f in findings if f.kind == FindingKind.SECRET]
    if secrets:
        out += ["", "> [!CAUTION]", f"> {len(secrets)} file(s) with secrets ship in this image (values not shown):"]
        out += [f"> - {_inline(f.title)}" for f in secrets[:10]]
    out.append("")
    if not findings:
        out += ["No findings: nothing to trim.", ""]
        out += _layers(analysis)
        return "\n".join(out) + "\n"
    out += ["| # | Saves | Severity | Finding | Layer |", "|--:|------:|----------|---------|------:|"]
    for n, f in enumerate(findings[:MAX_FINDINGS], 1):
        saves = human_bytes(f.bytes) if f.bytes else "-"
        layer = "" if f.layer is None else str(f.layer)
        out.append(f"| {n} | {saves} | {f.severity} | {_cell(f.title)} | {layer} |")
    if len(findings) > MAX_FINDINGS:
        out.append(f"\n… and {len(findings) - MAX_FINDINGS} more findings (see `slimview report --json`).")
    out.append("")
    for n, f in enumerate(findings[:MAX_FINDINGS], 1):
        out += [f"<details><summary>{n}. {html.escape(_inline(f.title))}</summary>", ""]
        layer = layer_fact(f)
        if layer:
            number, _, text = layer.partition(" ")
            out.append(f"- **Layer**: {number} `{_cell(text)}`")
        for label, text in kind_facts(f):
            out.append(f"- **{label.capitalize()}**: {_inline(text)}")
        paths = path_facts(f, 5)
        if paths:
            out.append(f"- **Paths**: {_inline(paths)}")
        if f.evidence:
            out.append(f"- **Evidence**: {_inline(f.evidence)}")
        fix_lines = f.fix.splitlines()
        if len(fix_lines) > 1:
            out += [f"- **Fix**: {fix_lines[0]}", "", "  ```", *[f"  {line}" for line in fix_lines[1:]], "  ```"]
        elif fix_lines:
            out.append(f"- **Fix**: {fix_lines[0]}")
        out += ["", "</details>", ""]
    out += _layers(analysis)
    return "\n".join(out) + "\n"
