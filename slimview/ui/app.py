"""The interactive explorer: layers, files, findings and the rewrite, on top of the core.

The app only presents. Opening the image (engine save + index) and building the
findings run in a thread worker that posts typed messages; building a file-tree view
runs in another, and the dialogs have their own (reading a file, writing the rewrite).
Every worker error lands in one handler, ``handle_worker_state``.

The first screen does not wait for the index: as soon as the source describes the image
(an engine's inspect and history, a registry's manifest, an archive's manifest) the
layers and the image's config are shown, and each layer's own files as soon as that
layer is read (``ImageDescribed``, ``LayerRead``); the merged views, the waste figures
and the findings follow when the index is done.
"""

from __future__ import annotations

import gc
import os
import re
import time
from collections.abc import Callable
from dataclasses import replace
from multiprocessing import resource_tracker
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.timer import Timer
from textual.widgets import ContentSwitcher, DataTable, Footer, Input, Tree
from textual.worker import Worker, WorkerState, get_current_worker

from slimview import session
from slimview.display import plural
from slimview.errors import SlimviewError
from slimview.extract import Extracted, file_name, layer_file_name
from slimview.findings import Analysis
from slimview.findings.model import Finding
from slimview.fsutil import ensure_directory, write_atomic
from slimview.index import IndexOptions, gc_paused
from slimview.index.events import IndexEvents
from slimview.index.layer import LayerFiles
from slimview.index.model import Change, ImageIndex, split_ref
from slimview.index.partial import PartialIndex
from slimview.index.tree import AGGREGATE, BY_NAME, BY_SIZE, LAYER, Cancelled
from slimview.rewrite.model import Rewrite
from slimview.source.model import Described, Progress
from slimview.source.tarstream import EntryType
from slimview.ui.commands import SlimviewCommands
from slimview.ui.messages import AnalysisReady, ExtractDone, ImageDescribed, IndexProgress, IndexReady, LayerRead, TreeReady
from slimview.ui.screens.compare import CompareScreen
from slimview.ui.treemodel import TreeQuery, ViewCache, prepare
from slimview.ui.widgets.details import DetailsPane, file_details, finding_details, image_details, layer_details, partial_layer_details, waste_details
from slimview.ui.widgets.filetree import FileTree
from slimview.ui.widgets.findings import FindingsPane
from slimview.ui.widgets.layers import LayersPane, index_rows, partial_rows
from slimview.ui.widgets.loading import LoadingPanel
from slimview.ui.widgets.summary import ImageFigures, SummaryBar
from slimview.ui.widgets.waste import WastePane

if TYPE_CHECKING:
    from slimview.ui.screens.export import ExportRequest
    from slimview.ui.screens.extract import ExtractRequest

IndexBuilder = Callable[[str, IndexOptions, Progress, IndexEvents], ImageIndex]
Analyser = Callable[[ImageIndex], Analysis]
Rewriter = Callable[[Analysis], Rewrite]


def rewrite_of(analysis: Analysis) -> Rewrite:
    """The explorer's export: the rewrite as ``slimview rewrite`` writes it."""
    return session.rewrite(analysis).rewrite

PANES = ("layers", "tree", "insights", "details")  # tab's order; "insights" holds findings or dive's table
DETAILS_DELAY = 0.08  # seconds the tree's cursor rests before the details pane follows
PROGRESS_EVERY = 0.05  # seconds between progress messages: enough for a smooth bar
KIND_KEYS = {Change.ADDED: "added", Change.MODIFIED: "modified", Change.DELETED: "deleted", Change.UNCHANGED: "unchanged"}
ALL_KINDS = frozenset(KIND_KEYS)
EXIT_ERROR = 2


def freeze_heap() -> None:
    """Keep what exists now (a big index is millions of long-lived objects) out of every later
    garbage collection, or a full collection now and then stalls a key press for most of a second."""
    gc.collect(0)  # the young garbage goes first, so it is not kept forever
    gc.freeze()


def worker_message(error: BaseException) -> str:
    """One line for the user: the error's own words for errors users cause, else its class too."""
    if isinstance(error, SlimviewError):
        return str(error)
    return f"internal error: {error.__class__.__name__}: {str(error)[:300]}"


class _Announced:
    """The index's early events, posted to the app as messages (they come from worker threads)."""

    def __init__(self, app: SlimviewApp):
        self.app = app

    def described(self, image: Described) -> None:
        self.app.post_message(ImageDescribed(image))

    def indexed(self, layer: int, files: LayerFiles) -> None:
        self.app.post_message(LayerRead(layer, files))


