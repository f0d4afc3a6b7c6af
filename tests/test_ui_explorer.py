"""The explorer's first screen while the image is read, and what dive users reach for:
the wasted-files table, changed-inside marks, dive's keys, extraction, the 80x24 layout."""

from __future__ import annotations

import hashlib
import os
import tarfile
import threading

import pytest
from textual.widgets import Checkbox, ContentSwitcher, Input

from slimview.display import human_bytes, plural
from slimview.index import IndexOptions, build_index
from slimview.index.model import Change
from slimview.index.tree import AGGREGATE, LAYER
from slimview.rewrite.model import Rewrite
from slimview.sample.builder import ImageSpec, Layer, write_docker_archive
from slimview.source.model import Described, SizeMeasure
from slimview.ui.app import make_app
from slimview.ui.screens.export import ConfirmScreen, ExportScreen
from slimview.ui.screens.extract import ExtractScreen
from slimview.ui.widgets.details import DetailsPane
from slimview.ui.widgets.filetree import FileTree
from slimview.ui.widgets.findings import FindingsPane
from slimview.ui.widgets.layers import LayersPane
from slimview.ui.widgets.loading import LoadingPanel
from slimview.ui.widgets.waste import WastePane

from uihelpers import async_test, fixed_report, settle

pytestmark = pytest.mark.usefixtures("private_cache")

SIZE = (120, 40)
SMALL = (80, 24)


def app_for(sample: str, **kwargs):
    return make_app(sample, IndexOptions(use_cache=False), analyser=fixed_report, **kwargs)


def screen_text(app) -> str:
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


def tree_paths(app) -> list[str]:
    return [p for p, _ in app.query_one(FileTree).rows]


class Stepwise:
    """An index builder that announces the image, then one layer per ``step()``, then finishes."""

    def __init__(self, order: list[int]):
        self.order = order
        self.go = threading.Semaphore(0)
        self.index = None

    def step(self, n: int = 1) -> None:
        for _ in range(n):
            self.go.release()

    def __call__(self, reference, options, progress, events):
        index = self.index = build_index(reference, options)
        events.described(Described(index.source, tuple(layer.ref.stored_size for layer in index.layers), SizeMeasure.STORED_BYTES))
        for layer in self.order:
            assert self.go.acquire(timeout=30)
            events.indexed(layer, index.layers[layer].files)
        assert self.go.acquire(timeout=30)
        return index


async def until(pilot, test, timeout: float = 10.0) -> None:
    for _ in range(int(timeout / 0.01)):
        if test():
            return
        await pilot.pause(0.01)
    raise AssertionError("the app did not get there")


@async_test
async def test_the_first_screen_comes_from_the_description_and_each_layer_as_it_is_read(sample):
    builder = Stepwise(order=[6, 2, 0, 1, 3, 4, 5])
    app = make_app(sample, IndexOptions(use_cache=False), index_builder=builder, analyser=fixed_report)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.partial is not None)
        await pilot.pause()
        sizes = app.partial.described.sizes
        layers = app.query_one(LayersPane)
        assert [(r.number, r.size, r.read) for r in layers.rows_shown] == [(i, sizes[i], False) for i in range(7)]
        assert [str(layers.get_row_at(i)[3]).rstrip() for i in (1, 4)] == ["RUN apt-get update", "COPY . ."]
        assert str(app.query_one("#summary").render()).startswith(f"python-inference-mini:latest  {human_bytes(sum(sizes))} in 7 layers")
        details = app.query_one(DetailsPane)
        assert str(details.border_title) == "Image"
        assert "Command      python3 -m uvicorn inference_engine.app:app" in details.body.plain
        loading = app.query_one(LoadingPanel)
        assert (loading.done, loading.total) == (0.0, float(sum(sizes)))  # determinate from the start
        assert app.query_one("#files-switcher", ContentSwitcher).current == "loading"
        assert "Layer 6's files are still being read." in str(app.query_one("#loading-stage").render())
        assert "│Findings once all layers are read" in screen_text(app)

        builder.step()  # layer 6 is read: its own files, without change marks yet
        await until(pilot, lambda: app.query_one("#files-switcher", ContentSwitcher).current == "tree")
        own = builder.index.layers[6].files.paths
        tree = app.query_one(FileTree)
        await until(pilot, lambda: tree.view is not None and not app.tree_busy)
        assert set(tree.view.paths()) >= set(own) and app.tree_query.mode == LAYER
        assert all(tree.view.kind(p) is None for p in own)
        assert (loading.done, loading.total) == (float(sizes[6]), float(sum(sizes)))
        assert layers.rows_shown[6].read and not layers.rows_shown[2].read

        await pilot.press("up", "up", "up", "up")  # layer 2, not read yet
        await until(pilot, lambda: app.query_one("#files-switcher", ContentSwitcher).current == "loading")
        assert "Layer 2's files are still being read." in str(app.query_one("#loading-stage").render())
        builder.step()
        await until(pilot, lambda: app.query_one("#files-switcher", ContentSwitcher).current == "tree" and tree.view.layer_no == 2)
        assert layers.rows_shown[2].size == builder.index.layers[2].stats.size

        builder.step(6)  # the rest, then the index: change marks, for the layer the user chose
        await settle(pilot)
        assert app.index is builder.index
        assert (app.tree_query.mode, app.tree_query.layer_no) == (LAYER, 2)
        assert tree.view.kind("usr/bin/make") == Change.ADDED
        assert all(r.read for r in layers.rows_shown)


