"""The compare mode's changed files: a tree of directories and files, each with its change
in bytes, the largest first; directories are filled when opened (a change of base image
can touch tens of thousands of files)."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from slimview.compare.model import PathChange
from slimview.compare.tree import ChangeNode, ChangeTree
from slimview.display import printable, signed_bytes

CHANGE_STYLE = {PathChange.ADDED: "green", PathChange.REMOVED: "red", PathChange.GROWN: "yellow", PathChange.SHRUNK: "cyan",
                PathChange.CHANGED: "yellow"}


def node_label(node: ChangeNode) -> Text:
    amount = signed_bytes(node.delta) if node.delta else "0 B"
    if node.is_dir:
        return Text.assemble((f"{amount:>10} ", "bold"), (printable(node.name) + "/", "bold"))
    change = node.changes[0]
    hidden = all(d.hidden for d in node.changes)
    what = "hidden" if hidden else change.change.value
    return Text.assemble((f"{amount:>10} ", "bold"), printable(node.name), (f"  {what}", "dim" if hidden else CHANGE_STYLE[change.change]))


class ChangesPane(Tree[ChangeNode]):
    """The changed files; Enter or space opens a directory."""

    def __init__(self, *, id: str | None = None):
        super().__init__("changes", id=id)
        self.show_root = False
        self.guide_depth = 2
        self.changes: ChangeTree | None = None

    def load(self, changes: ChangeTree) -> None:
        self.changes = changes
        self.clear()
        self._fill(self.root, "")
        if not len(changes):
            self.root.add_leaf(Text("No file changed here", style="dim"))
        self.cursor_line = 0

    def _fill(self, parent: TreeNode[ChangeNode], directory: str) -> None:
        assert self.changes is not None, "filled only once loaded"
        for node in self.changes.children(directory):
            if node.is_dir:
                parent.add(node_label(node), data=node, allow_expand=True)
            else:
                parent.add_leaf(node_label(node), data=node)

    def on_tree_node_expanded(self, event: Tree.NodeExpanded[ChangeNode]) -> None:
        node = event.node
        if node.data is not None and node.data.is_dir and not node.children:
            self._fill(node, node.data.path)

    @property
    def change(self) -> ChangeNode | None:
        node = self.cursor_node
        return node.data if node is not None else None