class SlimviewApp(App[None]):
    """slimview's explorer for one image."""

    TITLE = "slimview"
    CSS_PATH = "app.tcss"
    COMMANDS = App.COMMANDS | {SlimviewCommands}

    BINDINGS = [
        Binding("q", "quit", "Quit", id="app.quit", tooltip="Leave slimview"),
        Binding("ctrl+c", "quit", "Quit", show=False, priority=True, id="app.quit_now", tooltip="Leave slimview from anywhere"),
        Binding("tab", "next_pane", "Next pane", show=False, priority=True, id="app.next_pane",
                tooltip="Move to the next pane (layers, files, findings, details)"),
        Binding("shift+tab", "previous_pane", "Previous pane", show=False, priority=True, id="app.previous_pane",
                tooltip="Move to the previous pane"),
        # A priority binding: focus moves before the keys typed right after it are handed out.
        Binding("ctrl+f,slash", "filter", "Filter", priority=True, id="app.filter", tooltip="Filter the file tree by a path regex"),
        Binding("escape", "clear_filter", "Clear filter", show=False, id="app.clear_filter",
                tooltip="Drop every file-tree filter (path, change kinds, finding)"),
        Binding("a", "toggle_view", "Layer/all", id="app.toggle_view",
                tooltip="Switch the tree between this layer's changes and everything up to this layer"),
        Binding("s", "toggle_sort", "Sort", id="app.toggle_sort", tooltip="Sort the tree by name or by size"),
        Binding("e", "expand_all", "Expand all", show=False, id="app.expand_all", tooltip="Open every directory"),
        Binding("c,ctrl+@,ctrl+space", "collapse_all", "Collapse all", show=False, id="app.collapse_all",
                tooltip="Close every directory (ctrl+space as in dive)"),
        # dive's ctrl+m (modified) is the terminal's Enter: only 2 toggles modified files.
        Binding("1,ctrl+a", "toggle_kind('added')", "Added", show=False, id="app.kind_added",
                tooltip="Show or hide added files (ctrl+a as in dive)"),
        Binding("2", "toggle_kind('modified')", "Modified", show=False, id="app.kind_modified",
                tooltip="Show or hide modified files"),
        Binding("3,ctrl+r", "toggle_kind('deleted')", "Deleted", show=False, id="app.kind_deleted",
                tooltip="Show or hide deleted files (ctrl+r as in dive)"),
        Binding("4,ctrl+u", "toggle_kind('unchanged')", "Unchanged", show=False, id="app.kind_unchanged",
                tooltip="Show or hide unchanged files (ctrl+u as in dive)"),
        Binding("ctrl+b", "toggle_attributes", "Attributes", show=False, id="app.toggle_attributes",
                tooltip="Show or hide permissions and owner in the file tree (ctrl+b as in dive)"),
        Binding("w", "toggle_waste", "Wasted (dive)", show=False, id="app.toggle_waste",
                tooltip="Switch between slimview's findings and dive's wasted-files table"),
        Binding("i", "image", "Image", show=False, id="app.image", tooltip="Show the image's config: command, user, ports, environment"),
        Binding("v", "view_file", "View", id="app.view_file", tooltip="View the selected file's contents"),
        Binding("ctrl+e", "extract", "Extract", show=False, id="app.extract",
                tooltip="Write the selected file, or the selected layer as a tar, into a directory"),
        Binding("x", "export", "Export", id="app.export", tooltip="Preview and save Dockerfile.slim and .dockerignore"),
        Binding("question_mark,f1", "help", "Help", id="app.help", tooltip="Keys and panes"),
    ]

    def __init__(
        self,
        reference: str,
        options: IndexOptions | None = None,
        *,
        index_builder: IndexBuilder = session.open_index,
        analyser: Analyser = session.analyse,
        rewriter: Rewriter = rewrite_of,
        export_directory: str | None = None,
        compare: str | None = None,
    ):
        super().__init__()
        # Textual swaps sys.stderr for an object without a file descriptor while it runs, and
        # multiprocessing's resource tracker (needed by the index's worker processes) cannot
        # start then; start it now, while stderr is still the terminal's.
        resource_tracker.ensure_running()
        self.reference = reference
        self.options = options or IndexOptions()
        self.index_builder = index_builder
        self.analyser = analyser
        self.rewriter = rewriter
        self.export_directory = export_directory  # the last directory typed in the export dialog
        self.extract_directory: str | None = None  # and in the extract dialog
        self.partial: PartialIndex | None = None  # the image while it is read
        self._first_query: TreeQuery | None = None  # the tree's query while reading, until the user changes it
        self._image_pinned = False  # the details show the image's config until the user moves
        self._rewrite: Rewrite | None = None
        self.compare_with = compare  # a baseline to compare the image with first (compare mode)
        self.index: ImageIndex | None = None
        self.analysis: Analysis | None = None
        self.load_error: str | None = None
        self.views: ViewCache | None = None
        self.tree_query = TreeQuery()
        self._tree_serial = 0
        self._tree_busy = False
        self._reveal_after_tree: str | None = None
        self._details_timer: Timer | None = None
        self._details_at = 0.0

    # -- layout --------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield SummaryBar(id="summary")
        with Horizontal(id="main"):
            with Vertical(id="left"):
                yield LayersPane(id="layers")
                with ContentSwitcher(initial="findings", id="insights"):
                    yield FindingsPane(id="findings")
                    yield WastePane(id="wasted")
            with Vertical(id="right"):
                with Vertical(id="files"):
                    yield Input(placeholder="path regex (ctrl+f)", id="filter")
                    with ContentSwitcher(initial="loading", id="files-switcher"):
                        yield LoadingPanel(self.reference, id="loading")
                        yield FileTree(id="tree")
                yield DetailsPane(id="details")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one(SummaryBar).starting(self.reference)
        self.query_one("#layers").border_title = "Layers"
        self._title_insights()
        self.query_one("#files").border_title = "Files"
        self.query_one(DetailsPane).show("Details", _placeholder("Indexing the image…"))
        self.query_one("#layers").focus()
        self.load_image()
        if self.compare_with is not None:
            self.push_screen(CompareScreen(self.compare_with, self.reference, self.options))

    # -- workers -------------------------------------------------------------------------------
    @work(thread=True, exclusive=True, exit_on_error=False, group="load", name="load")
    def load_image(self) -> None:
        last_time, last_stage = 0.0, ""

        def progress(stage: str, done: int, total: int | None) -> None:
            nonlocal last_time, last_stage
            now = time.monotonic()
            if stage != last_stage or now - last_time >= PROGRESS_EVERY or (total and done >= total):
                last_time, last_stage = now, stage
                self.post_message(IndexProgress(stage, done, total))

        # Everything that walks the whole image happens here, off the UI thread: per-layer
        # path lookups (else built on the first key press), the summary's totals, the
        # findings' lookups. What it builds lives as long as the app: the collector is paused
        # meanwhile and it all ends up frozen out of later collections.
        with gc_paused():
            index = self.index_builder(self.reference, self.options, progress, _Announced(self))
            for layer in index.layers:
                layer.find("")
            figures = ImageFigures.of(index)
            freeze_heap()
        self.post_message(IndexReady(index, figures))
        with gc_paused():
            analysis = self.analyser(index)
            _lookups = analysis.by_path, analysis.by_layer  # worked out here, off the UI thread
            figures = figures.with_analysis(analysis)
            freeze_heap()
        self.post_message(AnalysisReady(analysis, figures))

    @work(thread=True, exclusive=True, exit_on_error=False, group="tree", name="tree")
    def build_tree(self, views: ViewCache, serial: int, query: TreeQuery, expanded: frozenset[str] | None) -> None:
        worker = get_current_worker()
        try:
            view, selection, rows = prepare(views, query, expanded, lambda: worker.is_cancelled)
        except Cancelled:
            return
        self.post_message(TreeReady(serial, query, view, selection, rows))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        self.handle_worker_state(event)

    def handle_worker_state(self, event: Worker.StateChanged) -> None:
        """The one place worker errors end up (dialogs forward their workers' state here)."""
        if event.state != WorkerState.ERROR:
            return
        error = event.worker.error
        message = worker_message(error) if error is not None else "the task failed"
        if event.worker.name == "load" and self.index is None:
            self.load_error = message
            if self.partial is None:
                # Nothing on screen is worth keeping: leave, and the command line prints the error.
                self.exit(return_code=EXIT_ERROR)
                return
            self.query_one("#files-switcher", ContentSwitcher).current = "loading"
            self.query_one(LoadingPanel).failed(message)
            name = self.partial.described.image.name
            self.query_one(SummaryBar).update(Text(f"slimview: could not read {name}: its layers are listed, its files are not"))
            return
        if event.worker.name == "tree":
            self._set_tree_busy(False)
        node = event.worker.node
        if hasattr(node, "worker_failed"):
            node.worker_failed(message)
        else:
            self.notify(message, title="Error", severity="error", timeout=10, markup=False)

    # -- data arriving -------------------------------------------------------------------------
    def on_index_progress(self, message: IndexProgress) -> None:
        self.query_one(LoadingPanel).progress(message.stage, message.done, message.total)

    def on_image_described(self, message: ImageDescribed) -> None:
        if self.index is not None:
            return
        partial = self.partial = PartialIndex(message.described)
        self.views = ViewCache(partial.index)
        self.query_one(SummaryBar).reading(partial)
        layers = self.query_one(LayersPane)
        layers.show_rows(partial_rows(partial))
        top = len(partial.layers) - 1
        self.tree_query = self._first_query = TreeQuery(mode=LAYER, layer_no=max(top, 0))
        if partial.layers:
            layers.move_cursor(row=top)
        self.query_one(LoadingPanel).reading(partial)
        self._image_pinned = True
        self._show_image_details()
        self._request_tree(force=True)

    def on_layer_read(self, message: LayerRead) -> None:
        partial = self.partial
        if self.index is not None or partial is None:
            return
        partial.add(message.layer, message.files)
        self.query_one(LayersPane).show_rows(partial_rows(partial))
        self.query_one(SummaryBar).reading(partial)
        loading = self.query_one(LoadingPanel)
        loading.reading(partial)
        if partial.complete:
            loading.merging()
        if message.layer == self.tree_query.layer_no:
            self._request_tree(force=True)
        layers = self.query_one(LayersPane)
        if self.focused is layers and layers.layer_no == message.layer and not self._image_pinned:
            self._show_layer_details(message.layer)

    def on_index_ready(self, message: IndexReady) -> None:
        index = message.index
        self.index = index
        self.views = ViewCache(index)
        self.partial = None
        self.query_one(LoadingPanel).finishing()
        self.query_one(SummaryBar).show(message.figures)
        layers = self.query_one(LayersPane)
        layers.show_rows(index_rows(index))
        self.query_one(WastePane).load(index.dive)
        top = len(index.layers) - 1
        if self._first_query is None or self.tree_query == self._first_query:
            self.tree_query = TreeQuery(mode=AGGREGATE, layer_no=max(top, 0))  # the user has not moved: the final image
            self.query_one(FileTree).start_at_top()
            if index.layers:
                layers.move_cursor(row=top)
        if index.layers:
            self._request_tree(force=True)
        self._show_details_for(self.focused)

    def on_analysis_ready(self, message: AnalysisReady) -> None:
        analysis = self.analysis = message.analysis
        self.query_one(SummaryBar).show(message.figures)
        self.query_one(FindingsPane).load(analysis.findings)
        self._title_insights()
        self._show_details_for(self.focused)

    def on_extract_done(self, message: ExtractDone) -> None:
        done = message.extracted
        text = f"Wrote {done.path} ({done.size:,} bytes) from layer {done.layer}."
        if done.withheld:
            text += f" Left out {plural(len(done.withheld), 'file')} holding secrets: " + ", ".join("/" + p for p in done.withheld[:5])
        self.notify(text, title="Extracted", timeout=8, markup=False)

    def on_unmount(self) -> None:
        gc.unfreeze()

    # -- the file tree -------------------------------------------------------------------------
    def _request_tree(self, *, force: bool = False, open_all: bool = False, **changes) -> None:
        self._request_query(replace(self.tree_query, **changes), force=force, open_all=open_all)

    def _request_query(self, query: TreeQuery, *, force: bool = False, open_all: bool = False) -> None:
        if self.views is None or (query == self.tree_query and not force):
            return
        self.tree_query = query
        self._tree_serial += 1
        partial = self.partial
        if self.index is None and partial is not None and query.layer_no not in partial.read:
            # Nothing to build yet: the progress stays, saying which layer it waits for.
            self._set_tree_busy(False)
            self.query_one(LoadingPanel).for_layer(f"Layer {query.layer_no}'s files are still being read.")
            self.query_one("#files-switcher", ContentSwitcher).current = "loading"
            return
        tree = self.query_one(FileTree)
        expanded = None if open_all else frozenset(tree.expanded)
        self._set_tree_busy(True)
        self.build_tree(self.views, self._tree_serial, query, expanded)

    def on_tree_ready(self, message: TreeReady) -> None:
        if message.serial != self._tree_serial:
            return  # an answer to a request that a newer one replaced
        tree = self.query_one(FileTree)
        tree.show_rows(message.view, message.selection, message.rows, message.query.order)
        self.query_one("#files-switcher", ContentSwitcher).current = "tree"
        self._set_tree_busy(False)
        if self._reveal_after_tree is not None:
            tree.reveal(self._reveal_after_tree)
            self._reveal_after_tree = None

    @property
    def tree_busy(self) -> bool:
        """A file-tree view is being built (the tree still shows the previous one)."""
        return self._tree_busy

    def _set_tree_busy(self, busy: bool) -> None:
        self._tree_busy = busy
        self._update_files_title()

    def _update_files_title(self) -> None:
        files = self.query_one("#files")
        q = self.tree_query
        if self.index is None:
            what = f"layer {q.layer_no}'s own files"
        else:
            what = f"layer {q.layer_no} changes" if q.mode == LAYER else f"all files after layer {q.layer_no}"
        files.border_title = f"Files · {what}"
        notes = [f"by {q.order}"] if self.index is not None else ["changes marked once every layer is read", f"by {q.order}"]
        if q.kinds is not None:
            notes.append("kinds " + "".join(_KIND_MARK[k] for k in sorted(q.kinds)) if q.kinds else "kinds none")
        if q.only is not None:
            notes.append(f"finding: {q.only_label[:30]}")
        tree = self.query_one(FileTree)
        if tree.selection is not None and q.filtered:
            notes.append(plural(tree.selection.matches, "match", "matches"))
        if self._tree_busy:
            notes.append("building…")
        files.border_subtitle = Text(" · ".join(notes))  # a finding's title is not markup

    @on(DataTable.RowHighlighted, "#layers")
    def layer_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if (self.index is None and self.partial is None) or event.cursor_row != event.data_table.cursor_row or not self.screen_stack:
            return  # not described yet, a stale event from refilling the table, or the app is closing
        if self._image_pinned and event.cursor_row == self.tree_query.layer_no:
            return  # the cursor was put there, not moved: the image's config stays in the details
        self._image_pinned = False
        self._request_tree(layer_no=event.cursor_row)
        if self.focused is self.query_one(LayersPane):
            self._show_layer_details(event.cursor_row)

    @on(FileTree.Highlighted)
    def file_highlighted(self, event: FileTree.Highlighted) -> None:
        if self.focused is not event.tree:
            return
        # A held arrow key moves the cursor every few ms; the details follow when it rests.
        now = time.monotonic()
        if self._details_timer is None and now - self._details_at >= DETAILS_DELAY:
            self._details_at = now
            self._show_file_details(event.path)
            return
        if self._details_timer is not None:
            self._details_timer.stop()
        self._details_timer = self.set_timer(DETAILS_DELAY, self._details_due)

    def _details_due(self) -> None:
        self._details_timer = None
        self._details_at = time.monotonic()
        tree = self.query_one(FileTree)
        if self.focused is tree:
            self._show_file_details(tree.cursor_path)

    @property
    def details_pending(self) -> bool:
        """The details pane will catch up with the tree's cursor shortly."""
        return self._details_timer is not None

    @on(FileTree.Activated)
    def file_activated(self, event: FileTree.Activated) -> None:
        self.action_view_file()

    @on(Tree.NodeHighlighted, "#findings")
    def finding_highlighted(self, event: Tree.NodeHighlighted) -> None:
        if self.screen_stack and self.focused is self.query_one(FindingsPane):
            self._show_details_for(self.focused)

    @on(DataTable.RowHighlighted, "#wasted")
    def waste_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if self.screen_stack and self.focused is event.data_table:
            self._show_details_for(self.focused)

    @on(Tree.NodeSelected, "#findings")
    def finding_selected(self, event: Tree.NodeSelected) -> None:
        if isinstance(event.node.data, Finding):
            self.jump_to_finding(event.node.data)

    def jump_to_finding(self, finding: Finding) -> None:
        """Show the finding's layer, its changes filtered to the finding's files."""
        if self.index is None:
            return
        layer_no = finding.layer
        held = {p.layer for p in finding.paths}
        if layer_no is None or (held and layer_no not in held):
            layer_no = finding.paths[0].layer if finding.paths else None
        if layer_no is None or not 0 <= layer_no < len(self.index.layers):
            self.notify("This finding is about the whole image, not one layer.", title=finding.title, markup=False)
            return
        paths = frozenset(p.path for p in finding.paths if p.layer == layer_no)
        largest = min(paths, key=lambda p: (-_size_of(finding, p), p)) if paths else None
        query = replace(self.tree_query, mode=LAYER, layer_no=layer_no, pattern="", kinds=None, only=paths or None,
                        only_label=finding.title if paths else "")
        tree = self.query_one(FileTree)
        if query == self.tree_query:
            if largest is not None:
                tree.reveal(largest)  # already showing these files
        else:
            self._reveal_after_tree = largest
            self._request_query(query)
        self.query_one("#filter", Input).value = ""
        self.query_one(LayersPane).move_cursor(row=layer_no)
        tree.focus()

    @on(Input.Changed, "#filter")
    def filter_changed(self, event: Input.Changed) -> None:
        pattern = event.value
        try:
            re.compile(pattern)
        except re.error as exc:
            self.query_one("#filter", Input).add_class("-invalid")
            self.query_one("#files").border_subtitle = Text(f"bad regex: {exc}")
            return
        self.query_one("#filter", Input).remove_class("-invalid")
        self._request_tree(pattern=pattern)

    @on(Input.Submitted, "#filter")
    def filter_submitted(self, event: Input.Submitted) -> None:
        self.query_one(FileTree).focus()

    # -- details -------------------------------------------------------------------------------
    def on_descendant_focus(self, event) -> None:
        if not isinstance(event.widget, (LayersPane, DetailsPane)):
            self._image_pinned = False
        self._show_details_for(event.widget)

    def _show_details_for(self, widget) -> None:
        if widget is None:
            return
        if self._image_pinned and isinstance(widget, LayersPane):
            self._show_image_details()
            return
        if self.index is None:
            if self.partial is not None and isinstance(widget, LayersPane) and widget.layer_no is not None:
                self._show_layer_details(widget.layer_no)
            elif self.partial is not None and isinstance(widget, FileTree):
                self._show_file_details(widget.cursor_path)
            return
        if isinstance(widget, LayersPane):
            if widget.layer_no is not None:
                self._show_layer_details(widget.layer_no)
        elif isinstance(widget, FileTree):
            self._show_file_details(widget.cursor_path)
        elif isinstance(widget, WastePane):
            row = widget.selected
            details = self.query_one(DetailsPane)
            if row is None:
                details.show("Wasted files", _placeholder("dive counts no file as wasted in this image."))
            else:
                details.show("Wasted file", waste_details(self.index, *row))
        elif isinstance(widget, FindingsPane):
            finding = widget.finding
            details = self.query_one(DetailsPane)
            if finding is not None:
                details.show("Finding", finding_details(finding))
            elif self.analysis is None:
                details.show("Findings", _placeholder("Looking for findings…"))
            else:
                count = plural(len(self.analysis.findings), "finding")
                details.show("Findings", _placeholder(f"{count}; Enter on one shows its files."))

    def _show_layer_details(self, layer_no: int) -> None:
        if self.index is None:
            if self.partial is not None:
                self.query_one(DetailsPane).show(f"Layer {layer_no}", partial_layer_details(self.partial, layer_no))
            return
        layer = self.index.layers[layer_no]
        findings = self.analysis.by_layer.get(layer_no, []) if self.analysis else []
        self.query_one(DetailsPane).show(f"Layer {layer_no}", layer_details(self.index, layer, findings))

    def _show_file_details(self, path: str | None) -> None:
        tree = self.query_one(FileTree)
        details = self.query_one(DetailsPane)
        if path is None or tree.view is None:
            details.show("File", _placeholder("No file selected."))
            return
        findings = self.analysis.by_path.get(path, []) if self.analysis else []
        details.show("File", file_details(tree.view.index, tree.view, path, findings))

    def _show_image_details(self) -> None:
        details = self.query_one(DetailsPane)
        if self.index is not None:
            details.show("Image", image_details(self.index.source, tuple(layer.stats.size for layer in self.index.layers)))
        elif self.partial is not None:
            d = self.partial.described
            details.show("Image", image_details(d.image, d.sizes, d.measure, d.provisional))

    def _title_insights(self) -> None:
        insights = self.query_one("#insights", ContentSwitcher)
        if insights.current == "wasted":
            insights.border_title = "Wasted files (dive)"
            insights.border_subtitle = "w: findings"
        else:
            insights.border_title = "Findings"
            insights.border_subtitle = "w: dive's wasted files"

    # -- actions -------------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """The app's own keys act on the main screen only; "/" in a text field is just a "/"."""
        if action in ("quit", "next_pane", "previous_pane") or action not in _OWN_ACTIONS:
            return True
        if self.screen is not self.screen_stack[0]:
            return False
        return not (action == "filter" and isinstance(self.focused, Input))

    def _pane_step(self, step: int) -> None:
        if self.screen is not self.screen_stack[0]:
            # Inside a dialog, tab moves between its own controls.
            if step > 0:
                self.screen.focus_next()
            else:
                self.screen.focus_previous()
            return
        focused = self.focused
        current = focused.id if focused is not None else None
        current = {"filter": "tree", "findings": "insights", "wasted": "insights"}.get(current or "", current)
        i = PANES.index(current) if current in PANES else -1
        pane = PANES[(i + step) % len(PANES)]
        if pane == "insights":
            pane = self.query_one("#insights", ContentSwitcher).current or "findings"
        self.query_one(f"#{pane}").focus()

    def action_next_pane(self) -> None:
        self._pane_step(1)

    def action_previous_pane(self) -> None:
        self._pane_step(-1)

    def action_filter(self) -> None:
        # Focus now, not after the queued keys: the pattern typed right after "/" must land in it.
        self.screen.set_focus(self.query_one("#filter", Input))

    def action_clear_filter(self) -> None:
        filter_input = self.query_one("#filter", Input)
        had_focus = self.focused is filter_input
        filter_input.value = ""
        self._request_tree(pattern="", kinds=None, only=None, only_label="")
        if had_focus:
            self.query_one(FileTree).focus()

    def action_toggle_view(self) -> None:
        if self.index is None:
            self.notify("All files after a layer are shown once every layer is read.", timeout=3)
            return
        self._request_tree(mode=LAYER if self.tree_query.mode == AGGREGATE else AGGREGATE)

    def action_toggle_sort(self) -> None:
        self._request_tree(order=BY_SIZE if self.tree_query.order == BY_NAME else BY_NAME)

    def action_expand_all(self) -> None:
        tree = self.query_one(FileTree)
        if tree.view is None:
            return
        tree.expanded = set(tree.view.directories())
        if tree.selection is not None:  # a filter shows every match: only its own closed directories open
            tree.open_all_filtered()
            return
        self._request_tree(force=True, open_all=True)

    def action_collapse_all(self) -> None:
        tree = self.query_one(FileTree)
        tree.expanded.clear()
        if tree.selection is not None:
            tree.close_all_filtered()
            return
        self._request_tree(force=True)

    def action_toggle_attributes(self) -> None:
        self.query_one(FileTree).toggle_attributes()

    def action_toggle_waste(self) -> None:
        insights = self.query_one("#insights", ContentSwitcher)
        had_focus = self.focused is not None and self.focused.id in ("findings", "wasted")
        insights.current = "findings" if insights.current == "wasted" else "wasted"
        self._title_insights()
        if had_focus:
            self.query_one(f"#{insights.current}").focus()

    def action_image(self) -> None:
        self._image_pinned = isinstance(self.focused, LayersPane)  # until the cursor moves
        self._show_image_details()

    def action_toggle_kind(self, name: str) -> None:
        kind = {v: k for k, v in KIND_KEYS.items()}[name]
        kinds = set(self.tree_query.kinds if self.tree_query.kinds is not None else ALL_KINDS)
        kinds.symmetric_difference_update({kind})
        self._request_tree(kinds=None if kinds == ALL_KINDS else frozenset(kinds))
        self.notify(f"{name} files {'shown' if kind in kinds else 'hidden'}", timeout=2)

    def action_view_file(self) -> None:
        tree = self.query_one(FileTree)
        path = tree.cursor_path
        if self.index is None or tree.view is None or path is None:
            return
        found = tree.view.entry(path)
        if found is None or tree.view.kind(path) == Change.DELETED:
            self.notify("Only files present in this view can be viewed.", severity="warning")
            return
        entry, _layer_no = found
        ref = tree.view.ref(path)
        body = self.index.content_ref(ref) if ref is not None else None
        if body is None:
            self.notify("The hard link's target is not in the image.", severity="warning")
            return
        layer_no, i = split_ref(body)
        entry = self.index.layers[layer_no].files.entry(i)
        if entry.type != EntryType.FILE:
            self.notify(f"/{path} is a {EntryType.NAMES[entry.type]}, not a file.", severity="warning", markup=False)
            return
        # A hard link's bytes are its target's, as its own layer stored them.
        from slimview.ui.screens.viewer import FileViewerScreen  # dialogs load when first opened (see README)

        self.push_screen(FileViewerScreen(self.index, layer_no, entry.path, entry.size))

    def action_extract(self) -> None:
        """The selected file (files pane) or layer (layers pane), into a directory the user picks."""
        index = self.index
        if index is None:
            self.notify("Files can be extracted once every layer is read.", severity="warning")
            return
        focused = self.focused
        if isinstance(focused, LayersPane) and focused.layer_no is not None:
            layer_no = focused.layer_no
            what, name = f"layer {layer_no} as a tar", layer_file_name(layer_no)
            job: Callable[[ExtractRequest], Extracted] = lambda r: session.extract_layer(  # noqa: E731
                index, layer_no, r.directory, self.options, force=r.overwrite, include_secrets=r.include_secrets)
        elif isinstance(focused, FileTree) and focused.cursor_path is not None and focused.view is not None:
            path, view = focused.cursor_path, focused.view
            found = view.entry(path)
            if found is None or view.kind(path) == Change.DELETED or view.is_dir(path):
                self.notify("Only a file present in this view can be extracted (or a whole layer, from the layers pane).",
                            severity="warning")
                return
            stored_in = found[1]
            what, name = f"/{path} as layer {stored_in} stored it", file_name(path)
            job = lambda r: session.extract_file(  # noqa: E731
                index, path, r.directory, self.options, layer=stored_in, force=r.overwrite, include_secrets=r.include_secrets)
        else:
            self.notify("Select a file in the files pane, or a layer in the layers pane, to extract.", severity="warning")
            return

        def chosen(request: ExtractRequest | None) -> None:
            if request is not None:
                self.extract_directory = request.directory
                self.notify(f"Extracting {what}…", timeout=3, markup=False)
                self.run_extract(job, request)

        from slimview.ui.screens.extract import ExtractScreen  # dialogs load when first opened (see README)

        self.push_screen(ExtractScreen(what, name, self.extract_directory or os.getcwd()), chosen)

    @work(thread=True, exclusive=True, exit_on_error=False, group="extract", name="extract")
    def run_extract(self, job: Callable[[ExtractRequest], Extracted], request: ExtractRequest) -> None:
        self.post_message(ExtractDone(job(request)))

    def action_export(self) -> None:
        analysis = self.analysis
        if analysis is None:
            self.notify("The findings are still being worked out; export needs them.", severity="warning")
            return
        directory = self.export_directory or os.getcwd()
        from slimview.ui.screens.export import ExportScreen  # dialogs load when first opened (see README)

        self.push_screen(ExportScreen(lambda: self._rewrite_of(analysis), directory), self.export_chosen)

    def _rewrite_of(self, analysis: Analysis) -> Rewrite:
        """The rewrite, worked out once per explorer (the export dialog may open many times)."""
        if self._rewrite is None:
            self._rewrite = self.rewriter(analysis)
        return self._rewrite

    def export_chosen(self, request: ExportRequest | None) -> None:
        """The export screen's answer: the core writes the files; the app reports how it went.

        The directory is remembered, written or not: the next export proposes it again.
        """
        if request is None:
            return
        self.export_directory = request.directory
        written = []
        try:
            ensure_directory(request.directory)
            for (_name, text), path in zip(request.files, request.paths()):
                write_atomic(path, text, force=request.overwrite)
                written.append(path)
        except SlimviewError as exc:
            self.notify(str(exc), title="Export failed", severity="error", timeout=10, markup=False)
            return
        self.notify("Wrote " + " and ".join(written), title="Exported", timeout=6, markup=False)

    def action_help(self) -> None:
        from slimview.ui.screens.help import HelpScreen  # dialogs load when first opened (see README)

        self.push_screen(HelpScreen())

    async def action_quit(self) -> None:
        self.exit(return_code=EXIT_ERROR if self.load_error else 0)