@async_test
async def test_an_untouched_first_screen_opens_on_the_final_image(sample):
    builder = Stepwise(order=list(range(7)))
    app = make_app(sample, IndexOptions(use_cache=False), index_builder=builder, analyser=fixed_report)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.partial is not None)
        builder.step(7)  # every layer read: layer 6's own files are shown, the index is not done
        tree = app.query_one(FileTree)
        await until(pilot, lambda: tree.view is not None and not app.tree_busy)
        assert tree.cursor_path == "root"  # the first of layer 6's own files
        builder.step()
        await settle(pilot)
        assert (app.tree_query.mode, app.tree_query.layer_no) == (AGGREGATE, 6)
        assert tree.view.refs is app.index.final
        assert tree.cursor == 0 and tree.cursor_path == "app"  # the final image from its top, not the preview's row


@async_test
async def test_j_k_home_and_end_move_in_the_layers_and_findings_panes(sample):
    app = app_for(sample)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        layers = app.query_one(LayersPane)
        assert layers.has_focus and layers.cursor_row == 6
        await pilot.press("home")
        assert layers.cursor_row == 0
        await pilot.press("j", "j")
        assert layers.cursor_row == 2
        await pilot.press("k")
        assert layers.cursor_row == 1
        await pilot.press("end")
        assert layers.cursor_row == 6
        await pilot.press("tab", "tab")
        findings = app.query_one(FindingsPane)
        assert findings.has_focus and findings.cursor_line == 0
        await pilot.press("j", "j", "j")
        assert findings.cursor_line == 3
        await pilot.press("k")
        assert findings.cursor_line == 2
        await pilot.press("end")
        assert findings.cursor_line == findings.last_line == 7
        await pilot.press("home")
        assert findings.cursor_line == 0


@async_test
async def test_dives_wasted_files_table_beside_the_findings(sample):
    app = app_for(sample)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("w", "tab", "tab")
        assert app.query_one("#insights", ContentSwitcher).current == "wasted"
        table = app.query_one(WastePane)
        assert table.has_focus
        wasted = app.index.dive.inefficient_paths
        assert len(wasted) == table.row_count == 7
        for i, (path, total, count) in enumerate(wasted):
            cells = [str(c).strip() for c in table.get_row_at(i)]
            assert cells[:2] == [str(count), human_bytes(total)]
            assert cells[2] == "/" + path or (cells[2].endswith("…") and ("/" + path).startswith(cells[2][:-1]))
        assert wasted[0][0].endswith("main_binary-amd64_Packages.lz4") and wasted[0][2] == 2
        details = app.query_one(DetailsPane).body.plain
        assert details.startswith("/" + wasted[0][0]) and "#1   + added" in details and "#6   - deleted" in details
        await pilot.press("w")
        assert app.query_one("#insights", ContentSwitcher).current == "findings"
        assert app.query_one(FindingsPane).has_focus


