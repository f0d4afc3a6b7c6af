"""The file tree pane: rows drawn one line at a time from a ``TreeView``.

Only the rows on screen are rendered (``ScrollView`` + ``render_line``); expanding a
directory splices its rows into a flat list, so a directory of 100,000 files costs one
sort, and the image's size never turns into widgets.
"""

from __future__ import annotations

import stat
from dataclasses import dataclass

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from slimview.display import human_bytes, printable
from slimview.index.model import Change
from slimview.index.tree import BY_NAME, TreeView, name_of
from slimview.source.tarstream import EntryType
from slimview.ui import treemodel
from slimview.ui.treemodel import Row, Selection

# Marked by sign as well as colour, so the change is readable without colour.
MARKS = {Change.ADDED: "+", Change.MODIFIED: "~", Change.DELETED: "-"}
KIND_CLASS = {Change.ADDED: "filetree--added", Change.MODIFIED: "filetree--modified", Change.DELETED: "filetree--deleted"}
TYPE_CHAR = {EntryType.DIR: "d", EntryType.SYMLINK: "l", EntryType.HARDLINK: "h", EntryType.CHAR: "c", EntryType.BLOCK: "b", EntryType.FIFO: "p"}
WIDE = 78  # from this width on, rows show permissions and owner like dive


def permissions(type_: int, mode: int) -> str:
    return TYPE_CHAR.get(type_, "-") + stat.filemode(mode & 0o7777)[1:]


