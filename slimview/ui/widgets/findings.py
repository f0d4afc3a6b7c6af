"""The findings pane: ranked by bytes, grouped by kind; Enter jumps to the layer and files."""

from __future__ import annotations

from collections import defaultdict

from rich.style import Style
from rich.text import Text
from textual.binding import Binding
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from slimview.display import human_bytes
from slimview.findings.model import Finding

WAITING = "Findings once all layers are read"  # whole in the pane at 80x24
SEVERITY_STYLE = {"high": "bold red", "medium": "yellow", "low": "cyan", "info": "dim"}


def grouped(findings: list[Finding]) -> list[tuple[str, int, list[Finding]]]:
    """(kind, bytes, findings) groups, the group saving most first, each ranked by bytes."""
    groups: dict[str, list[Finding]] = defaultdict(list)
    for finding in findings:
        groups[finding.kind].append(finding)
    out = []
    for kind, items in groups.items():
        items.sort(key=lambda f: -f.bytes)
        out.append((kind, sum(f.bytes for f in items), items))
    out.sort(key=lambda g: (-g[1], g[0]))
    return out


class FindingsPane(Tree[Finding | None]):
    """Findings as a two-level tree: kind, then each finding."""

    BINDINGS = [
        Binding("k", "cursor_up", "Up", show=False, id="findings.up"),
        Binding("j", "cursor_down", "Down", show=False, id="findings.down"),
        Binding("home", "first", "First", show=False, id="findings.first"),
        Binding("end", "last", "Last", show=False, id="findings.last"),
    ]

    def __init__(self, *, id: str | None = None):
        super().__init__("Findings", id=id)
        self.show_root = False
        self.guide_depth = 2

    def on_mount(self) -> None:
        self.root.add_leaf(Text(WAITING, style="dim"), data=None)  # until the findings are in

    def action_first(self) -> None:
        self.cursor_line = 0

    def action_last(self) -> None:
        self.cursor_line = self.last_line

    def render_label(self, node: TreeNode[Finding | None], base_style: Style, style: Style) -> Text:
        """The label cut with "…" to the room its guides leave (never cut unmarked at the edge)."""
        label = super().render_label(node, base_style, style)
        depth = 0  # below the (hidden) root
        parent = node.parent
        while parent is not None and parent is not self.root:
            depth += 1
            parent = parent.parent
        room = self.scrollable_content_region.width - self.guide_depth * depth
        if room > 0 and label.cell_len > room:
            label.truncate(room, overflow="ellipsis")
        return label

    def load(self, findings: list[Finding]) -> None:
        self.clear()
        if not findings:
            self.root.add_leaf(Text("No findings", style="dim"), data=None)
            return
        for kind, total, items in grouped(findings):
            label = Text.assemble((f"{kind}", "bold"), f" ({len(items)}) ", (human_bytes(total) if total else "", "dim"))
            group = self.root.add(label, data=None, expand=True)
            for finding in items:
                amount = human_bytes(finding.bytes) if finding.bytes else "-"
                group.add_leaf(
                    Text.assemble(
                        (f"{amount:>9} ", "bold"),
                        (f"{finding.severity.upper():<6} ", SEVERITY_STYLE.get(finding.severity, "")),
                        finding.title,
                    ),
                    data=finding,
                )
        self.cursor_line = 0

    @property
    def finding(self) -> Finding | None:
        node = self.cursor_node
        return node.data if node is not None else None
