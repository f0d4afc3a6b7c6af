"""The registry source's pure parts: references, credentials lookup, challenges, the
plain-HTTP rule, manifest media types and platform choice. No network (a request to a
non-loopback host is refused before any connection)."""

from __future__ import annotations

import base64
import hashlib
import json
import stat
from pathlib import Path

import pytest

from slimview.errors import InputError, RegistryError
from slimview.source import split_reference
from slimview.source.compression import media_type_compression
from slimview.source.registry.credentials import Credentials, load_credentials
from slimview.source.registry.image import _choose_platform, _media_type, shown
from slimview.source.registry.reference import RegistryReference, parse_reference
from slimview.source.registry.transport import RegistryTransport, parse_challenge

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("text", "host", "repository", "tag", "digest"),
    [
        ("registry://127.0.0.1:5000/app:1.0", "127.0.0.1:5000", "app", "1.0", None),
        ("registry://localhost:5000/team/app", "localhost:5000", "team/app", "latest", None),
        ("registry://Registry.Example.com/a/b/c:v_2-x.y", "registry.example.com", "a/b/c", "v_2-x.y", None),
        (f"registry://127.0.0.1:5000/app@{DIGEST}", "127.0.0.1:5000", "app", None, DIGEST),
        (f"registry://127.0.0.1:5000/app:1@{DIGEST}", "127.0.0.1:5000", "app", "1", DIGEST),
        ("registry://[::1]:5000/app:2", "[::1]:5000", "app", "2", None),
        ("registry://docker.io/python:3.11", "docker.io", "library/python", "3.11", None),
        ("registry://index.docker.io/team/app", "docker.io", "team/app", "latest", None),
        ("docker://busybox", "docker.io", "library/busybox", "latest", None),
        ("docker://busybox:1.36", "docker.io", "library/busybox", "1.36", None),
        ("docker://team/app:1", "docker.io", "team/app", "1", None),
        ("docker://localhost/app", "localhost", "app", "latest", None),
        ("docker://quay.io/org/app:v1", "quay.io", "org/app", "v1", None),
        ("docker://127.0.0.1:5000/my.app__x-y:t", "127.0.0.1:5000", "my.app__x-y", "t", None),
    ],
)
def test_references_parse_as_docker_does(text, host, repository, tag, digest):
    ref = parse_reference(text)
    assert (ref.host, ref.repository, ref.tag, ref.digest) == (host, repository, tag, digest)


def test_reference_properties():
    hub = parse_reference("docker://python")
    assert (hub.api_host, str(hub), hub.manifest_ref) == ("registry-1.docker.io", "docker.io/library/python:latest", "latest")
    local = parse_reference(f"registry://127.0.0.1:5000/app:1@{DIGEST}")
    assert (local.hostname, local.is_loopback, local.manifest_ref) == ("127.0.0.1", True, DIGEST)
    assert parse_reference("registry://[::1]:5000/app").hostname == "::1"
    assert parse_reference("registry://[::1]:5000/app").is_loopback
    assert not parse_reference("registry://registry.example.com/app").is_loopback
    assert parse_reference("registry://127.8.9.10/app").is_loopback


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("registry://127.0.0.1:5000", "registry://127.0.0.1:5000: no repository after the registry host (expected registry://HOST[:PORT]/REPO[:TAG])"),
        ("registry://127.0.0.1:5000/App", "registry://127.0.0.1:5000/App: malformed repository name 'App' (lower-case letters, digits and . _ - separators)"),
        ("registry://127.0.0.1:5000/app:", "registry://127.0.0.1:5000/app:: malformed tag ''"),
        ("registry://127.0.0.1:5000/app@sha256:12", "registry://127.0.0.1:5000/app@sha256:12: malformed digest 'sha256:12' (expected sha256:<64 hex digits>)"),
        ("registry://bad_host/app", "registry://bad_host/app: malformed registry host 'bad_host'"),
        ("registry://127.0.0.1:99999/app", "registry://127.0.0.1:99999/app: registry port 99999 is out of range"),
        ("registry://app", "registry://app: no repository after the registry host (expected registry://HOST[:PORT]/REPO[:TAG])"),
    ],
)
def test_malformed_references_are_one_clear_error(text, message):
    with pytest.raises(InputError) as caught:
        parse_reference(text)
    assert str(caught.value) == message


def test_credentials_in_a_reference_are_refused_without_echoing_them():
    with pytest.raises(InputError) as caught:
        parse_reference("registry://alice:s3cret@127.0.0.1:5000/app")
    assert "s3cret" not in str(caught.value)
    assert str(caught.value) == (
        "registry://…: credentials do not belong in an image reference; use `docker login` (config.json or a credential helper)"
    )


def test_split_reference_leaves_registry_references_alone(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "registry").write_text("a file named like the prefix")
    assert split_reference("registry://127.0.0.1:5000/app:1") == ("registry://127.0.0.1:5000/app:1", None, False)


