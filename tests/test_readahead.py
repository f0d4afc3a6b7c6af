"""Reading ahead of the index's jobs: what is asked of the kernel, and that it changes no result."""

from __future__ import annotations

import os
import threading
import time

import pytest

from slimview.index import IndexOptions, build_index
from slimview.index import blob as blob_module
from slimview.index import workers as workers_module
from slimview.index.blob import ReadAhead

STEP = ReadAhead.STEP


class Hints:
    """Records posix_fadvise calls as (path, offset, length) and lets a test wait for them."""

    def __init__(self, monkeypatch):
        self.calls: list[tuple[str, int, int]] = []
        self._paths: dict[int, str] = {}
        self._lock = threading.Lock()
        real_open = os.open

        def opening(path, flags, *args):
            fd = real_open(path, flags, *args)
            self._paths[fd] = str(path)
            return fd

        def fadvise(fd, offset, length, advice):
            assert advice == os.POSIX_FADV_WILLNEED
            with self._lock:
                self.calls.append((self._paths[fd], offset, length))

        monkeypatch.setattr(blob_module.os, "open", opening)
        monkeypatch.setattr(blob_module.os, "posix_fadvise", fadvise, raising=False)

    def wait_for(self, n: int) -> list[tuple[str, int, int]]:
        """The calls once there are ``n``, after a pause in which more would come if the budget
        let them."""
        deadline = time.monotonic() + 10
        while len(self.calls) < n and time.monotonic() < deadline:
            time.sleep(0.005)
        return self.settled()

    def settled(self) -> list[tuple[str, int, int]]:
        time.sleep(0.1)
        with self._lock:
            return list(self.calls)


def test_asks_in_job_order_and_stops_at_the_budget(tmp_path, monkeypatch):
    hints = Hints(monkeypatch)
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_bytes(b"")
    b.write_bytes(b"")
    ranges = [(str(a), 100, 2 * STEP + 5), (str(b), 7, STEP), (str(a), 10 * STEP, 3 * STEP)]
    with ReadAhead(ranges, budget=3 * STEP) as ahead:
        # The first job's three steps fit the budget; the second job's would not.
        assert hints.wait_for(3) == [(str(a), 100, STEP), (str(a), 100 + STEP, STEP), (str(a), 100 + 2 * STEP, 5)]
        ahead.done(0)  # its three steps no longer count
        got = hints.wait_for(6)
        assert got[3:] == [(str(b), 7, STEP), (str(a), 10 * STEP, STEP), (str(a), 11 * STEP, STEP)]
        ahead.done(2)  # a job done before all of it was asked for: the rest is not asked for
        ahead.done(1)
        assert len(hints.settled()) == 6


def test_nothing_is_asked_with_no_budget_and_a_missing_file_is_no_error(tmp_path, monkeypatch):
    hints = Hints(monkeypatch)
    with ReadAhead([(str(tmp_path / "a"), 0, 4 * STEP)], budget=STEP - 1):
        assert hints.settled() == []
    with ReadAhead([(str(tmp_path / "missing"), 0, 4 * STEP)], budget=8 * STEP):
        assert hints.settled() == []  # the thread ends quietly: jobs report their own errors


def test_leaving_early_stops_the_thread(tmp_path, monkeypatch):
    Hints(monkeypatch)
    (tmp_path / "a").write_bytes(b"")
    ahead = ReadAhead([(str(tmp_path / "a"), 0, 100 * STEP)], budget=STEP)
    with ahead:
        pass  # no job ever done: the thread waits on the budget until told to stop
    assert not ahead._thread.is_alive()


def test_the_budget_is_a_quarter_of_the_available_memory_at_most(monkeypatch, tmp_path):
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:       24000000 kB\nMemAvailable:    1000000 kB\n")
    real_open = open
    monkeypatch.setattr("builtins.open", lambda path, *a, **k: real_open(meminfo if path == "/proc/meminfo" else path, *a, **k))
    assert workers_module.read_ahead_budget() == 1000000 * 1024 // 4
    meminfo.write_text("MemAvailable:   20000000 kB\n")
    assert workers_module.read_ahead_budget() == workers_module.READ_AHEAD_MAX
    meminfo.write_text("nothing useful\n")
    assert workers_module.read_ahead_budget() == 0


@pytest.mark.parametrize("workers", [1, 2])
def test_the_index_reads_ahead_every_byte_of_its_jobs_and_is_unchanged(tmp_path, monkeypatch, workers):
    """The jobs' ranges handed to ReadAhead cover the cold layers' blobs, each byte once, and
    the index equals one made without reading ahead."""
    from test_index_parts import SEG, _InlineExecutor, fields

    from slimview.index import parts as parts_module
    from slimview.sample.builder import ImageSpec, Layer, write_docker_archive

    monkeypatch.setattr(blob_module, "SEGMENT", SEG)
    monkeypatch.setattr(parts_module, "SEGMENT", SEG)
    monkeypatch.setattr(parts_module, "PART_MIN", 8 * SEG)
    monkeypatch.setattr(workers_module, "PARALLEL_MIN_BYTES", 16 * SEG)
    monkeypatch.setattr(workers_module, "ProcessPoolExecutor", _InlineExecutor)
    monkeypatch.setattr(ReadAhead, "STEP", SEG)
    big = Layer("RUN make")
    for i in range(300):
        big.file(f"usr/lib/big/f{i}", os.urandom(1000 + i * 7))
    other = Layer("RUN fetch").file("data/blob.bin", os.urandom(40 * SEG))
    path = tmp_path / "image.tar"
    write_docker_archive(ImageSpec([big, other]), str(path), ["big:1"])
    monkeypatch.setattr(workers_module, "READ_AHEAD_MAX", 0)
    plain = build_index(str(path), IndexOptions(use_cache=False, workers=workers))
    handed: list[list[tuple[str, int, int]]] = []

    class Recording(ReadAhead):
        def __init__(self, ranges, budget):
            handed.append(ranges)
            super().__init__(ranges, budget)

    monkeypatch.setattr(workers_module, "ReadAhead", Recording)
    monkeypatch.setattr(workers_module, "READ_AHEAD_MAX", 1 << 40)
    ahead = build_index(str(path), IndexOptions(use_cache=False, workers=workers))
    assert len(handed) == 1
    ranges = sorted((offset, size) for _path, offset, size in handed[0])
    if workers == 2:
        assert len(ranges) > 2  # the big layer was cut into parts
    blobs = sorted((layer.ref.blob.offset, layer.ref.blob.size) for layer in plain.layers)
    joined = []  # adjacent ranges merged: exactly the blobs
    for offset, size in ranges:
        if joined and joined[-1][0] + joined[-1][1] == offset:
            joined[-1] = (joined[-1][0], joined[-1][1] + size)
        else:
            joined.append((offset, size))
    assert joined == blobs
    for a, b in zip(plain.layers, ahead.layers):
        assert fields(a.files) == fields(b.files)
    assert plain.final == ahead.final
