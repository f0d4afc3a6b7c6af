"""A :class:`~slimview.compare.Comparison` for people: text for a terminal, Markdown for one
pull-request comment. (``diffjson.py`` writes the JSON; the figures are the comparison's.)"""

from __future__ import annotations

import html

from slimview.compare import BaseStatus, Cause, CauseKind, Comparison, FindingChange, FindingDelta, LayerPair, LayerStatus, PackageDelta, PathDelta
from slimview.compare.summary import ImageSummary
from slimview.display import exact_bytes, human_bytes, printable, signed_bytes
from slimview.dockerfile.history import NO_HISTORY, short_instruction

TOP = 10  # entries per list shown by default
INSTRUCTION_WIDTH = 70


def _share(c: Comparison) -> str:
    return f"{100 * c.share:+.1f} %" if c.before.size else "new"


def _instruction(created_by: str, width: int = INSTRUCTION_WIDTH) -> str:
    text = printable(short_instruction(created_by)) or NO_HISTORY
    return text if len(text) <= width else text[: width - 1] + "…"


def _layers_cell(layers: range) -> str:
    if not layers:
        return "-"
    return str(layers[0]) if len(layers) == 1 else f"{layers[0]}-{layers[-1]}"


def _pair_instruction(pair: LayerPair) -> str:
    if pair.status == LayerStatus.SHARED and len(pair.after) > 1:
        return f"{len(pair.after)} shared layers"
    if pair.status == LayerStatus.REMOVED:
        return _instruction(pair.before_instruction)
    after = _instruction(pair.after_instruction)
    if pair.status == LayerStatus.CHANGED and short_instruction(pair.before_instruction) != short_instruction(pair.after_instruction):
        return f"{after} (was: {_instruction(pair.before_instruction, 40)})"
    return after


def _base_line(c: Comparison) -> str:
    a, b = c.base.before, c.base.after
    if c.base.status == BaseStatus.UNKNOWN:
        return "unknown (" + ", ".join(f"{s.name}: {'unknown' if not x.name else x.name}" for s, x in ((c.before, a), (c.after, b))) + ")"
    if c.base.status == BaseStatus.SAME:
        return f"unchanged ({a.name or 'unnamed'})"
    text = f"changed: {a.name or 'unnamed'} → {b.name or 'unnamed'}"
    if a.layers and b.layers:
        text += f" ({signed_bytes(c.base.delta)}); {signed_bytes(c.own_change)} not from the base image"
    return text


def _side(label: str, s: ImageSummary) -> str:
    base = f", base {s.base.name}" if s.base.name else ""
    return f"  {label:<7} {printable(s.name)}  {exact_bytes(s.size)} in {len(s.layers)} layers{base}"


def _path(d: PathDelta, directory: bool) -> str:
    return "/" + printable(d.path) + ("/" if directory else "")


def _path_note(c: Comparison, d: PathDelta) -> str:
    side = c.after if d.delta > 0 else c.before
    layer = d.after_layer if d.delta > 0 else d.before_layer
    what = "stored, then hidden" if d.hidden else d.change.value
    instruction = side.instruction(layer)
    return what + (f"  {_instruction(instruction, 50)}" if instruction else "")


def _package_text(p: PackageDelta) -> str:
    if p.before_version and p.after_version and p.before_version != p.after_version:
        return f"{p.name} {p.before_version} → {p.after_version}"
    return f"{p.name} {p.after_version or p.before_version}".rstrip()


def _grew(c: Comparison, growth: bool, top: int) -> list[str]:
    sign = 1 if growth else -1
    out: list[str] = []
    pairs = sorted((p for p in c.layers if p.status != LayerStatus.SHARED and sign * p.delta > 0), key=lambda p: -sign * p.delta)
    if pairs:
        out.append("  instructions")
        out += [f"    {signed_bytes(p.delta):>10}  {p.status.value:<8} {_pair_instruction(p)}" for p in pairs[:top]]
    packages = [p for p in c.packages if sign * p.delta > 0]
    if packages:
        out.append(f"  packages ({c.after.package_manager or c.before.package_manager})")
        out += [f"    {signed_bytes(p.delta):>10}  {p.change.value:<10} {printable(_package_text(p))}" for p in packages[:top]]
    directories = [d for d in c.directories if sign * d.delta > 0]
    if directories:
        out.append("  directories")
        out += [f"    {signed_bytes(d.delta):>10}  {_path(d, True)}  ({_path_note(c, d)})" for d in directories[:top]]
    files = [d for d in c.files if sign * d.delta > 0]
    if files:
        out.append("  files")
        out += [f"    {signed_bytes(d.delta):>10}  {_path(d, False)}  ({_path_note(c, d)})" for d in files[:top]]
    return out


def _finding_line(f: FindingDelta) -> str:
    amount = signed_bytes(f.delta) if f.delta else "-"
    return f"  {f.change.value:<9} {amount:>10}  {f.kind.value:<14} {printable(f.title)}"


