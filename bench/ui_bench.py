"""The explorer's responsiveness: time to first frame, and per-key latency on a huge image.

    python3 bench/ui_bench.py                  # the bloated sample tarball and a 1,000,000-entry image
    python3 bench/ui_bench.py --entries 100000 --keys 100
    python3 bench/ui_bench.py --skip-real      # only the synthetic image
    python3 bench/ui_bench.py --engine python-inference:latest --engine-only   # the first screen on an engine image

Engine image (``--engine REF``, DOCKER_HOST as for slimview): in the same tmux pane size,
with an empty cache each run, slimview's time to its layer list (every layer's
instruction on screen), to the full file tree, and dive's time to its first screen
(its layer and file panes), run alternately, median of ``--runs``.

First frame: the installed ``slimview`` runs in a tmux pane (120x40) and the pane is
captured every few milliseconds; "first frame" is when the explorer's progress display
is on screen, "ready" when the file tree has replaced it. "cold" starts with an empty
cache directory (the image is indexed while the progress shows); "reopen" runs again on
the cache the cold run filled.

Keys: in the same tmux pane, on the synthetic image with a warm cache, each key is timed
from ``tmux send-keys`` until the captured screen (text and colours) first changes, so it
includes the terminal round trip and Textual's frame pacing; capture-pane polling adds a
few ms. "In a row" sends the next key as soon as the screen answered the last; "after a
pause" lets the details pane catch up first.

Tree work: the app runs headless in this process. A cursor move is timed as the tree's
handler plus drawing every visible line. Actions that build a new view (switching layer,
filtering, expanding everything) run in a worker, timed until the new rows are shown;
the UI keeps answering keys meanwhile.

The synthetic image comes from bench/synth.py (a base of many small files in
directories of 100, overwrites, whole-directory and file deletions, a chmod layer) and
is written to bench/work/ (gitignored) once.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
WORK = os.path.join(HERE, "work")
SAMPLE_TAR = "/var/lib/slimview-ci/python-inference.tar"
TMUX_SIZE = (120, 40)
FIRST_FRAME_MARKS = ("Opening ", "Layers indexed", "Reading:")  # the progress display
READY_MARK = "Files · all files after layer "  # the final image's tree (while layers are read: "Files · layer N's own files")

sys.path.insert(0, HERE)
from run import exe  # noqa: E402 - bench/ is not a package

# -- the synthetic image -------------------------------------------------------------------------


def synthetic_image(entries: int) -> str:
    from synth import write_save

    os.makedirs(WORK, exist_ok=True)
    path = os.path.join(WORK, f"synth-{entries}.tar")
    if not os.path.exists(path):
        t = time.perf_counter()
        tmp = path + ".part"
        count = write_save(entries, tmp)
        os.replace(tmp, path)
        print(f"wrote {path}: {count:,} entries in {time.perf_counter() - t:.1f} s", file=sys.stderr)
    return path


# -- a real terminal -------------------------------------------------------------------------------


class Pane:
    """The installed ``slimview`` (or another command) in a tmux pane, read back with capture-pane."""

    def __init__(self, image: str, cache_dir: str, command: str | None = None):
        slimview = exe("slimview")  # the real console script, not a pyenv shim's extra shell
        command = command or f"{slimview} {image}"
        self.session = f"slimview-bench-{os.getpid()}"
        self.tmux = ["tmux", "-L", self.session, "-f", "/dev/null"]  # a server of its own
        subprocess.run([*self.tmux, "kill-server"], capture_output=True)
        # An idle pane first: a program started with the session can read its size before
        # tmux applies -x/-y.
        subprocess.run(
            [*self.tmux, "new-session", "-d", "-s", self.session, "-x", str(TMUX_SIZE[0]), "-y", str(TMUX_SIZE[1]), "sleep 600"],
            check=True,
        )
        self.started = time.perf_counter()
        subprocess.run(
            [*self.tmux, "respawn-pane", "-k", "-t", self.session,
             f"env -u COLUMNS -u LINES XDG_CACHE_HOME={cache_dir} TERM=xterm-256color {command}; sleep 30"],
            check=True,
        )

    def screen(self, styles: bool = False) -> str:
        """The pane's text; with ``styles`` its colours too (a moved cursor changes only those)."""
        command = [*self.tmux, "capture-pane", "-t", self.session, "-p"] + (["-e"] if styles else [])
        return subprocess.run(command, capture_output=True, text=True).stdout

    def wait_for(self, test, timeout: float = 600.0) -> float:
        """Seconds since start when ``test(screen)`` first held."""
        while time.perf_counter() - self.started < timeout:
            if test(self.screen()):
                return time.perf_counter() - self.started
            time.sleep(0.003)
        raise SystemExit("the explorer did not show what was expected in time")

    def key_latency(self, key: str, timeout: float = 5.0) -> float:
        """Seconds from sending ``key`` until the screen first changes (text or colours)."""
        before = self.screen(styles=True)
        t = time.perf_counter()
        subprocess.run([*self.tmux, "send-keys", "-t", self.session, key], check=True)
        while time.perf_counter() - t < timeout:
            if self.screen(styles=True) != before:
                return time.perf_counter() - t
        print(f"warning: the screen did not change within {timeout:.0f} s after {key}; counted as {timeout:.0f} s",
              file=sys.stderr)
        return timeout

    def settle(self, quiet: float = 0.3, timeout: float = 10.0) -> None:
        """Wait until the screen has not changed for ``quiet`` seconds (details caught up)."""
        start = last_change = time.perf_counter()
        last = self.screen(styles=True)
        while time.perf_counter() - start < timeout and time.perf_counter() - last_change < quiet:
            screen = self.screen(styles=True)
            if screen != last:
                last, last_change = screen, time.perf_counter()
            time.sleep(0.01)

    def send(self, *keys: str) -> None:
        subprocess.run([*self.tmux, "send-keys", "-t", self.session, *keys], check=True)

    def close(self) -> None:
        subprocess.run([*self.tmux, "send-keys", "-t", self.session, "q"], capture_output=True)
        time.sleep(0.3)
        subprocess.run([*self.tmux, "kill-server"], capture_output=True)


