"""A registry that misbehaves, or asks for tokens: a proxy of the test's own (tests/registry.py)
in front of a real distribution registry on loopback.

Every way a registry can be wrong is one line on stderr and exit status 2, nothing it sent
unverified reaches the cache, and no secret shows up in what slimview prints.
"""

from __future__ import annotations

import base64
import json
import os
import time
import uuid
from pathlib import Path

import pytest

from slimview.sample.builder import oci_layout_files
from slimview.sample.mini import sample_spec

from hostile import cli_env, error_line, run_cli
from registry import FaultProxy, TokenService, cut_after, endless, figures, free_port, push_oci, redirect, report, rewrite_body, status, write_files

MANIFESTS = r"/manifests/"
BLOBS = r"/blobs/sha256:"


@pytest.fixture(scope="module")
def image(http_registry, tmp_path_factory):
    """The bundled sample (gzip layers) in the registry, and as a layout on disk."""
    repo = f"faults-{uuid.uuid4().hex[:8]}"
    files = oci_layout_files([(sample_spec(), "latest", None)], "gzip")
    push_oci(http_registry, repo, "v1", files)
    layout = write_files(tmp_path_factory.mktemp("layout"), files)
    manifest = json.loads(files["blobs/sha256/" + json.loads(files["index.json"])["manifests"][0]["digest"][7:]])
    return repo, layout, manifest


@pytest.fixture(scope="module")
def expected(image, tmp_path_factory):
    _repo, layout, _manifest = image
    return figures(report(str(layout), tmp_path_factory.mktemp("home"), "--no-cache"))


@pytest.fixture
def proxy(http_registry):
    server = FaultProxy(http_registry)
    yield server
    server.close()


def biggest_layer(manifest: dict) -> dict:
    return max(manifest["layers"], key=lambda layer: layer["size"])


def cached_layers(home: Path) -> list[str]:
    return [name for _root, _dirs, files in os.walk(home / ".cache") for name in files if "layers" in _root]


def with_config(home: Path, config: dict) -> dict:
    (home / "docker").mkdir(parents=True, exist_ok=True)
    (home / "docker" / "config.json").write_text(json.dumps(config))
    return cli_env(home, DOCKER_CONFIG=str(home / "docker"))


def basic(user: str, password: str) -> str:
    return base64.b64encode(f"{user}:{password}".encode()).decode()


# -- token authentication --------------------------------------------------------------------


@pytest.fixture
def token_proxy(http_registry):
    tokens = TokenService({"alice": "pw-" + uuid.uuid4().hex})
    server = FaultProxy(http_registry, tokens=tokens)
    yield server, tokens
    server.close()
    tokens.close()