@async_test
async def test_a_closed_directory_with_changes_inside_is_marked_changed(sample):
    app = app_for(sample)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        tree = app.query_one(FileTree)
        rows = dict(zip(tree_paths(app), range(len(tree.rows))))
        # Layer 6 deleted the apt lists under var/ and root/.cache: both closed, both marked.
        assert tree.row_plain(rows["var"], 70).startswith("~ ")
        assert tree.row_plain(rows["root"], 70).startswith("~ ")
        assert tree.row_plain(rows["usr"], 70).startswith("  ")
        await pilot.press("tab")
        assert tree.reveal("var/lib")
        assert tree.row_plain(rows["var"], 70).startswith("  ")  # open: its rows show the changes
        assert tree.row_plain(tree.cursor, 70).startswith("~ ")


@async_test
async def test_collapse_and_expand_all_while_a_filter_is_active(sample):
    app = app_for(sample)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+f", *r"\.so", "enter")
        await settle(pilot, lambda: app.tree_query.pattern == r"\.so")
        opened = tree_paths(app)
        assert len(opened) > 7 and "usr/lib/x86_64-linux-gnu/libc.so.6" in opened
        await pilot.press("c")
        await settle(pilot)
        assert tree_paths(app) == ["usr"]
        await pilot.press("e")
        await settle(pilot)
        assert tree_paths(app) == opened


@async_test
async def test_dives_keys_toggle_change_kinds_and_attributes(sample):
    app = app_for(sample)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("tab", "ctrl+a")
        await settle(pilot)
        assert app.tree_query.kinds == frozenset({Change.MODIFIED, Change.DELETED, Change.UNCHANGED})
        await pilot.press("ctrl+r", "ctrl+u")
        await settle(pilot)
        assert app.tree_query.kinds == frozenset({Change.MODIFIED})
        await pilot.press("ctrl+a", "ctrl+r", "ctrl+u")
        await settle(pilot)
        assert app.tree_query.kinds is None
        tree = app.query_one(FileTree)
        width = tree.scrollable_content_region.width  # too narrow for them to be shown unasked
        assert tree.row_plain(0, width).startswith("   533.5 kB  ▸ app/")
        await pilot.press("ctrl+b")
        assert tree.row_plain(0, width).startswith("  drwxr-xr-x     0:0      533.5 kB  ▸ app/")
        await pilot.press("ctrl+b")
        assert tree.row_plain(0, 100).startswith("   533.5 kB  ▸ app/")  # hidden even when wide, once asked
        await pilot.press("home", "space")  # dive's key to open and close a directory
        assert tree_paths(app)[:2] == ["app", "app/.env"]


