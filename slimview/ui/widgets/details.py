"""The details pane: whatever the focused pane points at (a layer, a file or a finding)."""

from __future__ import annotations

import re

from rich.text import Text
from textual.binding import Binding
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from slimview.display import human_bytes, plural, printable
from slimview.dockerfile.history import NO_HISTORY, short_instruction
from slimview.findings.model import Finding
from slimview.index.model import Change, ImageIndex, LayerIndex
from slimview.index.partial import PartialIndex
from slimview.index.secretscan import env_holds_secret
from slimview.index.tree import TreeView
from slimview.source.model import SizeMeasure, SourceImage
from slimview.source.tarstream import EntryType
from slimview.ui.widgets.filetree import MARKS, permissions

PATHS_SHOWN = 12
LABEL_WIDTH = 13  # "Digest       ": the column values start in
CHANGE_STYLE = {Change.ADDED: "green", Change.MODIFIED: "yellow", Change.DELETED: "red", Change.UNCHANGED: "dim"}


def _bytes(n: int) -> str:
    return f"{human_bytes(n)} ({n:,} bytes)" if n >= 1000 else f"{n} bytes"


def _finding_line(text: Text, finding: Finding) -> None:
    amount = human_bytes(finding.bytes) if finding.bytes else "-"
    text.append(f"  {amount:>9} ", "bold")
    text.append(f"{finding.severity.upper():<6} ")
    text.append(finding.title + "\n")


def layer_details(index: ImageIndex, layer: LayerIndex, findings: list[Finding]) -> Text:
    s = layer.stats
    text = Text()
    text.append(f"Layer {layer.index}", "bold")
    text.append(f" of {len(index.layers)}\n")
    text.append("Digest       ", "dim")
    text.append((layer.digest or "unknown") + "\n")
    if layer.ref.digest and layer.ref.digest != layer.digest:
        text.append("Blob         ", "dim")
        text.append(layer.ref.digest + "\n")
    text.append("Size         ", "dim")
    text.append(_bytes(s.size) + "\n")
    text.append("Entries      ", "dim")
    text.append(f"{s.entries:,}: +{s.added:,} added, ~{s.modified:,} modified, -{s.deleted:,} deleted\n")
    if s.hidden_stored:
        text.append("Hidden later ", "dim")
        text.append(_bytes(s.hidden_stored) + " stored here, deleted or overwritten above\n")
    if s.bytes_deleted or s.bytes_overwritten:
        text.append("Hides        ", "dim")
        text.append(f"{human_bytes(s.bytes_deleted)} deleted, {human_bytes(s.bytes_overwritten)} overwritten from below\n")
    text.append("Instruction\n", "dim")
    text.append((layer.instruction or NO_HISTORY) + "\n")
    text.append("Findings in this layer\n", "dim")
    if findings:
        for finding in findings:
            _finding_line(text, finding)
    else:
        text.append("  none\n")
    return text


def _field(text: Text, label: str, value: str) -> None:
    text.append(f"{label:<{LABEL_WIDTH}}", "dim")
    text.append(value + "\n")


def image_details(source: SourceImage, sizes: tuple[int, ...] = (), measure: SizeMeasure = SizeMeasure.FILE_BYTES, provisional: bool = False) -> Text:
    """The image's config: what it runs, as whom, where, with what (``sizes``: each layer's,
    while the image is still read)."""
    config = source.image_config
    text = Text()
    text.append(printable(source.name) + "\n", "bold")
    if provisional:
        text.append("as the engine describes it; its own config replaces this once the save is read\n", "dim")
    _field(text, "Platform", source.platform or "unknown")
    created = str(source.config.get("created") or "")
    if created:
        _field(text, "Created", created)
    if source.config_digest:
        _field(text, "Image id", source.config_digest)
    known = [size for size in sizes if size >= 0]
    shown = f", {human_bytes(sum(known))} {measure.value}" if known else ""
    _field(text, "Layers", plural(len(source.layers), "layer") + shown)
    _field(text, "User", printable(str(config.get("User") or "")) or "root (none set)")
    _field(text, "Workdir", printable(str(config.get("WorkingDir") or "")) or "/ (none set)")
    for label, key in (("Entrypoint", "Entrypoint"), ("Command", "Cmd")):
        value = config.get(key)
        if value:
            _field(text, label, printable(" ".join(str(v) for v in value) if isinstance(value, list) else str(value)))
    ports = config.get("ExposedPorts") or {}
    if ports:
        _field(text, "Ports", ", ".join(sorted(printable(str(p)) for p in ports)))
    health = config.get("Healthcheck") or {}
    if isinstance(health, dict) and health.get("Test"):
        _field(text, "Health check", printable(" ".join(str(v) for v in health["Test"])))
    env = [str(e) for e in config.get("Env") or []]
    if env:
        text.append("Environment\n", "dim")
        for entry in env:
            name = entry.partition("=")[0]
            if env_holds_secret(entry):
                text.append(f"  {printable(name)}=", "")
                text.append("(withheld: it looks like a secret)\n", "dim")
            else:
                text.append(f"  {printable(entry)}\n")
    labels = config.get("Labels") or {}
    if isinstance(labels, dict) and labels:
        text.append("Labels\n", "dim")
        for key, value in sorted(labels.items()):
            text.append(f"  {printable(str(key))}={printable(str(value))}\n")
    return text


