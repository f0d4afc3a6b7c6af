"""Secrets in any layer, including deleted ones; never the value, at most a fingerprint.

Fake secrets are assembled at run time so that secret scanners do not flag this file.
"""

import base64
import hashlib
import json

import pytest

from slimview.findings.secrets import fingerprint, scan

from findings_util import base, findings_of, noise, of_kind, run, step

KEY_WORDS = "PRIVATE" + " KEY"
AWS_ID = "AKIA" + "ZX3Q7TR2M5N8P4W6"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/" + "bPxRfiCYzq8a3Lk9Vb2N"
GITHUB = "ghp_" + "R7v2Qk9LmZ4xW8pT1nB6cY3dF5gH0jK2sA9e"
SLACK = "xoxb-" + "2417391827-3918273645-Zk4mQ8pW2rT6yU1iO9aS"
STRIPE = "sk_live_" + "51Hq8ZtK2mL9vB4xN7cR3wY6"
DB_PASSWORD = "s3cr3t-" + "Pa55w0rd-9137"


def pem(label: str, seed: str) -> tuple[bytes, bytes]:
    """A PEM private key block with a random body; returns (block, body)."""
    body = base64.encodebytes(noise(seed, 600))
    return f"-----BEGIN {label}{KEY_WORDS}-----\n".encode() + body + f"-----END {label}{KEY_WORDS}-----\n".encode(), body


def test_fingerprint_shows_four_characters_of_long_values_only():
    digest = hashlib.sha256(STRIPE.encode()).hexdigest()[:10]
    assert fingerprint(STRIPE.encode()) == "sk_l…" + digest
    assert fingerprint(b"short-secret") == "…" + hashlib.sha256(b"short-secret").hexdigest()[:10]


@pytest.mark.parametrize(
    "path, body, kinds",
    [
        ("app/config.yaml", f"aws:\n  key_id: {AWS_ID}\n".encode(), ["aws-access-key-id"]),
        ("app/settings.json", json.dumps({"github": GITHUB}).encode(), ["github-token"]),
        ("app/notify.sh", f"curl -H 'Authorization: Bearer {SLACK}' https://slack.invalid\n".encode(), ["slack-token"]),
        ("app/.env", f"STRIPE_KEY={STRIPE}\nDEBUG=1\n".encode(), ["stripe-key"]),
        ("app/settings.py", f'DATABASE_PASSWORD = "{DB_PASSWORD}"\n'.encode(), ["credential-assignment"]),
        ("root/.aws/credentials", f"[default]\naws_access_key_id = {AWS_ID}\naws_secret_access_key = {AWS_SECRET}\n".encode(),
         ["aws-access-key-id", "aws-credentials"]),
        ("root/.docker/config.json", json.dumps({"auths": {"registry.example": {"auth": base64.b64encode(b"me:" + DB_PASSWORD.encode()).decode()}}}).encode(),
         ["docker-registry-auth"]),
        ("app/sa.json", json.dumps({"type": "service_account", "client_email": "ci@p.iam.example", "private_key": "-----BEGIN " + KEY_WORDS + "-----\\nMIIE\\n"}).encode(),
         ["gcloud-service-account-key"]),
        ("root/.git-credentials", f"https://me:{GITHUB}@github.com\n".encode(), ["git-credentials"]),  # one value, one match: the file says more than the token format
        ("root/.kube/config", f"users:\n- name: ci\n  user:\n    token: {AWS_SECRET}\n".encode(), ["kubeconfig"]),
    ],
)
def test_secret_kinds(path, body, kinds):
    assert sorted({m.kind for m in scan(path, body)}) == kinds


@pytest.mark.parametrize(
    "path, body",
    [
        ("app/settings.py", b'API_KEY = os.environ["API_KEY"]\nTOKEN = settings.TOKEN\nSECRET_KEY = get_secret()\n'),
        ("app/.env", b"API_TOKEN=changeme\nPASSWORD=\nSECRET=${SECRET}\nTOKEN=xxxxxxxxxxxx\nAPI_KEY=<your-key-here>\n"),
        ("app/config.yaml", b"password: your_password_here\ntoken: 00000000000\n"),
        ("app/aws.md.json", b'{"example": "AKIAIOSFODNN7EXAMPLE"}'),
        ("usr/bin/ssh-keygen", b"\x7fELF\x00\x00-----BEGIN OPENSSH " + KEY_WORDS.encode() + b"-----\n\x00-----END OPENSSH "),
        ("app/cert.pem", b"-----BEGIN CERTIFICATE-----\nMIIB" + b"A" * 80 + b"\n-----END CERTIFICATE-----\n"),
    ],
)
def test_placeholders_references_and_public_material_are_not_secrets(path, body):
    assert scan(path, body) == []