# -- credentials --------------------------------------------------------------------------


def docker_config(tmp_path: Path, monkeypatch, config: dict | str) -> Path:
    directory = tmp_path / "docker"
    directory.mkdir(exist_ok=True)
    (directory / "config.json").write_text(config if isinstance(config, str) else json.dumps(config))
    monkeypatch.setenv("DOCKER_CONFIG", str(directory))
    return directory / "config.json"


def auth(user: str, password: str) -> str:
    return base64.b64encode(f"{user}:{password}".encode()).decode()


def test_auths_entries_match_by_host_with_or_without_scheme(tmp_path, monkeypatch):
    path = docker_config(tmp_path, monkeypatch, {"auths": {
        "https://127.0.0.1:5000": {"auth": auth("alice", "pw1")},
        "https://index.docker.io/v1/": {"auth": auth("bob", "pw2")},
        "ghcr.io": {"identitytoken": "refresh-me"},
    }})
    alice = load_credentials("127.0.0.1:5000")
    assert (alice.username, alice.secret, alice.origin, alice.identity_token) == ("alice", "pw1", f"the `auths` entry of {path}", False)
    assert load_credentials("docker.io").username == "bob"
    token = load_credentials("ghcr.io")
    assert (token.secret, token.identity_token) == ("refresh-me", True)
    assert load_credentials("127.0.0.1:5001") is None
    assert "pw1" not in repr(alice) and "alice" not in repr(alice)


def test_no_config_means_no_credentials(tmp_path, monkeypatch):
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "nowhere"))
    assert load_credentials("127.0.0.1:5000") is None


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ("{not json", "not valid JSON"),
        ("[]", "not a JSON object"),
        ({"auths": {"h": "x"}}, "`auths` is not an object of objects"),
        ({"auths": {"127.0.0.1:5000": {"auth": "%%%"}}}, "an `auths` entry is malformed (expected base64 of user:password)"),
        ({"auths": {"127.0.0.1:5000": {"auth": base64.b64encode(b"no-colon").decode()}}}, "an `auths` entry is malformed (expected base64 of user:password)"),
        ({"credHelpers": {"127.0.0.1:5000": 3}}, "`credHelpers` is not an object of strings"),
        ({"credsStore": ["x"]}, "`credsStore` is not a string"),
    ],
)
def test_a_malformed_docker_config_is_one_line(tmp_path, monkeypatch, config, message):
    path = docker_config(tmp_path, monkeypatch, config)
    with pytest.raises(RegistryError) as caught:
        load_credentials("127.0.0.1:5000")
    assert str(caught.value) == f"{path}: {message}"


def helper(tmp_path: Path, monkeypatch, name: str, body: str) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    script = bin_dir / f"docker-credential-{name}"
    script.write_text("#!/bin/sh\n" + body)
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")


def test_cred_helpers_win_over_creds_store_and_auths(tmp_path, monkeypatch):
    docker_config(tmp_path, monkeypatch, {
        "auths": {"127.0.0.1:5000": {"auth": auth("file", "pw")}},
        "credsStore": "store",
        "credHelpers": {"127.0.0.1:5000": "special"},
    })
    helper(tmp_path, monkeypatch, "special", 'read server; echo "{\\"Username\\":\\"u-$server\\",\\"Secret\\":\\"s\\"}"\n')
    helper(tmp_path, monkeypatch, "store", "echo 'credentials not found in native keychain'; exit 1\n")
    found = load_credentials("127.0.0.1:5000")
    assert (found.username, found.origin) == ("u-127.0.0.1:5000", "credential helper docker-credential-special")
    # Another registry: the store has nothing, so the auths entry (none here) decides.
    assert load_credentials("127.0.0.1:5001") is None


def test_a_helper_token_username_means_an_identity_token(tmp_path, monkeypatch):
    docker_config(tmp_path, monkeypatch, {"credsStore": "store"})
    helper(tmp_path, monkeypatch, "store", 'echo \'{"Username":"<token>","Secret":"refresh"}\'\n')
    found = load_credentials("docker.io")
    assert (found.username, found.secret, found.identity_token) == ("", "refresh", True)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("echo 'secret-in-output' >&2; exit 3\n", "credential helper docker-credential-store failed for 127.0.0.1:5000 (exit status 3)"),
        ("echo 'not json secret-in-output'\n", "credential helper docker-credential-store answered for 127.0.0.1:5000 with something other than its JSON (Username, Secret)"),
    ],
)
def test_helper_failures_are_one_line_without_the_helpers_output(tmp_path, monkeypatch, body, message):
    docker_config(tmp_path, monkeypatch, {"credsStore": "store"})
    helper(tmp_path, monkeypatch, "store", body)
    with pytest.raises(RegistryError) as caught:
        load_credentials("127.0.0.1:5000")
    assert str(caught.value) == message


def test_basic_header_and_secrets():
    creds = Credentials("alice", "pw", "somewhere")
    assert creds.basic() == "Basic " + auth("alice", "pw")
    assert creds.secrets() == ["pw", auth("alice", "pw")]


