"""`slimview report` as a user runs it: output, the JSON contract, -o, exit statuses, bad input.

Every bad input is one line on stderr, exit status 2, no traceback, nothing on stdout and
nothing written outside the cache. Valid-but-unusual tar features (invalid UTF-8 names,
PAX and GNU long names) are not bad input: they report normally.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import shutil
import tarfile
from pathlib import Path

import pytest

from slimview.report.jsondoc import SCHEMA_VERSION
from slimview.sample.builder import ImageSpec, Layer, write_docker_archive, write_oci_layout

from indexcheck import cli_env, run_cli


def image_spec() -> ImageSpec:
    return ImageSpec(
        [
            Layer("/bin/sh -c #(nop) ADD file:0123 in / ").dir("etc").file("etc/os-release", b"ID=test\n")
            .file("usr/lib/big.so", b"L" * 120_000),
            Layer("RUN /bin/sh -c apt-get update # buildkit", comment="buildkit.dockerfile.v0")
            .file("var/lib/apt/lists/index", b"i" * 40_000),
            Layer("RUN /bin/sh -c rm -rf /var/lib/apt/lists/* # buildkit", comment="buildkit.dockerfile.v0")
            .whiteout("var/lib/apt/lists/index").file("usr/lib/big.so", b"M" * 120_000),
        ],
        cmd=["sh"],
        empty_history={1: ['/bin/sh -c #(nop)  CMD ["sh"]']},
    )


@pytest.fixture
def home(tmp_path):
    """An isolated user: cache, temp dir, home and working directory, all checked afterwards."""
    dirs = {name: tmp_path / name for name in ("cache", "tmp", "home", "cwd")}
    for d in dirs.values():
        d.mkdir()
    return dirs


@pytest.fixture
def env(home):
    return cli_env(home["cache"], home["tmp"], HOME=str(home["home"]))


@pytest.fixture
def image(tmp_path) -> Path:
    path = tmp_path / "inputs" / "image.tar"
    path.parent.mkdir()
    write_docker_archive(image_spec(), str(path), ["demo:1.0"])
    return path


def assert_nothing_written_outside_the_cache(home) -> None:
    assert (sorted(os.listdir(home["cwd"])), sorted(os.listdir(home["tmp"])), sorted(os.listdir(home["home"]))) == ([], [], [])


# -- the report ------------------------------------------------------------------------------


def test_text_report_shows_layers_totals_and_waste(image, env, home):
    proc = run_cli(["report", str(image)], {**env, "COLUMNS": "160"}, cwd=home["cwd"])
    assert (proc.returncode, proc.stderr) == (0, "")
    lines = proc.stdout.splitlines()
    assert lines[0] == "demo:1.0  (docker-archive, linux/amd64, demo:1.0)"
    assert lines[1] == "Image size   280.0 kB in 3 layers, 5 entries"
    assert lines[2] == "Visible      120.0 kB in the final filesystem"
    assert lines[3] == "Hidden       160.0 kB (57.1 %) stored but deleted or overwritten by a later layer"
    assert lines[4].startswith("dive         efficiency ")
    table = lines[lines.index(" #  SIZE        +ADD    ~MOD    -DEL   HIDDEN LATER  INSTRUCTION") + 1:][:3]
    assert table == [
        " 0    120.0 kB       3       0       0      120.0 kB  ADD file:0123 in /",
        " 1     40.0 kB       1       0       0       40.0 kB  RUN apt-get update",
        " 2    120.0 kB       0       1       1             -  RUN rm -rf /var/lib/apt/lists/*",
    ]
    assert "Hidden bytes: stored by one layer, then deleted or overwritten by another" in lines
    assert_nothing_written_outside_the_cache(home)


def test_json_report_schema_is_stable(image, env):
    proc = run_cli(["report", "--json", str(image)], env)
    assert (proc.returncode, proc.stderr) == (0, "")
    doc = json.loads(proc.stdout)
    assert doc["schema_version"] == SCHEMA_VERSION == 1
    assert set(doc) == {"schema_version", "generator", "image", "waste", "layers", "findings", "findings_by_kind", "notes"}
    assert set(doc["image"]) == {
        "reference", "name", "source", "repo_tags", "config_digest", "platform", "layer_count", "entry_count",
        "size_bytes", "visible_bytes", "user",
    }
    assert set(doc["waste"]) == {"hidden_bytes", "hidden_share", "hidden_by_layer", "dive", "avoidable_bytes", "avoidable_share"}
    assert set(doc["waste"]["dive"]) == {
        "efficiency", "inefficient_bytes", "user_size_bytes", "wasted_user_percent", "inefficient_files",
    }
    layer_keys = {
        "index", "diff_id", "digest", "media_type", "stored_bytes", "compression", "size_bytes", "instruction",
        "created", "comment", "entries", "added", "modified", "unchanged", "deleted", "bytes_added",
        "bytes_modified", "bytes_unchanged", "bytes_deleted", "bytes_overwritten", "hidden_stored_bytes", "files",
    }
    assert [set(layer) for layer in doc["layers"]] == [layer_keys] * 3
    files = {f["path"]: f for f in doc["layers"][2]["files"]}
    assert files["usr/lib/big.so"] == {
        "path": "usr/lib/big.so", "type": "file", "change": "modified", "size": 120_000, "mode": 0o644,
        "uid": 0, "gid": 0, "xxh3": files["usr/lib/big.so"]["xxh3"],
    }
    assert len(files["usr/lib/big.so"]["xxh3"]) == 32
    assert files["var/lib/apt/lists/index"] == {
        "path": "var/lib/apt/lists/index", "type": "file", "change": "deleted", "size": 40_000, "from_layer": 1,
    }
    assert set(doc["waste"]["hidden_by_layer"][0]) == {"stored_in", "hidden_by", "bytes"}
    assert set(doc["findings"][0]) == {
        "kind", "title", "severity", "bytes", "layer", "instruction", "paths", "evidence", "fix", "details",
    }


def json_keys(value, out: set[str] | None = None) -> set[str]:
    """Every key of every object in a JSON document (finding details are kind-specific, left out)."""
    out = set() if out is None else out
    if isinstance(value, dict):
        for key, item in value.items():
            out.add(key)
            if key not in ("details", "findings_by_kind"):
                json_keys(item, out)
    elif isinstance(value, list):
        for item in value:
            json_keys(item, out)
    return out


def test_every_json_key_is_documented(image, tmp_path, env):
    from test_formats_synthetic import GnuLayer, names_spec

    schema = (Path(__file__).resolve().parent.parent / "slimview" / "report" / "schema.md").read_text()
    odd = tmp_path / "names.tar"  # undecodable names bring path_b64 in
    write_docker_archive(names_spec(GnuLayer), str(odd), ["names:1"])
    keys = set()
    for path in (image, odd):
        keys |= json_keys(json.loads(run_cli(["report", "--json", str(path)], env).stdout))
    assert "path_b64" in keys and "from_layer" in keys and "link" in keys
    assert {key for key in keys if f"`{key}`" not in schema} == set()
    assert f"schema version {SCHEMA_VERSION}" in schema


def test_json_report_numbers(image, env):
    doc = json.loads(run_cli(["report", "--json", str(image)], env).stdout)
    assert doc["image"] | {"config_digest": None} == {
        "reference": str(image), "name": "demo:1.0", "source": "docker-archive", "repo_tags": ["demo:1.0"],
        "config_digest": None, "platform": "linux/amd64", "layer_count": 3, "entry_count": 5,
        "size_bytes": 280_008, "visible_bytes": 120_008, "user": "",
    }
    assert doc["waste"]["hidden_bytes"] == 160_000
    assert doc["waste"]["hidden_by_layer"] == [
        {"stored_in": 0, "hidden_by": 2, "bytes": 120_000},
        {"stored_in": 1, "hidden_by": 2, "bytes": 40_000},
    ]
    assert doc["waste"]["dive"]["inefficient_bytes"] == 240_000 + 40_000
    assert [layer["size_bytes"] for layer in doc["layers"]] == [120_008, 40_000, 120_000]
    assert [layer["instruction"] for layer in doc["layers"]] == [
        "/bin/sh -c #(nop) ADD file:0123 in / ",
        "RUN /bin/sh -c apt-get update # buildkit",
        "RUN /bin/sh -c rm -rf /var/lib/apt/lists/* # buildkit",
    ]
    no_files = json.loads(run_cli(["report", "--json", "--no-files", str(image)], env).stdout)
    assert all("files" not in layer for layer in no_files["layers"])
    assert {k: v for k, v in no_files.items() if k != "layers"} == {k: v for k, v in doc.items() if k != "layers"}


def test_json_is_the_same_with_a_warm_cache_and_without_one(image, env):
    cold = run_cli(["report", "--json", str(image)], env).stdout
    warm = run_cli(["report", "--json", str(image)], env).stdout
    bypass = run_cli(["report", "--json", "--no-cache", str(image)], env).stdout
    assert cold == warm == bypass


# -- -o FILE ----------------------------------------------------------------------------------


def test_output_file_is_written_atomically_and_never_overwritten_without_force(image, env, home):
    out = home["cwd"] / "report.json"
    proc = run_cli(["report", "--json", "-o", "report.json", str(image)], env, cwd=home["cwd"])
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")
    assert out.read_text() == run_cli(["report", "--json", str(image)], env).stdout
    first = out.read_bytes()

    proc = run_cli(["report", "-o", "report.json", str(image)], env, cwd=home["cwd"])
    assert (proc.returncode, proc.stdout) == (2, "")
    assert proc.stderr == "slimview: error: report.json exists; pass --force to overwrite it\n"
    assert out.read_bytes() == first

    proc = run_cli(["report", "-o", "report.json", "--force", str(image)], env, cwd=home["cwd"])
    assert (proc.returncode, proc.stderr) == (0, "")
    assert out.read_text().startswith("demo:1.0  (docker-archive")
    assert sorted(os.listdir(home["cwd"])) == ["report.json"]  # no temporary file left behind
    assert sorted(os.listdir(home["tmp"])) == []


def test_output_over_a_dangling_symlink_is_refused(image, env, home):
    (home["cwd"] / "link.json").symlink_to(home["cwd"] / "elsewhere.json")
    proc = run_cli(["report", "-o", "link.json", str(image)], env, cwd=home["cwd"])
    assert (proc.returncode, proc.stderr) == (2, "slimview: error: link.json exists; pass --force to overwrite it\n")
    assert not (home["cwd"] / "elsewhere.json").exists()


def test_output_into_a_missing_directory(image, env, home):
    proc = run_cli(["report", "-o", "no/such/dir/r.txt", str(image)], env, cwd=home["cwd"])
    assert proc.returncode == 2
    assert proc.stderr == f"slimview: error: cannot write no/such/dir/r.txt: directory {home['cwd']}/no/such/dir does not exist\n"


# -- exit statuses ------------------------------------------------------------------------------


def test_version_and_usage_errors(image, env):
    proc = run_cli(["--version"], env)
    assert (proc.returncode, proc.stdout) == (0, "slimview, version 0.1.0\n")
    proc = run_cli(["report", "--json", "--format", "text", str(image)], env)
    assert proc.returncode == 2
    assert proc.stderr.splitlines()[-1] == "Error: --json conflicts with --format text"
    proc = run_cli(["report", "--bogus", str(image)], env)
    assert proc.returncode == 2
    assert proc.stderr.splitlines()[-1] == "Error: No such option '--bogus'."
    assert "Traceback" not in proc.stderr


def test_report_without_an_image_uses_the_bundled_sample(env, home):
    proc = run_cli(["report", "--json", "--no-files"], env, cwd=home["cwd"])
    assert (proc.returncode, proc.stderr) == (0, "")
    doc = json.loads(proc.stdout)
    assert (doc["image"]["name"], doc["image"]["layer_count"]) == ("python-inference-mini:latest", 7)
    assert_nothing_written_outside_the_cache(home)


# -- bad input: one line, exit 2, nothing written -----------------------------------------------


def assert_one_line_error(proc, message: str) -> None:
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    assert proc.stderr == f"slimview: error: {message}\n"


def rewrite_archive(src: Path, dst: Path, *, drop=(), edit=None) -> None:
    """Copy a docker save tarball member by member, dropping or editing some."""
    with tarfile.open(src) as tin, tarfile.open(dst, "w") as tout:
        for member in tin.getmembers():
            if member.name in drop:
                continue
            body = tin.extractfile(member).read() if member.isfile() else None
            if body is not None and edit is not None:
                body = edit(member.name, body)
                member.size = len(body)
            tout.addfile(member, io.BytesIO(body) if body is not None else None)


def manifest_of(archive: Path) -> dict:
    with tarfile.open(archive) as tar:
        (item,) = json.load(tar.extractfile("manifest.json"))
        item["config"] = json.load(tar.extractfile(item["Config"]))
        return item


def short(diff_id: str) -> str:
    return diff_id[7:19]


def run_bad(args, env, home):
    proc = run_cli(["report", *args], env, cwd=home["cwd"])
    assert "Traceback" not in proc.stderr
    assert_nothing_written_outside_the_cache(home)
    return proc


def test_missing_path(env, home):
    assert_one_line_error(run_bad(["/no/such/image.tar"], env, home), "/no/such/image.tar: no such file or directory")
    assert_one_line_error(run_bad(["./image.tar"], env, home), "./image.tar: no such file or directory")


def test_unreadable_file(image, env, home):
    image.chmod(0)
    if os.geteuid() == 0:
        # root reads anything: drop the capabilities that let it, for this one run
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root without setpriv: cannot make a file unreadable")
        caps = "-dac_override,-dac_read_search"
        proc = run_cli(["report", str(image)], env, cwd=home["cwd"], prefix=[setpriv, f"--bounding-set={caps}", f"--inh-caps={caps}"])
    else:
        proc = run_cli(["report", str(image)], env, cwd=home["cwd"])
    assert_one_line_error(proc, f"{image}: not readable (permission denied)")
    assert_nothing_written_outside_the_cache(home)


def test_not_an_archive(tmp_path, env, home):
    text = tmp_path / "notes.tar"
    text.write_text("these are my notes, not an image\n" * 30)
    assert_one_line_error(run_bad([str(text)], env, home), f"{text}: not a tar archive, OCI layout or compressed save")
    empty = tmp_path / "empty.tar"
    empty.write_bytes(b"")
    assert_one_line_error(run_bad([str(empty)], env, home), f"{empty}: is empty")
    a_dir = tmp_path / "plain-dir"
    a_dir.mkdir()
    assert_one_line_error(run_bad([str(a_dir)], env, home), f"{a_dir}: is a directory without an OCI layout (no index.json)")


def test_truncated_tar(image, tmp_path, env, home):
    data = image.read_bytes()
    cut = tmp_path / "cut.tar"
    cut.write_bytes(data[: data.find(b"L" * 1000) + 500])  # inside the base layer's big file
    assert_one_line_error(run_bad([str(cut)], env, home), f"{cut}: archive is truncated (an entry's data runs past the end)")


def test_corrupt_and_truncated_gzip(image, tmp_path, env, home):
    packed = gzip.compress(image.read_bytes(), mtime=0)
    flipped = bytearray(packed)
    flipped[len(flipped) // 2] ^= 0xFF
    bad = tmp_path / "bad.tar.gz"
    bad.write_bytes(bytes(flipped))
    proc = run_bad([str(bad)], env, home)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert proc.stderr.startswith(f"slimview: error: {bad}: ")
    assert "corrupt" in proc.stderr or "truncated" in proc.stderr or "not a tar archive" in proc.stderr
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(packed[: len(packed) // 2])
    assert_one_line_error(
        run_bad([str(cut)], env, home),
        f"{cut}: corrupt or truncated gzip data (Compressed file ended before the end-of-stream marker was reached)",
    )


@pytest.mark.parametrize("compression", ["gzip", "zstd"])
def test_corrupt_compressed_layer(tmp_path, env, home, compression):
    layout = tmp_path / "layout"
    write_oci_layout(image_spec(), str(layout), compression=compression)
    index = json.loads((layout / "index.json").read_text())
    manifest = json.loads((layout / "blobs/sha256" / index["manifests"][0]["digest"][7:]).read_text())
    diff_ids = json.loads((layout / "blobs/sha256" / manifest["config"]["digest"][7:]).read_text())["rootfs"]["diff_ids"]
    blob = layout / "blobs/sha256" / manifest["layers"][0]["digest"][7:]
    blob.write_bytes(blob.read_bytes()[:-40])
    detail = {
        "gzip": "Compressed file ended before the end-of-stream marker was reached",
        "zstd": "zstd data is truncated (the stream ends inside a frame)",
    }[compression]
    assert_one_line_error(
        run_bad([str(layout)], env, home), f"{layout}: layer 0 ({short(diff_ids[0])}): corrupt or truncated layer data ({detail})"
    )


def test_missing_manifest(image, tmp_path, env, home):
    bad = tmp_path / "no-manifest.tar"
    rewrite_archive(image, bad, drop={"manifest.json"})
    assert_one_line_error(run_bad([str(bad)], env, home), f"{bad}: no manifest.json or index.json: not a docker save or OCI image")


def test_missing_config(image, tmp_path, env, home):
    bad = tmp_path / "no-config.tar"
    config = manifest_of(image)["Config"]
    rewrite_archive(image, bad, drop={config})
    assert_one_line_error(run_bad([str(bad)], env, home), f"{bad}: image config '{config}' is missing from the archive")


def test_missing_layer(image, tmp_path, env, home):
    bad = tmp_path / "no-layer.tar"
    layer = manifest_of(image)["Layers"][1]
    rewrite_archive(image, bad, drop={layer})
    assert_one_line_error(run_bad([str(bad)], env, home), f"{bad}: layer '{layer}' is missing from the archive")


def test_layer_count_mismatch(image, tmp_path, env, home):
    bad = tmp_path / "count.tar"

    def drop_a_layer(name, body):
        if name != "manifest.json":
            return body
        (item,) = json.loads(body)
        item["Layers"] = item["Layers"][:2]
        return json.dumps([item]).encode()

    rewrite_archive(image, bad, edit=drop_a_layer)
    assert_one_line_error(
        run_bad([str(bad)], env, home), f"{bad}: the manifest lists 2 layers but the config's rootfs.diff_ids has 3"
    )


def test_layer_content_that_does_not_match_its_diff_id(image, tmp_path, env, home):
    bad = tmp_path / "altered.tar"
    data = bytearray(image.read_bytes())
    data[data.find(b"i" * 40_000) + 20_000] = ord("j")
    bad.write_bytes(bytes(data))
    diff_id = manifest_of(image)["config"]["rootfs"]["diff_ids"][1]
    # Uncompressed layers on disk are digested only with --verify; a plain run reports
    # what the archive holds.
    assert run_cli(["report", str(bad)], env).returncode == 0
    proc = run_bad([str(bad), "--verify"], env, home)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert proc.stderr.startswith(f"slimview: error: {bad}: layer 1 does not match the image config: its content is sha256:")
    assert proc.stderr.endswith(f" but rootfs.diff_ids[1] is {diff_id} (archive corrupt or altered)\n")


@pytest.mark.parametrize("name, problem", [
    ("../escape", "escapes the image root with '..'"),
    ("usr/../../escape", "escapes the image root with '..'"),
    ("/../etc/passwd", "escapes the image root with '..'"),
])
def test_names_escaping_the_root(tmp_path, env, home, name, problem):
    layer = Layer("crafted").file("fine", b"ok")
    info = tarfile.TarInfo(name)
    info.size = 3
    layer.members.append((info, b"bad"))
    bad = tmp_path / "crafted.tar"
    write_docker_archive(ImageSpec([layer]), str(bad), ["crafted:1"])
    diff_id = manifest_of(bad)["config"]["rootfs"]["diff_ids"][0]
    assert_one_line_error(
        run_bad([str(bad)], env, home), f"{bad}: layer 0 ({short(diff_id)}): entry '{name}' {problem} (archive corrupt or crafted)"
    )
    assert not (tmp_path / "escape").exists()


def test_manifest_naming_a_layer_outside_the_archive(image, tmp_path, env, home):
    bad = tmp_path / "outside.tar"

    def point_outside(name, body):
        if name != "manifest.json":
            return body
        (item,) = json.loads(body)
        item["Layers"][0] = "../../etc/passwd"
        return json.dumps([item]).encode()

    rewrite_archive(image, bad, edit=point_outside)
    assert_one_line_error(run_bad([str(bad)], env, home), f"{bad}: manifest names a layer outside the archive: '../../etc/passwd'")


def test_several_images_and_no_choice(tmp_path, env, home):
    multi = tmp_path / "multi.tar"
    write_docker_archive(image_spec(), str(multi), ["demo:1.0"], extra_images=[(ImageSpec([Layer("x").file("x", "x")]), ["other:2"])])
    assert_one_line_error(
        run_bad([str(multi)], env, home), f"{multi} holds 2 images; pick one with ARCHIVE:TAG or --tag (demo:1.0, other:2)"
    )
    proc = run_cli(["report", "--json", "--no-files", f"{multi}:other:2"], env, cwd=home["cwd"])
    assert (proc.returncode, json.loads(proc.stdout)["image"]["size_bytes"]) == (0, 1)
    proc = run_cli(["report", "--json", "--no-files", "--tag", "demo:1.0", str(multi)], env, cwd=home["cwd"])
    assert (proc.returncode, json.loads(proc.stdout)["image"]["size_bytes"]) == (0, 280_008)


# -- valid tar features that look odd --------------------------------------------------------------


def test_invalid_utf8_and_long_names_report_normally(tmp_path, env, home):
    from test_formats_synthetic import BAD_UTF8, LONG_FILE, GnuLayer, names_spec

    for cls in (GnuLayer, Layer):
        path = tmp_path / f"names-{cls.__name__}.tar"
        write_docker_archive(names_spec(cls), str(path), ["names:1"])
        text = run_cli(["report", str(path)], env, cwd=home["cwd"])
        assert (text.returncode, text.stderr) == (0, "")
        assert "Image size   174 B in 2 layers, 5 entries" in text.stdout
        doc = run_cli(["report", "--json", str(path)], env, cwd=home["cwd"])
        assert (doc.returncode, doc.stderr) == (0, "")
        files = json.loads(doc.stdout)["layers"][0]["files"]
        paths = {f.get("path_b64") or f["path"] for f in files}
        assert LONG_FILE in paths and "bGF0aW4xL2NhZukt/y50eHQ=" in paths
        assert BAD_UTF8.encode("utf-8", "surrogateescape") == b"latin1/caf\xe9-\xff.txt"
    assert_nothing_written_outside_the_cache(home)


# -- the engine -----------------------------------------------------------------------------------


def test_no_engine_running(tmp_path, env, home):
    env = {**env, "DOCKER_HOST": f"unix://{tmp_path}/no-engine.sock"}
    assert_one_line_error(
        run_bad(["busybox:latest"], env, home),
        f"no container engine is running at unix://{tmp_path}/no-engine.sock "
        "(start Docker or podman, or set DOCKER_HOST; image files and OCI layouts work without one)",
    )


@pytest.mark.engine
def test_an_image_the_engine_does_not_have(engine, env, home):
    env = {**env, "DOCKER_HOST": engine.docker_host}
    proc = run_bad(["busybox:latst"], env, home)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.startswith("slimview: error: no image 'busybox:latst' in the local engine; did you mean ")
    assert "busybox:latest" in proc.stderr and proc.stderr.count("\n") == 1


@pytest.mark.engine
def test_engine_image_by_name(engine, env, home):
    env = {**env, "DOCKER_HOST": engine.docker_host}
    proc = run_cli(["report", "--json", "--no-files", "busybox:latest"], env, cwd=home["cwd"])
    assert (proc.returncode, proc.stderr) == (0, "")
    doc = json.loads(proc.stdout)
    assert (doc["image"]["source"], doc["image"]["name"]) == ("engine", "busybox:latest")
    assert_nothing_written_outside_the_cache(home)


@pytest.mark.engine
def test_a_podman_style_socket_is_found_without_docker_host(engine, tmp_path, env, home):
    """With no DOCKER_HOST and no Docker socket, podman's socket under XDG_RUNTIME_DIR is used."""
    if os.path.exists("/var/run/docker.sock"):
        pytest.skip("a Docker socket exists at /var/run/docker.sock; it would be preferred")
    if not engine.docker_host.startswith("unix://"):
        pytest.skip("the test engine is not on a unix socket")
    runtime = tmp_path / "runtime"
    (runtime / "podman").mkdir(parents=True)
    (runtime / "podman" / "podman.sock").symlink_to(engine.docker_host[len("unix://"):])
    env = {k: v for k, v in env.items() if k != "DOCKER_HOST"} | {"XDG_RUNTIME_DIR": str(runtime)}
    proc = run_cli(["report", "--json", "--no-files", "busybox:latest"], env, cwd=home["cwd"])
    assert (proc.returncode, proc.stderr) == (0, "")
    assert json.loads(proc.stdout)["image"]["source"] == "engine"


