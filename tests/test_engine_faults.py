"""Engine faults against a real, private Docker engine that the tests start and stop.

The shared CI engine (/run/slimview-ci/docker.sock) is never touched: this module starts
its own dockerd (own data root, exec root, socket and pidfile under /tmp, no bridge, no
iptables), copies busybox into it from the shared engine and loads a 200 MB image of
random data. Each fault must give exactly one clear line on stderr and exit status 2,
and leave no temporary file and no partial entry in the cache:

- no engine at DOCKER_HOST (nothing there, a stale socket, the private engine stopped);
- permission denied on the socket (root without CAP_DAC_OVERRIDE, a mode-000 socket);
- an image that is not there (with suggestions of similar tags);
- the engine killed (SIGKILL) while slimview streams a save;
- the save stream cut part-way (a proxy in front of the engine closes the connection);
- the image removed between slimview's inspect and its save, and during the save.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

import pytest

from hostile import cli_env, error_line, garbage

pytestmark = pytest.mark.engine

SHARED_SOCKET = "/run/slimview-ci/docker.sock"
DOCKER = "/usr/bin/docker"
BIG_TAG = "slimview-fault-big:latest"
BIG_LAYER_BYTES = 100 << 20  # two layers of random data: a 200 MB save


class PrivateEngine:
    """A dockerd of our own; start() and stop() may be called repeatedly."""

    def __init__(self):
        # Short paths: containerd's socket lives under the exec root and unix paths are short.
        self.root = tempfile.mkdtemp(prefix="svf-", dir="/tmp")
        self.data_root = os.path.join(self.root, "data")
        self.exec_root = os.path.join(self.root, "exec")
        self.socket = os.path.join(self.root, "docker.sock")
        self.pidfile = os.path.join(self.root, "dockerd.pid")
        self.log = os.path.join(self.root, "dockerd.log")
        self.host = "unix://" + self.socket
        self.proc: subprocess.Popen | None = None

    def docker(self, *args: str, input: bytes | None = None, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run([DOCKER, *args], input=input, capture_output=True, env={**os.environ, "DOCKER_HOST": self.host},
                              timeout=300, check=check)

    def answers(self) -> bool:
        return self.docker("info", "--format", "{{.ID}}", check=False).returncode == 0

    def start(self) -> None:
        os.makedirs(self.data_root, exist_ok=True)
        os.makedirs(self.exec_root, exist_ok=True)
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                ["dockerd", "--data-root", self.data_root, "--exec-root", self.exec_root, "-H", self.host,
                 "--pidfile", self.pidfile, "--bridge=none", "--iptables=false", "--ip-masq=false"],
                stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True,
            )
        for _ in range(120):
            if self.answers():
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.5)
        with open(self.log, errors="replace") as fh:
            tail = fh.read()[-2000:]
        raise RuntimeError(f"private dockerd did not start; the end of {self.log}:\n{tail}")

    def kill(self, sig=signal.SIGKILL) -> None:
        """Stop dockerd and the containerd it started (the whole session)."""
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)
        self._reap_containerd()
        self.proc = None
        if sig == signal.SIGKILL:
            # As after a crash and reboot: runtime state (/run) is gone, persistent data stays.
            # A restarted dockerd otherwise waits forever on the dead containerd's leftovers.
            shutil.rmtree(self.exec_root, ignore_errors=True)

    def _reap_containerd(self) -> None:
        # A SIGKILLed dockerd leaves its containerd running; find it by our exec root only.
        pidfile = os.path.join(self.exec_root, "containerd", "containerd.pid")
        try:
            pid = int(open(pidfile).read().strip())
        except (OSError, ValueError):
            return
        try:
            cmdline = open(f"/proc/{pid}/cmdline", "rb").read()
        except OSError:
            return
        if self.root.encode() in cmdline:
            os.kill(pid, signal.SIGKILL)
            for _ in range(100):
                if not os.path.exists(f"/proc/{pid}"):
                    break
                time.sleep(0.05)

    def destroy(self) -> None:
        self.kill(signal.SIGTERM)
        # dockerd mounts inside its data root (overlay2, bind mounts); undo ours, deepest first.
        with open("/proc/self/mounts") as fh:
            mounts = [line.split()[1] for line in fh]
        for point in sorted((m for m in mounts if m.startswith(self.root + "/")), key=len, reverse=True):
            subprocess.run(["umount", "-l", point], capture_output=True, check=False)
        shutil.rmtree(self.root, ignore_errors=True)


def _big_image_archive(path: str) -> None:
    from slimview.sample.builder import ImageSpec, Layer, write_docker_archive

    spec = ImageSpec([
        Layer("RUN fetch data-a").file("data/a.bin", garbage("a", BIG_LAYER_BYTES)),
        Layer("RUN fetch data-b").file("data/b.bin", garbage("b", BIG_LAYER_BYTES)),
    ])
    write_docker_archive(spec, path, [BIG_TAG])


@pytest.fixture(scope="module")
def private_engine(engine):
    """A running private engine holding busybox:latest and the 200 MB image."""
    if shutil.which("dockerd") is None:
        pytest.skip("dockerd is not installed")
    eng = PrivateEngine()
    try:
        eng.start()
        shared = {**os.environ, "DOCKER_HOST": "unix://" + SHARED_SOCKET if os.path.exists(SHARED_SOCKET) else engine.docker_host}
        saved = subprocess.run([DOCKER, "save", "busybox:latest"], capture_output=True, env=shared, timeout=300, check=True).stdout
        eng.docker("load", input=saved)
        archive = os.path.join(eng.root, "big.tar")
        _big_image_archive(archive)
        eng.docker("load", "-i", archive)
        os.unlink(archive)
        yield eng
    finally:
        eng.destroy()


@pytest.fixture
def running(private_engine):
    """The private engine, started again if an earlier test stopped or killed it."""
    if private_engine.proc is None or private_engine.proc.poll() is not None or not private_engine.answers():
        private_engine.kill()
        private_engine.start()
    return private_engine


def _env(tmp_path, host: str) -> dict:
    return cli_env(tmp_path, DOCKER_HOST=host)


def _slimview(tmp_path, host: str, *args: str, timeout: float = 300, prefix: list[str] = ()) -> subprocess.CompletedProcess:
    script = shutil.which("slimview")
    return subprocess.run([*prefix, script, *args], capture_output=True, text=True, cwd=str(tmp_path), env=_env(tmp_path, host),
                          timeout=timeout, check=False)


def _cache_is_clean(tmp_path) -> list[str]:
    """Files a failed run left in the cache: temporaries or layer/image entries."""
    cache = tmp_path / ".cache" / "slimview"
    left = []
    for root, _dirs, files in os.walk(cache):
        for name in files:
            rel = os.path.relpath(os.path.join(root, name), cache)
            if name.startswith(".tmp-") or rel.split(os.sep)[1:2] and rel.split(os.sep)[1] in ("layers", "images", "configs"):
                left.append(rel)
    return left


# -- no engine, refused, missing image ------------------------------------------------------


def test_nothing_listening_at_docker_host(tmp_path):
    host = f"unix://{tmp_path}/nothing-here.sock"
    message = error_line(_slimview(tmp_path, host, "report", "busybox:latest"))
    assert message == (
        f"no container engine is running at {host} (start Docker or podman, or set DOCKER_HOST; "
        "image files and OCI layouts work without one)"
    )


def test_stale_socket_nobody_listens_on(tmp_path):
    path = str(tmp_path / "stale.sock")
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(path)
    stale.close()  # the socket file stays; nothing accepts on it
    message = error_line(_slimview(tmp_path, "unix://" + path, "report", "busybox:latest"))
    assert message.startswith(f"no container engine is running at unix://{path} ")


def test_engine_stopped_in_the_test(running, tmp_path):
    assert error_line(_slimview(tmp_path, running.host, "report", "nope:latest")).startswith("no image 'nope:latest'")
    running.kill(signal.SIGTERM)
    message = error_line(_slimview(tmp_path, running.host, "report", "busybox:latest"))
    assert message.startswith(f"no container engine is running at {running.host} ")
    assert _cache_is_clean(tmp_path) == []


def test_permission_denied_on_the_socket(running, tmp_path):
    # Root bypasses file modes through CAP_DAC_OVERRIDE; run slimview without it, against a
    # socket nobody may open, so the kernel itself refuses the connection.
    without_override = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search", "--inh-caps", "-dac_override,-dac_read_search"]
    mode = os.stat(running.socket).st_mode & 0o777
    os.chmod(running.socket, 0)
    try:
        proc = _slimview(tmp_path, running.host, "report", "busybox:latest", prefix=without_override)
    finally:
        os.chmod(running.socket, mode)
    message = error_line(proc)
    assert message == (
        f"cannot talk to the engine at {running.host}: permission denied on its socket (join the docker group, or set DOCKER_HOST)"
    )


def test_missing_image_suggests_similar_tags(running, tmp_path):
    message = error_line(_slimview(tmp_path, running.host, "report", "busybx:latest"))
    assert message == "no image 'busybx:latest' in the local engine; did you mean busybox:latest?"
    message = error_line(_slimview(tmp_path, running.host, "report", "slimview-fault-big:v2"))
    assert message == f"no image 'slimview-fault-big:v2' in the local engine; did you mean {BIG_TAG}?"


def test_the_big_image_reads_whole_when_nothing_goes_wrong(running, tmp_path):
    proc = _slimview(tmp_path, running.host, "report", "--json", BIG_TAG)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["image"]["size_bytes"] == 2 * BIG_LAYER_BYTES
    assert doc["image"]["layer_count"] == 2


# -- faults during a save -------------------------------------------------------------------


def test_engine_killed_mid_save(running, tmp_path):
    # The proxy only watches the bytes go by: at 80 MB of the 200 MB save it SIGKILLs dockerd.
    proxy = CuttingProxy(str(tmp_path / "proxy.sock"), running.socket, at_bytes=80 << 20, action=running.kill)
    try:
        proc = _slimview(tmp_path, "unix://" + proxy.path, "report", BIG_TAG)
    finally:
        proxy.close()
    assert proxy.acted.is_set()
    assert running.proc is None and not running.answers()
    message = error_line(proc)
    assert message.startswith(f"the engine stream for '{BIG_TAG}' was cut mid-save") or message.startswith(
        f"the engine's save of '{BIG_TAG}' was unreadable: "
    ), message
    assert _cache_is_clean(tmp_path) == []


class CuttingProxy:
    """A unix-socket proxy in front of the engine. During an image save it can cut the
    stream after ``limit`` bytes, run ``action`` once ``at_bytes`` have passed, or run
    ``before_save`` before forwarding the save request."""

    def __init__(self, path: str, upstream: str, *, limit: int | None = None, before_save=None, at_bytes: int | None = None, action=None):
        self.path, self.upstream, self.limit, self.before_save = path, upstream, limit, before_save
        self.at_bytes, self.action = at_bytes, action
        self.cut = threading.Event()
        self.acted = threading.Event()
        self.server = socket.socket(socket.AF_UNIX)
        self.server.bind(path)
        self.server.listen(16)
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            threading.Thread(target=self._pair, args=(client,), daemon=True).start()

    def _pair(self, client: socket.socket) -> None:
        upstream = socket.socket(socket.AF_UNIX)
        upstream.connect(self.upstream)
        state = {"save": False}

        def up():
            while data := client.recv(65536):
                if b"/get" in data and b"/images/" in data:
                    state["save"] = True
                    if self.before_save:
                        self.before_save()
                upstream.sendall(data)

        threading.Thread(target=lambda: _quietly(up), daemon=True).start()
        sent = 0
        try:
            while data := upstream.recv(65536):
                if state["save"] and self.limit is not None and sent + len(data) > self.limit:
                    client.sendall(data[: self.limit - sent])
                    self.cut.set()
                    break
                client.sendall(data)
                sent += len(data) if state["save"] else 0
                if self.action and self.at_bytes is not None and sent >= self.at_bytes and not self.acted.is_set():
                    self.acted.set()
                    self.action()
        except OSError:
            pass
        finally:
            for s in (client, upstream):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()

    def close(self) -> None:
        self.server.close()


def _quietly(fn) -> None:
    try:
        fn()
    except OSError:
        pass


def test_save_stream_cut_part_way(running, tmp_path):
    proxy = CuttingProxy(str(tmp_path / "proxy.sock"), running.socket, limit=120 << 20)
    try:
        proc = _slimview(tmp_path, "unix://" + proxy.path, "report", BIG_TAG)
    finally:
        proxy.close()
    assert proxy.cut.is_set()
    message = error_line(proc)
    assert message.startswith(f"the engine stream for '{BIG_TAG}' was cut mid-save") or message.startswith(
        f"the engine's save of '{BIG_TAG}' was unreadable: "
    ), message
    assert _cache_is_clean(tmp_path) == []


def test_image_removed_between_inspect_and_save(running, tmp_path):
    running.docker("tag", "busybox:latest", "slimview-fault-doomed:latest")
    removed = threading.Event()

    def remove():
        if not removed.is_set():
            running.docker("rmi", "slimview-fault-doomed:latest")
            removed.set()

    proxy = CuttingProxy(str(tmp_path / "proxy.sock"), running.socket, before_save=remove)
    try:
        proc = _slimview(tmp_path, "unix://" + proxy.path, "report", "slimview-fault-doomed:latest")
    finally:
        proxy.close()
    assert removed.is_set()
    message = error_line(proc)
    assert message == "image 'slimview-fault-doomed:latest' disappeared from the engine during the save"
    assert _cache_is_clean(tmp_path) == []


def test_image_removed_during_the_save(running, tmp_path):
    """Removing the image while its save streams: either the engine finishes the save from
    the layers it holds (a complete, correct report) or slimview says it was cut; never a
    traceback, a partial report or a partial cache entry."""
    running.docker("tag", BIG_TAG, "slimview-fault-going:latest")
    proxy = CuttingProxy(str(tmp_path / "proxy.sock"), running.socket, at_bytes=60 << 20,
                         action=lambda: running.docker("rmi", "-f", "slimview-fault-going:latest"))
    try:
        proc = _slimview(tmp_path, "unix://" + proxy.path, "report", "slimview-fault-going:latest")
    finally:
        proxy.close()
    assert proxy.acted.is_set()
    assert running.docker("image", "inspect", "slimview-fault-going:latest", check=False).returncode != 0
    if proc.returncode == 0:
        assert proc.stderr == ""
        assert proc.stdout.startswith("slimview-fault-going:latest")
        assert "Image size   209.7 MB in 2 layers" in proc.stdout
    else:
        message = error_line(proc)
        assert "slimview-fault-going:latest" in message
        assert _cache_is_clean(tmp_path) == []