def test_bearer_tokens_from_the_registrys_token_service(token_proxy, image, expected, tmp_path):
    proxy, tokens = token_proxy
    repo, _layout, _manifest = image
    password = tokens.users["alice"]
    env = with_config(tmp_path, {"auths": {proxy.netloc: {"auth": basic("alice", password)}}})
    proc = run_cli(["report", "--json", proxy.ref(f"{repo}:v1")], tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    assert figures(json.loads(proc.stdout)) == expected
    (asked,) = tokens.requests
    assert asked.authorization == "Basic " + basic("alice", password)
    assert asked.query == {"service": ["slimview-test"], "scope": [f"repository:{repo}:pull"], "account": ["alice"]}
    (token,) = tokens.tokens
    pulled = proxy.requests_to(f"/v2/{repo}/")
    assert pulled and all(seen.headers.get("Authorization") == f"Bearer {token}" for seen in pulled)
    for secret in (password, token, basic("alice", password)):
        assert secret not in proc.stdout + proc.stderr


def test_a_refused_token_is_renewed_once(token_proxy, image, expected, tmp_path):
    proxy, tokens = token_proxy
    repo, _layout, manifest = image
    env = with_config(tmp_path, {"auths": {proxy.netloc: {"auth": basic("alice", tokens.users["alice"])}}})
    challenge = f'Bearer realm="{tokens.url}/token",service="slimview-test",scope="repository:{repo}:pull"'
    proxy.on("GET", BLOBS + biggest_layer(manifest)["digest"][7:], status(401, {"WWW-Authenticate": challenge}), times=1)
    assert figures(report(proxy.ref(f"{repo}:v1"), tmp_path, env=env)) == expected
    assert len(tokens.requests) == 2


def test_token_service_refusals_are_one_line(token_proxy, image, tmp_path):
    proxy, tokens = token_proxy
    repo, _layout, _manifest = image
    ref = proxy.ref(f"{repo}:v1")
    config = tmp_path / "docker" / "config.json"
    where = f"registry {proxy.netloc} (token service {tokens.netloc})"
    missing = error_line(run_cli(["report", ref], tmp_path, env=cli_env(tmp_path, DOCKER_CONFIG=str(tmp_path / "docker"))))
    assert missing == (
        f"{where} requires credentials for {repo} and none were found for {proxy.netloc} in {config} (run `docker login {proxy.netloc}`)"
    )
    wrong = with_config(tmp_path, {"auths": {proxy.netloc: {"auth": basic("alice", "wrong-password-7")}}})
    proc = run_cli(["report", ref], tmp_path, env=wrong)
    assert error_line(proc) == f"{where} rejected the credentials from the `auths` entry of {config} for {repo}"
    assert "wrong-password-7" not in proc.stderr


def test_anonymous_tokens_need_no_credentials(http_registry, image, expected, tmp_path):
    tokens = TokenService({}, anonymous=True)
    proxy = FaultProxy(http_registry, tokens=tokens)
    try:
        repo, _layout, _manifest = image
        assert figures(report(proxy.ref(f"{repo}:v1"), tmp_path)) == expected
        assert [r.authorization for r in tokens.requests] == [None]
    finally:
        proxy.close()
        tokens.close()


def test_a_secret_the_registry_echoes_back_is_not_shown(token_proxy, image, tmp_path):
    proxy, tokens = token_proxy
    repo, _layout, _manifest = image
    env = with_config(tmp_path, {"auths": {proxy.netloc: {"auth": basic("alice", tokens.users["alice"])}}})

    def echo(h):
        said = f"you sent {h.headers.get('Authorization')} and {tokens.users['alice']}"
        h.send(400, json.dumps({"errors": [{"code": "DENIED", "message": said}]}).encode(), {"Content-Type": "application/json"})

    proxy.on("GET", MANIFESTS, echo)
    proc = run_cli(["report", proxy.ref(f"{repo}:v1")], tmp_path, env=env)
    message = error_line(proc)
    assert message == f"{proxy.netloc}/{repo}:v1: registry {proxy.netloc} answered 400 for the manifest: DENIED you sent Bearer *** and ***"


# -- redirects -------------------------------------------------------------------------------


@pytest.mark.parametrize("host", ["127.0.0.2", "localhost"])
def test_authorization_never_follows_a_redirect_to_another_host(http_registry, token_proxy, image, expected, tmp_path, host):
    proxy, tokens = token_proxy
    repo, _layout, _manifest = image
    storage = FaultProxy(http_registry, host="127.0.0.2" if host != "localhost" else "127.0.0.1")
    try:
        port = storage.server_address[1]
        proxy.on("GET", BLOBS, redirect(lambda path: f"http://{host}:{port}{path}"))
        env = with_config(tmp_path, {"auths": {proxy.netloc: {"auth": basic("alice", tokens.users["alice"])}}})
        assert figures(report(proxy.ref(f"{repo}:v1"), tmp_path, env=env)) == expected
        blobs = storage.requests_to(BLOBS)
        assert len(blobs) == len(image[2]["layers"]) + 1
        assert all("Authorization" not in seen.headers for seen in blobs)
        assert all(seen.headers.get("Authorization", "").startswith("Bearer ") for seen in proxy.requests_to(BLOBS))
    finally:
        storage.close()


# -- wrong bytes -------------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["gzip header", "deflate data"])
def test_a_blob_with_the_wrong_digest_is_refused_and_nothing_is_cached(proxy, http_registry, image, tmp_path, where):
    repo, _layout, manifest = image
    layer = biggest_layer(manifest)
    at = 5 if where == "gzip header" else layer["size"] // 2  # the header's mtime: the data still decompresses

    def flip(body: bytes) -> bytes:
        return body[:at] + bytes([body[at] ^ 0xFF]) + body[at + 1 :]

    proxy.on("GET", BLOBS + layer["digest"][7:], rewrite_body(flip))
    message = error_line(run_cli(["report", proxy.ref(f"{repo}:v1")], tmp_path))
    assert message.startswith(f"{proxy.netloc}/{repo}:v1: blob {layer['digest']} does not match its digest (the {layer['size']:,} bytes received hash to sha256:")
    assert message.endswith("); refusing it")
    assert cached_layers(tmp_path) == []
    before = http_registry.blob_gets(repo)
    report(http_registry.ref(f"{repo}:v1"), tmp_path)
    assert http_registry.blob_gets(repo) - before == len(manifest["layers"]) + 1  # the failed run left nothing behind


def test_a_manifest_that_does_not_match_its_digest_is_refused(proxy, image, tmp_path):
    repo, _layout, _manifest = image
    proxy.on("GET", MANIFESTS, rewrite_body(lambda body: body + b" "))
    message = error_line(run_cli(["report", proxy.ref(f"{repo}:v1")], tmp_path))
    assert message.startswith(f"{proxy.netloc}/{repo}:v1: the manifest does not match the digest the registry gives for it (sha256:")


def test_a_manifest_asked_for_by_digest_must_hash_to_it(proxy, http_registry, image, tmp_path):
    repo, _layout, _manifest = image
    with http_registry.session() as s:
        digest = s.head(f"{http_registry.url}/v2/{repo}/manifests/v1", headers={"Accept": "application/vnd.oci.image.manifest.v1+json"}).headers["Docker-Content-Digest"]
    proxy.on("GET", MANIFESTS, rewrite_body(lambda body: body.replace(b'"schemaVersion":', b'"schemaVersion" :'), {"Docker-Content-Digest": ""}))
    message = error_line(run_cli(["report", proxy.ref(f"{repo}@{digest}")], tmp_path))
    assert message.startswith(f"{proxy.netloc}/{repo}@{digest}: the manifest the registry sent for {digest} hashes to sha256:")


def test_a_blob_shorter_than_its_manifest_says_is_refused(proxy, image, tmp_path):
    repo, _layout, manifest = image
    layer = biggest_layer(manifest)
    proxy.on("GET", BLOBS + layer["digest"][7:], rewrite_body(lambda body: body[:-10]))
    message = error_line(run_cli(["report", proxy.ref(f"{repo}:v1")], tmp_path))
    assert message == (
        f"{proxy.netloc}/{repo}:v1: the registry sends {layer['size'] - 10:,} bytes for blob {layer['digest']}, "
        f"which the manifest gives as {layer['size']:,} bytes"
    )


def test_a_cut_blob_resumes_with_a_range_request(proxy, image, expected, tmp_path):
    repo, _layout, manifest = image
    layer = biggest_layer(manifest)
    proxy.on("GET", BLOBS + layer["digest"][7:], cut_after(50_000), times=1)
    assert figures(report(proxy.ref(f"{repo}:v1"), tmp_path)) == expected
    fetches = proxy.requests_to(BLOBS + layer["digest"][7:])
    assert [seen.headers.get("Range") for seen in fetches] == [None, "bytes=50000-"]


def test_a_blob_cut_again_and_again_is_one_line(proxy, image, tmp_path):
    repo, _layout, manifest = image
    layer = biggest_layer(manifest)
    proxy.on("GET", BLOBS + layer["digest"][7:], cut_after(50_000), times=1)
    proxy.on("GET", BLOBS + layer["digest"][7:], cut_after(0))
    message = error_line(run_cli(["report", proxy.ref(f"{repo}:v1")], tmp_path))
    assert message.startswith(f"{proxy.netloc}/{repo}:v1: blob {layer['digest']} was cut off after 50,000 of {layer['size']:,} bytes (")
    assert message.endswith("); 4 attempts to resume failed")
    assert cached_layers(tmp_path) == []


@pytest.mark.parametrize("with_length", [True, False])
def test_a_100_mb_manifest_is_refused_without_reading_it(proxy, image, tmp_path, with_length):
    repo, _layout, _manifest = image
    proxy.on("GET", MANIFESTS, endless(100 << 20, "application/vnd.oci.image.manifest.v1+json", with_length))
    started = time.monotonic()
    message = error_line(run_cli(["report", proxy.ref(f"{repo}:v1")], tmp_path))
    assert time.monotonic() - started < 20
    size = " is 104,857,600 bytes," if with_length else " is"
    assert message == f"{proxy.netloc}/{repo}:v1: the manifest{size} over the 4 MiB limit"


@pytest.mark.parametrize(
    ("answer", "said"),
    [
        (rewrite_body(lambda body: body, {"Content-Type": "text/html"}), "the registry answered with text/html, not an image manifest"),
        (status(200, {"Content-Type": "application/vnd.oci.image.manifest.v1+json"}, b"{not json"), "manifest is not valid JSON (JSONDecodeError)"),
        (status(200, {"Content-Type": "application/vnd.docker.distribution.manifest.v1+prettyjws"}, b'{"schemaVersion": 1}'),
         "a Docker schema 1 manifest (deprecated since 2017), which slimview does not read; push the image again"),
        (status(200, {"Content-Type": "application/vnd.oci.image.manifest.v1+json"}, b'{"schemaVersion": 2, "config": 1, "layers": []}'),
         "the image manifest lacks config or layers"),
    ],
    ids=["html", "not-json", "schema1", "no-config"],
)
def test_a_manifest_that_is_not_one_is_one_line(proxy, image, tmp_path, answer, said):
    repo, _layout, _manifest = image
    proxy.on("GET", MANIFESTS, answer)
    assert error_line(run_cli(["report", proxy.ref(f"{repo}:v1")], tmp_path)) == f"{proxy.netloc}/{repo}:v1: {said}"


# -- retries ---------------------------------------------------------------------------------


def test_429_waits_as_long_as_retry_after_says(proxy, image, expected, tmp_path):
    repo, _layout, _manifest = image
    proxy.on("GET", MANIFESTS, status(429, {"Retry-After": "2"}), times=1)
    assert figures(report(proxy.ref(f"{repo}:v1"), tmp_path)) == expected
    first, second = proxy.requests_to(MANIFESTS)[:2]
    assert second.at - first.at >= 2.0


def test_5xx_is_retried_until_the_registry_recovers(proxy, image, expected, tmp_path):
    repo, _layout, manifest = image
    layer = biggest_layer(manifest)
    proxy.on("GET", BLOBS + layer["digest"][7:], status(503), times=2)
    assert figures(report(proxy.ref(f"{repo}:v1"), tmp_path)) == expected
    assert len(proxy.requests_to(BLOBS + layer["digest"][7:])) == 3


def test_a_registry_that_keeps_refusing_is_one_line(proxy, image, tmp_path):
    repo, _layout, _manifest = image
    proxy.on("GET", MANIFESTS, status(429, {"Retry-After": "0"}))
    message = error_line(run_cli(["report", proxy.ref(f"{repo}:v1")], tmp_path))
    assert message == f"{proxy.netloc}/{repo}:v1: registry {proxy.netloc} answered 429 for the manifest"


# -- no registry there -----------------------------------------------------------------------


def test_no_registry_at_that_address_is_one_line(proxy, image, tmp_path):
    port = free_port()
    message = error_line(run_cli(["report", f"registry://127.0.0.1:{port}/x:1"], tmp_path))
    assert message == f"cannot connect to 127.0.0.1:{port} (connection refused)"
    proxy.on("GET", r"^/v2/$", status(404))
    message = error_line(run_cli(["report", proxy.ref("x:1")], tmp_path))
    assert message == f"{proxy.netloc} does not answer like a registry (GET /v2/ answered 404)"