@async_test
async def test_extract_a_file_and_a_layer_from_the_explorer(sample, tmp_path):
    app = app_for(sample)
    dest = tmp_path / "made" / "here"
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("tab")
        assert app.query_one(FileTree).reveal("app/requirements.txt")
        await pilot.press("ctrl+e")
        await settle(pilot, lambda: isinstance(app.screen, ExtractScreen))
        app.screen.query_one("#extract-directory", Input).value = str(dest)
        await pilot.press("enter")
        await settle(pilot, lambda: (dest / "requirements.txt").exists())
        assert (dest / "requirements.txt").read_bytes() == b"numpy==2.4.6\nfastapi==0.165.0\nuvicorn==0.54.0\nonnxruntime==1.32.0\n"

        app.query_one(LayersPane).focus()
        app.query_one(LayersPane).move_cursor(row=4)
        await settle(pilot)
        await pilot.press("ctrl+e")
        await settle(pilot, lambda: isinstance(app.screen, ExtractScreen))
        assert app.screen.query_one("#extract-directory", Input).value == str(dest)  # the last directory
        assert not app.screen.query_one(Checkbox).value
        await pilot.press("enter")
        await settle(pilot, lambda: (dest / "layer-4.tar").exists())
        with tarfile.open(dest / "layer-4.tar") as tar:
            names = tar.getnames()
        assert "app/requirements.txt" in names and "app/.env" not in names  # a secret is kept only when asked

        app.query_one(LayersPane).move_cursor(row=1)
        await settle(pilot)
        await pilot.press("ctrl+e")
        await settle(pilot, lambda: isinstance(app.screen, ExtractScreen))
        await pilot.press("enter")
        await settle(pilot, lambda: (dest / "layer-1.tar").exists())
        data = (dest / "layer-1.tar").read_bytes()
        assert "sha256:" + hashlib.sha256(data).hexdigest() == app.index.layers[1].ref.diff_id

        (dest / "layer-1.tar").write_bytes(b"mine\n")
        await pilot.press("ctrl+e")
        await settle(pilot, lambda: isinstance(app.screen, ExtractScreen))
        await pilot.press("enter")
        await settle(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("n")
        await settle(pilot)
        assert (dest / "layer-1.tar").read_bytes() == b"mine\n"
    assert sorted(os.listdir(dest)) == ["layer-1.tar", "layer-4.tar", "requirements.txt"]


@async_test
async def test_at_80x24_instructions_findings_and_details_are_readable(sample):
    app = app_for(sample)
    async with app.run_test(size=SMALL) as pilot:
        await settle(pilot)
        layers = app.query_one(LayersPane)
        instructions = [str(layers.get_row_at(i)[-1]).rstrip() for i in range(7)]
        assert instructions[1] == "RUN apt-get update"
        assert instructions[2] == "RUN apt-get insta…"  # cut with a mark, not at ten characters
        assert instructions[4] == "COPY . ."
        findings = app.query_one("#insights")
        assert findings.outer_size.height == 8 + 2  # its eight lines and its border, no more
        text = screen_text(app)
        assert "│└    3.9 MB HIGH   Compilers left…│" in text
        await pilot.press("up")
        await settle(pilot)
        lines = [strip.text.rstrip() for strip in app.query_one(DetailsPane)._lines]
        digest = next(i for i, line in enumerate(lines) if line.startswith("Digest"))
        wrapped = lines[digest + 1 : digest + 3]
        assert all(line.startswith(" " * 13) and line[13] != " " for line in wrapped)  # under the value
        assert lines[digest][13:] + "".join(line[13:] for line in wrapped) == app.index.layers[5].digest


@async_test
async def test_the_overwrite_dialog_names_each_file_whole_at_80x24(sample, tmp_path):
    deep = tmp_path / ("a-rather-long-directory-name-" * 2) / "for-the-rewrite"
    deep.mkdir(parents=True)
    (deep / "Dockerfile.slim").write_text("mine\n")
    (deep / ".dockerignore.slim").write_text("mine\n")
    rewrite = Rewrite(dockerfile="FROM scratch\n", dockerignore=".git\n", fixes=[], sizes=[], copied_sources=[], smoke=None)
    app = make_app(sample, IndexOptions(use_cache=False), analyser=fixed_report, rewriter=lambda analysis: rewrite, export_directory=str(deep))
    async with app.run_test(size=SMALL) as pilot:
        await settle(pilot)
        await pilot.press("x")
        await settle(pilot, lambda: isinstance(app.screen, ExportScreen) and app.screen.rewrite is not None)
        await pilot.press("ctrl+s")
        await settle(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        region = app.screen.query_one("#confirm-question").content_region
        lines = screen_text(app).splitlines()[region.y : region.bottom]
        text = "".join(line[region.x : region.right].strip() for line in lines)
        for name in ("Dockerfile.slim", ".dockerignore.slim"):
            assert str(deep / name) in text
        assert "Replace them?" in text


@async_test
async def test_one_layer_and_one_entry_are_singular(tmp_path):
    image = tmp_path / "one.tar"
    write_docker_archive(ImageSpec([Layer("COPY app /app").file("app", b"x")]), str(image), ["one:1"])
    app = make_app(str(image), IndexOptions(use_cache=False))
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(pilot)
        assert "one:1  1 B in 1 layer, 1 entry  " in str(app.query_one("#summary").render())
    assert [plural(n, "entry", "entries") for n in (0, 1, 2, 1234)] == ["0 entries", "1 entry", "2 entries", "1,234 entries"]
