"""Stage 1 from a registry: real registries on loopback (Debian's docker-registry, the CNCF
distribution registry 2.8), images pushed by skopeo or over the registry API.

The expected figures are those of the same image read from its save or OCI layout on
disk: the issue's promise is that the registry changes nothing but where bytes come from.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import stat
import uuid
from pathlib import Path

import pytest

from slimview.index import IndexOptions, build_index
from slimview.sample.builder import ImageSpec, Layer, compress, config_json, oci_layout_files
from slimview.sample.mini import sample_spec, write_sample
from slimview.source.platform import host_platform, platform_text

from hostile import cli_env, error_line, run_cli
from registry import OCI_MANIFEST, Registry, _Quiet, _Server, figures, push_blob, push_manifest, push_oci, report, sha, skopeo_copy, write_files
from uihelpers import async_test, fixed_report, settle


def manifest_of(registry: Registry, repo: str, ref: str) -> dict:
    with registry.session() as s:
        answer = s.get(f"{registry.url}/v2/{repo}/manifests/{ref}", timeout=30,
                       headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json, " + OCI_MANIFEST})
        assert answer.status_code == 200, answer.text
        return answer.json()


# -- the sample image, as the "Done when" states it ------------------------------------


@pytest.mark.slow
def test_python_inference_from_a_registry_reports_the_figures_of_its_save(
    http_registry, python_inference_in_registry, python_inference_tar, tmp_path
):
    ref = http_registry.ref(python_inference_in_registry)
    manifest = manifest_of(http_registry, "python-inference", "latest")
    blobs = {layer["digest"] for layer in manifest["layers"]}
    before = http_registry.blob_gets("python-inference")

    cold = report(ref, tmp_path)
    assert http_registry.blob_gets("python-inference") - before == len(blobs) + 1  # each layer once, and the config

    warm = report(ref, tmp_path)
    assert http_registry.blob_gets("python-inference") - before == len(blobs) + 1  # the second run fetched no blob
    assert warm == cold

    saved = report(str(python_inference_tar), tmp_path / "elsewhere", "--no-cache")
    assert figures(cold) == figures(saved)
    assert cold["image"]["source"] == "registry"
    assert cold["image"]["name"] == f"{http_registry.host}/python-inference:latest"
    assert [(x["digest"], x["media_type"], x["stored_bytes"]) for x in cold["layers"]] == [
        (x["digest"], x["mediaType"], x["size"]) for x in manifest["layers"]
    ]
    assert {x["compression"] for x in cold["layers"]} == {"gzip"}  # skopeo compressed them on the way in


# -- TLS and credentials -------------------------------------------------------------------


@pytest.fixture(scope="module")
def mini_tls(tls_registry, tmp_path_factory) -> tuple[str, Path]:
    """The bundled sample, pushed by skopeo over TLS with credentials."""
    path = tmp_path_factory.mktemp("mini") / "mini.tar"
    write_sample(str(path))
    skopeo_copy(f"docker-archive:{path}", tls_registry, "mini:latest")
    return tls_registry.ref("mini:latest"), path


def registry_env(home: Path, registry: Registry, config: dict | None = None, *, trust: bool = True, **extra: str) -> dict:
    """A CLI environment whose certs.d trusts the registry's CA and whose Docker config is ``config``."""
    env = cli_env(home, **extra)
    certs = home / "certs.d"
    if trust and registry.pki:
        (certs / registry.host).mkdir(parents=True, exist_ok=True)
        shutil.copy(registry.pki.ca, certs / registry.host / "ca.crt")
    env["SLIMVIEW_CERTS_D"] = str(certs)
    env["DOCKER_CONFIG"] = str(home / "docker")
    if config is not None:
        (home / "docker").mkdir(exist_ok=True)
        (home / "docker" / "config.json").write_text(json.dumps(config))
    return env


def auths(registry: Registry, password: str | None = None) -> dict:
    user, real = next(iter(registry.users.items()))
    token = base64.b64encode(f"{user}:{password or real}".encode()).decode()
    return {"auths": {registry.host: {"auth": token}}}


def cached_bytes(home: Path) -> bytes:
    out = b""
    for root, _dirs, files in os.walk(home / ".cache"):
        for name in files:
            out += (Path(root) / name).read_bytes()
    return out


