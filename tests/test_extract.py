"""`slimview extract`: one file, or a whole layer as a tar, written into DEST and nowhere else.

Expected bytes come from the test's own image spec and from Python's tarfile reading the
written tar, never from slimview's index.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile

import pytest

from slimview import session
from slimview.index import IndexOptions
from slimview.sample.builder import ImageSpec, Layer, write_docker_archive

from hostile import error_line, run_cli

SECRET = b"STRIPE_KEY=sk_live_4eC39HqLyjWDarjtT1zdp7dc\n"
TOOL_V1 = b"#!/bin/sh\necho one\n"
TOOL_V2 = b"#!/bin/sh\necho two, longer\n"


def spec() -> ImageSpec:
    base = (
        Layer("ADD rootfs.tar /")
        .dir("usr").dir("usr/bin").file("usr/bin/tool", TOOL_V1, mode=0o755)
        .symlink("bin", "usr/bin")  # merged /usr, as Debian does it
        .hardlink("usr/bin/tool-again", "usr/bin/tool")
        .symlink("usr/bin/escape", "/etc/passwd")  # absolute: resolved inside the image
        .dir("etc").file("etc/passwd", b"root:x:0:0::/root:/bin/sh\n")
    )
    app = Layer("COPY . /app").dir("app").file("app/main.py", b"print('hi')\n").file("app/.env", SECRET)
    update = Layer("RUN update tool").file("usr/bin/tool", TOOL_V2, mode=0o755)
    return ImageSpec([base, app, update])


@pytest.fixture
def image(tmp_path) -> str:
    path = tmp_path / "image.tar"
    write_docker_archive(spec(), str(path), ["demo:1"])
    return str(path)


@pytest.fixture
def index(image):
    return session.open_index(image, IndexOptions(use_cache=False))


def layer_tar_bytes(layer: Layer) -> bytes:
    return layer.tar()


def test_a_file_of_the_final_image_following_symlinks_inside_the_image(index, tmp_path):
    dest = tmp_path / "out" / "deeper"  # made when missing
    done = session.extract_file(index, "/bin/tool", str(dest))
    assert (done.path, done.size, done.layer) == (str(dest / "tool"), len(TOOL_V2), 2)
    assert (dest / "tool").read_bytes() == TOOL_V2
    assert (dest / "tool").stat().st_mode & 0o777 == 0o755
    # A symlink to an absolute path is followed inside the image, never on this machine.
    session.extract_file(index, "usr/bin/escape", str(dest))
    assert (dest / "escape").read_bytes() == b"root:x:0:0::/root:/bin/sh\n"
    assert sorted(os.listdir(dest)) == ["escape", "tool"]


def test_a_file_as_one_layer_stored_it_and_a_hard_link_to_it(index, tmp_path):
    done = session.extract_file(index, "usr/bin/tool", str(tmp_path), layer=0)
    assert (tmp_path / "tool").read_bytes() == TOOL_V1 and done.layer == 0
    session.extract_file(index, "usr/bin/tool-again", str(tmp_path), layer=0)
    assert (tmp_path / "tool-again").read_bytes() == TOOL_V1


def test_a_layer_as_a_tar_is_the_layer_byte_for_byte(index, tmp_path):
    done = session.extract_layer(index, 0, str(tmp_path))
    data = (tmp_path / "layer-0.tar").read_bytes()
    assert data == layer_tar_bytes(spec().layers[0])
    assert "sha256:" + hashlib.sha256(data).hexdigest() == index.layers[0].ref.diff_id
    assert (done.size, done.withheld) == (len(data), ())


def test_a_layer_tar_leaves_out_files_holding_secrets_unless_asked(index, tmp_path):
    done = session.extract_layer(index, 1, str(tmp_path))
    assert done.withheld == ("app/.env",)
    with tarfile.open(tmp_path / "layer-1.tar") as tar:
        assert [m.name for m in tar.getmembers()] == ["app", "app/main.py"]
        assert tar.extractfile("app/main.py").read() == b"print('hi')\n"
    done = session.extract_layer(index, 1, str(tmp_path), force=True, include_secrets=True)
    assert done.withheld == ()
    assert (tmp_path / "layer-1.tar").read_bytes() == layer_tar_bytes(spec().layers[1])


def test_a_file_holding_a_secret_is_written_only_when_asked(image, tmp_path):
    proc = run_cli(["extract", image, "/app/.env", "-o", str(tmp_path / "out")], tmp_path)
    line = error_line(proc)
    assert line.startswith("'/app/.env' holds a secret (stripe-key; fingerprints sk_l…")
    assert line.endswith("); pass --include-secrets to write it anyway")
    assert "4eC39HqLyjWDarjtT1zdp7dc" not in proc.stderr
    assert not (tmp_path / "out" / ".env").exists()
    proc = run_cli(["extract", image, "/app/.env", "-o", str(tmp_path / "out"), "--include-secrets"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "out" / ".env").read_bytes() == SECRET


def test_the_command_line_never_overwrites_without_force(image, tmp_path):
    out = tmp_path / "out"
    proc = run_cli(["extract", image, "usr/bin/tool", "-o", str(out)], tmp_path)
    assert (proc.returncode, proc.stdout) == (0, f"Wrote {out}/tool ({len(TOOL_V2)} bytes) from layer 2.\n")
    (out / "tool").write_bytes(b"edited\n")
    proc = run_cli(["extract", image, "usr/bin/tool", "-o", str(out)], tmp_path)
    assert error_line(proc) == f"{out}/tool exists; pass --force to overwrite it"
    assert (out / "tool").read_bytes() == b"edited\n"
    proc = run_cli(["extract", image, "usr/bin/tool", "-o", str(out), "--force"], tmp_path)
    assert proc.returncode == 0 and (out / "tool").read_bytes() == TOOL_V2


def test_a_symlink_in_dest_is_replaced_never_followed_out_of_it(image, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    outside = tmp_path / "outside.txt"
    outside.write_bytes(b"keep me\n")
    (out / "tool").symlink_to(outside)
    (out / "layer-2.tar").symlink_to(outside)
    proc = run_cli(["extract", image, "usr/bin/tool", "-o", str(out)], tmp_path)
    assert error_line(proc) == f"{out}/tool exists; pass --force to overwrite it"
    for args in (["usr/bin/tool"], ["--layer", "2"]):
        proc = run_cli(["extract", image, *args, "-o", str(out), "--force"], tmp_path)
        assert proc.returncode == 0, proc.stderr
    assert outside.read_bytes() == b"keep me\n"
    assert not (out / "tool").is_symlink() and (out / "tool").read_bytes() == TOOL_V2
    assert not (out / "layer-2.tar").is_symlink()
    assert sorted(os.listdir(out)) == ["layer-2.tar", "tool"]  # no temporary files left


def test_what_cannot_be_extracted_is_one_line(image, tmp_path):
    out = str(tmp_path / "out")
    cases = [
        (["/usr"], "'/usr' is a directory; extract a file, or a whole layer with --layer N"),
        (["/nope"], "the image has no file '/nope'"),
        (["/"], "name a file in the image, not its root directory"),
        (["--layer", "7"], "the image has layers 0 to 2, not 7"),
        (["app/main.py", "--layer", "0"], "layer 0 has no entry '/app/main.py'"),
    ]
    for args, message in cases:
        assert error_line(run_cli(["extract", image, *args, "-o", out], tmp_path)) == message, args
    assert not os.path.exists(out) or os.listdir(out) == []
    proc = run_cli(["extract", image, "-o", out], tmp_path)
    assert proc.returncode == 2 and "name a PATH in the image, or a layer with --layer N" in proc.stderr


@pytest.mark.engine
def test_from_an_engine_image_the_layer_is_read_again_from_a_save(engine, python_inference, python_inference_tar, tmp_path, monkeypatch):
    """An engine image's layers were streamed: extraction saves the image again and picks the
    layer out, by its name, or by its digest when the index came from the cache."""
    monkeypatch.setenv("DOCKER_HOST", engine.docker_host)
    with tarfile.open(python_inference_tar) as outer:
        (manifest,) = json.load(outer.extractfile("manifest.json"))
        member = outer.extractfile(manifest["Layers"][4]).read()  # COPY . . : the application
    with tarfile.open(fileobj=io.BytesIO(member)) as layer:
        expected = layer.extractfile("app/requirements.txt").read()
    options = IndexOptions(cache_dir=str(tmp_path / "cache"))
    for run in ("save", "cache"):
        index = session.open_index(python_inference, options)
        dest = tmp_path / run
        session.extract_file(index, "/app/requirements.txt", str(dest), options)
        assert (dest / "requirements.txt").read_bytes() == expected
    done = session.extract_layer(index, 4, str(tmp_path / "cache"), options)
    assert done.withheld == ("app/.env",)
    with tarfile.open(fileobj=io.BytesIO(member)) as original, tarfile.open(tmp_path / "cache" / "layer-4.tar") as written:
        assert [m.name for m in written.getmembers()] == [m.name for m in original.getmembers() if m.name != "app/.env"]
    done = session.extract_layer(index, 4, str(tmp_path / "cache"), options, force=True, include_secrets=True)
    assert (tmp_path / "cache" / "layer-4.tar").read_bytes() == member
