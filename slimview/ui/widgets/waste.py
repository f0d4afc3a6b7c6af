"""dive's wasted-files table, beside slimview's findings: each path stored more than once
across the layers, with how many times and the bytes of all its copies (dive's
"inefficient files", worked out as dive 0.13 does in ``index/waste.py``)."""

from __future__ import annotations

from rich.text import Text
from textual.binding import Binding
from textual.widgets import DataTable

from slimview.display import human_bytes, printable
from slimview.index.model import DiveEfficiency
from slimview.ui.cells import shorten

COUNT_WIDTH = 5
TOTAL_WIDTH = 9  # "999.9 kB "


class WastePane(DataTable):
    """Count, total bytes and path of every file dive counts as wasted, the most bytes first."""

    BINDINGS = [
        Binding("k", "cursor_up", "Up", show=False, id="wasted.up"),
        Binding("j", "cursor_down", "Down", show=False, id="wasted.down"),
        Binding("home", "scroll_top", "First", show=False, id="wasted.first"),
        Binding("end", "scroll_bottom", "Last", show=False, id="wasted.last"),
    ]

    def __init__(self, *, id: str | None = None):
        super().__init__(id=id, cursor_type="row", zebra_stripes=False, cell_padding=0)
        self.paths: list[tuple[str, int, int]] = []
        self._room = 0

    def on_mount(self) -> None:
        self._add_columns(self._path_room())

    def _add_columns(self, room: int) -> None:
        self.add_column(Text("Count".rjust(COUNT_WIDTH) + " "), key="count", width=COUNT_WIDTH + 1)
        self.add_column(Text("Total".rjust(TOTAL_WIDTH - 1) + " "), key="total", width=TOTAL_WIDTH)
        self.add_column("Path", key="path", width=room)

    def _path_room(self) -> int:
        return max(8, self.scrollable_content_region.width - COUNT_WIDTH - 1 - TOTAL_WIDTH - 1)

    def load(self, dive: DiveEfficiency) -> None:
        self.paths = dive.inefficient_paths
        self._fill()

    def on_resize(self) -> None:
        if self.paths and self._path_room() != self._room:
            self._fill()

    def _fill(self) -> None:
        row = self.cursor_row
        self._room = room = self._path_room()
        self.clear(columns=True)
        self._add_columns(room)
        for i, (path, total, count) in enumerate(self.paths):
            self.add_row(
                Text(f"{count:>{COUNT_WIDTH}} "),
                Text(f"{human_bytes(total):>{TOTAL_WIDTH - 1}} ", style="bold"),
                Text(shorten(printable("/" + path), room)),
                key=str(i),
            )
        if self.paths:
            self.move_cursor(row=min(max(row, 0), len(self.paths) - 1), animate=False)

    @property
    def selected(self) -> tuple[str, int, int] | None:
        """(path, bytes of all its copies, copies) under the cursor."""
        if not self.paths or not 0 <= self.cursor_row < len(self.paths):
            return None
        return self.paths[self.cursor_row]
