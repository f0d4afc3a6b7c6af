"""The engine fixtures build and save real images, with real whiteouts, on both builders."""

import io
import json
import tarfile
from pathlib import Path

import pytest

from engine import BuildError, EngineUnavailable, build_image, connect, save_image

TWO_LAYERS = """\
FROM busybox:latest
RUN mkdir /data && dd if=/dev/zero of=/data/payload.bin bs=1024 count=64 2>/dev/null
RUN rm /data/payload.bin
"""


def saved_layers(archive: Path) -> list[dict[str, tarfile.TarInfo]]:
    """Each layer of a `docker save` archive (base first) as {path: member}."""
    with tarfile.open(archive) as outer:
        (manifest,) = json.load(outer.extractfile("manifest.json"))
        layers = []
        for name in manifest["Layers"]:
            blob = io.BytesIO(outer.extractfile(name).read())
            with tarfile.open(fileobj=blob) as layer:
                layers.append({m.name.removeprefix("./"): m for m in layer.getmembers()})
        return layers


@pytest.mark.engine
@pytest.mark.parametrize("buildkit", [False, True], ids=["legacy", "buildkit"])
def test_rm_in_a_later_layer_saves_as_a_whiteout(engine, image_tag, tmp_path, buildkit):
    image_id = build_image(engine, {}, TWO_LAYERS, image_tag, buildkit=buildkit)
    assert engine.images.get(image_tag).id == image_id

    layers = saved_layers(save_image(engine, image_tag, tmp_path / "image.tar"))

    assert len(layers) == 3  # busybox base + the two RUN layers
    base, added, removed = layers
    assert "bin/busybox" in base
    assert added["data/payload.bin"].size == 64 * 1024
    assert "data/.wh.payload.bin" in removed
    assert "data/payload.bin" not in removed


@pytest.mark.engine
def test_build_copies_the_context_and_reports_failures(engine, image_tag):
    context = {"app/hello.txt": "hello\n", "app/blob.bin": b"\x00" * 10}
    build_image(engine, context, "FROM busybox:latest\nCOPY app /app\n", image_tag, buildkit=True)
    output = engine.containers.run(image_tag, ["cat", "/app/hello.txt"], network_mode="none",
                                   remove=True)
    assert output == b"hello\n"

    failing = "FROM busybox:latest\nRUN echo output-of-the-failed-step; exit 37\n"
    with pytest.raises(BuildError, match="output-of-the-failed-step"):
        build_image(engine, {}, failing, image_tag, buildkit=False)


def test_connect_reports_an_unreachable_engine(tmp_path):
    host = f"unix://{tmp_path}/no-engine.sock"
    with pytest.raises(EngineUnavailable, match=f"no Docker engine reachable at {host}"):
        connect({"DOCKER_HOST": host})
