"""The explorer driven with Pilot against the real mini sample tarball: every pane and action."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import pytest
from textual.widgets import ContentSwitcher, Input, Label, Markdown, TextArea

from slimview.errors import EngineError, InputError
from slimview.index import IndexOptions, build_index
from slimview.index.model import Change
from slimview.index.tree import AGGREGATE, BY_SIZE, LAYER
from slimview.source import open_image
from slimview.source.model import Described, SizeMeasure
from slimview.ui.app import SlimviewApp, make_app
from slimview.ui.screens.help import HelpScreen
from slimview.ui.screens.viewer import FileViewerScreen
from slimview.ui.widgets.details import DetailsPane
from slimview.ui.widgets.filetree import FileTree
from slimview.ui.widgets.findings import FindingsPane
from slimview.ui.widgets.layers import LayersPane
from slimview.ui.widgets.loading import LoadingPanel
from slimview.ui.widgets.waste import WastePane

from uihelpers import FIXED_AVOIDABLE, FIXED_FINDINGS, LISTS, async_test, fixed_report, settle

pytestmark = pytest.mark.usefixtures("private_cache")

SIZE = (120, 40)
NARROW = 70  # a tree this wide leaves out permissions and owner


def app_for(sample: str) -> SlimviewApp:
    return make_app(sample, IndexOptions(use_cache=False), analyser=fixed_report)


def details_text(app) -> str:
    return app.query_one(DetailsPane).body.plain


def tree_paths(app) -> list[str]:
    return [p for p, _ in app.query_one(FileTree).rows]


@async_test
async def test_first_frame_shows_progress_while_indexing_then_the_panes_fill(sample):
    release = threading.Event()

    def slow_index(reference, options, progress, events):
        progress("scan", 1_000_000, 28_000_000)
        progress("layers", 3, 7)
        release.wait(10)
        return build_index(reference, options, progress)

    app = make_app(sample, IndexOptions(use_cache=False), index_builder=slow_index, analyser=fixed_report)
    async with app.run_test(size=SIZE) as pilot:
        loading = app.query_one(LoadingPanel)
        for _ in range(100):
            await pilot.pause(0.01)
            if loading.total == 7.0:
                break
        assert app.query_one("#files-switcher", ContentSwitcher).current == "loading"
        assert (loading.done, loading.total) == (3.0, 7.0)
        assert str(app.query_one("#loading-stage", Label).render()) == "Reading: 1.0 MB of 28.0 MB\nLayers indexed: 3 of 7"
        assert app.query_one(LayersPane).row_count == 0
        release.set()
        await settle(pilot)
        assert app.query_one("#files-switcher", ContentSwitcher).current == "tree"
        assert app.query_one(LayersPane).row_count == 7
        assert tree_paths(app) == ["app", "bin", "etc", "root", "tmp", "usr", "var"]


@async_test
async def test_an_image_that_cannot_be_opened_leaves_the_explorer_with_its_error(tmp_path):
    """Nothing was shown: the explorer leaves at once (status 2) and the command line prints
    the error on the terminal it gave back (see test_cli_tui.py)."""
    missing = str(tmp_path / "nope.tar")
    app = make_app(missing, IndexOptions(use_cache=False))
    async with app.run_test(size=SIZE) as pilot:
        for _ in range(200):
            await pilot.pause(0.01)
            if app.return_code is not None:
                break
    assert app.load_error == f"{missing}: no such file or directory"
    assert app.return_code == 2


@async_test
async def test_an_error_after_the_layers_are_shown_stays_on_screen_until_quit(sample):
    """The save broke after the image was described: its layers stay, the error is shown in
    place of the files, and q leaves with status 2 (the command line then prints it too)."""

    def broken_save(reference, options, progress, events):
        source = open_image(reference, sink=lambda name, stream: None)
        events.described(Described(source, tuple(layer.stored_size for layer in source.layers), SizeMeasure.STORED_BYTES))
        raise EngineError("the engine stream for 'app:1' was cut mid-save (ChunkedEncodingError); is the engine still running?")

    app = make_app(sample, IndexOptions(use_cache=False), index_builder=broken_save)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.load_error is not None and "cut mid-save" in app.load_error
        assert app.query_one(LayersPane).row_count == 7
        stage = str(app.query_one("#loading-stage", Label).render())
        assert app.load_error in stage and "Press q to quit." in stage
        await pilot.press("q")
    assert app.return_code == 2


@async_test
async def test_an_internal_error_is_one_line_not_a_traceback(sample):
    def broken(reference, options, progress, events):
        raise KeyError("manifest")

    app = make_app(sample, index_builder=broken)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.load_error == "internal error: KeyError: 'manifest'"


@async_test
async def test_layers_pane_sizes_bars_instructions_and_details(sample):
    app = app_for(sample)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        layers = app.query_one(LayersPane)
        assert layers.has_focus and layers.cursor_row == 6
        row = [str(c) for c in layers.get_row_at(2)]  # each cell ends in the space before the next
        assert row[:2] == ["2 ", " 11.6 MB "]
        assert row[2] == "████████ "  # the largest layer fills the bar
        assert row[3] == "RUN apt-get install -y build-e…"  # cut to the pane; the details pane has it whole
        assert [str(c) for c in layers.get_row_at(4)][2] == "▍        "  # 533,526 / 11,622,632 of 8 cells
        await pilot.press("up", "up")  # layer 4: COPY . .
        await settle(pilot)
        assert app.tree_query.layer_no == 4
        text = details_text(app)
        assert app.index.layers[4].digest in text
        assert "533.5 kB (533,526 bytes)" in text
        assert "COPY . . # buildkit" in text  # the full instruction
        assert ".git copied into the image" in text and ".env copied into the image" in text
        assert "Compilers" not in text


@async_test
async def test_tree_follows_the_layer_and_toggles_between_layer_and_aggregate(sample):
    app = app_for(sample)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert (app.tree_query.mode, app.tree_query.layer_no) == (AGGREGATE, 6)
        await pilot.press("a")
        await settle(pilot)
        assert app.tree_query.mode == LAYER
        await pilot.press("e")  # expand all
        await settle(pilot)
        tree = app.query_one(FileTree)
        assert tree_paths(app) == [
            "root", "root/.cache", "root/.cache/pip", "root/.cache/pip/http-v2",
            "root/.cache/pip/http-v2/3", "root/.cache/pip/http-v2/3/a", "root/.cache/pip/http-v2/3/a/b",
            "root/.cache/pip/http-v2/3/a/b/c", "root/.cache/pip/http-v2/3/a/b/c/numpy.body",
            "root/.cache/pip/http-v2/4", "root/.cache/pip/http-v2/4/d", "root/.cache/pip/http-v2/4/d/e",
            "root/.cache/pip/http-v2/4/d/e/f", "root/.cache/pip/http-v2/4/d/e/f/onnxruntime.body",
            "var", "var/lib", "var/lib/apt", "var/lib/apt/lists",
            "var/lib/apt/lists/deb.debian.org_debian-security_dists_bookworm-security_InRelease",
            LISTS + "InRelease", LISTS + "main_binary-amd64_Packages.lz4",
            "var/lib/apt/lists/lock", "var/lib/apt/lists/partial",
        ]
        # Deleted rows are marked by sign as well as colour.
        i = tree_paths(app).index(LISTS + "InRelease")
        assert tree.row_plain(i, NARROW) == "- " + " 151.0 kB" + "  " + " " * 8 + "  " + "deb.debian.org_debian_dists_bookworm_InRelease"
        i = tree_paths(app).index("var/lib/apt/lists")
        assert tree.row_plain(i, NARROW) == "  " + " " * 9 + "  " + " " * 6 + "▾ " + "lists/"
        assert tree.row_plain(i, 100) == "  drwxr-xr-x     0:0     " + " " * 9 + "  " + " " * 6 + "▾ " + "lists/"
        await pilot.press("a")
        await settle(pilot)
        assert app.tree_query.mode == AGGREGATE
        # The aggregate after layer 6 is the final image, with what layer 6 removed shown as removed.
        assert tree.view.refs is app.index.final
        assert tree.view.kind(LISTS + "InRelease") == Change.DELETED
        assert tree.view.kind("usr/bin/make") is None  # from layer 2: unmarked
        # Directories opened in one view stay open in the next; others stay closed.
        assert "var/lib/apt/lists/lock" in tree_paths(app)
        assert "usr/bin" not in tree_paths(app)


@async_test
async def test_added_and_modified_files_are_marked(sample):
    app = app_for(sample)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        layers = app.query_one(LayersPane)
        layers.move_cursor(row=2)
        await pilot.press("a")
        await settle(pilot)
        tree = app.query_one(FileTree)
        assert tree.reveal("var/lib/dpkg/status")
        assert tree.row_plain(tree.cursor, NARROW) == "~ " + "   3.8 kB" + "  " + " " * 6 + "  " + "status"
        assert tree.reveal("usr/bin/make")
        assert tree.row_plain(tree.cursor, NARROW) == "+ " + " 250.0 kB" + "  " + " " * 4 + "  " + "make"


@async_test
async def test_expand_collapse_one_and_all_and_sort(sample):
    app = app_for(sample)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("tab")
        tree = app.query_one(FileTree)
        assert tree.has_focus and tree.cursor_path == "app"
        await pilot.press("space")
        assert tree_paths(app)[:3] == ["app", "app/.env", "app/.git"]
        await pilot.press("space")
        assert tree_paths(app) == ["app", "bin", "etc", "root", "tmp", "usr", "var"]
        await pilot.press("down", "right", "down")  # into bin/
        assert tree.cursor_path == "bin/bash"
        await pilot.press("left")  # to the parent
        assert tree.cursor_path == "bin"
        await pilot.press("left")  # close it
        assert tree_paths(app)[1:3] == ["bin", "etc"]
        await pilot.press("e")
        await settle(pilot)
        # The 138 paths of the final image, plus layer 6's 10 deletions and the 8 directories they imply.
        assert len(tree.rows) == 156
        assert sum(1 for p in tree_paths(app) if tree.view.kind(p) == Change.DELETED) == 10
        await pilot.press("c")
        await settle(pilot)
        assert len(tree.rows) == 7
        await pilot.press("s")
        await settle(pilot)
        assert app.tree_query.order == BY_SIZE
        assert tree_paths(app) == ["usr", "bin", "var", "app", "etc", "root", "tmp"]
        assert tree.cursor_path == "bin"  # the cursor stays on its path


@async_test
async def test_regex_filter_as_you_type_and_escape_clears(sample):
    app = app_for(sample)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+f")
        assert app.focused is app.query_one("#filter", Input)
        await pilot.press(*r"\.so")
        await settle(pilot, lambda: app.tree_query.pattern == r"\.so")
        paths = tree_paths(app)
        files = [p for p in paths if not app.query_one(FileTree).view.is_dir(p)]
        assert files == [
            "usr/lib/x86_64-linux-gnu/libc.so.6",
            "usr/lib/x86_64-linux-gnu/libm.so.6",
            "usr/lib/x86_64-linux-gnu/libstdc++.so.6.0.30",
            "usr/local/lib/python3.11/dist-packages/numpy/core/_multiarray_umath.cpython-311-x86_64-linux-gnu.so",
            "usr/local/lib/python3.11/dist-packages/numpy.libs/libopenblas64_p-r0-0cf96a72.3.23.dev.so",
            "usr/local/lib/python3.11/dist-packages/onnxruntime/capi/libopenblas64_p-r0-0cf96a72.3.23.dev.so",
            "usr/local/lib/python3.11/dist-packages/onnxruntime/capi/onnxruntime_pybind11_state.so",
        ]
        assert "7 matches" in app.query_one("#files").border_subtitle
        await pilot.press("[")  # an invalid regex keeps the last good filter
        await pilot.pause()
        assert app.query_one("#filter", Input).has_class("-invalid")
        assert app.tree_query.pattern == r"\.so"
        assert app.query_one("#files").border_subtitle.startswith("bad regex:")
        await pilot.press("escape")
        await settle(pilot)
        assert app.query_one("#filter", Input).value == ""
        assert app.tree_query.pattern == "" and app.query_one(FileTree).has_focus
        assert tree_paths(app) == ["app", "bin", "etc", "root", "tmp", "usr", "var"]


@async_test
async def test_change_kind_filters(sample):
    app = app_for(sample)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.query_one(LayersPane).move_cursor(row=6)
        await pilot.press("a", "4")  # layer 6's changes, unchanged hidden
        await settle(pilot)
        assert app.tree_query.kinds == frozenset({Change.ADDED, Change.MODIFIED, Change.DELETED})
        tree = app.query_one(FileTree)
        files = [p for p in tree_paths(app) if not tree.view.is_dir(p)]
        assert {tree.view.kind(p) for p in files} == {Change.DELETED}
        assert len(files) == 6
        assert tree.selection.matches == 10  # and the 4 deleted directories
        await pilot.press("3")  # deleted hidden too: nothing left
        await settle(pilot)
        assert tree_paths(app) == []
        await pilot.press("3", "4")
        await settle(pilot)
        assert app.tree_query.kinds is None


@async_test
async def test_file_details_history_and_findings(sample):
    app = app_for(sample)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("tab")
        tree = app.query_one(FileTree)
        assert tree.reveal("var/lib/dpkg/status")
        await settle(pilot)
        text = details_text(app)
        assert text.startswith("/var/lib/dpkg/status\n")
        assert "Size         3.8 kB (3,764 bytes)" in text
        assert "Mode         -rw-r--r-- (0644)  uid 0  gid 0" in text
        assert "#0   + added" in text and "#2   ~ modified" in text
        assert "From layer   2: RUN apt-get install" in text
        assert tree.reveal("app/.env")
        await settle(pilot)
        text = details_text(app)
        assert ".env copied into the image" in text and "Touched by\n  #4   + added" in text


@async_test
async def test_viewer_shows_text_from_the_archive_and_withholds_secrets(sample):
    app = app_for(sample)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("tab")
        tree = app.query_one(FileTree)
        assert tree.reveal("app/requirements.txt")
        await pilot.press("enter")
        await settle(pilot, lambda: isinstance(app.screen, FileViewerScreen))
        text = app.screen.query_one(TextArea).text
        assert text == "numpy==2.4.6\nfastapi==0.165.0\nuvicorn==0.54.0\nonnxruntime==1.32.0\n"
        assert str(app.screen.query_one("#viewer-status", Label).render()) == "66 B text"
        await pilot.press("escape")
        assert not isinstance(app.screen, FileViewerScreen)
        assert tree.reveal("app/.env")
        await pilot.press("v")
        await settle(pilot, lambda: isinstance(app.screen, FileViewerScreen))
        await settle(pilot)
        text = app.screen.query_one(TextArea).text
        status = str(app.screen.query_one("#viewer-status", Label).render())
        reason = str(app.screen.query_one("#viewer-reason").render())
        assert status == "Cannot show this file."
        assert reason.startswith("'app/.env' holds a secret (")
        # The reason stands in place of the text: no line numbers without lines.
        assert not app.screen.query_one(TextArea).display
        for shown_text in (text, status, reason):
            assert "API_TOKEN" not in shown_text and "sk_test_4eC39" not in shown_text and "DEBUG" not in shown_text
        await pilot.press("escape")
        assert tree.reveal("usr/bin/make")
        await pilot.press("v")
        await settle(pilot, lambda: isinstance(app.screen, FileViewerScreen))
        assert str(app.screen.query_one("#viewer-status", Label).render()) == "250.0 kB binary, first 4.1 kB as hex"


@async_test
async def test_findings_grouped_ranked_and_jump_to_layer_and_files(sample):
    app = app_for(sample)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        findings = app.query_one(FindingsPane)
        groups = [(n.label.plain, [c.data.title for c in n.children]) for n in findings.root.children]
        assert groups == [
            ("build-tools (1) 3.9 MB", ["Compilers left in the final image"]),
            ("package-cache (1) 2.1 MB", ["apt lists stored in layer 1, deleted in layer 6"]),
            ("context-junk (1) 424.1 kB", [".git copied into the image"]),
            ("secret (1) 63 B", [".env copied into the image"]),
        ]
        await pilot.press("tab", "tab")
        assert findings.has_focus
        await pilot.press("down", "down", "down")  # group, finding, group, the apt finding
        assert findings.finding is FIXED_FINDINGS[1]
        assert "Update, install and clean the lists in one RUN." in details_text(app)
        await pilot.press("enter")
        await settle(pilot)
        assert app.query_one(LayersPane).cursor_row == 1
        assert (app.tree_query.mode, app.tree_query.layer_no) == (LAYER, 1)
        tree = app.query_one(FileTree)
        assert tree.has_focus
        assert tree.cursor_path == LISTS + "main_binary-amd64_Packages.lz4"  # its largest file
        assert [p for p in tree_paths(app) if not tree.view.is_dir(p)] == [
            "var/lib/apt/lists/deb.debian.org_debian-security_dists_bookworm-security_InRelease",
            LISTS + "InRelease",
            LISTS + "main_binary-amd64_Packages.lz4",
        ]
        assert "finding: apt lists stored in layer 1" in app.query_one("#files").border_subtitle


@async_test
async def test_summary_shows_size_efficiency_hidden_and_avoidable(sample):
    app = app_for(sample)
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(pilot)
        summary = str(app.query_one("#summary").render())
        index = app.index
        figures = f"efficiency {index.dive.score * 100:.1f} %  hidden 3.7 MB (13.4 %)  avoidable 6.5 MB (23.2 %)"
        assert summary == f"python-inference-mini:latest  28.0 MB in 7 layers, 169 entries  {figures}"
        assert app.analysis.avoidable_bytes == FIXED_AVOIDABLE
        await pilot.resize_terminal(120, 40)  # too narrow for one line: the figures go below
        await pilot.pause()
        summary = str(app.query_one("#summary").render())
        assert summary == f"python-inference-mini:latest  28.0 MB in 7 layers, 169 entries\n{figures}"


@async_test
async def test_real_analyzer_findings_fill_the_pane(sample):
    app = make_app(sample, IndexOptions(use_cache=False))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        pane = app.query_one(FindingsPane)
        leaves = [c for g in pane.root.children for c in g.children]
        if app.analysis.findings:
            assert len(leaves) == len(app.analysis.findings)
            assert {n.label.plain.split(" (")[0] for n in pane.root.children} == {f.kind for f in app.analysis.findings}
        else:
            assert [n.label.plain for n in pane.root.children] == ["No findings"]


@async_test
async def test_tab_cycles_panes_and_help_and_palette(sample):
    app = app_for(sample)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        order = []
        for _ in range(4):
            order.append(app.focused.id)
            await pilot.press("tab")
        assert order == ["layers", "tree", "findings", "details"]
        assert app.focused.id == "layers"
        await pilot.press("shift+tab")
        assert app.focused.id == "details"
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        markdown = app.screen.query_one(Markdown)
        assert "Keys" in markdown.source and "`ctrl+f` or `/`" in markdown.source
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"sort")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await settle(pilot)
        assert app.tree_query.order == BY_SIZE


PANE_BINDINGS = SlimviewApp.BINDINGS + FileTree.BINDINGS + LayersPane.BINDINGS + FindingsPane.BINDINGS + WastePane.BINDINGS


def test_help_names_every_key_of_the_app_and_its_panes():
    from slimview.ui.screens.help import help_text

    text = help_text()
    for binding in PANE_BINDINGS:
        for key in binding.key.split(","):
            if key == "ctrl+@":  # what some terminals send for ctrl+space, which help names
                continue
            shown = {"question_mark": "?", "slash": "/", "up": "↑", "down": "↓", "left": "←", "right": "→",
                     "pageup": "pgup", "pagedown": "pgdn"}.get(key, key)
            assert f"`{shown}`" in text, binding


def test_every_binding_has_an_id_and_a_description():
    for binding in PANE_BINDINGS:
        assert binding.id and binding.description, binding


@async_test
async def test_quit_is_clean(sample):
    app = app_for(sample)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("q")
    assert app.return_code == 0


FAKE_REWRITE_TEXT = ("FROM python:3.11-slim\nCMD [\"python3\"]\n", ".git\n.env\n")


def fake_rewriter(report):
    from slimview.rewrite.model import Rewrite, SizeRow

    dockerfile, dockerignore = FAKE_REWRITE_TEXT
    return Rewrite(dockerfile, dockerignore, [], [SizeRow("OS packages", 11_622_632, 259_072)], [], None)


def export_app(sample, directory) -> SlimviewApp:
    return make_app(
        sample, IndexOptions(use_cache=False), analyser=fixed_report, rewriter=fake_rewriter,
        export_directory=str(directory),
    )


@async_test
async def test_export_previews_saves_confirms_overwrites_and_copies(sample, tmp_path):
    from slimview.ui.screens.export import ConfirmScreen, ExportScreen

    app = export_app(sample, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("x")
        await settle(pilot, lambda: isinstance(app.screen, ExportScreen) and app.screen.rewrite is not None)
        estimate = str(app.screen.query_one("#export-estimate").render())
        assert estimate.startswith("Estimated size  11.6 MB → 259.1 kB  (98 % smaller)\n")
        await pilot.press("a", "1")  # the app's keys do nothing under the dialog
        assert isinstance(app.screen, ExportScreen) and app.tree_query.mode == AGGREGATE
        await pilot.press("ctrl+y")
        assert app.clipboard == FAKE_REWRITE_TEXT[0]
        await pilot.press("ctrl+g")
        assert app.clipboard == FAKE_REWRITE_TEXT[1]
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert not isinstance(app.screen, ExportScreen)
        assert (tmp_path / "Dockerfile.slim").read_text() == FAKE_REWRITE_TEXT[0]
        assert (tmp_path / ".dockerignore.slim").read_text() == FAKE_REWRITE_TEXT[1]

        (tmp_path / "Dockerfile.slim").write_text("mine\n")
        await pilot.press("x")
        await settle(pilot, lambda: isinstance(app.screen, ExportScreen) and app.screen.rewrite is not None)
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        question = str(app.screen.query_one("#confirm-question").render())
        assert question == f"These files already exist:\n  {tmp_path}/Dockerfile.slim\n  {tmp_path}/.dockerignore.slim\n\nReplace them?"
        await pilot.press("n")
        await pilot.pause()
        assert isinstance(app.screen, ExportScreen)
        assert (tmp_path / "Dockerfile.slim").read_text() == "mine\n"
        await pilot.press("ctrl+s")
        await pilot.pause()
        await pilot.press("y")
        await settle(pilot)
        assert not isinstance(app.screen, (ExportScreen, ConfirmScreen))
        assert (tmp_path / "Dockerfile.slim").read_text() == FAKE_REWRITE_TEXT[0]

        await pilot.press("x")
        await settle(pilot, lambda: isinstance(app.screen, ExportScreen) and app.screen.rewrite is not None)
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, ExportScreen)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".dockerignore.slim", "Dockerfile.slim"]


@async_test
async def test_export_into_a_missing_directory_makes_it_and_remembers_it(sample, tmp_path):
    from slimview.ui.screens.export import ExportScreen

    app = export_app(sample, tmp_path / "out")
    target = tmp_path / "new" / "deeper"
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("x")
        await settle(pilot, lambda: isinstance(app.screen, ExportScreen) and app.screen.rewrite is not None)
        app.screen.query_one("#export-directory", Input).value = str(target)
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert sorted(os.listdir(target)) == [".dockerignore.slim", "Dockerfile.slim"]
        await pilot.press("x")  # the next export proposes the directory typed last
        await settle(pilot, lambda: isinstance(app.screen, ExportScreen) and app.screen.rewrite is not None)
        assert app.screen.query_one("#export-directory", Input).value == str(target)


@async_test
async def test_a_failed_export_keeps_the_typed_directory(sample, tmp_path):
    from slimview.ui.screens.export import ExportScreen

    (tmp_path / "a-file").write_text("not a directory\n")
    app = export_app(sample, tmp_path / "out")
    notices = []
    async with app.run_test(size=SIZE) as pilot:
        real_notify = app.notify
        app.notify = lambda message, **kw: (notices.append((message, kw.get("severity"))), real_notify(message, **kw))
        await settle(pilot)
        await pilot.press("x")
        await settle(pilot, lambda: isinstance(app.screen, ExportScreen) and app.screen.rewrite is not None)
        app.screen.query_one("#export-directory", Input).value = str(tmp_path / "a-file" / "sub")
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert notices == [(f"cannot make the directory {tmp_path}/a-file/sub: Not a directory", "error")]
        await pilot.press("x")
        await settle(pilot, lambda: isinstance(app.screen, ExportScreen) and app.screen.rewrite is not None)
        assert app.screen.query_one("#export-directory", Input).value == str(tmp_path / "a-file" / "sub")


@async_test
async def test_a_failing_rewrite_is_shown_in_the_export_dialog(sample, tmp_path):
    from slimview.ui.screens.export import ExportScreen

    def broken(report):
        raise InputError("no Dockerfile history to rewrite")

    app = make_app(sample, IndexOptions(use_cache=False), analyser=fixed_report, rewriter=broken)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("x")
        await settle(pilot)
        assert isinstance(app.screen, ExportScreen)
        assert str(app.screen.query_one("#export-estimate").render()) == "No rewrite: no Dockerfile history to rewrite"
        assert app.screen.query_one("#export-save-button").disabled


@async_test
async def test_slash_typed_right_after_the_filter_key_lands_in_the_pattern(sample):
    app = app_for(sample)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("tab", "slash", *"usr/bin/m", "enter")
        await settle(pilot, lambda: app.tree_query.pattern == "usr/bin/m")
        tree = app.query_one(FileTree)
        assert [p for p in tree_paths(app) if not tree.view.is_dir(p)] == ["usr/bin/make"]
        assert tree.has_focus


@async_test
async def test_the_palette_offers_every_action_of_the_keys(sample):
    from slimview.ui.commands import SlimviewCommands

    app = app_for(sample)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        provider = SlimviewCommands(app.screen)
        titles = [hit.text async for hit in provider.discover()]
        assert titles == [
            "Quit", "Next pane", "Previous pane", "Filter", "Clear filter", "Layer/all", "Sort", "Expand all",
            "Collapse all", "Added", "Modified", "Deleted", "Unchanged", "Attributes", "Wasted (dive)", "Image", "View",
            "Extract", "Export", "Help",
        ]
        hits = [hit async for hit in provider.search("collapse")]
        assert [h.text for h in hits] == ["Collapse all"]
        assert hits[0].help == "Close every directory (ctrl+space as in dive) (key: c)"


@async_test
async def test_jumping_to_the_same_finding_twice_shows_its_largest_file(sample):
    app = app_for(sample)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.jump_to_finding(FIXED_FINDINGS[2])
        await settle(pilot)
        tree = app.query_one(FileTree)
        assert tree.cursor_path == "app/.git/objects/pack/pack-3f1c2a.pack"
        await pilot.press("up")
        assert tree.cursor_path != "app/.git/objects/pack/pack-3f1c2a.pack"
        app.jump_to_finding(FIXED_FINDINGS[2])
        await settle(pilot)
        assert tree.cursor_path == "app/.git/objects/pack/pack-3f1c2a.pack"


def test_index_worker_processes_start_from_inside_the_app(tmp_path, sample):
    """The index starts worker processes (forkserver) from the app's worker thread, where
    Textual's stderr has no file descriptor; a fresh interpreter shows it still works."""
    script = f"""
import asyncio, concurrent.futures, multiprocessing, os, sys
sys.path.insert(0, {os.path.dirname(__file__)!r})
from slimview.index import IndexOptions, build_index
from slimview.ui.app import make_app
from uihelpers import settle

def in_processes(reference, options, progress, events):
    context = multiprocessing.get_context("forkserver")
    with concurrent.futures.ProcessPoolExecutor(2, mp_context=context) as pool:
        assert list(pool.map(abs, [-1, -2])) == [1, 2]
    return build_index(reference, options, progress)

async def main():
    app = make_app({sample!r}, IndexOptions(use_cache=False), index_builder=in_processes)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        print("error:", app.load_error)

asyncio.run(main())
"""
    env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path / "cache"))
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert done.stdout.strip().splitlines()[-1] == "error: None", done.stdout + done.stderr