def test_a_tls_registry_with_basic_auth_reads_through_config_json(tls_registry, mini_tls, tmp_path):
    ref, tar = mini_tls
    env = registry_env(tmp_path, tls_registry, auths(tls_registry))
    proc = run_cli(["report", "--json", ref], tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    saved = report(str(tar), tmp_path / "elsewhere", "--no-cache")
    assert figures(json.loads(proc.stdout)) == figures(saved)
    password = next(iter(tls_registry.users.values()))
    secret = base64.b64encode(f"slim:{password}".encode())
    for text in (proc.stdout.encode(), proc.stderr.encode(), cached_bytes(tmp_path)):
        assert password.encode() not in text and secret not in text


def test_without_credentials_the_error_is_one_line_naming_the_registry(tls_registry, mini_tls, tmp_path):
    ref, _tar = mini_tls
    message = error_line(run_cli(["report", ref], tmp_path, env=registry_env(tmp_path, tls_registry)))
    config = tmp_path / "docker" / "config.json"
    assert message == (
        f"registry {tls_registry.host} requires credentials for mini and none were found for {tls_registry.host} "
        f"in {config} (run `docker login {tls_registry.host}`)"
    )


def test_rejected_credentials_are_one_line_that_never_shows_them(tls_registry, mini_tls, tmp_path):
    ref, _tar = mini_tls
    env = registry_env(tmp_path, tls_registry, auths(tls_registry, password="not-the-password-42"))
    proc = run_cli(["report", ref], tmp_path, env=env)
    message = error_line(proc)
    config = tmp_path / "docker" / "config.json"
    assert message == f"registry {tls_registry.host} rejected the credentials from the `auths` entry of {config} for mini"
    assert "not-the-password-42" not in proc.stderr


def test_an_untrusted_certificate_is_one_line_and_insecure_reads_anyway(tls_registry, mini_tls, tmp_path):
    ref, tar = mini_tls
    env = registry_env(tmp_path, tls_registry, auths(tls_registry), trust=False)
    message = error_line(run_cli(["report", ref], tmp_path, env=env))
    assert message.startswith(f"the TLS certificate of {tls_registry.host} is not trusted ("), message
    assert message.endswith(f"put its CA in {tmp_path}/certs.d/{tls_registry.host}/ca.crt, or pass --insecure")
    insecure = report(ref, tmp_path, "--insecure", env=env)
    assert figures(insecure) == figures(report(str(tar), tmp_path / "elsewhere", "--no-cache"))


def fake_helper(bin_dir: Path, registry: Registry, log: Path) -> None:
    """docker-credential-test: the registry's credentials for its own host, 'not found' otherwise."""
    user, password = next(iter(registry.users.items()))
    bin_dir.mkdir(parents=True, exist_ok=True)
    script = bin_dir / "docker-credential-test"
    script.write_text(
        "#!/usr/bin/env python3\n"
        "import json, sys\n"
        f"LOG, HOST = {str(log)!r}, {registry.host!r}\n"
        "action, server = sys.argv[1], sys.stdin.read().strip()\n"
        "open(LOG, 'a').write(action + ' ' + server + '\\n')\n"
        "if action == 'get' and server == HOST:\n"
        f"    print(json.dumps({{'ServerURL': server, 'Username': {user!r}, 'Secret': {password!r}}}))\n"
        "else:\n"
        "    print('credentials not found in native keychain')\n"
        "    sys.exit(1)\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)


@pytest.mark.parametrize("key", ["credHelpers", "credsStore"])
def test_credentials_come_from_a_credential_helper(tls_registry, mini_tls, tmp_path, key):
    ref, tar = mini_tls
    log = tmp_path / "helper.log"
    fake_helper(tmp_path / "bin", tls_registry, log)
    config = {"credHelpers": {tls_registry.host: "test"}} if key == "credHelpers" else {"credsStore": "test"}
    env = registry_env(tmp_path, tls_registry, config, PATH=f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    proc = run_cli(["report", "--json", ref], tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    assert log.read_text() == f"get {tls_registry.host}\n"
    assert figures(json.loads(proc.stdout)) == figures(report(str(tar), tmp_path / "elsewhere", "--no-cache"))
    assert next(iter(tls_registry.users.values())) not in proc.stdout + proc.stderr


def test_a_missing_credential_helper_is_one_line(tls_registry, mini_tls, tmp_path):
    ref, _tar = mini_tls
    fake_helper(tmp_path / "bin", tls_registry, tmp_path / "helper.log")
    path = f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}"
    other = {"credHelpers": {tls_registry.host: "absent"}}
    message = error_line(run_cli(["report", ref], tmp_path, env=registry_env(tmp_path, tls_registry, other, PATH=path)))
    assert message == f"{tmp_path}/docker/config.json names the credential helper docker-credential-absent, which is not on PATH"


# -- manifests: zstd layers, platforms, digests, foreign layers ------------------------------


def small_spec(tag: str) -> ImageSpec:
    return ImageSpec([
        Layer("base").dir("etc").file("etc/os-release", f"ID={tag}\n").file("bin/tool", b"\x7fELF" + bytes(3000), mode=0o755),
        Layer("app").file("app/main.py", b"print('hi')\n" * 40).file("app/cache.bin", bytes(range(256)) * 64).whiteout("bin/tool"),
    ], architecture="arm64" if tag == "arm" else "amd64")


@pytest.mark.parametrize("compression", ["zstd", "gzip", None])
def test_zstd_gzip_and_plain_layers_read_as_from_the_layout(http_registry, tmp_path, compression):
    repo = f"layers-{uuid.uuid4().hex[:8]}"
    files = oci_layout_files([(sample_spec(), "latest", None)], compression)
    push_oci(http_registry, repo, "v1", files)
    layout = write_files(tmp_path / "layout", files)
    got = report(http_registry.ref(f"{repo}:v1"), tmp_path)
    assert figures(got) == figures(report(str(layout), tmp_path / "elsewhere", "--no-cache"))
    assert {x["compression"] for x in got["layers"]} == {compression or "none"}


@pytest.fixture(scope="module")
def multi_platform(http_registry, tmp_path_factory) -> tuple[str, Path, str]:
    """amd64 and arm64 images under one OCI index, pushed and written as a layout."""
    repo = f"multi-{uuid.uuid4().hex[:8]}"
    images: list[tuple[ImageSpec, str, dict | None]] = [
              (small_spec("amd"), "latest", {"os": "linux", "architecture": "amd64"}),
              (small_spec("arm"), "latest", {"os": "linux", "architecture": "arm64", "variant": "v8"})]
    files = oci_layout_files(images, "gzip")
    digest = push_oci(http_registry, repo, "latest", files)
    return repo, write_files(tmp_path_factory.mktemp("multi"), files), digest


@pytest.mark.parametrize("platform", [None, "linux/arm64", "linux/amd64"])
def test_an_index_picks_the_platform_asked_for_else_the_hosts(http_registry, multi_platform, tmp_path, platform):
    repo, layout, _digest = multi_platform
    args = ("--platform", platform) if platform else ()
    got = report(http_registry.ref(f"{repo}:latest"), tmp_path, *args)
    wanted = platform or platform_text(host_platform())
    expected = report(str(layout), tmp_path / "elsewhere", "--no-cache", "--platform", wanted)
    assert figures(got) == figures(expected)
    assert got["image"]["platform"] == ("linux/arm64/v8" if wanted == "linux/arm64" else wanted)


def test_a_platform_the_index_lacks_is_one_line(http_registry, multi_platform, tmp_path):
    repo, _layout, _digest = multi_platform
    proc = run_cli(["report", "--platform", "linux/s390x", http_registry.ref(f"{repo}:latest")], tmp_path)
    assert error_line(proc) == (
        f"{http_registry.host}/{repo}:latest has no image for platform linux/s390x (it has: linux/amd64, linux/arm64/v8); use --platform"
    )


def test_an_image_named_by_digest_and_a_missing_one(http_registry, multi_platform, tmp_path):
    repo, _layout, digest = multi_platform
    by_tag = report(http_registry.ref(f"{repo}:latest"), tmp_path, "--no-cache")
    by_digest = report(http_registry.ref(f"{repo}@{digest}"), tmp_path, "--no-cache")
    assert figures(by_digest) == figures(by_tag)
    assert by_digest["image"]["name"] == f"{http_registry.host}/{repo}@{digest}"
    missing = "sha256:" + "0" * 64
    message = error_line(run_cli(["report", http_registry.ref(f"{repo}@{missing}")], tmp_path))
    assert message.startswith(f"{http_registry.host}/{repo}@{missing}: no such image on {http_registry.host}: MANIFEST_UNKNOWN")


class _BlobHandler(_Quiet):
    server: _BlobServer

    def do_GET(self):
        self.server.seen.append(dict(self.headers.items()))
        self.send(200, self.server.blob, {"Content-Type": "application/octet-stream"})


class _BlobServer(_Server):
    """Serves one blob at any path: a foreign layer's home."""

    def __init__(self, blob: bytes, host: str):
        self.blob = blob
        self.seen: list[dict] = []
        super().__init__(host, _BlobHandler)


def test_foreign_layers_are_reported_and_fetched_only_when_allowed(http_registry, tmp_path):
    spec = small_spec("amd")
    tars = [layer.tar() for layer in spec.layers]
    blobs = [compress(t, "gzip") for t in tars]
    config = config_json(spec, [sha(t) for t in tars])
    server = _BlobServer(blobs[1], "127.0.0.2")
    try:
        repo = f"foreign-{uuid.uuid4().hex[:8]}"
        push_blob(http_registry, repo, blobs[0])
        push_blob(http_registry, repo, config)
        foreign = {"mediaType": "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", "digest": sha(blobs[1]),
                   "size": len(blobs[1]), "urls": [f"{server.url}/layer.tar.gz"]}
        manifest = json.dumps({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha(config), "size": len(config)},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": sha(blobs[0]), "size": len(blobs[0])}, foreign],
        }).encode()
        push_manifest(http_registry, repo, "v1", manifest, OCI_MANIFEST)
        ref = http_registry.ref(f"{repo}:v1")

        skipped = report(ref, tmp_path, "--no-cache")
        assert server.seen == []
        assert skipped["layers"][1]["entries"] == 0
        assert skipped["notes"] == [(
            f"layer 1: foreign (non-distributable) layer {sha(blobs[1])} of {len(blobs[1]):,} bytes at {server.url}/layer.tar.gz "
            "was not fetched: its files are not counted (pass --allow-foreign-layers to fetch it)"
        )]
        fetched = report(ref, tmp_path, "--no-cache", "--allow-foreign-layers")
        assert len(server.seen) == 1 and "Authorization" not in server.seen[0]
        layout = write_files(tmp_path / "layout", oci_layout_files([(spec, "latest", None)], "gzip"))
        assert figures(fetched) == figures(report(str(layout), tmp_path / "elsewhere", "--no-cache"))
    finally:
        server.close()


def test_tag_with_a_registry_reference_is_a_usage_error(http_registry, tmp_path):
    message = error_line(run_cli(["report", "--tag", "v2", http_registry.ref("anything:v1")], tmp_path))
    assert message == "--tag picks an image inside an archive or layout; name the tag in the registry reference (…/REPO:TAG)"


def test_docker_prefix_reads_the_same_image(http_registry, multi_platform, tmp_path):
    repo, _layout, _digest = multi_platform
    via_docker = report(f"docker://{http_registry.host}/{repo}:latest", tmp_path, "--no-cache")
    via_registry = report(http_registry.ref(f"{repo}:latest"), tmp_path, "--no-cache")
    assert via_docker == {**via_registry, "image": {**via_registry["image"], "reference": f"docker://{http_registry.host}/{repo}:latest"}}


@async_test
async def test_the_explorer_opens_a_registry_image(http_registry, tmp_path, monkeypatch):
    from slimview.ui.app import make_app
    from slimview.ui.widgets.layers import LayersPane

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    repo = f"explorer-{uuid.uuid4().hex[:8]}"
    push_oci(http_registry, repo, "v1", oci_layout_files([(sample_spec(), "latest", None)], "gzip"))
    app = make_app(http_registry.ref(f"{repo}:v1"), IndexOptions(use_cache=False), analyser=fixed_report)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        assert app.load_error is None
        assert app.query_one(LayersPane).row_count == len(sample_spec().layers)
        assert app.index.source.kind == "registry"
        assert app.index.entry_count == build_index(str(write_files(tmp_path / "layout", oci_layout_files(
            [(sample_spec(), "latest", None)], "gzip"))), IndexOptions(use_cache=False)).entry_count
