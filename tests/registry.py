"""Helpers for tests against real registries on loopback (see .ci/registry.sh).

- ``start_registry``: Debian's ``docker-registry`` (CNCF distribution 2.8) on a free
  127.0.0.1 port with its own storage, optionally with TLS (a CA made here with
  ``cryptography``) and htpasswd basic auth; its access log counts blob fetches.
- ``push_oci`` / ``skopeo_copy``: images into it, over the registry API or with skopeo.
- ``FaultProxy``: an HTTP server of our own in front of a registry that can require
  Bearer tokens (from ``TokenService``), misbehave on chosen requests (wrong bytes,
  cut bodies, huge manifests, redirects, 429 and 5xx) and records what it was sent.

Everything listens on loopback only.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import http.client
import ipaddress
import json
import os
import re
import shutil
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from hostile import run_cli

REGISTRY = "docker-registry"
SKOPEO = "skopeo"
HTPASSWD = "htpasswd"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def require_tools(*tools: str) -> None:
    """Skip (fail under SLIMVIEW_REQUIRE_ENGINE=1, as CI sets) when a tool is missing."""
    missing = [t for t in tools if shutil.which(t) is None]
    if not missing:
        return
    message = f"needs {', '.join(missing)} (Debian's docker-registry, skopeo, apache2-utils: bash .ci/registry.sh install)"
    if os.environ.get("SLIMVIEW_REQUIRE_ENGINE") == "1":
        pytest.fail(f"{message} (SLIMVIEW_REQUIRE_ENGINE=1)", pytrace=False)
    pytest.skip(message)


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


# -- reports ----------------------------------------------------------------------------

SOURCE_FIELDS = ("reference", "name", "source", "repo_tags")  # what names where the image came from
STORAGE_FIELDS = ("digest", "media_type", "stored_bytes", "compression")  # how a layer is stored there


def figures(doc: dict) -> dict:
    """A JSON report without the fields that name the source or how it stores layers."""
    doc = json.loads(json.dumps(doc))
    for key in SOURCE_FIELDS:
        doc["image"].pop(key)
    for layer in doc["layers"]:
        for key in STORAGE_FIELDS:
            layer.pop(key)
    return doc


def report(image: str, home: Path, *args: str, env: dict | None = None, timeout: float = 600) -> dict:
    home.mkdir(parents=True, exist_ok=True)
    proc = run_cli(["report", "--json", *args, image], home, env=env, timeout=timeout)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    return json.loads(proc.stdout)


def write_files(root: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return root


# -- TLS material ---------------------------------------------------------------------


@dataclass
class Pki:
    ca: Path  # the CA certificate (PEM), what a client must trust
    cert: Path  # the server certificate for 127.0.0.1 and localhost
    key: Path


def make_pki(directory: Path) -> Pki:
    """A CA and a server certificate it signed, for 127.0.0.1 / localhost."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "slimview test CA")])
    ca = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                                     key_encipherment=False, data_encipherment=False, key_agreement=False,
                                     encipher_only=False, decipher_only=False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pki = Pki(directory / "ca.crt", directory / "server.crt", directory / "server.key")
    pki.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    pki.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pki.key.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return pki


# -- the registry ---------------------------------------------------------------------


