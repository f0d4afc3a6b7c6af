"""Shown in place of the file tree while the image is saved and indexed, or when that failed.

The bar is determinate from the moment the image is described: it follows the latest
stage that knows its total (the bytes of an engine save, a registry download or a
compressed tarball; layers indexed), and before any does, the bytes of the layers read
so far out of the image's, as its source gave them.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.reactive import reactive
from textual.widgets import Label, ProgressBar

from slimview.display import human_bytes, plural
from slimview.index.partial import PartialIndex

BYTE_STAGES = {"read": "Reading", "scan": "Reading", "save": "Saving from the engine", "download": "Downloading from the registry"}
ABOUT = {"save"}  # stages whose total is an estimate (the engine's size of the files, not of its save)


class LoadingPanel(Vertical):
    """A progress bar bound to ``done``/``total`` plus what the stage means in words."""

    done: reactive[float] = reactive(0.0)
    total: reactive[float | None] = reactive(None)

    def __init__(self, reference: str, *, id: str | None = None):
        super().__init__(id=id)
        self.reference = reference
        self.bytes_line = ""
        self.layers_line = ""
        self.layer_line = ""
        self._stage_total = False  # a stage that knows its total drives the bar

    def compose(self) -> ComposeResult:
        yield Label(Text.assemble("Opening ", (self.reference, "bold")), id="loading-title")
        yield ProgressBar(show_eta=False, id="loading-bar").data_bind(progress=LoadingPanel.done, total=LoadingPanel.total)
        yield Label("", id="loading-stage")

    def progress(self, stage: str, done: int, total: int | None) -> None:
        if stage in BYTE_STAGES:
            about = "about " if stage in ABOUT else ""
            self.bytes_line = f"{BYTE_STAGES[stage]}: {human_bytes(done)}" + (f" of {about}{human_bytes(total)}" if total else "")
        elif stage == "layers":
            self.layers_line = f"Layers indexed: {done}" + (f" of {total}" if total else "")
        elif stage == "index":
            self.layers_line = f"Layers indexed: {done}"
        else:
            self.layers_line = f"{stage}: {done}" + (f" of {total}" if total else "")
        # The bar follows the latest stage that knows its total (bytes, then layers).
        if total:
            self._stage_total = True
            self.total = float(total)
            self.done = float(min(done, total))
        self._show()

    def reading(self, partial: PartialIndex) -> None:
        """The image is described, or one more of its layers was read."""
        described = partial.described
        self.query_one("#loading-title", Label).update(
            Text.assemble("Reading ", (described.image.name, "bold"), f": {plural(len(partial.layers), 'layer')}")
        )
        if not self.bytes_line and described.provisional:
            self.bytes_line = "Waiting for the engine's save (it writes the image out before sending its first byte)"
        self.layers_line = f"Layers read: {len(partial.read)} of {len(partial.layers)}"
        known = described.known_bytes
        if known and not self._stage_total:
            self.total = float(known)
            self.done = float(sum(max(described.sizes[i], 0) for i in partial.read))
        self._show()

    def for_layer(self, text: str) -> None:
        """A line about the layer the cursor is on (its files are not read yet)."""
        self.layer_line = text
        self._show()

    def _show(self) -> None:
        lines = (self.layer_line, self.bytes_line, self.layers_line)
        self.query_one("#loading-stage", Label).update("\n".join(line for line in lines if line))

    def finishing(self) -> None:
        self.layer_line = ""
        self.query_one("#loading-stage", Label).update("Building the file tree…")

    def merging(self) -> None:
        self.layer_line = ""
        self.bytes_line = "Every layer is read; merging them and working out what changed"
        self._show()

    def failed(self, message: str) -> None:
        self.query_one("#loading-bar", ProgressBar).display = False
        self.query_one("#loading-title", Label).update(Text.assemble(("Could not open the image", "bold red")))
        self.query_one("#loading-stage", Label).update(Text.assemble((message, "red"), "\n\nPress q to quit."))
        self.add_class("-failed")