class FileTree(ScrollView, can_focus=True):
    """A lazily drawn tree of one view of the image's files."""

    BINDINGS = [
        Binding("up,k", "cursor_up", "Up", show=False, id="tree.up"),
        Binding("down,j", "cursor_down", "Down", show=False, id="tree.down"),
        Binding("pageup", "page_up", "Page up", show=False, id="tree.page_up"),
        Binding("pagedown", "page_down", "Page down", show=False, id="tree.page_down"),
        Binding("home", "first", "First", show=False, id="tree.first"),
        Binding("end", "last", "Last", show=False, id="tree.last"),
        Binding("left,h", "collapse", "Collapse or go up", show=False, id="tree.collapse"),
        Binding("right,l", "expand", "Expand", show=False, id="tree.expand"),
        Binding("space", "toggle_open", "Open/close", id="tree.toggle"),
        Binding("enter", "activate", "Open/view", show=False, id="tree.activate"),
    ]

    COMPONENT_CLASSES = {
        "filetree--cursor",
        "filetree--cursor-blurred",
        "filetree--added",
        "filetree--modified",
        "filetree--deleted",
        "filetree--dim",
    }

    DEFAULT_CSS = """
    FileTree {
        background: $surface;
        overflow-x: hidden;
        scrollbar-size-vertical: 1;
        & > .filetree--cursor { background: $block-cursor-background; color: $block-cursor-foreground; text-style: bold; }
        & > .filetree--cursor-blurred { background: $block-cursor-blurred-background; }
        & > .filetree--added { color: $text-success; }
        & > .filetree--modified { color: $text-warning; }
        & > .filetree--deleted { color: $text-error; }
        & > .filetree--dim { color: $text-muted; }
    }
    """

    @dataclass
    class Highlighted(Message):
        """The cursor moved to ``path`` (None: the tree is empty)."""

        tree: FileTree
        path: str | None

    @dataclass
    class Activated(Message):
        """Enter on a file: its contents were asked for."""

        tree: FileTree
        path: str

    def __init__(self, *, id: str | None = None, classes: str | None = None):
        super().__init__(id=id, classes=classes)
        self.view: TreeView | None = None
        self.selection: Selection | None = None
        self.order = BY_NAME
        self.rows: list[Row] = []
        self.cursor = 0
        self.expanded: set[str] = set()  # open directories, kept across views
        self.closed_in_filter: set[str] = set()  # directories closed while a filter opens all
        self._from_top = False  # the next rows start with the cursor on the first
        self._announced: str | None = None
        self._styles: dict[str, Style] | None = None  # component styles, until the CSS changes
        self.attributes: bool | None = None  # permissions and owner shown; None: when the pane is wide enough

    # -- data ----------------------------------------------------------------------------------
    def show_rows(self, view: TreeView, selection: Selection | None, rows: list[Row], order: str) -> None:
        """Show new rows, keeping the cursor on the same path (or its nearest shown ancestor)."""
        keep = None if self._from_top else self.cursor_path
        self._from_top = False
        self.view, self.selection, self.rows, self.order = view, selection, rows, order
        self.closed_in_filter.clear()
        self.cursor = 0
        if keep is not None:
            self.cursor = self._row_of(keep, fallback=True)
        self.virtual_size = Size(0, len(rows))
        self._scroll_cursor_into_view(center=True)
        self.refresh()
        self._announce()

    def start_at_top(self) -> None:
        """The next rows shown start with the cursor on the first: the rows shown now were a
        preview (one layer's files while the image was read), not where the user went."""
        self._from_top = True

    @property
    def cursor_path(self) -> str | None:
        if 0 <= self.cursor < len(self.rows):
            return self.rows[self.cursor][0]
        return None

    def _row_of(self, path: str, fallback: bool = False) -> int:
        candidates = [path]
        if fallback and self.view is not None:
            candidates.extend(reversed(self.view.ancestors(path)))
        for p in candidates:
            for i, row in enumerate(self.rows):
                if row[0] == p:
                    return i
        return 0

    def _is_open(self, path: str) -> bool:
        if self.selection is not None:
            return path not in self.closed_in_filter
        return path in self.expanded

    def _has_children(self, path: str) -> bool:
        return self.view is not None and treemodel.has_children(self.view, path, self.selection)

    # -- opening and closing -------------------------------------------------------------------
    def _open(self, i: int) -> None:
        path, depth = self.rows[i]
        if self.view is None or not self._has_children(path) or self._open_row(i):
            return
        if self.selection is not None:
            self.closed_in_filter.discard(path)
        else:
            self.expanded.add(path)
        self.rows[i + 1 : i + 1] = treemodel.rows(self.view, path, depth + 1, self._is_open, self.order, self.selection)
        self._rows_changed()

    def _close(self, i: int) -> None:
        path, depth = self.rows[i]
        if self.selection is not None:
            self.closed_in_filter.add(path)
        else:
            self.expanded.discard(path)
        end = i + 1
        rows = self.rows
        while end < len(rows) and rows[end][1] > depth:
            end += 1
        del rows[i + 1 : end]
        self._rows_changed()

    def _open_row(self, i: int) -> bool:
        """Whether row ``i`` is an open directory (its children follow it)."""
        return i + 1 < len(self.rows) and self.rows[i + 1][1] > self.rows[i][1]

    def open_all_filtered(self) -> None:
        """Open every directory that holds a match (a filtered tree has all its rows already)."""
        if self.view is not None and self.selection is not None:
            self.closed_in_filter.clear()
            self._rebuild_filtered()

    def close_all_filtered(self) -> None:
        """Close every directory of a filtered tree, down to its top-level rows."""
        if self.view is not None and self.selection is not None:
            self.closed_in_filter = set(self.selection.parents)
            self._rebuild_filtered()

    def _rebuild_filtered(self) -> None:
        assert self.view is not None
        keep = self.cursor_path
        self.rows = treemodel.rows(self.view, "", 0, self._is_open, self.order, self.selection)
        self.cursor = self._row_of(keep, fallback=True) if keep is not None else 0
        self._rows_changed()
        self._scroll_cursor_into_view(center=True)
        self._announce()

    def toggle_attributes(self) -> None:
        """Show or hide permissions and owner (dive's ctrl+b)."""
        self.attributes = not self._shows_attributes(self.scrollable_content_region.width)
        self.refresh()

    def _shows_attributes(self, width: int) -> bool:
        return width >= WIDE if self.attributes is None else self.attributes

    def _rows_changed(self) -> None:
        self.virtual_size = Size(0, len(self.rows))
        self.refresh()

    def reveal(self, path: str) -> bool:
        """Open the directories above ``path`` and put the cursor on it."""
        if self.view is None:
            return False
        for directory in self.view.ancestors(path):
            i = self._row_of(directory)
            if self.rows and self.rows[i][0] == directory and not self._open_row(i):
                self._open(i)
        i = self._row_of(path)
        if not self.rows or self.rows[i][0] != path:
            return False
        self._move_to(i, center=True)
        return True

    # -- actions -------------------------------------------------------------------------------
    def action_cursor_up(self) -> None:
        self._move_to(self.cursor - 1)

    def action_cursor_down(self) -> None:
        self._move_to(self.cursor + 1)

    def action_page_up(self) -> None:
        self._move_to(self.cursor - max(1, self.scrollable_content_region.height - 1))

    def action_page_down(self) -> None:
        self._move_to(self.cursor + max(1, self.scrollable_content_region.height - 1))

    def action_first(self) -> None:
        self._move_to(0)

    def action_last(self) -> None:
        self._move_to(len(self.rows) - 1)

    def action_toggle_open(self) -> None:
        if not self.rows:
            return
        if self._open_row(self.cursor):
            self._close(self.cursor)
        else:
            self._open(self.cursor)

    def action_expand(self) -> None:
        if self.rows and not self._open_row(self.cursor):
            self._open(self.cursor)

    def action_collapse(self) -> None:
        if not self.rows:
            return
        if self._open_row(self.cursor):
            self._close(self.cursor)
            return
        depth = self.rows[self.cursor][1]
        i = self.cursor - 1
        while i >= 0 and self.rows[i][1] >= depth:
            i -= 1
        if i >= 0:
            self._move_to(i)

    def action_activate(self) -> None:
        path = self.cursor_path
        if path is None:
            return
        if self._has_children(path) or (self.view is not None and self.view.is_dir(path)):
            self.action_toggle_open()
        else:
            self.post_message(self.Activated(self, path))

    # -- cursor --------------------------------------------------------------------------------
    def _move_to(self, i: int, center: bool = False) -> None:
        if not self.rows:
            return
        i = max(0, min(i, len(self.rows) - 1))
        if i != self.cursor:
            # Only the two rows change (scrolling, if any, repaints the rest itself).
            self.refresh_line(self.cursor)
            self.cursor = i
            self.refresh_line(i)
        self._scroll_cursor_into_view(center)
        self._announce()

    def _scroll_cursor_into_view(self, center: bool = False) -> None:
        height = self.scrollable_content_region.height
        if height <= 0:
            return
        top = round(self.scroll_y)
        if center and not (top <= self.cursor < top + height):
            self.scroll_to(y=max(0, self.cursor - height // 2), animate=False, immediate=True)
        elif self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False, immediate=True)
        elif self.cursor >= top + height:
            self.scroll_to(y=self.cursor - height + 1, animate=False, immediate=True)

    def _announce(self) -> None:
        path = self.cursor_path
        if path != self._announced:
            self._announced = path
            self.post_message(self.Highlighted(self, path))

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        row = round(self.scroll_y) + offset.y
        if row >= len(self.rows):
            return
        if row == self.cursor:
            self.action_activate()
        else:
            self._move_to(row)

    def on_resize(self) -> None:
        self.virtual_size = Size(0, len(self.rows))

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()

    # -- drawing -------------------------------------------------------------------------------
    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._styles = None

    def _style(self, name: str) -> Style:
        styles = self._styles
        if styles is None:
            styles = self._styles = {}
        style = styles.get(name)
        if style is None:
            style = styles[name] = self.get_component_rich_style(name, partial=True)
        return style

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        base = self.rich_style
        row_no = round(self.scroll_y) + y
        if self.view is None or row_no >= len(self.rows):
            return Strip.blank(width, base)
        pieces = self.row_pieces(row_no, width)
        if row_no == self.cursor:
            cursor = self._style("filetree--cursor" if self.has_focus else "filetree--cursor-blurred")
            segments = [Segment(text, base + style + cursor) for text, style in pieces]
        else:
            segments = [Segment(text, base + style) for text, style in pieces]
        return Strip(segments).crop_extend(0, width, base)

    def row_plain(self, row_no: int, width: int) -> str:
        """A row as plain text (what it reads like without colour)."""
        return "".join(text for text, _style in self.row_pieces(row_no, width))

    def row_pieces(self, row_no: int, width: int) -> list[tuple[str, Style]]:
        """One row as styled pieces: change mark, (permissions, owner,) size, indent, arrow, name."""
        view = self.view
        assert view is not None, "rows are only drawn from a view"
        path, depth = self.rows[row_no]
        kind = view.kind(path)
        found = view.entry(path)
        is_dir = view.is_dir(path)
        plain = Style()
        style = self._style(KIND_CLASS[kind]) if kind in KIND_CLASS else plain
        dim = self._style("filetree--dim")
        if is_dir and kind in (None, Change.UNCHANGED) and path in view.changed_below and not self._open_row(row_no):
            # A closed directory with changes inside is marked as changed, as dive does.
            kind = Change.MODIFIED
            style = self._style(KIND_CLASS[kind])
        pieces = [((MARKS.get(kind, " ") if kind is not None else " ") + " ", style)]
        if self._shows_attributes(width):
            if found is not None:
                entry = found[0]
                pieces.append((f"{permissions(entry.type, entry.mode)} {entry.uid:>5}:{entry.gid:<5} ", dim))
            else:
                pieces.append((" " * 23, dim))
        # Sizes for files and directories; links and devices hold no bytes of their own.
        if is_dir:
            size = view.size(path)
            shown_size = human_bytes(size) if size else ""
        elif found is not None and found[0].type == EntryType.FILE:
            shown_size = human_bytes(found[0].size)
        else:
            shown_size = ""
        pieces.append((f"{shown_size:>9}  ", dim if kind is None else style))
        if self._has_children(path):
            pieces.append(("  " * depth + ("▾ " if self._open_row(row_no) else "▸ "), dim))
        else:
            pieces.append(("  " * depth + "  ", plain))
        label = printable(name_of(path))
        if is_dir:
            label += "/"
        elif found is not None and found[0].link:
            label += (" → " if found[0].type == EntryType.SYMLINK else " ⇒ /") + printable(found[0].link)
        room = width - sum(cell_len(text) for text, _style in pieces)
        if cell_len(label) > room:
            label = set_cell_size(label, max(room - 1, 0)) + "…" if room > 0 else ""
        pieces.append((label, style))
        return pieces
