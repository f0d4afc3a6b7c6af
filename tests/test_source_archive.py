"""Stage 1: naming an image, and reading archives and layouts the way they really are.

Layer order comes from the manifest (never from where blobs sit in the archive), the
config is checked against its digest, the manifest's layers against rootfs.diff_ids, and
repeated layers written as symlinks (skopeo, podman) resolve to their first copy.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile

import pytest

from slimview.errors import InputError
from slimview.index import IndexOptions, build_index
from slimview.sample.builder import ImageSpec, Layer, oci_layout_files, write_docker_archive
from slimview.source import open_image, split_reference

from indexcheck import canonical_digest


def spec() -> ImageSpec:
    return ImageSpec([
        Layer("one").file("a", b"1" * 11),
        Layer("two").file("b", b"2" * 22),
        Layer("three").file("c", b"3" * 33).whiteout("a"),
    ])


def no_sink(name, stream):
    raise AssertionError("an uncompressed archive is read in place, not streamed")


def index(path, **options):
    return build_index(str(path), IndexOptions(use_cache=False, **options))


# -- naming ----------------------------------------------------------------------------------


def test_split_reference(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "img.tar").write_bytes(b"x")
    (tmp_path / "layout").mkdir()
    (tmp_path / "layout" / "index.json").write_text("{}")
    assert split_reference("img.tar") == ("img.tar", None, True)
    assert split_reference("img.tar:app:1.0") == ("img.tar", "app:1.0", True)  # the tag may hold a colon
    assert split_reference("layout") == ("layout", None, True)
    assert split_reference("layout:v1") == ("layout", "v1", True)
    assert split_reference("busybox:latest") == ("busybox:latest", None, False)
    assert split_reference("localhost:5000/team/app:2") == ("localhost:5000/team/app:2", None, False)
    assert split_reference("sha256:" + "a" * 64) == ("sha256:" + "a" * 64, None, False)
    for looks_like_a_file in ("./gone.tar", "gone.tar", "/abs/gone", "gone.tar.gz", "../up.oci"):
        with pytest.raises(InputError, match=f"^{looks_like_a_file}: no such file or directory$"):
            split_reference(looks_like_a_file)


# -- order and integrity ----------------------------------------------------------------------


def reorder_members(src, dst, key) -> None:
    with tarfile.open(src) as tin, tarfile.open(dst, "w") as tout:
        members = sorted(tin.getmembers(), key=key)
        for m in members:
            tout.addfile(m, tin.extractfile(m) if m.isfile() else None)


def test_layer_order_comes_from_the_manifest_not_the_archive(tmp_path):
    plain = tmp_path / "plain.tar"
    write_docker_archive(spec(), str(plain), ["o:1"])
    shuffled = tmp_path / "shuffled.tar"
    reorder_members(plain, shuffled, key=lambda m: hashlib.sha256(m.name.encode()).hexdigest())
    a, b = index(plain), index(shuffled)
    assert [layer.stats.size for layer in b.layers] == [11, 22, 33]
    assert canonical_digest(a) == canonical_digest(b)


def test_oci_layer_order_comes_from_the_manifest(tmp_path):
    files = oci_layout_files([(spec(), "latest", None)], compression="gzip")
    archive = tmp_path / "reversed.oci.tar"
    with tarfile.open(archive, "w") as tar:
        for name in reversed(list(files)):
            info = tarfile.TarInfo(name)
            info.size = len(files[name])
            tar.addfile(info, io.BytesIO(files[name]))
    idx = index(archive)
    assert idx.source.kind == "oci-archive"
    assert [layer.stats.size for layer in idx.layers] == [11, 22, 33]
    assert set(idx.final) == {"b", "c"}


def test_config_must_match_its_digest(tmp_path):
    path = tmp_path / "image.tar"
    write_docker_archive(spec(), str(path), ["c:1"])
    data = path.read_bytes()
    altered = tmp_path / "altered.tar"
    with tarfile.open(path) as tin, tarfile.open(altered, "w") as tout:
        (item,) = json.load(tin.extractfile("manifest.json"))
        for m in tin.getmembers():
            body = tin.extractfile(m).read() if m.isfile() else None
            if m.name == item["Config"]:
                body = body.replace(b'"architecture":"amd64"', b'"architecture":"arm64"')
            tout.addfile(m, io.BytesIO(body) if body is not None else None)
    assert data != altered.read_bytes()
    with pytest.raises(InputError) as err:
        index(altered)
    assert str(err.value) == f"{altered}: image config does not match its name {item['Config']} (archive corrupt or altered)"


def test_an_uncompressed_oci_blob_must_be_its_diff_id(tmp_path):
    """An OCI layer stored uncompressed is named by its diff_id; a mismatch is said up front."""
    files = oci_layout_files([(spec(), "latest", None)], compression=None)
    index_doc = json.loads(files["index.json"])
    manifest = json.loads(files["blobs/sha256/" + index_doc["manifests"][0]["digest"][7:]])
    config_name = "blobs/sha256/" + manifest["config"]["digest"][7:]
    config = json.loads(files.pop(config_name))
    claimed = config["rootfs"]["diff_ids"][1]
    config["rootfs"]["diff_ids"][1] = "sha256:" + "0" * 64
    body = json.dumps(config).encode()
    digest = hashlib.sha256(body).hexdigest()
    files["blobs/sha256/" + digest] = body
    manifest["config"].update(digest="sha256:" + digest, size=len(body))
    mbody = json.dumps(manifest).encode()
    files["blobs/sha256/" + hashlib.sha256(mbody).hexdigest()] = mbody
    index_doc["manifests"][0].update(digest="sha256:" + hashlib.sha256(mbody).hexdigest(), size=len(mbody))
    files["index.json"] = json.dumps(index_doc).encode()
    root = tmp_path / "layout"
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    with pytest.raises(InputError) as err:
        index(root)
    assert str(err.value) == (
        f"{root}: layer 1 is stored uncompressed as {claimed} but the config says its diff_id is sha256:{'0' * 64}"
    )


def test_repeated_layers_as_symlinks_resolve_to_the_first_copy(tmp_path):
    """skopeo/podman write a layer used twice once, and a symlink for the second use."""
    image = ImageSpec([Layer("empty"), Layer("data").file("x", b"x" * 5), Layer("empty again")])
    path = tmp_path / "repeat.tar"
    write_docker_archive(image, str(path), ["r:1"], layout="skopeo")
    with tarfile.open(path) as tar:
        (item,) = json.load(tar.extractfile("manifest.json"))
    assert item["Layers"][0] == item["Layers"][2]  # the same blob, listed twice
    linked = tmp_path / "linked.tar"
    with tarfile.open(path) as tin, tarfile.open(linked, "w") as tout:
        for m in tin.getmembers():
            tout.addfile(m, tin.extractfile(m) if m.isfile() else None)
        (item,) = json.load(tin.extractfile("manifest.json"))
        link = tarfile.TarInfo("again/layer.tar")
        link.type, link.linkname = tarfile.SYMTYPE, "../" + item["Layers"][0]
        tout.addfile(link)
        item["Layers"][2] = "again/layer.tar"
        body = json.dumps([item]).encode()
        info = tarfile.TarInfo("manifest.json")
        info.size = len(body)
        tout.addfile(info, io.BytesIO(body))  # the later copy of a member wins, as with tar x
    idx = index(linked)
    assert [layer.stats.entries for layer in idx.layers] == [0, 1, 0]
    assert idx.layers[2].ref.member == "again/layer.tar"
    assert idx.layers[2].ref.blob == idx.layers[0].ref.blob


def test_archive_members_are_read_in_place(tmp_path):
    path = tmp_path / "image.tar"
    write_docker_archive(spec(), str(path), ["p:1"])
    source = open_image(str(path), sink=no_sink)
    assert source.kind == "docker-archive"
    assert all(layer.blob is not None and layer.blob.path == str(path) for layer in source.layers)
    with open(path, "rb") as fh:
        for layer in source.layers:
            fh.seek(layer.blob.offset)
            blob = fh.read(layer.blob.size)
            assert "sha256:" + hashlib.sha256(blob).hexdigest() == layer.diff_id
    assert os.listdir(tmp_path) == ["image.tar"]


def test_source_describes_the_image(tmp_path):
    path = tmp_path / "image.tar"
    image = spec()
    image.user, image.workdir, image.env = "10001", "/srv", ["PATH=/bin", "MODE=prod"]
    write_docker_archive(image, str(path), ["desc:2", "desc:latest"])
    source = open_image(str(path), sink=no_sink)
    assert (source.name, source.repo_tags, source.platform) == ("desc:2", ["desc:2", "desc:latest"], "linux/amd64")
    assert source.image_config["User"] == "10001" and source.image_config["WorkingDir"] == "/srv"
    assert source.config_digest == "sha256:" + hashlib.sha256(source.config_bytes).hexdigest()
    assert [h.created_by for h in source.layer_history()] == ["one", "two", "three"]


def test_the_engine_chunk_stream_reads_exactly_what_was_sent():
    """The save arrives in small chunks; reads of any size give the bytes in order, once,
    and report the running total."""
    import random

    from slimview.source.engine import _ChunkStream

    rng = random.Random(7)
    chunks = [rng.randbytes(rng.choice([0, 1, 100, 16 << 10, 40 << 10])) for _ in range(300)]
    sent = b"".join(chunks)
    seen = []
    stream = _ChunkStream(iter(chunks), seen.append)
    got = []
    while True:
        data = stream.read(rng.choice([1, 512, 1 << 20, 3 << 20]))
        if not data:
            break
        got.append(data)
    assert b"".join(got) == sent
    assert seen == sorted(seen) and seen[-1] == len(sent)
    rest = _ChunkStream(iter(chunks), lambda n: None)
    assert rest.read(10) == sent[:10] and rest.read(-1) == sent[10:] and rest.read(5) == b""