@dataclass
class Registry:
    process: subprocess.Popen
    host: str  # 127.0.0.1:PORT
    log: Path
    storage: Path
    scheme: str = "http"
    pki: Pki | None = None
    users: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}"

    def ref(self, name: str) -> str:
        return f"registry://{self.host}/{name}"

    def blob_gets(self, repo: str) -> int:
        """How many blob GETs (layers and configs) for ``repo`` the access log shows so far."""
        text = self.log.read_text(errors="replace")
        return len(re.findall(rf'"GET /v2/{re.escape(repo)}/blobs/sha256:[0-9a-f]{{64}} HTTP', text))

    def session(self) -> requests.Session:
        s = requests.Session()
        s.trust_env = False
        if self.pki:
            s.verify = str(self.pki.ca)
        if self.users:
            s.auth = next(iter(self.users.items()))
        return s

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_registry(workdir: Path, storage: Path, *, pki: Pki | None = None, users: dict[str, str] | None = None) -> Registry:
    """A distribution registry on a free loopback port, answering before this returns."""
    require_tools(REGISTRY)
    workdir.mkdir(parents=True, exist_ok=True)
    storage.mkdir(parents=True, exist_ok=True)
    config: dict = {
        "version": 0.1,
        "log": {"level": "info", "accesslog": {"disabled": False}},
        "storage": {"filesystem": {"rootdirectory": str(storage)}, "delete": {"enabled": True}},
        "http": {"addr": ""},
        # Foreign layers may point at loopback only (their blobs live outside the registry).
        "validation": {"manifests": {"urls": {"allow": [r"^https?://127\.0\.0\.[0-9]+[:/]"]}}},
    }
    if pki:
        config["http"]["tls"] = {"certificate": str(pki.cert), "key": str(pki.key)}
    if users:
        require_tools(HTPASSWD)
        lines = [subprocess.run([HTPASSWD, "-Bbn", u, p], capture_output=True, text=True, check=True).stdout.strip() for u, p in users.items()]
        (workdir / "htpasswd").write_text("\n".join(lines) + "\n")
        config["auth"] = {"htpasswd": {"realm": "slimview-test", "path": str(workdir / "htpasswd")}}
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
    for _attempt in range(5):
        port = free_port()
        config["http"]["addr"] = f"127.0.0.1:{port}"
        (workdir / "config.yml").write_text(json.dumps(config))  # JSON is YAML
        log = workdir / f"registry-{port}.log"
        with open(log, "wb") as out:
            process = subprocess.Popen([REGISTRY, "serve", str(workdir / "config.yml")], stdout=out, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL, env=env)
        registry = Registry(process, f"127.0.0.1:{port}", log, storage, "https" if pki else "http", pki, dict(users or {}))
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and process.poll() is None:
            try:
                with registry.session() as s:
                    if s.get(registry.url + "/v2/", timeout=2).status_code in (200, 401):
                        return registry
            except requests.RequestException:
                time.sleep(0.1)
        registry.stop()
    raise RuntimeError(f"docker-registry did not start; see {workdir}")


# -- putting images in ------------------------------------------------------------------


def skopeo_copy(source: str, registry: Registry, name: str, *extra: str) -> None:
    require_tools(SKOPEO)
    args = [SKOPEO, "copy", "--quiet", *extra]
    if registry.pki:
        certs = registry.pki.ca.parent / "skopeo-certs"
        certs.mkdir(exist_ok=True)
        shutil.copy(registry.pki.ca, certs / "ca.crt")
        args += ["--dest-cert-dir", str(certs)]
    else:
        args += ["--dest-tls-verify=false"]
    if registry.users:
        user, password = next(iter(registry.users.items()))
        args += ["--dest-creds", f"{user}:{password}"]
    proc = subprocess.run([*args, source, f"docker://{registry.host}/{name}"], capture_output=True, text=True, timeout=600, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"skopeo copy failed: {proc.stderr[-2000:]}")


def push_blob(registry: Registry, repo: str, data: bytes) -> str:
    digest = sha(data)
    with registry.session() as s:
        start = s.post(f"{registry.url}/v2/{repo}/blobs/uploads/", timeout=30)
        assert start.status_code == 202, start.text
        location = start.headers["Location"]
        if location.startswith("/"):
            location = registry.url + location
        done = s.put(location + ("&" if "?" in location else "?") + f"digest={digest}", data=data,
                     headers={"Content-Type": "application/octet-stream"}, timeout=120)
        assert done.status_code == 201, done.text
    return digest


def push_manifest(registry: Registry, repo: str, ref: str, body: bytes, media_type: str) -> str:
    with registry.session() as s:
        put = s.put(f"{registry.url}/v2/{repo}/manifests/{ref}", data=body, headers={"Content-Type": media_type}, timeout=30)
        assert put.status_code == 201, put.text
    return sha(body)