def render_diff_text(c: Comparison, *, top: int = TOP) -> str:
    out = ["slimview diff", _side("before", c.before), _side("after", c.after)]
    out.append(
        f"Size      {signed_bytes(c.size_change)} ({c.size_change:+,} B, {_share(c)}): "
        f"{signed_bytes(c.visible_change)} visible, {signed_bytes(c.hidden_change)} stored but hidden by later layers"
    )
    out.append(f"Base      {_base_line(c)}")
    out += ["", "Layers", f"  {'BEFORE':>6}  {'AFTER':>6}  {'STATUS':<8} {'SIZE BEFORE':>11} {'SIZE AFTER':>11} {'CHANGE':>10}  INSTRUCTION"]
    for p in c.layers:
        before = human_bytes(p.before_bytes) if p.before else "-"
        after = human_bytes(p.after_bytes) if p.after else "-"
        change = signed_bytes(p.delta) if p.delta else "0 B"
        out.append(
            f"  {_layers_cell(p.before):>6}  {_layers_cell(p.after):>6}  {p.status.value:<8} {before:>11} {after:>11} {change:>10}  {_pair_instruction(p)}"
        )
    for title, growth in (("Grew", True), ("Shrank", False)):
        lines = _grew(c, growth, top)
        out += ["", f"{title} (largest first)" if lines else f"{title}: nothing", *lines]
    out += ["", "Findings" if c.findings else "Findings: no change", *(_finding_line(f) for f in c.findings[:top])]
    if len(c.findings) > top:
        out.append(f"  … and {len(c.findings) - top} more")
    return "\n".join(out) + "\n"


# -- Markdown ------------------------------------------------------------------------------------


def _cell(text: str) -> str:
    return printable(text).replace("\\", "\\\\").replace("|", "\\|")


def _code(text: str) -> str:
    """``text`` as inline code in a table cell (a backquote in it would end the span)."""
    return f"`{_cell(text).replace('`', chr(39))}`" if text else ""


def _cause_row(cause: Cause) -> str:
    if cause.kind == CauseKind.INSTRUCTION:
        return f"| {signed_bytes(cause.delta)} | layer {_cell(cause.detail)} | {_code(_instruction(cause.instruction, 60))} |"
    what = f"{_code(cause.name)} {_cell(cause.detail)}"
    return f"| {signed_bytes(cause.delta)} | {cause.kind.value} {what} | {_code(_instruction(cause.instruction, 60))} |"


def markdown_summary(c: Comparison, *, top: int = 3) -> list[str]:
    """The headline and the table of the largest causes: what a CI comment shows of a comparison."""
    out = [
        f"**{signed_bytes(c.size_change)}** ({_share(c)}): {human_bytes(c.before.size)} → {human_bytes(c.after.size)}"
        f" ({c.size_change:+,} bytes) · base image {_cell(_base_line(c))}",
        "",
    ]
    for title, growth in (("Grew", True), ("Shrank", False)):
        causes = c.causes(growth, top)
        if causes:
            out += [f"| {title} | What | Instruction |", "|---:|---|---|", *(_cause_row(x) for x in causes), ""]
    return out


def _details(summary: str, lines: list[str]) -> list[str]:
    return [f"<details><summary>{html.escape(summary)}</summary>", "", *lines, "", "</details>", ""] if lines else []


def render_diff_markdown(c: Comparison, *, top: int = TOP) -> str:
    out = [f"## slimview diff: {_code(c.before.name)} → {_code(c.after.name)}", "", *markdown_summary(c, top=min(top, 3))]
    rows = ["| Before | After | Status | Change | Instruction |", "|--:|--:|---|--:|---|"]
    rows += [
        f"| {_layers_cell(p.before)} | {_layers_cell(p.after)} | {p.status.value} | {signed_bytes(p.delta) if p.delta else '0 B'} | {_code(_pair_instruction(p))} |"
        for p in c.layers
    ]
    out += _details(f"Layers ({len(c.layers)} rows)", rows)
    packages = ["| Change | Package | Bytes |", "|---|---|--:|"]
    packages += [f"| {p.change.value} | {_code(_package_text(p))} | {signed_bytes(p.delta)} |" for p in c.packages[:top]]
    if c.packages:
        more = f" ({len(c.packages) - top} more in `slimview diff --json`)" if len(c.packages) > top else ""
        out += _details(f"Packages: {len(c.packages)} changed{more}", packages)
    places = ["| Change | Path | Bytes |", "|---|---|--:|"]
    places += [f"| {d.change.value} | {_code(_path(d, True))} | {signed_bytes(d.delta)} |" for d in c.directories[:top]]
    places += [f"| {'hidden' if d.hidden else d.change.value} | {_code(_path(d, False))} | {signed_bytes(d.delta)} |" for d in c.files[:top]]
    if c.files:
        out += _details(f"Directories and files: {len(c.files)} file bodies changed", places)
    findings = ["| Change | Kind | Bytes | Finding |", "|---|---|--:|---|"]
    findings += [f"| {f.change.value} | {f.kind.value} | {signed_bytes(f.delta) if f.delta else '-'} | {_cell(f.title)} |" for f in c.findings[:top]]
    if c.findings:
        new = sum(f.change == FindingChange.NEW for f in c.findings)
        resolved = sum(f.change == FindingChange.RESOLVED for f in c.findings)
        out += _details(f"Findings: {new} new, {resolved} resolved", findings)
    return "\n".join(out).rstrip("\n") + "\n"
