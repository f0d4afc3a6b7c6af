"""Extract: choose where a file, or a whole layer as a tar, is written out of the image.

The screen only chooses: it dismisses with an ``ExtractRequest`` and the app has the core
(slimview/extract.py) write it, in a worker.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Footer, Input, Label, Static

from slimview.ui.screens.export import ConfirmScreen


@dataclass(frozen=True)
class ExtractRequest:
    """Write into ``directory``; files holding secrets only with ``include_secrets``; an
    existing file replaced only with ``overwrite`` (after the user said so)."""

    directory: str
    include_secrets: bool
    overwrite: bool


class ExtractScreen(ModalScreen[ExtractRequest | None]):
    """What is extracted, into which directory, and whether secrets may go with it."""

    BINDINGS = [
        Binding("escape", "cancel", "Close", id="extract.close"),
        Binding("ctrl+s", "extract", "Extract", id="extract.extract"),
    ]

    def __init__(self, what: str, name: str, directory: str):
        super().__init__()
        self.what = what  # "/usr/bin/make as layer 2 stored it", "layer 2 as a tar"
        self.file_name = name  # the file name written in the directory
        self.directory = directory

    def compose(self) -> ComposeResult:
        with Vertical(id="extract-dialog", classes="dialog"):
            yield Static(Text.assemble("Extract ", (self.what, "bold"), f"\nas {self.file_name} into the directory below (made if missing)."), id="extract-what")
            with Horizontal(id="extract-save"):
                yield Label("Into ", id="extract-label")
                yield Input(self.directory, id="extract-directory")
            yield Checkbox("Include files that hold secrets", False, id="extract-secrets")
            with Horizontal(id="extract-buttons"):
                yield Button("Extract", id="extract-button", variant="primary")
                yield Button("Cancel", id="extract-cancel")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        dialog = self.query_one("#extract-dialog")
        dialog.border_title = "Extract"
        dialog.border_subtitle = "enter or ctrl+s extract · esc close"
        self.query_one("#extract-directory", Input).focus()

    def action_cancel(self) -> None:
        self.dismiss(None)

    def _request(self, overwrite: bool) -> ExtractRequest:
        directory = os.path.expanduser(self.query_one("#extract-directory", Input).value.strip() or ".")
        return ExtractRequest(directory, self.query_one("#extract-secrets", Checkbox).value, overwrite)

    def action_extract(self) -> None:
        request = self._request(overwrite=False)
        target = os.path.join(request.directory, self.file_name)
        if not os.path.lexists(target):
            self.dismiss(request)
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self.dismiss(self._request(overwrite=True))

        self.app.push_screen(ConfirmScreen([target]), answered)

    @on(Button.Pressed, "#extract-button")
    @on(Input.Submitted, "#extract-directory")
    def extract_pressed(self) -> None:
        self.action_extract()

    @on(Button.Pressed, "#extract-cancel")
    def cancel_pressed(self) -> None:
        self.dismiss(None)