_OWN_ACTIONS = frozenset(b.action.split("(")[0] for b in SlimviewApp.BINDINGS if isinstance(b, Binding))
_KIND_MARK = {Change.ADDED: "+", Change.MODIFIED: "~", Change.UNCHANGED: "=", Change.DELETED: "-"}


def _size_of(finding: Finding, path: str) -> int:
    return max((p.size for p in finding.paths if p.path == path), default=0)


def _placeholder(message: str) -> Text:
    return Text(message, style="dim")


def make_app(
    image: str,
    options: IndexOptions | None = None,
    *,
    index_builder: IndexBuilder = session.open_index,
    analyser: Analyser = session.analyse,
    rewriter: Rewriter = rewrite_of,
    export_directory: str | None = None,
    compare: str | None = None,
) -> SlimviewApp:
    """The explorer for ``image`` (an engine reference or an archive path); used by the CLI and the tests.

    The builders default to the core's; tests pass fixed ones. ``export_directory`` is where
    the export screen proposes to save (default: the working directory). ``compare``: a
    baseline (image or saved summary) to compare ``image`` with on a first screen.
    """
    return SlimviewApp(
        image, options, index_builder=index_builder, analyser=analyser,
        rewriter=rewriter, export_directory=export_directory, compare=compare,
    )
