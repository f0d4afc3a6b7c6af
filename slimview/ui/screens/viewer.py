"""A read-only viewer for one file's contents, read from the archive (never extracted).

The core decides what may be shown (``index.content.read_body`` withholds secrets); the
viewer presents text as text and binaries as hex."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Footer, Label, Static, TextArea
from textual.worker import Worker

from slimview.display import human_bytes, printable
from slimview.index.content import read_body
from slimview.index.model import ImageIndex

if TYPE_CHECKING:
    from slimview.ui.app import SlimviewApp

VIEW_LIMIT = 1 << 20  # bytes shown at most
HEX_LIMIT = 4096  # bytes of a binary file shown as hex


def looks_binary(body: bytes) -> bool:
    head = body[:8192]
    if b"\0" in head:
        return True
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start < len(head) - 4  # a character cut at the end is still text
    return False


def hex_dump(body: bytes) -> str:
    lines = []
    for offset in range(0, min(len(body), HEX_LIMIT), 16):
        chunk = body[offset : offset + 16]
        printable = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
        lines.append(f"{offset:08x}  {chunk.hex(' '):<47}  {printable}")
    return "\n".join(lines)


def presented(body: bytes, size: int) -> tuple[str, str]:
    """(status line, text) for a body: binaries as hex, text as text."""
    more = f", first {human_bytes(len(body))} shown" if len(body) < size else ""
    if looks_binary(body):
        shown_bytes = min(len(body), HEX_LIMIT)
        return f"{human_bytes(size)} binary, first {human_bytes(shown_bytes)} as hex", hex_dump(body)
    return f"{human_bytes(size)} text{more}", body.decode("utf-8", "replace")


class FileViewerScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,v", "dismiss", "Close", id="viewer.close")]

    @dataclass
    class ContentsRead(Message):
        status: str
        text: str

    def __init__(self, index: ImageIndex, layer_no: int, path: str, size: int):
        super().__init__()
        self.index = index
        self.layer_no = layer_no
        self.path = path
        self.file_size = size

    def compose(self) -> ComposeResult:
        with Vertical(id="viewer-dialog", classes="dialog"):
            yield Label("Reading…", id="viewer-status")
            yield TextArea("", read_only=True, show_line_numbers=True, soft_wrap=False, id="viewer-text")
            yield Static("", id="viewer-reason")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one("#viewer-reason").display = False
        dialog = self.query_one("#viewer-dialog")
        dialog.border_title = Text(f"/{printable(self.path)} (layer {self.layer_no})")
        dialog.border_subtitle = "Esc closes"
        self.query_one("#viewer-text").focus()
        self.load()

    @work(thread=True, exclusive=True, exit_on_error=False, group="viewer", name="viewer")
    def load(self) -> None:
        body = read_body(self.index, self.layer_no, self.path, VIEW_LIMIT)
        status, text = presented(body, self.file_size)
        self.post_message(self.ContentsRead(status, text))

    @on(ContentsRead)
    def show_text(self, message: ContentsRead) -> None:
        self.query_one("#viewer-status", Label).update(Text(message.status))
        self.query_one("#viewer-text", TextArea).load_text(message.text)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        cast("SlimviewApp", self.app).handle_worker_state(event)  # worker messages do not bubble: hand them to the app's handler

    def worker_failed(self, message: str) -> None:
        """Called by the app's worker-error handler: the reason replaces the (empty) text, so
        no line numbers stand there without lines."""
        self.query_one("#viewer-status", Label).update(Text("Cannot show this file."))
        self.query_one("#viewer-text", TextArea).display = False
        self.query_one("#viewer-reason", Static).update(Text(message))
        self.query_one("#viewer-reason", Static).display = True