def screen_text(app) -> str:
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


@async_test
async def test_brackets_in_names_instructions_and_titles_are_shown_as_they_are(tmp_path):
    from slimview.findings import Analysis
    from slimview.findings.model import Finding, FindingPath
    from slimview.sample.builder import ImageSpec, Layer, write_docker_archive
    from slimview.ui.screens.viewer import FileViewerScreen

    layer = Layer("RUN echo [bold]x[/bold]").dir("app").file("app/[id].js", b"export default 1\n").file("app/[red]", b"r")
    image = str(tmp_path / "brackets.tar")
    write_docker_archive(ImageSpec([layer]), image, ["brackets:latest"])
    finding = Finding("context-junk", "[red]junk[/red] copied", "low", 1, 0, "RUN echo", [FindingPath("app/[red]", 1, 0)])
    app = make_app(image, IndexOptions(use_cache=False), analyser=lambda index: Analysis(index, [finding]))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        text = screen_text(app)
        assert "RUN echo [bold]x[/bold]" in text
        assert "[red]junk[/red] copied" in text  # in the findings pane
        app.jump_to_finding(finding)
        await settle(pilot)
        assert "finding: [red]junk[/red] copied" in screen_text(app)
        tree = app.query_one(FileTree)
        assert tree.row_plain(tree.cursor, NARROW).endswith("  [red]")
        await pilot.press("escape")
        await settle(pilot)
        assert tree.reveal("app/[id].js")
        await settle(pilot)
        assert "/app/[id].js" in screen_text(app)
        await pilot.press("v")
        await settle(pilot, lambda: isinstance(app.screen, FileViewerScreen))
        text = screen_text(app)
        assert "/app/[id].js (layer 0)" in text and "export default 1" in text


