"""The layers pane: one row per layer with its size, a proportional bar and its instruction.

Rows come from the finished index, or, while the image is read, from its description:
a layer still being read is drawn dim, with the size its source gave, and no bar.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.binding import Binding
from textual.widgets import DataTable

from slimview.display import human_bytes
from slimview.dockerfile.history import NO_HISTORY, short_instruction
from slimview.index.model import ImageIndex
from slimview.index.partial import PartialIndex
from slimview.ui.cells import shorten

BAR_WIDTH = 8
NARROW_BAR_WIDTH = 3  # when the pane is under 50 cells wide
NO_BAR_BELOW = 30  # no bar at all in a pane narrower than this
EIGHTHS = " ▏▎▍▌▋▊▉"
INSTRUCTION_MAX = 120  # the details pane shows it whole
SIZE_WIDTH = 8  # "999.9 kB"
READING = "·"  # the bar of a layer still being read


def size_bar(size: int, largest: int, width: int = BAR_WIDTH) -> str:
    """A bar of ``width`` cells, in eighths, proportional to ``size / largest``."""
    if largest <= 0 or size <= 0:
        return " " * width
    eighths = max(1, round(8 * width * size / largest))
    full, part = divmod(eighths, 8)
    return ("█" * full + (EIGHTHS[part] if part else "")).ljust(width)


@dataclass(frozen=True)
class LayerRow:
    """What the pane shows of one layer."""

    number: int
    size: int  # bytes of its files; while being read, what its source said (-1: nothing)
    instruction: str  # the history line that made it
    read: bool = True  # False: its files are still being read


def index_rows(index: ImageIndex) -> list[LayerRow]:
    return [LayerRow(layer.index, layer.stats.size, layer.instruction) for layer in index.layers]


def partial_rows(partial: PartialIndex) -> list[LayerRow]:
    return [LayerRow(layer.index, partial.size(layer.index), layer.instruction, layer.index in partial.read) for layer in partial.layers]


class LayersPane(DataTable):
    """Every layer, bottom first; the highlighted row drives the file tree."""

    BINDINGS = [
        Binding("k", "cursor_up", "Up", show=False, id="layers.up"),
        Binding("j", "cursor_down", "Down", show=False, id="layers.down"),
        Binding("home", "scroll_top", "First layer", show=False, id="layers.first"),
        Binding("end", "scroll_bottom", "Last layer", show=False, id="layers.last"),
    ]

    def __init__(self, *, id: str | None = None):
        # No padding: each cell carries its own trailing space, so the instruction keeps the room.
        super().__init__(id=id, cursor_type="row", zebra_stripes=False, cell_padding=0)
        self.rows_shown: list[LayerRow] = []
        self._room = 0

    def on_mount(self) -> None:
        self._add_columns(digits=1, bar=self._bar_width(), room=len("Instruction"))

    def _add_columns(self, digits: int, bar: int, room: int) -> None:
        # Fixed widths: measured ones settle only when the table is next idle, and rows drawn
        # before that would stay on screen with the old widths.
        self.add_column(Text("#".rjust(digits) + " "), key="index", width=digits + 1)
        self.add_column(Text("Size".rjust(SIZE_WIDTH) + " "), key="size", width=SIZE_WIDTH + 1)
        if bar:
            self.add_column("", key="bar", width=bar + 1)
        self.add_column("Instruction", key="instruction", width=room)

    def show_rows(self, rows: list[LayerRow]) -> None:
        self.rows_shown = rows
        self._fill()

    def on_resize(self) -> None:
        if self.rows_shown and self._instruction_room() != self._room:
            self._fill()

    def _digits(self) -> int:
        return max(1, len(str(max(len(self.rows_shown) - 1, 0))))

    def _instruction_room(self) -> int:
        """Cells left for the instruction so the table never scrolls sideways."""
        bar = self._bar_width()
        fixed = self._digits() + 1 + SIZE_WIDTH + 1 + (bar + 1 if bar else 0) + 1  # + a scrollbar's cell
        return max(8, min(INSTRUCTION_MAX, self.scrollable_content_region.width - fixed))

    def _bar_width(self) -> int:
        width = self.scrollable_content_region.width
        return BAR_WIDTH if width >= 50 else NARROW_BAR_WIDTH if width >= NO_BAR_BELOW else 0

    def _fill(self) -> None:
        rows = self.rows_shown
        row = self.cursor_row
        self._room = room = self._instruction_room()
        bar = self._bar_width()
        digits = self._digits()
        self.clear(columns=True)
        self._add_columns(digits, bar, room)
        largest = max((r.size for r in rows), default=0)
        for r in rows:
            style = "" if r.read else "dim"
            size = human_bytes(r.size) if r.size >= 0 else "?"
            cells = [Text(f"{r.number:>{digits}} ", style=style), Text(f"{size:>{SIZE_WIDTH}} ", style=style)]
            if bar:
                drawn = size_bar(r.size, largest, bar) if r.read else (READING * bar)
                cells.append(Text(drawn + " ", style="bold" if r.read else "dim"))
            instruction = short_instruction(r.instruction) or NO_HISTORY
            cells.append(Text(shorten(instruction, room), style=style))  # not markup: instructions hold brackets
            self.add_row(*cells, key=str(r.number))
        if rows:
            self.move_cursor(row=min(max(row, 0), len(rows) - 1), animate=False)

    @property
    def layer_no(self) -> int | None:
        return self.cursor_row if self.row_count else None
