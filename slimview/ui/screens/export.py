"""Export: preview the rewrite (Dockerfile.slim and its .dockerignore) and choose where it goes.

The screen only chooses: it dismisses with an ``ExportRequest`` (what to write where, and
whether the user agreed to overwrite) and the app has the core write the files.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from rich.syntax import Syntax
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, Footer, Input, Label, LoadingIndicator, Static, TabbedContent, TabPane
from textual.worker import Worker

from slimview.display import human_bytes, printable
from slimview.rewrite import DOCKERFILE_NAME, DOCKERIGNORE_NAME
from slimview.rewrite.summary import UNKNOWN

if TYPE_CHECKING:
    from slimview.rewrite.model import Rewrite
    from slimview.ui.app import SlimviewApp

SYNTAX_THEME = "monokai"


@dataclass(frozen=True)
class ExportRequest:
    """Write ``files`` (name → text) into ``directory``; ``overwrite`` only after the user said so."""

    directory: str
    files: tuple[tuple[str, str], ...]
    overwrite: bool

    def paths(self) -> list[str]:
        return [os.path.join(self.directory, name) for name, _text in self.files]


def estimate_text(rewrite: Rewrite) -> Text:
    """The before/after estimate, one row per part of the image and the total."""
    rows = rewrite.sizes
    before, after = rewrite.size_before, rewrite.size_after
    text = Text()
    text.append("Estimated size  ", "bold")
    text.append(f"{human_bytes(before)} → {human_bytes(after)}", "bold green" if after < before else "bold")
    if rewrite.base_excluded:
        text.append(f" + {rewrite.base_excluded}  (not in the local engine: its size is left out)")
    elif before:
        text.append(f"  ({100 * (before - after) / before:.0f} % smaller)")
    text.append("\n")
    width = max((len(r.label) for r in rows), default=0)
    for r in rows:
        after_cell = UNKNOWN if r.after is None else human_bytes(r.after)
        text.append(f"  {r.label:<{width}}  {human_bytes(r.before):>9} → {after_cell:>9}\n", "dim")
    return text


def changes_text(rewrite: Rewrite) -> Text:
    text = Text()
    for fix in rewrite.fixes:
        text.append("• ")
        text.append(fix.summary)
        if fix.bytes:
            text.append(f"  (saves {human_bytes(fix.bytes)})", "green")
        text.append(f"  [{fix.kind}]\n", "dim")
    for note in rewrite.notes:
        text.append(f"note: {note}\n", "yellow")
    return text or Text("No changes.", style="dim")


class ConfirmScreen(ModalScreen[bool]):
    """Replace these files? Each one named on a line of its own; No is the default."""

    BINDINGS = [
        Binding("escape,n", "answer(False)", "No", id="confirm.no"),
        Binding("y", "answer(True)", "Yes", id="confirm.yes"),
    ]

    def __init__(self, existing: list[str]):
        super().__init__()
        self.existing = existing

    def question(self) -> Text:
        one = len(self.existing) == 1
        text = Text("This file already exists:\n" if one else "These files already exist:\n")
        for path in self.existing:
            text.append(f"  {printable(path)}\n", "bold")
        text.append("\nReplace it?" if one else "\nReplace them?")
        return text

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-dialog", classes="dialog"):
            yield Static(self.question(), id="confirm-question")
            with Horizontal(id="confirm-buttons"):
                yield Button("Overwrite", id="confirm-yes", variant="error")
                yield Button("Cancel", id="confirm-no", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#confirm-dialog").border_title = "Overwrite?"
        self.query_one("#confirm-no", Button).focus()

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)

    @on(Button.Pressed)
    def pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "confirm-yes")


class ExportScreen(ModalScreen[ExportRequest | None]):
    """Preview of the rewrite with its estimate; save to a directory or copy to the clipboard."""

    BINDINGS = [
        Binding("escape", "cancel", "Close", id="export.close"),
        Binding("ctrl+s", "save", "Save", id="export.save"),
        Binding("ctrl+y", "copy_dockerfile", "Copy Dockerfile", id="export.copy_dockerfile"),
        Binding("ctrl+g", "copy_dockerignore", "Copy .dockerignore", id="export.copy_dockerignore"),
    ]

    @dataclass
    class RewriteReady(Message):
        rewrite: Rewrite

    def __init__(self, make_rewrite: Callable[[], Rewrite], directory: str):
        super().__init__()
        self.make_rewrite = make_rewrite
        self.directory = directory
        self.rewrite: Rewrite | None = None
        self.dockerfile_name, self.dockerignore_name = DOCKERFILE_NAME, DOCKERIGNORE_NAME

    def compose(self) -> ComposeResult:
        with Vertical(id="export-dialog", classes="dialog"):
            yield Static(Text("Writing the rewrite…", style="dim"), id="export-estimate")
            yield LoadingIndicator(id="export-loading")
            with TabbedContent(id="export-tabs"):
                with TabPane(self.dockerfile_name, id="tab-dockerfile"):
                    with VerticalScroll():
                        yield Static(id="export-dockerfile")
                with TabPane(self.dockerignore_name, id="tab-dockerignore"):
                    with VerticalScroll():
                        yield Static(id="export-dockerignore")
                with TabPane("Changes", id="tab-changes"):
                    with VerticalScroll():
                        yield Static(id="export-changes")
            with Horizontal(id="export-save"):
                yield Label("Save into ", id="export-label")
                yield Input(self.directory, id="export-directory")
                yield Button("Save", id="export-save-button", variant="primary", disabled=True)
                yield Button("Copy", id="export-copy-button", disabled=True)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        dialog = self.query_one("#export-dialog")
        dialog.border_title = "Export the rewrite"
        dialog.border_subtitle = "ctrl+s save · ctrl+y copy Dockerfile · ctrl+g copy .dockerignore · esc close"
        self.query_one("#export-tabs").display = False
        self.build()

    @work(thread=True, exclusive=True, exit_on_error=False, group="export", name="export")
    def build(self) -> None:
        self.post_message(self.RewriteReady(self.make_rewrite()))

    @on(RewriteReady)
    def show_rewrite(self, message: RewriteReady) -> None:
        rewrite = self.rewrite = message.rewrite
        self.query_one("#export-loading").display = False
        self.query_one("#export-tabs").display = True
        self.query_one("#export-estimate", Static).update(estimate_text(rewrite))
        self.query_one("#export-dockerfile", Static).update(
            Syntax(rewrite.dockerfile, "docker", theme=SYNTAX_THEME, line_numbers=True, word_wrap=False)
        )
        self.query_one("#export-dockerignore", Static).update(
            Syntax(rewrite.dockerignore, "text", theme=SYNTAX_THEME, line_numbers=True, word_wrap=False)
        )
        self.query_one("#export-changes", Static).update(changes_text(rewrite))
        self.query_one("#export-save-button", Button).disabled = False
        self.query_one("#export-copy-button", Button).disabled = False
        self.query_one("#export-tabs").focus()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        cast("SlimviewApp", self.app).handle_worker_state(event)  # worker messages do not bubble: hand them to the app's handler

    def worker_failed(self, message: str) -> None:
        """Called by the app's worker-error handler."""
        self.query_one("#export-loading").display = False
        self.query_one("#export-estimate", Static).update(Text(f"No rewrite: {message}", style="red"))

    # -- actions -------------------------------------------------------------------------------
    def action_cancel(self) -> None:
        self.dismiss(None)

    def _request(self, overwrite: bool) -> ExportRequest:
        assert self.rewrite is not None, "saving is enabled once the rewrite is ready"
        directory = os.path.expanduser(self.query_one("#export-directory", Input).value.strip() or ".")
        files = ((self.dockerfile_name, self.rewrite.dockerfile), (self.dockerignore_name, self.rewrite.dockerignore))
        return ExportRequest(directory, files, overwrite)

    def action_save(self) -> None:
        if self.rewrite is None:
            return
        request = self._request(overwrite=False)
        existing = [path for path in request.paths() if os.path.lexists(path)]
        if not existing:
            self.dismiss(request)
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self.dismiss(self._request(overwrite=True))

        self.app.push_screen(ConfirmScreen(existing), answered)

    def action_copy_dockerfile(self) -> None:
        if self.rewrite is not None:
            self.app.copy_to_clipboard(self.rewrite.dockerfile)
            self.notify(f"{self.dockerfile_name} copied to the clipboard.", timeout=3)

    def action_copy_dockerignore(self) -> None:
        if self.rewrite is not None:
            self.app.copy_to_clipboard(self.rewrite.dockerignore)
            self.notify(f"{self.dockerignore_name} copied to the clipboard.", timeout=3)

    @on(Button.Pressed, "#export-save-button")
    def save_pressed(self) -> None:
        self.action_save()

    @on(Button.Pressed, "#export-copy-button")
    def copy_pressed(self) -> None:
        """Copies the file on the tab shown."""
        if self.query_one("#export-tabs", TabbedContent).active == "tab-dockerignore":
            self.action_copy_dockerignore()
        else:
            self.action_copy_dockerfile()

    @on(Input.Submitted, "#export-directory")
    def directory_submitted(self) -> None:
        self.action_save()
