"""One real image, every way a user can hand it over, one index.

The known-waste image (tests/known_waste.py) is read from the engine by name (a streamed
SDK save), from its `docker save` tarball, that tarball gzipped, and from what skopeo
makes of it: an oci-archive (gzip layers), an OCI layout with zstd layers, and skopeo's
own docker-archive (layers named by diff_id, layer.tar symlinks). Every index must be
identical, entry for entry.
"""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess

import docker
import pytest

from slimview.index import IndexOptions, build_index

import known_waste as kw
from indexcheck import canonical_digest

pytestmark = pytest.mark.engine

SKOPEO = shutil.which("skopeo")
needs_skopeo = pytest.mark.skipif(SKOPEO is None, reason="skopeo is not installed")


@pytest.fixture(scope="module")
def image(engine, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("formats")
    tag, archive = kw.build_and_save(engine, workdir, buildkit=False)
    yield tag, archive, workdir
    try:
        engine.images.remove(tag, force=True)
    except docker.errors.ImageNotFound:
        pass


@pytest.fixture(autouse=True)
def slimview_uses_the_test_engine(engine, monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", engine.docker_host)


@pytest.fixture(scope="module")
def reference_digest(image):
    _tag, archive, _ = image
    return canonical_digest(build_index(str(archive), IndexOptions(use_cache=False)))


def skopeo(*args: str) -> None:
    proc = subprocess.run([SKOPEO, "copy", "-q", *args], capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr


def index_of(reference: str, tmp_path, **options):
    return build_index(reference, IndexOptions(use_cache=False, **options))


def test_engine_reference_is_a_streamed_save_with_progress(image, reference_digest):
    tag, archive, _ = image
    seen = []
    index = build_index(tag, IndexOptions(use_cache=False), lambda stage, done, total: seen.append((stage, done, total)))
    assert index.source.kind == "engine"
    assert index.source.repo_tags == [tag]
    assert canonical_digest(index) == reference_digest
    saved = [done for stage, done, _total in seen if stage == "save"]
    assert saved == sorted(saved) and len(saved) >= 2
    assert saved[-1] == os.path.getsize(archive)  # every byte of the save went through the stream
    assert all(layer.ref.blob is None for layer in index.layers)  # nothing kept on disk


def test_engine_reference_from_a_warm_cache_needs_no_save(image, reference_digest, tmp_path, monkeypatch):
    tag, _archive, _ = image
    options = IndexOptions(cache_dir=str(tmp_path / "cache"))
    cold = build_index(tag, options)
    # A warm cache knows the config and every layer: the engine is only asked to describe the image.
    monkeypatch.setattr(docker.models.images.Image, "save", lambda *a, **k: pytest.fail("saved again"))
    warm = build_index(tag, options)
    assert canonical_digest(cold) == canonical_digest(warm) == reference_digest
    assert warm.source.kind == "engine"


def test_docker_save_tarball(image, reference_digest, tmp_path):
    index = index_of(str(image[1]), tmp_path)
    assert index.source.kind == "docker-archive"
    assert [layer.files.compression for layer in index.layers] == ["none"] * 9
    assert canonical_digest(index) == reference_digest


def test_gzipped_save(image, reference_digest, tmp_path):
    gz = tmp_path / "image.tar.gz"
    with open(image[1], "rb") as src, gzip.open(gz, "wb") as dst:
        shutil.copyfileobj(src, dst)
    index = index_of(str(gz), tmp_path)
    assert index.source.kind == "docker-archive"
    assert canonical_digest(index) == reference_digest


@needs_skopeo
def test_skopeo_oci_archive(image, reference_digest, tmp_path):
    out = tmp_path / "image.oci.tar"
    skopeo(f"docker-archive:{image[1]}", f"oci-archive:{out}")
    index = index_of(str(out), tmp_path)
    assert index.source.kind == "oci-archive"
    assert {layer.files.compression for layer in index.layers} == {"gzip"}
    assert canonical_digest(index) == reference_digest


@needs_skopeo
def test_skopeo_zstd_oci_layout(image, reference_digest, tmp_path):
    out = tmp_path / "layout"
    skopeo("--dest-compress-format", "zstd", f"docker-archive:{image[1]}", f"oci:{out}:waste")
    for reference in (str(out), f"{out}:waste"):
        index = index_of(reference, tmp_path)
        assert index.source.kind == "oci-layout"
        assert {layer.files.compression for layer in index.layers} == {"zstd"}
        assert canonical_digest(index) == reference_digest


@needs_skopeo
def test_skopeo_docker_archive(image, reference_digest, tmp_path):
    out = tmp_path / "skopeo.tar"
    skopeo(f"docker-archive:{image[1]}", f"docker-archive:{out}")
    index = index_of(str(out), tmp_path)
    assert index.source.kind == "docker-archive"
    assert canonical_digest(index) == reference_digest


@needs_skopeo
def test_a_cached_layer_reports_how_this_copy_is_stored(image, reference_digest, tmp_path):
    """The cache is keyed by diff_id; the compression shown is that of the blob being read."""
    layout = tmp_path / "layout"
    skopeo("--dest-compress-format", "zstd", f"docker-archive:{image[1]}", f"oci:{layout}:waste")
    options = IndexOptions(cache_dir=str(tmp_path / "cache"))
    build_index(str(image[1]), options)
    from_layout = build_index(str(layout), options)  # re-caches every layer, read from zstd
    again = build_index(str(image[1]), options)  # served from the cache
    assert [layer.files.compression for layer in from_layout.layers] == ["zstd"] * 9
    assert [layer.files.compression for layer in again.layers] == ["none"] * 9
    assert canonical_digest(from_layout) == canonical_digest(again) == reference_digest
