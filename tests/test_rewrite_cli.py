"""`slimview rewrite` with no engine at all: the bundled mini sample, from its file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from slimview.findings import analyze
from slimview.index import IndexOptions, build_index
from slimview.rewrite import rewrite_image
from slimview.rewrite.base import find_base
from slimview.sample.mini import write_sample


def run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = {"DOCKER_HOST": f"unix://{tmp_path}/no-engine.sock", "XDG_CACHE_HOME": str(tmp_path / "cache"), "PATH": "/usr/bin:/bin"}
    return subprocess.run([sys.executable, "-m", "slimview", *args], capture_output=True, text=True, env=env, timeout=300, check=False)


@pytest.fixture
def mini(tmp_path: Path) -> str:
    path = tmp_path / "mini.tar"
    write_sample(str(path))
    return str(path)


def test_rewrite_from_a_file_without_an_engine(tmp_path: Path, mini: str):
    out = tmp_path / "out"
    out.mkdir()
    result = run(tmp_path, "rewrite", mini, "-o", str(out), "--dockerfile-name", "Dockerfile.small")
    assert result.returncode == 0, result.stderr
    # The CLI's rewrite is the library's, with the findings: bytes from them on the changes.
    index = build_index(mini, IndexOptions(use_cache=False))
    expected = rewrite_image(index, find_base(index.source, None), analyze(index), names=("Dockerfile.small", ".dockerignore.slim"))
    assert expected.dockerfile.splitlines()[0] == "# Dockerfile.small: written by slimview from the history of python-inference-mini:latest."
    assert (out / "Dockerfile.small").read_text() == expected.dockerfile
    assert (out / ".dockerignore.slim").read_text() == expected.dockerignore
    assert "# A non-root user (uid 10001) runs the program (fixes config: runs as root); a numeric USER suits runAsNonRoot.\n" in expected.dockerfile
    # Without an engine python:3.11-slim's size is unknown: the estimate leaves it out and says
    # so (it used to count the original base's 7.2 MB in its place and give a share).
    assert result.stdout.splitlines()[:11] == [
        f"Wrote {out}/Dockerfile.small and {out}/.dockerignore.slim.",
        "Original base: unknown (no local image shares these layers and no label names one).",
        "",
        "Estimated size (`slimview verify` builds the rewrite and measures it):",
        "                       before          after",
        "  base image           7.2 MB      not known",
        "  OS packages         13.8 MB       259.1 kB",
        "  Python packages      6.5 MB         4.9 MB",
        "  application files  533.5 kB         4.2 kB",
        "  total               28.0 MB  5.2 MB + base",
        "",
    ]
    assert result.stdout.endswith("Note: the runtime base python:3.11-slim is not in the local engine: the estimate leaves its size out.\n")


def test_an_existing_file_is_never_overwritten_without_force(tmp_path: Path, mini: str):
    out = tmp_path / "out"
    out.mkdir()
    (out / ".dockerignore.slim").write_text("mine\n")
    result = run(tmp_path, "rewrite", mini, "-o", str(out))
    assert (result.returncode, result.stderr) == (2, f"slimview: error: {out}/.dockerignore.slim exists; pass --force to overwrite it\n")
    assert sorted(p.name for p in out.iterdir()) == [".dockerignore.slim"]  # nothing half-written either
    assert (out / ".dockerignore.slim").read_text() == "mine\n"


def test_reconstruct_prints_the_history_as_a_dockerfile(tmp_path: Path, mini: str):
    result = run(tmp_path, "rewrite", "--reconstruct", mini)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[3:7] == [
        "FROM scratch",
        "ADD <unknown source: file:5d6b639e8b6b…> /",
        'CMD ["bash"]',
        "RUN apt-get update",
    ]


def test_verify_needs_a_context(tmp_path: Path, mini: str):
    result = run(tmp_path, "verify", mini)
    assert result.returncode == 2
    assert "verify needs --context DIR" in result.stderr