@async_test
async def test_the_viewer_shows_a_hard_links_own_bytes_after_its_target_is_overwritten(tmp_path):
    """Layer 0 stores a = OLD and b hard-linked to a; layer 1 overwrites a = NEW. b's bytes
    are still OLD (the link names layer 0's body), and the viewer must show them."""
    from slimview.sample.builder import ImageSpec, Layer, write_docker_archive

    image = str(tmp_path / "links.tar")
    spec = ImageSpec([Layer("ADD base").file("a", b"OLD bytes\n").hardlink("b", "a"), Layer("RUN rewrite a").file("a", b"NEW bytes\n")])
    write_docker_archive(spec, image, ["links:latest"])
    app = make_app(image, IndexOptions(use_cache=False))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("tab")
        assert app.query_one(FileTree).reveal("b")
        await pilot.press("v")
        await settle(pilot, lambda: isinstance(app.screen, FileViewerScreen))
        await settle(pilot)
        assert app.screen.query_one(TextArea).text == "OLD bytes\n"
        await pilot.press("escape")
        assert app.query_one(FileTree).reveal("a")
        await pilot.press("v")
        await settle(pilot, lambda: isinstance(app.screen, FileViewerScreen))
        await settle(pilot)
        assert app.screen.query_one(TextArea).text == "NEW bytes\n"
