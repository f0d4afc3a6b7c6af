"""The sample images of sample_images/: building them once per engine, and running one to
ask its health endpoint.

Each sample has a bloated image (`NAME:latest`, its Dockerfile) and a hand-written
reference (`NAME:reference`, its Dockerfile.reference); sample_images/build.sh builds both.
Containers run with `--network host` on a free loopback port (never a bridge), so the
test process itself asks the health endpoint.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from docker.models.containers import Container

from engine import EngineClient

SAMPLES_DIR = Path(__file__).resolve().parent.parent / "sample_images"
BUILD_SCRIPT = SAMPLES_DIR / "build.sh"
BUILD_TIMEOUT_S = 1800
HEALTH_TIMEOUT_S = 60


class SampleBuildError(RuntimeError):
    """sample_images/build.sh failed; the message carries the end of its output."""


@dataclass(frozen=True)
class Sample:
    name: str  # directory under sample_images/ and image repository
    health_path: str
    # True: the service reads HOST and PORT from the environment. False: its command
    # names them (`--host … --port …`), and the test rewrites those two values.
    listens_on_env: bool

    @property
    def directory(self) -> Path:
        return SAMPLES_DIR / self.name

    def tag(self, *, reference: bool) -> str:
        return f"{self.name}:{'reference' if reference else 'latest'}"


SAMPLES = {
    s.name: s
    for s in (
        Sample("python-inference", "/healthz", listens_on_env=False),
        Sample("node-service", "/health", listens_on_env=True),
        Sample("go-service", "/health", listens_on_env=True),
    )
}


def ensure_sample_image(engine: EngineClient, sample: Sample, *, reference: bool) -> str:
    """The sample's tag; built with build.sh when the engine lacks it. One xdist worker
    builds, the others wait on a lock per tag. The image is never removed."""
    tag = sample.tag(reference=reference)
    lock_path = Path(tempfile.gettempdir()) / f"slimview-sample-{tag.replace(':', '-')}.lock"
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not engine.images.list(name=tag):
            args = ["bash", str(BUILD_SCRIPT), sample.name, *(["--reference"] if reference else [])]
            proc = subprocess.run(
                args, env={**os.environ, "DOCKER_HOST": engine.docker_host},
                capture_output=True, text=True, timeout=BUILD_TIMEOUT_S, check=False,
            )
            if proc.returncode != 0:
                raise SampleBuildError(
                    f"{' '.join(args[1:])} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
                )
    return tag


def free_loopback_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def loopback_command(command: list[str], port: int) -> list[str]:
    """`command` with the values of its --host and --port options set to 127.0.0.1 and port."""
    out = list(command)
    for option, value in (("--host", "127.0.0.1"), ("--port", str(port))):
        if option not in out[:-1]:
            raise ValueError(f"{option} not in {command}")
        out[out.index(option) + 1] = value
    return out


@contextmanager
def running_sample(engine: EngineClient, sample: Sample, tag: str) -> Iterator[tuple[str, Container]]:
    """Run `tag` with host networking on a free loopback port; yield its base URL and the
    container, which is removed afterwards."""
    port = free_loopback_port()
    if sample.listens_on_env:
        command, environment = None, {"HOST": "127.0.0.1", "PORT": str(port)}
    else:
        command, environment = loopback_command(engine.images.get(tag).attrs["Config"]["Cmd"], port), {}
    container = engine.containers.run(tag, command, environment=environment, network_mode="host", detach=True)
    try:
        yield f"http://127.0.0.1:{port}", container
    finally:
        container.remove(force=True)


def wait_for_health(engine: EngineClient, sample: Sample, tag: str) -> tuple[int, dict]:
    """Start the sample and poll its health endpoint until it answers: (status, JSON body).
    Raises if the container exits first or nothing answers within HEALTH_TIMEOUT_S."""
    with running_sample(engine, sample, tag) as (base, container):
        deadline = time.monotonic() + HEALTH_TIMEOUT_S
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(base + sample.health_path, timeout=5) as response:
                    return response.status, json.load(response)
            except urllib.error.HTTPError as exc:
                return exc.code, json.load(exc)
            except (urllib.error.URLError, ConnectionError) as exc:
                last_error = exc
            container.reload()
            if container.status == "exited":
                logs = container.logs().decode(errors="replace")[-3000:]
                raise RuntimeError(f"{tag} exited before answering {sample.health_path}:\n{logs}")
            time.sleep(0.25)
        raise TimeoutError(f"{tag} did not answer {sample.health_path} within {HEALTH_TIMEOUT_S} s: {last_error}")