def first_frame(image: str, cache_dir: str) -> tuple[float, float]:
    """(seconds to the first frame, seconds until the file tree is shown) for one run."""
    pane = Pane(image, cache_dir)
    try:
        first = pane.wait_for(lambda screen: any(mark in screen for mark in FIRST_FRAME_MARKS + (READY_MARK,)))
        ready = pane.wait_for(lambda screen: READY_MARK in screen)
    finally:
        pane.close()
    return first, ready


DIVE_FIRST_SCREEN = "Current Layer Contents"  # dive's file pane, drawn with its layer pane once it has analysed


def engine_instructions(image: str) -> list[str]:
    """Each layer's instruction as the layers pane starts it (its first 12 characters), from
    ``docker history``: what the first screen must show."""
    from slimview.dockerfile.history import short_instruction

    proc = subprocess.run(["/usr/bin/docker", "history", "--no-trunc", "--format", "{{.CreatedBy}}", image],
                          capture_output=True, text=True, check=True)
    lines = [short_instruction(line) for line in proc.stdout.splitlines()]
    return [line[:12] for line in lines if line.startswith(("RUN ", "COPY ", "ADD "))]


def engine_first_screen(image: str, cache_dir: str, marks: list[str]) -> tuple[float, float]:
    """(seconds to the layer list, seconds to the file tree) with ``cache_dir`` empty."""
    shutil.rmtree(cache_dir, ignore_errors=True)
    pane = Pane(image, cache_dir)
    try:
        layers = pane.wait_for(lambda screen: all(mark in screen for mark in marks))
        ready = pane.wait_for(lambda screen: READY_MARK in screen)
    finally:
        pane.close()
    return layers, ready


def dive_first_screen(image: str) -> float:
    """Seconds until dive shows its first screen (it saves and analyses the whole image first)."""
    pane = Pane(image, "/nonexistent", command=f"{exe('dive')} {image}")
    try:
        return pane.wait_for(lambda screen: DIVE_FIRST_SCREEN in screen)
    finally:
        pane.close()


