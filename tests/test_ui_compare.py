"""The explorer's compare mode (`slimview IMAGE --compare BASELINE`), driven with Pilot on
generated images: the aligned layers, the changed files to walk, a row narrowing them,
errors, and Escape on to the explorer."""

from __future__ import annotations

import asyncio
import time

import pytest

from slimview.compare import LayerStatus
from slimview.display import signed_bytes
from slimview.index import IndexOptions
from slimview.ui.app import make_app
from slimview.ui.screens.compare import CompareScreen
from slimview.ui.widgets.alignment import AlignmentPane
from slimview.ui.widgets.changes import ChangesPane
from slimview.ui.widgets.layers import LayersPane

from compare_util import after_layers, archive, before_layers
from uihelpers import async_test, settle

pytestmark = pytest.mark.usefixtures("private_cache")

SIZE = (140, 40)


async def compared(pilot, timeout: float = 30.0) -> CompareScreen:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        screen = pilot.app.screen
        if isinstance(screen, CompareScreen) and (screen.comparison is not None or "Could not" in str(screen.query_one("#compare-summary").render())):
            await pilot.pause()
            return screen
        await asyncio.sleep(0.05)
    raise AssertionError("the comparison did not arrive")


def labels(tree: ChangesPane, node=None) -> list[str]:
    return [str(n.label).strip() for n in (node or tree.root).children]


@async_test
async def test_compare_mode_aligns_layers_and_walks_the_changed_files(tmp_path):
    before = archive(tmp_path / "before.tar", before_layers(), "app:1")
    after = archive(tmp_path / "after.tar", after_layers(), "app:2")
    app = make_app(str(after), IndexOptions(use_cache=False), compare=str(before))
    async with app.run_test(size=SIZE) as pilot:
        screen = await compared(pilot)
        c = screen.comparison
        assert c is not None
        summary = str(screen.query_one("#compare-summary").render())
        assert summary.startswith("app:1 → app:2")
        table = screen.query_one(AlignmentPane)
        assert table.row_count == 1 + len(c.layers)
        assert [table.get_row_at(i)[2].plain for i in range(1, table.row_count)] == [p.status.value for p in c.layers]
        files = screen.query_one(ChangesPane)
        usr = sum(d.delta for d in c.files if d.path.startswith("usr/"))
        assert labels(files)[0] == f"{signed_bytes(usr)} usr/"
        top = [n.data.path for n in files.root.children]
        assert top[0] == "usr" and set(top) == {"usr", "var", "app"}

        # the row of `RUN apt-get update` narrows the files to the lists it stored
        row = 1 + next(i for i, p in enumerate(c.layers) if p.status == LayerStatus.ADDED and p.after == range(2, 3))
        table.move_cursor(row=row)
        await pilot.pause(0.2)
        assert [n.data.path for n in files.root.children] == ["var"]
        assert files.border_subtitle == "1 files, +150.0 kB"

        # walk down to the file, the details follow
        files.focus()
        await pilot.press("enter")  # opens var/
        await pilot.pause(0.1)
        for _ in range(3):
            await pilot.press("down", "enter")
            await pilot.pause(0.1)
        await pilot.press("down")
        await pilot.pause(0.1)
        assert files.change is not None and files.change.path == "var/lib/apt/lists/deb_Packages"
        details = str(screen.query_one("#compare-details").render())
        assert "stored, then hidden by a later layer: 0 B → 150.0 kB (150,000 B)" in details
        assert "after:  layer 2 RUN apt-get update" in details

        await pilot.press("escape")
        await settle(pilot)
        assert not isinstance(app.screen, CompareScreen)
        assert app.query_one(LayersPane).row_count == len(c.after.layers)


@async_test
async def test_a_baseline_that_cannot_be_read_is_one_line_on_the_screen(tmp_path):
    after = archive(tmp_path / "after.tar", after_layers(), "app:2")
    app = make_app(str(after), IndexOptions(use_cache=False), compare=str(tmp_path / "missing.tar"))
    async with app.run_test(size=SIZE) as pilot:
        screen = await compared(pilot)
        assert screen.comparison is None
        text = str(screen.query_one("#compare-summary").render())
        assert text.startswith("Could not compare the images: ") and "missing.tar" in text and "\n" not in text.strip()