# -- challenges and the transport's rules -------------------------------------------------


def test_challenges_parse_with_quoted_commas():
    scheme, params = parse_challenge('Bearer realm="https://auth.example/token",service="reg,istry",scope="repository:a/b:pull,push"')
    assert scheme == "bearer"
    assert params == {"realm": "https://auth.example/token", "service": "reg,istry", "scope": "repository:a/b:pull,push"}
    assert parse_challenge('Basic realm="Registry Realm"') == ("basic", {"realm": "Registry Realm"})
    assert parse_challenge("") == ("", {})


@pytest.mark.parametrize(
    ("url", "insecure", "allowed"),
    [
        ("http://127.0.0.1:5000/v2/", False, True),
        ("http://localhost/v2/", False, True),
        ("http://[::1]:5000/v2/", False, True),
        ("http://registry.example.com/v2/", False, False),
        ("http://registry.example.com/v2/", True, True),  # --insecure covers the registry's own host
        ("http://cdn.example.com/blob", True, False),  # but not where it redirects
        ("ftp://registry.example.com/x", True, False),
    ],
)
def test_plain_http_only_to_loopback_or_the_insecure_registry(url, insecure, allowed):
    transport = RegistryTransport(RegistryReference("registry.example.com", "app", "1", None), insecure=insecure)
    try:
        if allowed:
            transport._check_url(url)
        else:
            with pytest.raises(RegistryError):
                transport._check_url(url)
    finally:
        transport.close()


def test_scrub_hides_every_secret_and_keeps_one_line():
    transport = RegistryTransport(RegistryReference("h", "app", "1", None))
    transport._secrets.extend(["tok-123", "pw"])
    assert transport.scrub("a tok-123\nb  pw c") == "a *** b *** c"
    assert transport.scrub("x" * 300) == "x" * 200 + "…"
    transport.close()


# -- manifests --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "doc", "expected"),
    [
        ("application/vnd.oci.image.index.v1+json", {}, "application/vnd.oci.image.index.v1+json"),
        ("application/json", {"mediaType": "application/vnd.docker.distribution.manifest.v2+json"}, "application/vnd.docker.distribution.manifest.v2+json"),
        ("", {"manifests": []}, "application/vnd.oci.image.index.v1+json"),
        ("application/octet-stream", {"layers": [], "config": {}}, "application/vnd.oci.image.manifest.v1+json"),
    ],
)
def test_manifest_media_types(content_type, doc, expected):
    assert _media_type(content_type, doc, "x") == expected


def test_a_manifest_whose_type_contradicts_its_content_type_is_refused():
    with pytest.raises(RegistryError) as caught:
        _media_type("application/vnd.oci.image.manifest.v1+json", {"mediaType": "application/vnd.oci.image.index.v1+json"}, "x")
    assert str(caught.value) == (
        "x: the registry sent the manifest as application/vnd.oci.image.manifest.v1+json "
        "but it says it is application/vnd.oci.image.index.v1+json"
    )


def entry(arch: str, variant: str = "", **extra) -> dict:
    platform = {"os": "linux", "architecture": arch, **({"variant": variant} if variant else {})}
    digest = "sha256:" + hashlib.sha256(f"{arch}/{variant}".encode()).hexdigest()
    return {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest, "size": 10, "platform": platform, **extra}


def test_platform_choice_skips_attestations_and_prefers_the_exact_variant():
    attestation = {**entry("amd64"), "platform": {"os": "unknown", "architecture": "unknown"}}
    index = {"manifests": [attestation, entry("arm", "v6"), entry("arm", "v7"), entry("amd64")]}
    assert _choose_platform(index, "linux/arm/v7", "x")["platform"]["variant"] == "v7"
    assert _choose_platform(index, "linux/amd64", "x")["platform"]["architecture"] == "amd64"
    with pytest.raises(RegistryError) as caught:
        _choose_platform(index, "linux/riscv64", "x")
    assert str(caught.value) == "x has no image for platform linux/riscv64 (it has: linux/amd64, linux/arm/v6, linux/arm/v7); use --platform"


def test_layer_compression_from_media_types():
    assert media_type_compression("application/vnd.oci.image.layer.v1.tar+zstd") == "zstd"
    assert media_type_compression("application/vnd.docker.image.rootfs.diff.tar.gzip") == "gzip"
    assert media_type_compression("application/vnd.docker.image.rootfs.foreign.diff.tar.gzip") == "gzip"
    assert media_type_compression("application/vnd.oci.image.layer.v1.tar") == "none"
    assert media_type_compression("") == "none"


def test_what_a_registry_says_is_shown_printable_and_short():
    assert shown("http://blobs.example/\x1b[2Jlayer") == "http://blobs.example/\\x1b[2Jlayer"
    assert shown("é") == "é"  # printable, only shortened
    assert shown("a" * 150) == "a" * 100 + "…"