def partial_layer_details(partial: PartialIndex, layer_no: int) -> Text:
    """A layer while the image is read: what its source said, and its files once read."""
    layer = partial.layers[layer_no]
    text = Text()
    text.append(f"Layer {layer_no}", "bold")
    text.append(f" of {len(partial.layers)}\n")
    _field(text, "Digest", layer.digest or "unknown")
    if layer_no in partial.read:
        _field(text, "Size", _bytes(layer.stats.size))
        _field(text, "Entries", f"{layer.stats.entries:,} (how they change the layers below comes once every layer is read)")
    else:
        size = partial.described.sizes[layer_no]
        said = f"{_bytes(size)} {partial.described.measure.value}, as its source says" if size >= 0 else "not known yet"
        _field(text, "Size", said)
        _field(text, "Files", "still being read")
    text.append("Instruction\n", "dim")
    text.append((layer.instruction or NO_HISTORY) + "\n")
    return text


def waste_details(index: ImageIndex, path: str, total: int, count: int) -> Text:
    """One row of dive's wasted-files table: the path, its copies, and the layers that touched it."""
    text = Text()
    text.append("/" + printable(path) + "\n", "bold")
    _field(text, "Count", f"{count:,} layers add, change or delete it")
    _field(text, "Total", _bytes(total) + " across them (dive counts all of it as wasted)")
    text.append("Touched by\n", "dim")
    for layer_no, change in index.path_history(path):
        text.append(f"  #{layer_no:<3} ")
        text.append(f"{MARKS.get(change, '=')} {Change.NAMES.get(change, '?'):<9}", CHANGE_STYLE.get(change, ""))
        text.append(f" {short_instruction(index.layers[layer_no].instruction)}\n")
    return text


def file_details(index: ImageIndex, view: TreeView, path: str, findings: list[Finding]) -> Text:
    text = Text()
    text.append("/" + printable(path) + "\n", "bold")
    found = view.entry(path)
    kind = view.kind(path)
    if found is None:
        text.append("directory (implied by the entries below it)\n")
        text.append("Size         ", "dim")
        text.append(_bytes(view.size(path)) + " below\n")
    else:
        entry, layer_no = found
        if kind == Change.DELETED:
            text.append(f"Deleted by layer {view.layer_no}", "red")
            text.append(f"; it was stored by layer {layer_no}\n")
        text.append("Type         ", "dim")
        text.append(EntryType.NAMES[entry.type] + "\n")
        text.append("Size         ", "dim")
        if entry.type == EntryType.DIR or path in view.kids:
            text.append(_bytes(view.size(path)) + f" below, {plural(len(view.kids.get(path, ())), 'entry', 'entries')}\n")
        else:
            text.append(_bytes(entry.size) + "\n")
        text.append("Mode         ", "dim")
        text.append(f"{permissions(entry.type, entry.mode)} ({entry.mode & 0o7777:04o})  uid {entry.uid}  gid {entry.gid}\n")
        if entry.link:
            text.append("Link to      ", "dim")
            text.append(("/" if entry.type == EntryType.HARDLINK else "") + printable(entry.link) + "\n")
        if entry.type == EntryType.FILE:
            text.append("Content hash ", "dim")
            text.append("xxh3-128 " + entry.hash.hex() + "\n")
        text.append("From layer   ", "dim")
        text.append(f"{layer_no}: {short_instruction(index.layers[layer_no].instruction) or NO_HISTORY}\n")
    history = index.path_history(path)
    text.append("Touched by\n", "dim")
    if history:
        for layer_no, change in history:
            text.append(f"  #{layer_no:<3} ")
            # 0: a layer listed before the layers below it were read (no change kind yet)
            text.append(f"{MARKS.get(change, '=')} {Change.NAMES.get(change, 'stored'):<9}", CHANGE_STYLE.get(change, ""))
            text.append(f" {short_instruction(index.layers[layer_no].instruction)[:70]}\n")
    else:
        text.append("  no layer names it itself (a parent directory implied by its contents)\n")
    text.append("Findings\n", "dim")
    if findings:
        for finding in findings:
            _finding_line(text, finding)
    else:
        text.append("  none\n")
    if found is not None and found[0].type in (EntryType.FILE, EntryType.HARDLINK) and kind != Change.DELETED:
        text.append("Press v (or Enter) to view its contents.\n", "dim")
    return text


