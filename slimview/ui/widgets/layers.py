"""The layers pane: one row per layer with its size, a proportional bar and its instruction."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import DataTable

from slimview.display import human_bytes
from slimview.dockerfile.history import NO_HISTORY, short_instruction
from slimview.index.model import ImageIndex

BAR_WIDTH = 8
NARROW_BAR_WIDTH = 5  # when the pane is under 50 cells wide
EIGHTHS = " ▏▎▍▌▋▊▉"
INSTRUCTION_MAX = 120  # the details pane shows it whole
SIZE_WIDTH = 8  # "999.9 kB"


def size_bar(size: int, largest: int, width: int = BAR_WIDTH) -> str:
    """A bar of ``width`` cells, in eighths, proportional to ``size / largest``."""
    if largest <= 0 or size <= 0:
        return " " * width
    eighths = max(1, round(8 * width * size / largest))
    full, part = divmod(eighths, 8)
    return ("█" * full + (EIGHTHS[part] if part else "")).ljust(width)


class LayersPane(DataTable):
    """Every layer, bottom first; the highlighted row drives the file tree."""

    def __init__(self, *, id: str | None = None):
        super().__init__(id=id, cursor_type="row", zebra_stripes=False)
        self.index: ImageIndex | None = None
        self._room = 0

    def on_mount(self) -> None:
        self._add_columns(digits=1, bar=BAR_WIDTH, room=len("Instruction"))

    def _add_columns(self, digits: int, bar: int, room: int) -> None:
        # Fixed widths: measured ones settle only when the table is next idle, and rows drawn
        # before that would stay on screen with the old widths.
        self.add_column("#", key="index", width=digits)
        self.add_column("Size", key="size", width=SIZE_WIDTH)
        self.add_column("", key="bar", width=bar)
        self.add_column("Instruction", key="instruction", width=room)

    def load(self, index: ImageIndex) -> None:
        self.index = index
        self._fill()

    def on_resize(self) -> None:
        if self.index is not None and self._instruction_room() != self._room:
            self._fill()

    def _digits(self) -> int:
        count = len(self.index.layers) if self.index is not None else 0
        return max(1, len(str(max(count - 1, 0))))

    def _instruction_room(self) -> int:
        """Cells left for the instruction so the table never scrolls sideways."""
        fixed = self._digits() + SIZE_WIDTH + self._bar_width() + 2 * 4 * self.cell_padding + 1  # + a scrollbar's cell
        return max(8, min(INSTRUCTION_MAX, self.scrollable_content_region.width - fixed))

    def _bar_width(self) -> int:
        return BAR_WIDTH if self.scrollable_content_region.width >= 50 else NARROW_BAR_WIDTH

    def _fill(self) -> None:
        index = self.index
        if index is None:
            return
        row = self.cursor_row
        self._room = room = self._instruction_room()
        bar = self._bar_width()
        self.clear(columns=True)
        self._add_columns(self._digits(), bar, room)
        largest = max((layer.stats.size for layer in index.layers), default=0)
        for layer in index.layers:
            instruction = short_instruction(layer.instruction) or NO_HISTORY
            if len(instruction) > room:
                instruction = instruction[: room - 1] + "…"
            self.add_row(
                Text(str(layer.index), justify="right"),
                Text(human_bytes(layer.stats.size), justify="right"),
                Text(size_bar(layer.stats.size, largest, bar), style="bold"),
                Text(instruction),  # not markup: instructions hold brackets
                key=str(layer.index),
            )
        if index.layers:
            self.move_cursor(row=min(max(row, 0), len(index.layers) - 1), animate=False)

    @property
    def layer_no(self) -> int | None:
        return self.cursor_row if self.row_count else None