def push_oci(registry: Registry, repo: str, tag: str, files: dict[str, bytes]) -> str:
    """Push the images of an OCI layout (``oci_layout_files``) under ``tag``: one image as
    its manifest, several as an OCI index. Returns the tag's manifest digest."""
    index = json.loads(files["index.json"])
    manifests = {d["digest"] for d in index["manifests"]}
    for name, data in files.items():
        if name.startswith("blobs/sha256/") and "sha256:" + name.rsplit("/", 1)[1] not in manifests:
            push_blob(registry, repo, data)
    for desc in index["manifests"]:
        body = files["blobs/sha256/" + desc["digest"][7:]]
        push_manifest(registry, repo, desc["digest"], body, desc["mediaType"])
    if len(index["manifests"]) == 1:
        desc = index["manifests"][0]
        return push_manifest(registry, repo, tag, files["blobs/sha256/" + desc["digest"][7:]], desc["mediaType"])
    entries = [{k: v for k, v in d.items() if k != "annotations"} for d in index["manifests"]]
    body = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}).encode()
    return push_manifest(registry, repo, tag, body, OCI_INDEX)


# -- a token service and a misbehaving proxy ----------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, host: str, handler):
        super().__init__((host, 0), handler)
        self.host = host
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.server_address[1]}"

    @property
    def netloc(self) -> str:
        return f"{self.host}:{self.server_address[1]}"

    def close(self) -> None:
        self.shutdown()
        self.server_close()


class _Quiet(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):
        pass

    def send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


@dataclass
class TokenRequest:
    authorization: str | None
    query: dict[str, list[str]]


class TokenService(_Server):
    """Docker's token protocol: GET /token?service=…&scope=… with Basic credentials."""

    def __init__(self, users: dict[str, str], host: str = "127.0.0.1", anonymous: bool = False):
        self.users = users
        self.anonymous = anonymous  # hand out tokens without credentials too
        self.tokens: dict[str, list[str]] = {}  # token → scopes it grants
        self.requests: list[TokenRequest] = []
        super().__init__(host, _TokenHandler)

    def valid(self, authorization: str | None, repo: str) -> bool:
        if not authorization or not authorization.startswith("Bearer "):
            return False
        return f"repository:{repo}:pull" in self.tokens.get(authorization[7:], [])


class _TokenHandler(_Quiet):
    server: TokenService

    def do_GET(self):
        parts = urlsplit(self.path)
        query = parse_qs(parts.query)
        auth = self.headers.get("Authorization")
        self.server.requests.append(TokenRequest(auth, query))
        ok = self.server.anonymous and auth is None
        if auth and auth.startswith("Basic "):
            user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
            ok = self.server.users.get(user) == password
        if parts.path != "/token" or not ok:
            self.send(401, b'{"details":"bad credentials"}', {"Content-Type": "application/json"})
            return
        token = "tok-" + uuid.uuid4().hex
        self.server.tokens[token] = query.get("scope", [])
        self.send(200, json.dumps({"token": token, "expires_in": 300}).encode(), {"Content-Type": "application/json"})


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    at: float


@dataclass
class Rule:
    """Misbehave on requests whose method and path match, ``times`` times (None: always)."""

    method: str
    path: re.Pattern
    act: Callable[[_ProxyHandler], None]
    times: int | None = None
    hits: int = 0


class FaultProxy(_Server):
    """A registry front of our own: forwards to ``upstream`` unless a rule says otherwise."""

    def __init__(self, upstream: Registry, host: str = "127.0.0.1", tokens: TokenService | None = None):
        self.upstream = upstream
        self.tokens = tokens
        self.rules: list[Rule] = []
        self.seen: list[Seen] = []
        self.lock = threading.Lock()
        super().__init__(host, _ProxyHandler)

    def ref(self, name: str) -> str:
        return f"registry://{self.netloc}/{name}"

    def on(self, method: str, path: str, act: Callable[[_ProxyHandler], None], times: int | None = None) -> Rule:
        rule = Rule(method, re.compile(path), act, times)
        self.rules.append(rule)
        return rule

    def take(self, method: str, path: str) -> Rule | None:
        with self.lock:
            for rule in self.rules:
                if rule.method == method and rule.path.search(path) and (rule.times is None or rule.hits < rule.times):
                    rule.hits += 1
                    return rule
        return None

    def requests_to(self, pattern: str) -> list[Seen]:
        return [s for s in self.seen if re.search(pattern, s.path)]