def finding_details(finding: Finding) -> Text:
    text = Text()
    text.append(finding.title + "\n", "bold")
    text.append("Kind         ", "dim")
    text.append(f"{finding.kind}, severity {finding.severity}\n")
    text.append("Saves        ", "dim")
    text.append(_bytes(finding.bytes) + "\n")
    if finding.layer is not None:
        text.append("Layer        ", "dim")
        text.append(f"{finding.layer}: {short_instruction(finding.instruction) or NO_HISTORY}\n")
    if finding.evidence:
        text.append("Evidence\n", "dim")
        text.append(finding.evidence.rstrip() + "\n")
    if finding.fix:
        text.append("Fix\n", "dim")
        text.append(finding.fix.rstrip() + "\n", "green")
    if finding.paths:
        text.append(f"Files ({len(finding.paths):,})\n", "dim")
        for p in sorted(finding.paths, key=lambda p: -p.size)[:PATHS_SHOWN]:
            text.append(f"  {human_bytes(p.size):>9}  #{p.layer} /{printable(p.path)}\n")
        if len(finding.paths) > PATHS_SHOWN:
            text.append(f"  … and {len(finding.paths) - PATHS_SHOWN:,} more\n")
        text.append("Press Enter to show them in the file tree.\n", "dim")
    return text


_LABEL = re.compile(r"[A-Z][A-Za-z ]*?  +(?=\S)")  # "Digest       " before a value


def hanging(line: str) -> int:
    """How far a wrapped line's continuation is indented: under the value after a label
    ("Digest       sha256:…"), else two cells in from where the line starts."""
    label = _LABEL.match(line)
    if label is not None and label.end() <= LABEL_WIDTH:
        return label.end()
    return len(line) - len(line.lstrip(" ")) + 2


def hanging_lines(body: Text, width: int, console) -> list[Text]:
    """``body``'s lines wrapped to ``width``, each continuation indented (see ``hanging``)."""
    out: list[Text] = []
    for line in body.split("\n", allow_blank=True):
        if line.cell_len <= width:
            out.append(line)
            continue
        indent = hanging(line.plain)
        if indent > width // 2:
            indent = 2
        head = line[:indent] if indent <= len(line.plain) else line
        pieces = line[indent:].wrap(console, width - indent, overflow="fold")
        for i, piece in enumerate(pieces):
            out.append(Text.assemble(head, piece) if i == 0 else Text.assemble(" " * indent, piece))
    return out


class DetailsPane(ScrollView, can_focus=True):
    """A scrollable block of text about the focused item, drawn line by line.

    Its virtual height is a whole number of pages, so new details of about the same length
    repaint the pane alone instead of re-laying-out the whole screen on every cursor move.
    """

    BINDINGS = [
        Binding("up,k", "scroll_up", "Scroll up", show=False, id="details.up"),
        Binding("down,j", "scroll_down", "Scroll down", show=False, id="details.down"),
        Binding("pageup", "page_up", "Page up", show=False, id="details.page_up"),
        Binding("pagedown", "page_down", "Page down", show=False, id="details.page_down"),
        Binding("home", "scroll_home", "Top", show=False, id="details.home"),
        Binding("end", "scroll_end", "Bottom", show=False, id="details.end"),
    ]

    DEFAULT_CSS = """
    DetailsPane {
        overflow-x: hidden;
        scrollbar-size-vertical: 1;
    }
    """

    def __init__(self, *, id: str | None = None):
        super().__init__(id=id)
        self.body = Text()
        self._lines: list[Strip] = []
        self._width = 0

    def show(self, title: str, body: Text) -> None:
        if self.border_title != title:
            self.border_title = Text(title)
        self.body = body
        self._layout_lines()
        self.scroll_to(y=0, animate=False, immediate=True)
        self.refresh()

    def _layout_lines(self) -> None:
        width = self.scrollable_content_region.width
        self._width = width
        if width <= 0:
            self._lines = []
            return
        console = self.app.console
        wrapped = Text("\n").join(hanging_lines(self.body, width, console))
        options = console.options.update(width=width, no_wrap=True, overflow="ignore")
        self._lines = [Strip(line) for line in console.render_lines(wrapped, options, pad=False)]
        # Whole pages: details a line longer or shorter than the last keep the layout as it is.
        page = max(self.scrollable_content_region.height, 1)
        height = -(-max(len(self._lines), 1) // page) * page
        if self.virtual_size.height != height:
            self.virtual_size = Size(0, height)

    def on_resize(self) -> None:
        self._layout_lines()
        self.refresh()

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        if width != self._width:
            self._layout_lines()
        i = round(self.scroll_y) + y
        base = self.rich_style
        if i >= len(self._lines):
            return Strip.blank(width, base)
        return self._lines[i].crop_extend(0, width, base).apply_style(base)
