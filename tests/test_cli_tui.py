"""`slimview [IMAGE]` as a command: refused without a terminal, a mistyped command named,
an image that cannot be opened reported on the terminal, and `rewrite -o DIR` making DIR."""

from __future__ import annotations

import os
import resource
import shutil
import time

import pytest

from slimview.sample.mini import write_sample

from hostile import cli_env, error_line, run_cli
from terminal import Terminal

NO_ENGINE = "unix:///nonexistent/docker.sock"


@pytest.fixture
def mini(tmp_path) -> str:
    path = tmp_path / "mini.tar"
    write_sample(str(path))
    return str(path)


def test_without_a_terminal_the_explorer_refuses_in_one_line_within_a_second(tmp_path, mini):
    """`slimview IMAGE </dev/null >out` (cron, CI): no screen to draw on, so no explorer.

    It used to draw for nobody at 100 % CPU, forever. The second is the CPU the refusal
    costs (start-up included): wall time on this shared machine also counts other jobs."""
    for args, command in (([mini], f"slimview report {mini}"), ([], "slimview report")):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.monotonic()
        proc = run_cli(args, tmp_path, timeout=10)  # stdin is not a terminal, stdout a pipe
        took = time.monotonic() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        line = error_line(proc)
        assert line == f"the explorer needs a terminal (standard input and output are not one); for a text report run `{command}`"
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        assert cpu < 1.0 and took < 10, f"{cpu:.2f} s of CPU, {took:.2f} s"


def test_a_mistyped_command_is_named_with_the_command_meant(tmp_path):
    env = cli_env(tmp_path, DOCKER_HOST=NO_ENGINE)
    proc = run_cli(["reprot", "image.tar"], tmp_path, env=env)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.splitlines()[-1] == (
        "Error: 'reprot' is not a command, a file or an image in the local engine; did you mean `slimview report`?"
    )
    proc = run_cli(["extarct"], tmp_path, env=env)
    assert proc.stderr.splitlines()[-1].endswith("did you mean `slimview extract`?")


def test_a_file_named_like_a_command_is_an_image_not_a_typo(tmp_path, mini):
    shutil.copy(mini, tmp_path / "reprot")
    proc = run_cli(["reprot"], tmp_path, env=cli_env(tmp_path, DOCKER_HOST=NO_ENGINE))
    assert error_line(proc).startswith("the explorer needs a terminal")  # taken as the image, not a typo


@pytest.mark.engine
def test_an_engine_image_named_like_a_command_is_not_a_typo(engine, tmp_path):
    """An image in the engine called `reprot` is what the user means."""
    engine.images.get("busybox:latest").tag("reprot", "latest")
    try:
        proc = run_cli(["reprot"], tmp_path, env=cli_env(tmp_path, DOCKER_HOST=engine.docker_host))
        assert error_line(proc).startswith("the explorer needs a terminal")  # taken as the image, not a typo
    finally:
        engine.images.remove("reprot:latest")


def test_an_image_that_cannot_be_opened_is_one_line_on_the_terminal(tmp_path):
    """In a real terminal: the error is on the screen the explorer gives back, exit 2."""
    slimview = shutil.which("slimview")
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache"), "DOCKER_HOST": NO_ENGINE, "TERM": "xterm-256color",
           "PYTHONPATH": os.environ.get("PYTHONPATH", "")}
    cases = [
        (f"{tmp_path}/missing.tar", f"slimview: error: {tmp_path}/missing.tar: no such file or directory"),
        ("no-such-image:1", f"slimview: error: no container engine is running at {NO_ENGINE}"),
    ]
    for image, message in cases:
        term = Terminal(f"{slimview} {image} 2>&1", str(tmp_path), env, size=(200, 24))
        try:
            screen = term.wait_for("slimview-exit=2", timeout=30)
        finally:
            term.close()
        lines = [line for line in screen.splitlines() if line.strip()]
        assert lines[-1] == "slimview-exit=2"
        assert lines[-2].startswith(message), screen
        assert "Traceback" not in screen


def test_rewrite_makes_the_output_directory(tmp_path, mini):
    out = tmp_path / "new" / "dir"
    proc = run_cli(["rewrite", mini, "-o", str(out)], tmp_path, env=cli_env(tmp_path, DOCKER_HOST=NO_ENGINE))
    assert proc.returncode == 0, proc.stderr
    assert sorted(os.listdir(out)) == [".dockerignore.slim", "Dockerfile.slim"]
