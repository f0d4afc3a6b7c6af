"""The core's early announcements: the image described before its layers are read, and each
layer announced as soon as it is (slimview/index/events.py), from every kind of source."""

from __future__ import annotations

import threading
import uuid

import pytest

from slimview import session
from slimview.index import IndexOptions
from slimview.index.layer import LayerFiles
from slimview.index.partial import PartialIndex
from slimview.sample.builder import ImageSpec, Layer, write_docker_archive
from slimview.source.engine import _empty_steps
from slimview.source.model import Described, SizeMeasure


class Recorder:
    """Every event and progress report, in the order they came."""

    def __init__(self):
        self.log: list[tuple] = []
        self.described_with: Described | None = None
        self.files: dict[int, LayerFiles] = {}
        self.lock = threading.Lock()

    def described(self, image: Described) -> None:
        with self.lock:
            self.described_with = image
            self.log.append(("described",))

    def indexed(self, layer: int, files: LayerFiles) -> None:
        with self.lock:
            assert layer not in self.files, f"layer {layer} announced twice"
            self.files[layer] = files
            self.log.append(("indexed", layer))

    def progress(self, stage: str, done: int, total: int | None) -> None:
        with self.lock:
            self.log.append(("progress", stage, done))


def spec() -> ImageSpec:
    base = Layer("ADD rootfs.tar /").dir("etc").file("etc/os-release", b"ID=debian\n").dir("usr/bin").file("usr/bin/tool", b"x" * 5000)
    app = Layer("COPY . /app").dir("app").file("app/main.py", b"print('hi')\n" * 40)
    same = Layer("RUN true")  # an empty layer: the same diff_id as the next one
    again = Layer("RUN true")
    cleanup = Layer("RUN rm /usr/bin/tool").whiteout("usr/bin/tool")
    return ImageSpec([base, app, same, again, cleanup], empty_history={1: ["ENV A=1"], 5: ["CMD [\"python3\"]"]}, cmd=["python3"])


def check_announced(recorder: Recorder, index) -> None:
    """Described first, then every layer once, each with the files the finished index holds."""
    first_layer = next(i for i, e in enumerate(recorder.log) if e[0] == "indexed")
    assert recorder.log.index(("described",)) < first_layer
    assert sorted(recorder.files) == list(range(len(index.layers)))
    for layer in index.layers:
        assert recorder.files[layer.index].paths == layer.files.paths
        assert recorder.files[layer.index].tar_digest in ("", layer.ref.diff_id)
    described = recorder.described_with
    assert described is not None
    assert [h.created_by if h else None for h in described.image.layer_history()] == [
        layer.history.created_by if layer.history else None for layer in index.layers
    ]


@pytest.mark.parametrize("whole", [None, "gzip"], ids=["archive-on-disk", "gzipped-streamed"])
def test_an_archive_is_described_before_its_layers_are_announced(tmp_path, whole):
    path = tmp_path / "image.tar"
    write_docker_archive(spec(), str(path), ["demo:1"], whole=whole)
    recorder = Recorder()
    index = session.open_index(str(path), IndexOptions(use_cache=False), recorder.progress, recorder)
    check_announced(recorder, index)
    described = recorder.described_with
    assert described.measure == SizeMeasure.STORED_BYTES and not described.provisional
    assert described.sizes == tuple(layer.ref.stored_size for layer in index.layers)


def test_layers_from_the_cache_are_announced_at_once(tmp_path):
    path = tmp_path / "image.tar"
    write_docker_archive(spec(), str(path), ["demo:1"])
    options = IndexOptions(cache_dir=str(tmp_path / "cache"))
    session.open_index(str(path), options)
    recorder = Recorder()
    index = session.open_index(str(path), options, recorder.progress, recorder)
    check_announced(recorder, index)


def test_a_partial_index_lists_each_layer_once_read_without_change_kinds(tmp_path):
    from slimview.index.tree import LAYER, build_view

    path = tmp_path / "image.tar"
    write_docker_archive(spec(), str(path), ["demo:1"])
    recorder = Recorder()
    index = session.open_index(str(path), IndexOptions(use_cache=False), events=recorder)
    partial = PartialIndex(recorder.described_with)
    assert [partial.size(i) for i in range(5)] == list(recorder.described_with.sizes)
    partial.add(1, recorder.files[1])
    assert partial.read == {1} and not partial.complete
    assert partial.size(1) == index.layers[1].stats.size == 480
    view = build_view(partial.index, LAYER, 1)
    assert sorted(view.paths()) == ["app", "app/main.py"]
    assert view.kind("app/main.py") is None  # not known until the layers below are merged
    assert build_view(index, LAYER, 1).kind("app/main.py") == 1  # added, once they are


