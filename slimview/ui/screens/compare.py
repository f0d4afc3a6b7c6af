"""The explorer's compare mode (``slimview IMAGE --compare BASELINE``): the two images'
layers aligned, and the changed files to walk, largest change first.

It shows what ``slimview diff BASELINE IMAGE`` prints, from the same comparison
(``slimview.compare``), worked out in a thread worker. The highlighted row of the
alignment narrows the files to the changes its layers made; Escape goes on to the
explorer of IMAGE.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static, Tree
from textual.worker import Worker

from slimview import session
from slimview.compare import BaseStatus, Comparison
from slimview.compare.tree import ChangeNode, ChangeTree, made_by
from slimview.display import exact_bytes, printable, signed_bytes
from slimview.dockerfile.history import short_instruction
from slimview.index import IndexOptions
from slimview.ui.widgets.alignment import AlignmentPane, pair_instruction
from slimview.ui.widgets.changes import ChangesPane

if TYPE_CHECKING:
    from slimview.ui.app import SlimviewApp

PROGRESS_EVERY = 0.1  # seconds between progress lines


def headline(c: Comparison) -> Text:
    """The comparison in two lines: both images, the size change, and the base image."""
    share = f" ({100 * c.share:+.1f} %)" if c.before.size else ""
    base = {
        BaseStatus.SAME: f"same base image ({c.base.after.name or 'unnamed'})",
        BaseStatus.UNKNOWN: "base image unknown",
        BaseStatus.CHANGED: f"base image changed: {c.base.before.name or 'unnamed'} → {c.base.after.name or 'unnamed'}"
        + (f" ({signed_bytes(c.base.delta)}; {signed_bytes(c.own_change)} not from it)" if c.base.delta else ""),
    }[c.base.status]
    return Text.assemble(
        (printable(c.before.name), "bold"), " → ", (printable(c.after.name), "bold"), "   ",
        (signed_bytes(c.size_change), "bold"), share, f"  [{exact_bytes(c.before.size)} → {exact_bytes(c.after.size)}]\n", base,
    )


def change_details(c: Comparison, node: ChangeNode) -> Text:
    """What the details line says about a changed file or directory."""
    if node.is_dir:
        return Text(f"/{printable(node.path)}/  {signed_bytes(node.delta)} in the files below it")
    lines = [f"/{printable(node.path)}  {signed_bytes(node.delta)}"]
    for d in node.changes:
        where = "stored, then hidden by a later layer" if d.hidden else d.change.value
        lines.append(f"  {where}: {exact_bytes(d.before_bytes)} → {exact_bytes(d.after_bytes)}")
        if d.before_layer is not None:
            lines.append(f"  before: layer {d.before_layer} {short_instruction(c.before.instruction(d.before_layer))[:100]}")
        if d.after_layer is not None:
            lines.append(f"  after:  layer {d.after_layer} {short_instruction(c.after.instruction(d.after_layer))[:100]}")
    return Text("\n".join(lines))


class CompareScreen(Screen[None]):
    CSS_PATH = "compare.tcss"
    BINDINGS = [Binding("escape", "app.pop_screen", "Explorer", id="compare.close", tooltip="Go on to the explorer of the image")]

    @dataclass
    class Progressed(Message):
        text: str

    @dataclass
    class Compared(Message):
        comparison: Comparison

    def __init__(self, before: str, after: str, options: IndexOptions | None = None):
        super().__init__()
        self.before = before
        self.after = after
        self.options = options or IndexOptions()
        self.comparison: Comparison | None = None

    def compose(self) -> ComposeResult:
        yield Static(Text.assemble("Comparing ", (self.before, "bold"), " with ", (self.after, "bold"), "…"), id="compare-summary")
        with Horizontal(id="compare-main"):
            yield AlignmentPane(id="compare-layers")
            with Vertical(id="compare-right"):
                yield ChangesPane(id="compare-files")
                yield Static("", id="compare-details")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one("#compare-layers").border_title = "Layers: before → after"
        self.query_one("#compare-files").border_title = "Changed files"
        self.query_one("#compare-layers").focus()
        self.load()

    @work(thread=True, exclusive=True, exit_on_error=False, group="compare", name="compare")
    def load(self) -> None:
        last = 0.0

        def progress(stage: str, done: int, total: int | None) -> None:
            nonlocal last
            now = time.monotonic()
            if now - last >= PROGRESS_EVERY:
                last = now
                self.post_message(self.Progressed(f"{stage}: {done:,}" + (f" of {total:,}" if total else "")))

        self.post_message(self.Compared(session.compare_images(self.before, self.after, self.options, progress)))

    @on(Progressed)
    def show_progress(self, message: Progressed) -> None:
        if self.comparison is None:
            self.query_one("#compare-details", Static).update(Text(message.text, style="dim"))

    @on(Compared)
    def show(self, message: Compared) -> None:
        c = self.comparison = message.comparison
        self.query_one("#compare-summary", Static).update(headline(c))
        self.query_one(AlignmentPane).load(c)
        self._show_files()

    def _show_files(self) -> None:
        c = self.comparison
        if c is None:
            return
        pair = self.query_one(AlignmentPane).pair
        changes = ChangeTree(c.files if pair is None else made_by(pair, c.files))
        files = self.query_one(ChangesPane)
        files.load(changes)
        what = "every layer" if pair is None else pair_instruction(pair)[:60]
        files.border_title = f"Changed files · {what}"
        files.border_subtitle = f"{len(changes):,} files, {signed_bytes(changes.total)}"
        self.query_one("#compare-details", Static).update(Text("Enter opens a directory; Escape goes on to the explorer.", style="dim"))

    @on(DataTable.RowHighlighted, "#compare-layers")
    def row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if self.comparison is not None and event.cursor_row == event.data_table.cursor_row:
            self._show_files()

    @on(Tree.NodeHighlighted, "#compare-files")
    def file_highlighted(self, event: Tree.NodeHighlighted) -> None:
        node = event.node.data
        if self.comparison is not None and isinstance(node, ChangeNode):
            self.query_one("#compare-details", Static).update(change_details(self.comparison, node))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        cast("SlimviewApp", self.app).handle_worker_state(event)  # worker messages do not bubble: hand them to the app's handler

    def worker_failed(self, message: str) -> None:
        """Called by the app's worker-error handler."""
        self.query_one("#compare-summary", Static).update(Text.assemble(("Could not compare the images: ", "bold red"), message))
