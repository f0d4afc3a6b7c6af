"""Helpers for tests that need a real Docker engine (see .ci/engine.sh).

The `engine` fixture in conftest.py connects with `connect()`; tests then build and save
real images with `build_image()` and `save_image()`. Builds go through the 20.10 CLI at
/usr/bin/docker because it has both the classic builder and BuildKit.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path

import docker

CI_SOCKET = Path("/run/slimview-ci/docker.sock")
DOCKER_CLI = "/usr/bin/docker"
BUILD_TIMEOUT_S = 900


class EngineUnavailable(Exception):
    """No Docker engine answered at the address we resolved."""


class BuildError(RuntimeError):
    """`docker build` failed; the message carries the full build log."""


class EngineClient(docker.DockerClient):
    """A DockerClient that remembers the DOCKER_HOST it talks to, so the CLI can too."""

    def __init__(self, docker_host: str) -> None:
        # Saves of big images outlast docker-py's 60 s default timeout.
        super().__init__(base_url=docker_host, version="auto", timeout=600)
        self.docker_host = docker_host


def resolve_docker_host(env: Mapping[str, str] = os.environ) -> str:
    """DOCKER_HOST if set; else the CI engine's socket if present; else Docker's default."""
    if env.get("DOCKER_HOST"):
        return env["DOCKER_HOST"]
    if CI_SOCKET.exists():
        return f"unix://{CI_SOCKET}"
    return "unix:///var/run/docker.sock"


def connect(env: Mapping[str, str] = os.environ) -> EngineClient:
    """A client for the engine `env` points at; EngineUnavailable if it does not answer."""
    host = resolve_docker_host(env)
    try:
        client = EngineClient(host)
        client.ping()
    except docker.errors.DockerException as exc:
        raise EngineUnavailable(f"no Docker engine reachable at {host}") from exc
    return client


def _cli_env(client_or_env: EngineClient | Mapping[str, str]) -> dict[str, str]:
    if isinstance(client_or_env, EngineClient):
        return {**os.environ, "DOCKER_HOST": client_or_env.docker_host}
    if isinstance(client_or_env, Mapping):
        return {**os.environ, "DOCKER_HOST": resolve_docker_host(client_or_env)}
    raise TypeError(f"expected an EngineClient or an environment mapping, got {client_or_env!r}")


def _write_context(files: Mapping[str, bytes | str], root: Path) -> None:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            content = content.encode()
        path.write_bytes(content)


def build_image(
    client_or_env: EngineClient | Mapping[str, str],
    context: Mapping[str, bytes | str] | Path,
    dockerfile: str,
    tag: str,
    *,
    buildkit: bool,
) -> str:
    """Build `dockerfile` (its text) over `context` and tag it; returns the image id.

    `context` is either a directory (left untouched: the Dockerfile is written outside it)
    or a mapping of relative paths to file contents.
    """
    env = {**_cli_env(client_or_env), "DOCKER_BUILDKIT": "1" if buildkit else "0"}
    with tempfile.TemporaryDirectory(prefix="slimview-build-") as tmp:
        scratch = Path(tmp)
        if isinstance(context, Path):
            context_dir = context
        else:
            context_dir = scratch / "context"
            context_dir.mkdir()
            _write_context(context, context_dir)
        dockerfile_path = scratch / "Dockerfile"
        dockerfile_path.write_text(dockerfile)
        iidfile = scratch / "iid"
        # --force-rm: a failed classic build would otherwise leave its container behind.
        progress = ["--progress=plain"] if buildkit else []
        proc = subprocess.run(
            [DOCKER_CLI, "build", "--network", "host", "--force-rm", *progress,
             "-f", str(dockerfile_path), "--iidfile", str(iidfile), "-t", tag, str(context_dir)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=BUILD_TIMEOUT_S,
            check=False,
        )
        if proc.returncode != 0:
            builder = "BuildKit" if buildkit else "legacy builder"
            raise BuildError(
                f"docker build of {tag} ({builder}) failed with exit {proc.returncode}:\n"
                f"{proc.stdout}"
            )
        return iidfile.read_text().strip()


def save_image(client_or_env: EngineClient | Mapping[str, str], tag: str, path: Path) -> Path:
    """`docker save -o path tag`; returns `path`."""
    proc = subprocess.run(
        [DOCKER_CLI, "save", "-o", str(path), tag],
        env=_cli_env(client_or_env),
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT_S,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"docker save of {tag} failed: {proc.stderr.strip()}")
    return path