def key_latencies(image: str, cache_dir: str, keys: int) -> list[tuple[str, list[float]]]:
    """Per-key latency, key press to changed screen, in a real terminal (warm cache)."""
    pane = Pane(image, cache_dir)
    results: list[tuple[str, list[float]]] = []
    try:
        pane.wait_for(lambda screen: READY_MARK in screen)
        time.sleep(0.5)
        pane.send("Tab")
        time.sleep(0.2)
        results.append(("open the top directory (space)", [pane.key_latency("Space")]))
        results.append(("down, keys in a row", [pane.key_latency("Down") for _ in range(keys)]))
        results.append(("up, keys in a row", [pane.key_latency("Up") for _ in range(keys // 2)]))
        rested = []
        for _ in range(max(10, keys // 10)):
            pane.settle()
            rested.append(pane.key_latency("Down"))
        results.append(("down, after a pause", rested))
        results.append(("page down", [pane.key_latency("PageDown") for _ in range(max(10, keys // 10))]))
        results.append(("open or close a directory (space)", [pane.key_latency("Space") for _ in range(max(10, keys // 10))]))
        results.append(("end", [pane.key_latency("End")]))
        results.append(("home", [pane.key_latency("Home")]))
    finally:
        pane.close()
    return results


# -- views built in the worker, headless --------------------------------------------------------------


async def _idle_tree(app, timeout: float = 600.0) -> float:
    """Seconds until a requested view is on screen (polled every millisecond, not via Pilot)."""
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        if app.load_error:
            raise SystemExit(app.load_error)
        if app.index is not None and not app.tree_busy and app.query_one("#tree").view is not None:
            return time.perf_counter() - start
        await asyncio.sleep(0.001)
    raise SystemExit("the view was not built in time")


async def _asked(test, timeout: float = 10.0) -> None:
    """Wait until the app has taken the request in (its message handled)."""
    start = time.perf_counter()
    while not test():
        if time.perf_counter() - start > timeout:
            raise SystemExit("the app did not take the request")
        await asyncio.sleep(0.001)


def _draw_times(tree, action, count: int) -> list[float]:
    """The tree's own cost of a move: the action, then every visible line drawn."""
    out = []
    height = tree.scrollable_content_region.height
    for _ in range(count):
        t = time.perf_counter()
        action()
        for y in range(height):
            tree.render_line(y)
        out.append(time.perf_counter() - t)
    return out


async def view_builds(image: str, cache_dir: str, keys: int) -> list[tuple[str, list[float]]]:
    os.environ["XDG_CACHE_HOME"] = cache_dir
    from slimview.index import IndexOptions
    from slimview.ui.app import make_app

    results: list[tuple[str, list[float]]] = []
    app = make_app(image, IndexOptions())
    async with app.run_test(size=TMUX_SIZE) as pilot:
        await _idle_tree(app)
        await pilot.pause()
        tree = app.query_one("#tree")
        tree.focus()
        tree.action_toggle()
        results.append(("cursor down: handler + draw the visible lines", _draw_times(tree, tree.action_cursor_down, keys)))
        results.append(("page down: handler + draw the visible lines", _draw_times(tree, tree.action_page_down, keys // 4)))
        layers = app.query_one("#layers")
        timings = []
        for row in range(len(app.index.layers) - 2, -1, -1):
            t = time.perf_counter()
            layers.move_cursor(row=row)
            await _asked(lambda row=row: app.tree_query.layer_no == row)
            await _idle_tree(app)
            timings.append(time.perf_counter() - t)
        results.append(("switch layer: build the view (worker)", timings))
        t = time.perf_counter()
        app.action_toggle_view()
        await _idle_tree(app)
        results.append(("layer/aggregate toggle (worker)", [time.perf_counter() - t]))
        t = time.perf_counter()
        app.query_one("#filter").value = "f01[0-9]$"
        await _asked(lambda: app.tree_query.pattern == "f01[0-9]$")
        await _idle_tree(app)
        matches = tree.selection.matches if tree.selection else 0
        results.append((f"regex filter, {matches:,} matches (worker)", [time.perf_counter() - t]))
        app.query_one("#filter").value = ""
        await _asked(lambda: app.tree_query.pattern == "")
        await _idle_tree(app)
        t = time.perf_counter()
        app.action_expand_all()
        await _idle_tree(app)
        results.append((f"expand all: {len(tree.rows):,} rows (worker)", [time.perf_counter() - t]))
        results.append(("cursor down, everything open: handler + draw", _draw_times(tree, tree.action_cursor_down, keys)))
        app.exit()
    return results


# -- output ----------------------------------------------------------------------------------------


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def print_first_frames(rows: list[tuple[str, str, float, float]]) -> None:
    print("| image | run | first frame | file tree shown |")
    print("| --- | --- | ---: | ---: |")
    for image, run, first, ready in rows:
        print(f"| {image} | {run} | {ms(first)} | {ms(ready)} |")


def print_timings(title: str, rows: list[tuple[str, list[float]]]) -> None:
    print(f"\n{title}\n")
    print("| action | n | median | p95 | max |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, times in rows:
        ordered = sorted(times)
        p95 = ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]
        print(f"| {name} | {len(times)} | {ms(statistics.median(times))} | {ms(p95)} | {ms(ordered[-1])} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=1_000_000, help="entries in the synthetic image")
    parser.add_argument("--keys", type=int, default=200, help="key presses per navigation measurement")
    parser.add_argument("--skip-real", action="store_true", help=f"do not open {SAMPLE_TAR}")
    parser.add_argument("--engine", metavar="REF", help="also time the first screen on this engine image, next to dive")
    parser.add_argument("--engine-only", action="store_true", help="only the engine image's first screen")
    parser.add_argument("--runs", type=int, default=3, help="runs of each tool on the engine image")
    args = parser.parse_args()

    if args.engine:
        marks = engine_instructions(args.engine)
        rows = []
        with tempfile.TemporaryDirectory(prefix="slimview-ui-bench-") as tmp:
            for _ in range(args.runs):
                layers, tree = engine_first_screen(args.engine, os.path.join(tmp, "cache"), marks)
                dive = dive_first_screen(args.engine)
                rows.append((layers, tree, dive))
        print(f"\nFirst screen on the engine image {args.engine}, {TMUX_SIZE[0]}x{TMUX_SIZE[1]} tmux pane, "
              f"empty cache, {os.cpu_count()} CPUs, run alternately\n")
        print("| run | slimview: layer list | slimview: file tree | dive: first screen |")
        print("| --- | ---: | ---: | ---: |")
        for i, (layers, tree, dive) in enumerate(rows, 1):
            print(f"| {i} | {ms(layers)} | {ms(tree)} | {ms(dive)} |")
        medians = [statistics.median(column) for column in zip(*rows)]
        print(f"| median | {ms(medians[0])} | {ms(medians[1])} | {ms(medians[2])} |")
        if args.engine_only:
            return

    synthetic = synthetic_image(args.entries)
    images = [] if args.skip_real or not os.path.exists(SAMPLE_TAR) else [(SAMPLE_TAR, "python-inference.tar")]
    images.append((synthetic, f"synthetic {args.entries:,} entries"))

    frames = []
    with tempfile.TemporaryDirectory(prefix="slimview-ui-bench-") as tmp:
        caches = {}
        for path, label in images:
            cache = caches[path] = os.path.join(tmp, f"cache-{len(caches)}")
            first, ready = first_frame(path, cache)
            frames.append((label, "cold", first, ready))
            first, ready = first_frame(path, cache)
            frames.append((label, "reopen", first, ready))
        print(f"\nslimview explorer, {TMUX_SIZE[0]}x{TMUX_SIZE[1]} tmux pane, {os.cpu_count()} CPUs\n")
        print_first_frames(frames)
        keys = key_latencies(synthetic, caches[synthetic], args.keys)
        print_timings(f"Key press to changed screen, {args.entries:,}-entry image (tmux, warm cache)", keys)
        builds = asyncio.run(view_builds(synthetic, caches[synthetic], args.keys))
        print_timings(f"Tree work on the {args.entries:,}-entry image (in process, warm cache)", builds)


if __name__ == "__main__":
    main()