def test_platform_option(tmp_path, env, home):
    from slimview.sample.builder import oci_layout_files

    images = []
    for arch, variant in (("amd64", ""), ("arm64", "v8")):
        image = ImageSpec([Layer(arch).file(f"for-{arch}", arch)])
        image.architecture = arch
        images.append((image, "", {"os": "linux", "architecture": arch, **({"variant": variant} if variant else {})}))
    root = tmp_path / "multi"
    for name, data in oci_layout_files(images).items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    proc = run_cli(["report", "--json", "--platform", "linux/arm64", str(root)], env, cwd=home["cwd"])
    assert (proc.returncode, proc.stderr) == (0, "")
    doc = json.loads(proc.stdout)
    assert (doc["image"]["platform"], doc["image"]["size_bytes"]) == ("linux/arm64/v8", 5)
    assert_one_line_error(
        run_bad(["--platform", "windows/amd64", str(root)], env, home),
        f"{root} has no image for platform windows/amd64 (it has: linux/amd64, linux/arm64/v8); use --platform",
    )


@pytest.mark.engine
def test_engine_report_is_the_same_from_a_save_and_from_the_cache(engine, env, home):
    """The second run saves nothing (the cache knows every layer); the document must not change."""
    env = {**env, "DOCKER_HOST": engine.docker_host}
    cold = run_cli(["report", "--json", "busybox:latest"], env, cwd=home["cwd"])
    warm = run_cli(["report", "--json", "busybox:latest"], env, cwd=home["cwd"])
    assert (cold.returncode, warm.returncode) == (0, 0)
    assert json.loads(warm.stdout) == json.loads(cold.stdout)
    doc = json.loads(warm.stdout)
    assert doc["image"]["platform"] == "linux/" + doc["image"]["platform"].split("/")[1] != "linux/"
    assert all(layer["stored_bytes"] > 0 for layer in doc["layers"])