class _ProxyHandler(_Quiet):
    server: FaultProxy

    def handle_any(self):
        self.server.seen.append(Seen(self.command, self.path, dict(self.headers.items()), time.monotonic()))
        tokens = self.server.tokens
        if tokens is not None and self.path.startswith("/v2/"):
            match = re.match(r"/v2/(.+?)/(manifests|blobs)/", self.path)
            allowed = match is not None and tokens.valid(self.headers.get("Authorization"), match.group(1))
            if not allowed:
                challenge = f'Bearer realm="{tokens.url}/token",service="slimview-test"'
                if match:
                    challenge += f',scope="repository:{match.group(1)}:pull"'
                self.send(401, b'{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}',
                          {"WWW-Authenticate": challenge, "Content-Type": "application/json"})
                return
        rule = self.server.take(self.command, self.path)
        if rule is not None:
            rule.act(self)
        else:
            self.forward()

    do_GET = do_HEAD = handle_any

    def upstream_response(self, headers: dict[str, str] | None = None) -> http.client.HTTPResponse:
        host, port = self.server.upstream.host.split(":")
        connection = http.client.HTTPConnection(host, int(port), timeout=60)
        sent = {k: v for k, v in self.headers.items() if k.lower() in ("accept", "range")}
        connection.request(self.command, self.path, headers={**sent, **(headers or {})})
        return connection.getresponse()

    def relay_head(self, response: http.client.HTTPResponse, length: int | None = None) -> None:
        self.send_response(response.status)
        for k, v in response.getheaders():
            if k.lower() not in ("connection", "transfer-encoding", "content-length", "keep-alive"):
                self.send_header(k, v)
        value = length if length is not None else response.getheader("Content-Length")
        if value is not None:
            self.send_header("Content-Length", str(value))
        self.end_headers()

    def forward(self) -> None:
        response = self.upstream_response()
        self.relay_head(response)
        if self.command != "HEAD":
            while chunk := response.read(1 << 16):
                self.wfile.write(chunk)
        response.close()


# Actions for FaultProxy.on(...)


def status(code: int, headers: dict[str, str] | None = None, body: bytes = b"") -> Callable[[_ProxyHandler], None]:
    return lambda h: h.send(code, body, headers)


def rewrite_body(change: Callable[[bytes], bytes], headers: dict[str, str] | None = None) -> Callable[[_ProxyHandler], None]:
    """The upstream answer with its body changed (and its length fixed to match)."""

    def act(h: _ProxyHandler) -> None:
        response = h.upstream_response()
        body = change(response.read())
        h.send_response(response.status)
        for k, v in response.getheaders():
            if k.lower() not in ("connection", "transfer-encoding", "content-length", "keep-alive") and k not in (headers or {}):
                h.send_header(k, v)
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    return act


def cut_after(keep: int) -> Callable[[_ProxyHandler], None]:
    """The upstream answer, headers intact, but the connection closed after ``keep`` body bytes."""

    def act(h: _ProxyHandler) -> None:
        response = h.upstream_response()
        h.relay_head(response)
        h.wfile.write(response.read(keep))
        h.wfile.flush()
        response.close()
        h.close_connection = True
        h.connection.shutdown(socket.SHUT_RDWR)

    return act


def redirect(to: Callable[[str], str], code: int = 307) -> Callable[[_ProxyHandler], None]:
    return lambda h: h.send(code, b"", {"Location": to(h.path)})


def endless(size: int, content_type: str, with_length: bool = True) -> Callable[[_ProxyHandler], None]:
    """A body of ``size`` bytes (a JSON string padded with spaces), sent as it is made."""

    def act(h: _ProxyHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", content_type)
        if with_length:
            h.send_header("Content-Length", str(size))
        else:
            h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        chunk = b" " * (1 << 20)
        sent = 0
        try:
            while sent < size:
                part = chunk[: min(len(chunk), size - sent)]
                h.wfile.write(b"%x\r\n%s\r\n" % (len(part), part) if not with_length else part)
                sent += len(part)
            if not with_length:
                h.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client stopped reading: what it should do
        h.close_connection = True

    return act
