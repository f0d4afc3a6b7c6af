"""Shown in place of the file tree while the image is saved and indexed, or when that failed."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.reactive import reactive
from textual.widgets import Label, ProgressBar

from slimview.display import human_bytes

BYTE_STAGES = {"read": "Reading", "scan": "Reading", "save": "Saving from the engine", "download": "Downloading from the registry"}


class LoadingPanel(Vertical):
    """A progress bar bound to ``done``/``total`` plus what the stage means in words."""

    done: reactive[float] = reactive(0.0)
    total: reactive[float | None] = reactive(None)

    def __init__(self, reference: str, *, id: str | None = None):
        super().__init__(id=id)
        self.reference = reference
        self.bytes_line = ""
        self.layers_line = ""

    def compose(self) -> ComposeResult:
        yield Label(Text.assemble("Opening ", (self.reference, "bold")), id="loading-title")
        yield ProgressBar(show_eta=False, id="loading-bar").data_bind(progress=LoadingPanel.done, total=LoadingPanel.total)
        yield Label("", id="loading-stage")

    def progress(self, stage: str, done: int, total: int | None) -> None:
        if stage in BYTE_STAGES:
            self.bytes_line = f"{BYTE_STAGES[stage]}: {human_bytes(done)}" + (f" of {human_bytes(total)}" if total else "")
        elif stage == "layers":
            self.layers_line = f"Layers indexed: {done}" + (f" of {total}" if total else "")
        elif stage == "index":
            self.layers_line = f"Layers indexed: {done}"
        else:
            self.layers_line = f"{stage}: {done}" + (f" of {total}" if total else "")
        # The bar follows the stage that knows its total: bytes first, then layers.
        if total:
            self.total = float(total)
            self.done = float(done)
        self.query_one("#loading-stage", Label).update("\n".join(line for line in (self.bytes_line, self.layers_line) if line))

    def finishing(self) -> None:
        self.query_one("#loading-stage", Label).update("Building the file tree…")

    def failed(self, message: str) -> None:
        self.query_one("#loading-bar", ProgressBar).display = False
        self.query_one("#loading-title", Label).update(Text.assemble(("Could not open the image", "bold red")))
        self.query_one("#loading-stage", Label).update(Text.assemble((message, "red"), "\n\nPress q to quit."))
        self.add_class("-failed")
