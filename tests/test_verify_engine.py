"""End to end with the real engine: the bloated sample is rewritten by `slimview rewrite`,
and `slimview verify` builds the rewrite, smoke-tests it and measures it. The rewrite must
build, pass hadolint, run its smoke command, and be at most 45 % of the original's size,
with every figure matching `docker image inspect`."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import docker
import pytest

from rewrite_util import hadolint_issues, inspect_size_layers, slimview

pytestmark = [pytest.mark.engine, pytest.mark.slow]

SAMPLE_CONTEXT = Path(__file__).resolve().parent.parent / "sample_images" / "python-inference"
MAX_SHARE = 0.45


@pytest.fixture
def context(tmp_path: Path) -> Path:
    """The sample's build context, with a .dockerignore of the user's own that verify must not touch."""
    root = tmp_path / "context"
    shutil.copytree(SAMPLE_CONTEXT, root)
    (root / ".dockerignore").write_text("# mine\nnotebooks\n")
    return root


def _table_sizes(stdout: str) -> tuple[int, int]:
    m = re.search(r"^size\s+\S+ \S+ \(([\d,]+) B\)\s+\S+ \S+ \(([\d,]+) B\)", stdout, re.M)
    assert m, stdout
    return int(m.group(1).replace(",", "")), int(m.group(2).replace(",", ""))


def test_rewrite_writes_files_and_refuses_to_overwrite(engine, python_inference, tmp_path: Path):
    out = tmp_path / "out"
    out.mkdir()
    first = slimview(engine, "rewrite", python_inference, "-o", str(out))
    assert first.returncode == 0, first.stderr
    dockerfile = (out / "Dockerfile.slim").read_text()
    assert (out / ".dockerignore.slim").read_text().startswith("# .dockerignore.slim: written by slimview")
    assert "FROM python:3.11-slim AS builder\n" in dockerfile and "\nFROM python:3.11-slim\n" in dockerfile
    assert "Original base: debian:bookworm (its layer matches that local image)." in first.stdout
    assert hadolint_issues(dockerfile) == []

    (out / "Dockerfile.slim").write_text("mine\n")
    again = slimview(engine, "rewrite", python_inference, "-o", str(out))
    assert again.returncode == 2
    assert again.stderr == f"slimview: error: {out / 'Dockerfile.slim'} exists; pass --force to overwrite it\n"
    assert (out / "Dockerfile.slim").read_text() == "mine\n"
    forced = slimview(engine, "rewrite", python_inference, "-o", str(out), "--force")
    assert forced.returncode == 0 and (out / "Dockerfile.slim").read_text() == dockerfile


@pytest.mark.parametrize("dockerfile", [False, True], ids=["reconstructed", "users-dockerfile"])
def test_verify_builds_a_smaller_working_image(engine, python_inference, image_tag, context: Path, dockerfile: bool):
    args = ["verify", python_inference, "--context", str(context), "--build-tag", image_tag]
    if dockerfile:
        args += ["--dockerfile", str(context / "Dockerfile")]
    result = slimview(engine, *args)
    assert result.returncode == 0, result.stdout + result.stderr

    before_size, before_layers = inspect_size_layers(engine, python_inference)
    after_size, after_layers = inspect_size_layers(engine, image_tag)
    assert _table_sizes(result.stdout) == (before_size, after_size)
    assert re.search(rf"^layers\s+{before_layers}\s+{after_layers}$", result.stdout, re.M), result.stdout
    assert after_size <= MAX_SHARE * before_size, (after_size, before_size)
    assert re.search(r"^  build-tools\s+1 \(\d+\.\d MB\)\s+gone$", result.stdout, re.M), result.stdout
    assert re.search(r"^  secret\s+1\s+gone$", result.stdout, re.M), result.stdout
    assert result.stdout.endswith(
        f"Built {image_tag}; smoke test passed: python3 -c \"import importlib; getattr(importlib.import_module("
        "'inference_engine.app'), 'app'); print('import ok: inference_engine.app:app')\"\n"
    )
    assert (context / ".dockerignore").read_text() == "# mine\nnotebooks\n"

    config = engine.images.get(image_tag).attrs["Config"]
    assert (config["User"], config["WorkingDir"], list(config["ExposedPorts"])) == ("10001:10001", "/app", ["8000/tcp"])
    assert config["Cmd"] == ["python3", "-m", "uvicorn", "inference_engine.app:app", "--host", "0.0.0.0", "--port", "8000"]
    assert [e for e in config["Env"] if e.startswith("PATH=")] == ["PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]
    files = engine.containers.run(image_tag, ["sh", "-c", "ls -A /app; ls /opt/venv/bin | grep -c pip; true"],
                                  network_mode="none", remove=True, entrypoint="").decode()
    assert files == "inference_engine\n0\n"  # no .git, .env, tests, notebooks; no pip in the runtime


def test_a_smoke_failure_exits_1_with_its_output(engine, python_inference, image_tag, context: Path):
    result = slimview(engine, "verify", python_inference, "--context", str(context), "--build-tag", image_tag,
                      "--smoke", "python3 -c 'import onnx_is_not_installed'")
    assert result.returncode == 1
    assert result.stderr.startswith("slimview: smoke test failed: python3 -c \"import onnx_is_not_installed\"\n")
    assert "ModuleNotFoundError: No module named 'onnx_is_not_installed'" in result.stderr


def test_a_build_failure_exits_1_with_the_relevant_lines(engine, python_inference, image_tag, context: Path):
    result = slimview(engine, "verify", python_inference, "--context", str(context), "--build-tag", image_tag,
                      "--base", "slimview-no-such-base:1")
    assert result.returncode == 1
    assert result.stderr.startswith("slimview: the rewrite did not build:\n")
    assert "slimview-no-such-base" in result.stderr
    with pytest.raises(docker.errors.ImageNotFound):
        engine.images.get(image_tag)


def test_the_rewrite_builds_with_the_classic_builder_too(engine, python_inference, image_tag, context: Path):
    result = slimview(engine, "verify", python_inference, "--context", str(context), "--build-tag", image_tag, "--legacy-builder")
    assert result.returncode == 0, result.stdout + result.stderr
    before_size, _ = inspect_size_layers(engine, python_inference)
    after_size, _ = inspect_size_layers(engine, image_tag)
    assert _table_sizes(result.stdout) == (before_size, after_size)
    assert after_size <= MAX_SHARE * before_size


COMPILED = """\
FROM python:3.11-slim
RUN apt-get update && apt-get install -y gcc libpq-dev python3-dev
RUN pip install psycopg2
CMD ["python", "-c", "import psycopg2; print(psycopg2.__version__)"]
"""


def test_a_compiled_extension_keeps_the_library_it_links(engine, image_tag, tmp_path: Path):
    """psycopg2 is compiled against libpq-dev in the builder: the runtime must still have libpq5."""
    from engine import build_image

    original = image_tag.replace(":latest", "-original:latest")
    context = tmp_path / "context"
    context.mkdir()
    build_image(engine, context, COMPILED, original, buildkit=True)
    try:
        result = slimview(engine, "verify", original, "--context", str(context), "--build-tag", image_tag)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "smoke test passed: python -c " in result.stdout  # the CMD's own imports
        before_size, _ = inspect_size_layers(engine, original)
        after_size, _ = inspect_size_layers(engine, image_tag)
        assert _table_sizes(result.stdout) == (before_size, after_size)
        assert after_size <= MAX_SHARE * before_size
        output = engine.containers.run(image_tag, network_mode="none", remove=True).decode()
        assert output.startswith("2.")  # the program itself runs: psycopg2 finds libpq.so.5
    finally:
        engine.images.remove(original, force=True)


def test_a_classic_builder_image_is_rewritten_from_hashed_sources(engine, image_tag, context: Path):
    """The classic builder keeps only `COPY dir:<hash> in .`: the rewrite takes that for the
    context and names the application files from the layer; verify proves the guess."""
    from engine import build_image

    original = image_tag.replace(":latest", "-legacy:latest")
    build_image(engine, SAMPLE_CONTEXT, (SAMPLE_CONTEXT / "Dockerfile").read_text(), original, buildkit=False)
    try:
        rewrite = slimview(engine, "rewrite", original, "-o", str(context.parent))
        assert rewrite.returncode == 0, rewrite.stderr
        dockerfile = (context.parent / "Dockerfile.slim").read_text()
        assert "\nCOPY --chown=10001:10001 inference_engine/ /app/inference_engine/\n" in dockerfile
        assert hadolint_issues(dockerfile) == []
        result = slimview(engine, "verify", original, "--context", str(context), "--build-tag", image_tag)
        assert result.returncode == 0, result.stdout + result.stderr
        before_size, _ = inspect_size_layers(engine, original)
        after_size, _ = inspect_size_layers(engine, image_tag)
        assert _table_sizes(result.stdout) == (before_size, after_size)
        assert after_size <= MAX_SHARE * before_size
    finally:
        engine.images.remove(original, force=True)
