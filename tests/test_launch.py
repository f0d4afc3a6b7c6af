"""The entry point's early save request (slimview/launch.py, slimview/source/enginesave.py).

The command line is read only to find IMAGE, conservatively; the tables of report's
options are held to click's own here, so an option added to `report` cannot turn its
value into an IMAGE. On a real engine: the early request is the one the engine source
reads, a warm cache asks for nothing, and errors are the same single line as without it.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import threading

import click
import pytest

from slimview import launch
from slimview.cli import ci, report
from slimview.index.cache import LayerCache
from slimview.source import enginesave

from hostile import cli_env, error_line


def _options(command: click.Command) -> tuple[set[str], set[str]]:
    values, flags = set(), set()
    for param in command.params:
        if isinstance(param, click.Option):
            names = set(param.opts) | set(param.secondary_opts)
            (flags if param.is_flag else values).update(names)
    return values, flags


@pytest.mark.parametrize("command", [report, ci], ids=["report", "ci"])
def test_the_option_tables_are_the_commands_own(command):
    values, flags = _options(command)
    assert (values, flags) == launch.OPTIONS[command.name]
    assert values >= launch.NOT_EARLY


@pytest.mark.parametrize(
    "argv, found",
    [
        (["report", "app:1"], ("app:1", True)),
        (["report", "--no-cache", "--json", "app:1"], ("app:1", False)),
        (["report", "-o", "app:1", "img:2"], ("img:2", True)),  # -o takes a value
        (["report", "--format", "json", "img:2", "--max-entries=5"], ("img:2", True)),
        (["report", "--output=x.json", "--force", "img:2"], ("img:2", True)),
        (["report"], None),  # the bundled sample
        (["report", "img:2", "other:3"], None),  # click refuses it
        (["report", "--tag", "a", "img:2"], None),
        (["report", "--platform=linux/arm64", "img:2"], None),
        (["report", "--help"], None),
        (["report", "--frobnicate", "img:2"], None),  # unknown: it might take a value
        (["report", "-ox.json", "img:2"], None),
        (["report", "--json=1", "img:2"], None),
        (["report", "img:2", "-o"], None),
        (["ci", "img:2"], ("img:2", True)),
        (["ci", "--json", "out.json", "--no-cache", "img:2"], ("img:2", False)),  # ci's --json takes a file
        (["ci", "img:2", "--max-image-bytes", "1GB", "--allow-secret", "x", "--force"], ("img:2", True)),
        (["ci", "--baseline", "base:1", "img:2"], ("img:2", True)),
        (["ci", "--no-files", "img:2"], None),  # report's flag, not ci's
        (["ci", "--tag", "a", "img:2"], None),
        (["diff", "a:1", "b:2"], None),
        (["img:2"], None),
        ([], None),
    ],
)
def test_early_image(argv, found):
    assert launch.early_image(argv) == found


def test_may_be_cached_sees_the_configs_the_cache_files(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    config = b'{"rootfs": {"type": "layers", "diff_ids": []}}'
    digest = "sha256:" + hashlib.sha256(config).hexdigest()
    assert not launch.may_be_cached(digest)
    LayerCache().put_config(digest, config)
    assert launch.may_be_cached(digest)
    assert not launch.may_be_cached("sha256:" + "0" * 64)


# -- on a real engine -----------------------------------------------------------------------


def _module_cli(args: list[str], home, host: str) -> subprocess.CompletedProcess:
    """`python -m slimview ARGS`: the entry point that sends the early request."""
    env = cli_env(home, DOCKER_HOST=host, PYTHONPATH=os.pathsep.join(sys.path))
    return subprocess.run([sys.executable, "-m", "slimview", *args], capture_output=True, text=True, env=env, timeout=600,
                          cwd=str(home), check=False)


@pytest.fixture
def busybox(engine):
    return engine.images.get("busybox:latest")


@pytest.fixture
def no_early():
    enginesave.discard_early()
    yield
    enginesave.discard_early()


@pytest.mark.engine
@pytest.mark.parametrize("command", ["report", "ci"])
def test_the_early_request_is_the_save_the_source_reads(engine, busybox, tmp_path, monkeypatch, no_early, command):
    from slimview import session
    from slimview.index import IndexOptions

    monkeypatch.setenv("DOCKER_HOST", engine.docker_host)
    launch.start_engine_save([command, "--no-cache", "busybox:latest"])
    early = enginesave._early
    assert early is not None and early.name == "busybox:latest"
    got = session.open_index("busybox:latest", IndexOptions(use_cache=False))
    assert enginesave._early is None
    assert early._done > 0  # its bytes were read: no second request
    again = session.open_index("busybox:latest", IndexOptions(use_cache=False))  # the source's own request
    assert got.final == again.final
    assert [layer.files.tar_bytes for layer in got.layers] == [layer.files.tar_bytes for layer in again.layers]


@pytest.mark.engine
def test_nothing_early_for_an_image_the_cache_holds(engine, busybox, tmp_path, monkeypatch, no_early):
    monkeypatch.setenv("DOCKER_HOST", engine.docker_host)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    launch.start_engine_save(["report", "busybox:latest"])
    assert enginesave._early is not None  # a cold cache: the save will be needed
    enginesave.discard_early()
    proc = _module_cli(["report", "--json", "busybox:latest"], tmp_path, engine.docker_host)
    assert proc.returncode == 0, proc.stderr
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / ".cache"))  # the one the run filled
    launch.start_engine_save(["report", "busybox:latest"])
    assert enginesave._early is None


@pytest.mark.engine
def test_the_report_is_the_same_with_the_early_request(engine, busybox, tmp_path):
    early = _module_cli(["report", "--no-cache", "--json", "busybox:latest"], tmp_path, engine.docker_host)
    assert early.returncode == 0, early.stderr
    # slimview.cli's own main sends no early request
    env = cli_env(tmp_path, DOCKER_HOST=engine.docker_host, PYTHONPATH=os.pathsep.join(sys.path))
    late = subprocess.run([sys.executable, "-c", "from slimview.cli import main; main()", "report", "--no-cache", "--json", "busybox:latest"],
                          capture_output=True, text=True, env=env, timeout=600, check=False)
    assert late.returncode == 0, late.stderr
    assert json.loads(early.stdout) == json.loads(late.stdout)


@pytest.mark.engine
def test_the_gate_is_the_same_with_the_early_request(engine, busybox, tmp_path):
    args = ["ci", "--no-cache", "--max-image-bytes", "1", "--json", "gate.json", "busybox:latest"]
    for run in ("early", "late"):
        (tmp_path / run).mkdir()
    early = _module_cli(args, tmp_path / "early", engine.docker_host)
    env = cli_env(tmp_path / "late", DOCKER_HOST=engine.docker_host, PYTHONPATH=os.pathsep.join(sys.path))
    late = subprocess.run([sys.executable, "-c", "from slimview.cli import main; main()", *args],
                          capture_output=True, text=True, env=env, timeout=600, cwd=str(tmp_path / "late"), check=False)
    assert early.returncode == late.returncode == 1, (early.stderr, late.stderr)  # the image is over 1 byte
    assert early.stdout == late.stdout
    assert (tmp_path / "early" / "gate.json").read_bytes() == (tmp_path / "late" / "gate.json").read_bytes()


@pytest.mark.engine
def test_a_missing_image_is_one_line(engine, tmp_path):
    message = error_line(_module_cli(["report", "--no-cache", "busybx:latest"], tmp_path, engine.docker_host))
    assert message.startswith("no image 'busybx:latest' in the local engine")


def test_no_engine_is_the_same_one_line(tmp_path):
    host = f"unix://{tmp_path}/nothing-here.sock"
    message = error_line(_module_cli(["report", "--no-cache", "busybox:latest"], tmp_path, host))
    assert message == (
        f"no container engine is running at {host} (start Docker or podman, or set DOCKER_HOST; "
        "image files and OCI layouts work without one)"
    )


class _Engine:
    """A unix socket answering one request with ``answer``, then closing."""

    def __init__(self, path: str, answer: bytes):
        self.server = socket.socket(socket.AF_UNIX)
        self.server.bind(path)
        self.server.listen(1)
        self.request = b""

        def serve():
            conn, _ = self.server.accept()
            while b"\r\n\r\n" not in self.request:
                self.request += conn.recv(4096)
            conn.sendall(answer)
            conn.close()

        self.thread = threading.Thread(target=serve, daemon=True)
        self.thread.start()


def test_a_save_stream_reads_what_a_file_would(tmp_path):
    body = bytes(range(256)) * 5000
    engine = _Engine(str(tmp_path / "e.sock"), b"HTTP/1.0 200 OK\r\nContent-Type: application/x-tar\r\n\r\n" + body)
    stream = enginesave.SaveStream(str(tmp_path / "e.sock"), "app:1")
    seen = []
    stream.progress = seen.append
    head = stream.read(10)
    rest = stream.read(-1)
    assert head + rest == body and stream.read(100) == b""
    assert seen[-1] == len(body)
    engine.thread.join(5)
    assert engine.request.startswith(b"GET /images/get?names=app%3A1 HTTP/1.0\r\n")


@pytest.mark.parametrize("status", [404, 500])
def test_a_refused_save_carries_the_engines_words(tmp_path, status):
    message = json.dumps({"message": "reference does not exist"}).encode()
    _Engine(str(tmp_path / "e.sock"), f"HTTP/1.1 {status} No\r\nContent-Type: application/json\r\n\r\n".encode() + message)
    stream = enginesave.SaveStream(str(tmp_path / "e.sock"), "app:1")
    with pytest.raises(enginesave.SaveRefused) as refused:
        stream.read(1 << 20)
    assert (refused.value.status, refused.value.message) == (status, "reference does not exist")


def test_an_answer_cut_before_its_headers_is_a_connection_error(tmp_path):
    _Engine(str(tmp_path / "e.sock"), b"HTTP/1.0 200 OK\r\nContent-")
    stream = enginesave.SaveStream(str(tmp_path / "e.sock"), "app:1")
    with pytest.raises(ConnectionError):
        stream.read(1 << 20)
