"""The compare mode's alignment pane: one row per pair of layers (shared runs collapsed),
with each row's change; the highlighted row narrows the changed files to what it made."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import DataTable

from slimview.compare import Comparison, LayerPair, LayerStatus
from slimview.display import signed_bytes
from slimview.dockerfile.history import NO_HISTORY, short_instruction

ALL_ROWS = "all"  # the first row: every change, whichever layer made it
STATUS_STYLE = {LayerStatus.SHARED: "dim", LayerStatus.CHANGED: "yellow", LayerStatus.REMOVED: "red", LayerStatus.ADDED: "green"}


def _layers(layers: range) -> str:
    if not layers:
        return "-"
    return str(layers[0]) if len(layers) == 1 else f"{layers[0]}-{layers[-1]}"


def pair_instruction(pair: LayerPair) -> str:
    """What made the row's layers, for people."""
    if pair.status == LayerStatus.SHARED and len(pair.after) > 1:
        return f"{len(pair.after)} shared layers"
    created_by = pair.before_instruction if pair.status == LayerStatus.REMOVED else pair.after_instruction
    return short_instruction(created_by) or NO_HISTORY


class AlignmentPane(DataTable):
    """The layers of both images side by side."""

    def __init__(self, *, id: str | None = None):
        super().__init__(id=id, cursor_type="row", zebra_stripes=False)
        self.comparison: Comparison | None = None

    def on_mount(self) -> None:
        for label, key in (("Before", "before"), ("After", "after"), ("Status", "status"), ("Change", "change"), ("Instruction", "instruction")):
            self.add_column(label, key=key)

    def load(self, comparison: Comparison) -> None:
        self.comparison = comparison
        self.clear()
        self.add_row(Text("all", style="bold"), Text(""), Text(""), Text(signed_bytes(comparison.size_change), justify="right"),
                     Text("every change"), key=ALL_ROWS)
        for n, pair in enumerate(comparison.layers):
            self.add_row(
                Text(_layers(pair.before), justify="right"),
                Text(_layers(pair.after), justify="right"),
                Text(pair.status.value, style=STATUS_STYLE[pair.status]),
                Text(signed_bytes(pair.delta) if pair.delta else "0 B", justify="right"),
                Text(pair_instruction(pair)[:100]),  # not markup: instructions hold brackets
                key=str(n),
            )
        self.move_cursor(row=0)

    @property
    def pair(self) -> LayerPair | None:
        """The highlighted row's pair; None for the first row (every change)."""
        if self.comparison is None or self.cursor_row <= 0:
            return None
        return self.comparison.layers[self.cursor_row - 1]