def test_which_engine_history_steps_made_no_layer():
    """The engine's history gives sizes only: 0 for config-only steps, but also for layers
    without file bytes (BuildKit's WORKDIR, a RUN that only deletes)."""

    def steps(*lines: tuple[str, int]) -> list[dict]:
        return [{"CreatedBy": created_by, "Size": size} for created_by, size in lines]

    buildkit = steps(
        ("", 116888478),
        ("RUN /bin/sh -c apt-get update # buildkit", 19875108),
        ("WORKDIR /app", 0),
        ("COPY . . # buildkit", 34767),
        ("RUN /bin/sh -c rm -rf /var/lib/apt/lists/* # buildkit", 0),
        ("EXPOSE map[8000/tcp:{}]", 0),
        ('CMD ["python3" "-m" "uvicorn"]', 0),
    )
    assert _empty_steps(buildkit, 5) == [False, False, False, False, False, True, True]
    classic = steps(
        ("/bin/sh -c #(nop) ADD file:d8a006482ae0 in / ", 74000000),
        ('/bin/sh -c #(nop)  CMD ["bash"]', 0),
        ("/bin/sh -c #(nop) WORKDIR /app", 0),
        ("/bin/sh -c #(nop) COPY dir:0123abcd in . ", 0),  # an empty directory copied: a layer
        ("/bin/sh -c rm -f /x", 0),
        ("/bin/sh -c #(nop)  ENV A=1", 0),
    )
    assert _empty_steps(classic, 3) == [False, True, True, False, False, True]
    assert _empty_steps(classic, 6) == [False] * 6


@pytest.mark.engine
def test_an_engine_image_is_described_from_inspect_and_history_before_its_save(engine, python_inference, monkeypatch):
    """The description comes before the save's first byte, and its history lines sit on the
    layers the image's own config (read from the save) puts them on."""
    monkeypatch.setenv("DOCKER_HOST", engine.docker_host)
    recorder = Recorder()
    options = IndexOptions(use_cache=False)
    index = session.open_index(python_inference, options, recorder.progress, recorder)
    check_announced(recorder, index)
    described = recorder.described_with
    assert described.provisional and described.measure == SizeMeasure.FILE_BYTES
    saving = [i for i, e in enumerate(recorder.log) if e[:2] == ("progress", "save")]
    assert recorder.log.index(("described",)) < saving[0]
    # Each layer is announced once read, while the save still streams the others (the engine
    # vouches for its diff_ids, but only a layer's digest places it in the image).
    first_layer = next(i for i, e in enumerate(recorder.log) if e[0] == "indexed")
    assert first_layer < saving[-1], "the layers were announced only after the save"
    history = engine.api.history(python_inference)  # the engine's own figures, newest first
    assert sorted(described.sizes) == sorted(step["Size"] for step in history)[-len(index.layers):]
    assert described.image.image_config == engine.images.get(python_inference).attrs["Config"]


def test_a_registry_image_is_described_from_its_manifest_before_any_blob(http_registry, tmp_path):
    """Sizes from the manifest (the compressed blobs), before the first layer is downloaded."""
    from slimview.sample.builder import oci_layout_files
    from slimview.sample.mini import sample_spec

    from registry import push_oci

    repo = f"described-{uuid.uuid4().hex[:8]}"
    push_oci(http_registry, repo, "v1", oci_layout_files([(sample_spec(), "latest", None)], "gzip"))
    recorder = Recorder()
    index = session.open_index(http_registry.ref(f"{repo}:v1"), IndexOptions(use_cache=False), recorder.progress, recorder)
    check_announced(recorder, index)
    described = recorder.described_with
    assert described.measure == SizeMeasure.STORED_BYTES and not described.provisional
    assert described.sizes == tuple(layer.ref.stored_size for layer in index.layers)  # the manifest's sizes
    first_download = next(i for i, e in enumerate(recorder.log) if e[:2] == ("progress", "download"))
    assert recorder.log.index(("described",)) < first_download