def test_keys_libraries_ship_for_their_own_tests_are_not_the_images_secrets():
    block, _body = pem("RSA ", "lib test key")
    assert scan("usr/local/lib/python3.11/site-packages/tornado/test/test.key", block) == []
    assert [m.kind for m in scan("app/tests/fixtures/server.key", block)] == ["rsa-private-key"]


def test_secrets_in_deleted_layers_are_reported_with_where_they_still_ship(tmp_path):
    key, _body = pem("OPENSSH ", "deploy key")
    copy = step("COPY . /app")
    copy.file("app/main.py", b"print('hi')\n")
    copy.file("app/.env", f"API_TOKEN={STRIPE}\nDB_PASSWORD={DB_PASSWORD}\n".encode(), mode=0o600)
    clone = run("GIT_SSH_COMMAND='ssh -i /root/.ssh/id_ed25519' git clone git@example.invalid:repo /src")
    clone.file("root/.ssh/id_ed25519", key, mode=0o600)
    cleanup = run("rm -rf /root/.ssh")
    cleanup.whiteout("root/.ssh")
    secrets = of_kind(findings_of(tmp_path, [base(), copy, clone, cleanup]), "secret")

    assert [(f.layer, f.paths[0].path, f.details.to_json()["secret_kinds"], f.details.to_json()["visible"], f.details.to_json()["hidden_by"]) for f in secrets] == [
        (1, "app/.env", ["credential-assignment", "stripe-key"], True, None),
        (2, "root/.ssh/id_ed25519", ["openssh-private-key"], False, 3),
    ]
    env, ssh = secrets
    assert env.title == "Env file with credentials in /app/.env"
    assert [(m["kind"], m["name"], m["line"]) for m in env.details.to_json()["matches"]] == [
        ("stripe-key", "API_TOKEN", 1), ("credential-assignment", "DB_PASSWORD", 2)
    ]
    assert ssh.title == "Private key in /root/.ssh/id_ed25519 (deleted by layer 3, still shipped in layer 2)"
    assert (env.severity, ssh.severity, env.bytes, ssh.bytes) == ("high", "high", 0, 0)
    assert "RUN --mount=type=secret" in env.fix and "Rotate" in env.fix


def test_the_key_search_skips_compiled_and_compressed_bodies_by_their_first_bytes():
    import importlib.util
    import io
    import zlib

    from slimview.index.capture import not_a_key_file
    from slimview.index.layer import _read_entries
    from slimview.source.tarstream import TarReader

    from hostile import member, tar

    key, _body = pem("OPENSSH ", "a key pasted into a script")
    bytecode = importlib.util.MAGIC_NUMBER + b"\0\0\0\0" + bytes(8) + key  # a key as a code constant
    for head, skipped in (
        (bytecode[:8], True),
        (b"\x7fELF\x02\x01\x01\x00", True),
        (b"\x1f\x8b\x08\x00\x00\x00\x00\x00", True),
        (b"\xde\x12\x04\x95\x00\x00\x00\x00", True),
        (key[:8], False),
        (b"ab\r\n\x00\x00\x00\x00", False),  # "\r\n" at 2 is not enough: the magic's high byte is 0x0d/0x0e
        (b"#!/bin/sh\n"[:8], False),
    ):
        assert not_a_key_file(head) is skipped, head
    layer = tar(
        member("app/deploy.txt", b"notes\n" + key),
        member("app/__pycache__/deploy.cpython-311.pyc", bytecode),
        member("app/deploy.txt.z", zlib.compress(key)),
    )
    files = _read_entries(TarReader(io.BytesIO(layer)), "layer", 1000)
    assert [files.paths[i] for i in files.secrets] == ["app/deploy.txt"]
