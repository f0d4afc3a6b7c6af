"""Hostile input in the explorer: the same one clear line as the CLI.

The app indexes in a worker; a broken archive whose layers could be listed must end on
the loading panel's failure state with the very message `slimview report` prints, and `q`
must leave with status 2. One that breaks before its layers are known leaves the explorer
at once with that message and status 2 (the command line prints it on the terminal).
A strange-but-valid image (invalid UTF-8 and terminal escapes in names, link loops)
opens normally, with the names shown escaped.
"""

from __future__ import annotations

import re

import pytest

pytest.importorskip("textual")

from test_hostile_catalogue import CASES
from textual.widgets import Label

from slimview.index import IndexOptions
from slimview.ui.app import make_app

from hostile import Archive, empty_entries_layer, gzip_layer_diff_id, member, symlink, tar
from uihelpers import async_test, settle

pytestmark = pytest.mark.usefixtures("private_cache")

SIZE = (120, 40)


async def _failure_shown(image: str, options: IndexOptions, *, listed: bool = True) -> tuple[str, str, int]:
    app = make_app(image, options)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        error = app.load_error
        if not listed:  # nothing to show: the explorer has left already
            assert app.return_code == 2 and app.partial is None
            return error, "", app.return_code
        stage = str(app.query_one("#loading-stage", Label).render())
        title = str(app.query_one("#loading-title", Label).render())
        await pilot.press("q")
    assert title == "Could not open the image"
    assert stage == f"{error}\n\nPress q to quit."
    return error, stage, app.return_code


# Archives that break before their manifest and config are read: no layer can be listed.
UNLISTED = {"truncated_outer_tar_in_data", "manifest_not_json"}


@pytest.mark.parametrize("name", ["corrupt_gzip_layer", "truncated_outer_tar_in_data", "10000_character_path_pax", "layer_not_matching_diff_id",
                                  "manifest_not_json", "nul_in_name", "truncated_zstd_layer"])
@async_test
async def test_a_broken_archive_shows_the_same_line_as_the_cli(name, tmp_path):
    image, pattern, _cls = CASES[name](tmp_path)
    error, _stage, status = await _failure_shown(image, IndexOptions(cache_dir=str(tmp_path / "cache")), listed=name not in UNLISTED)
    assert re.fullmatch(pattern.replace("{p}", re.escape(image)), error), error
    assert "Traceback" not in error and "\n" not in error
    assert status == 2


@async_test
async def test_a_tar_bomb_is_refused_in_the_app(tmp_path):
    layer = empty_entries_layer(150_000)
    image = Archive([layer], diff_ids=[gzip_layer_diff_id(layer)]).write(tmp_path / "bomb.tar")
    error, _stage, status = await _failure_shown(image, IndexOptions(use_cache=False, max_entries=100_000))
    assert error.startswith(f"{image}: layer 0 (")
    assert error.endswith("more than 100,000 entries, counting whiteouts, implied directories and long paths "
                          "(raise --max-entries if this image is real)")
    assert status == 2


@async_test
async def test_strange_names_open_and_show_escaped(tmp_path):
    from slimview.ui.widgets.filetree import FileTree

    image = Archive([tar(
        member(b"caf\xe9.txt", b"abc"),
        member("evil\x1b]0;pwned\x07.txt", b"12"),
        symlink("loop-a", "loop-b"),
        symlink("loop-b", "loop-a"),
    )]).write(tmp_path / "strange.tar")
    app = make_app(image, IndexOptions(use_cache=False))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.load_error is None
        rows = sorted(path for path, _ in app.query_one(FileTree).rows)
        screen = app.export_screenshot()
        await pilot.press("q")
    assert rows == ["caf\udce9.txt", "evil\x1b]0;pwned\x07.txt", "loop-a", "loop-b"]
    # Shown escaped: no raw byte reaches the terminal (an OSC sequence would retitle it).
    assert "\x1b" not in screen and "\x07" not in screen
    assert "caf\\xe9.txt" in screen and "evil\\x1b]0;pwned\\x07.txt" in screen
    assert app.return_code == 0
