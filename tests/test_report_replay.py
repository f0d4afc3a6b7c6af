"""Saved reports: `slimview report` on an unchanged image file replays its earlier output.

A replayed report must be byte-identical to a fresh one, and must never be served when
anything that shapes the output differs: the image file (any write), the format, the
text width, the options, or slimview's own code. The replay path is proven to be taken
by planting a marked (but correctly checksummed) body and seeing it come back.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import xxhash

from indexcheck import cli_env, run_cli
from slimview.report import saved
from slimview.sample.builder import ImageSpec, Layer, write_docker_archive

MARK = b"REPLAYED FROM THE SAVED COPY\n"


def image_spec() -> ImageSpec:
    return ImageSpec(
        [
            Layer("/bin/sh -c #(nop) ADD file:0123 in / ").dir("etc").file("etc/os-release", b"ID=test\n"),
            Layer("RUN /bin/sh -c apt-get update # buildkit", comment="buildkit.dockerfile.v0")
            .file("var/lib/apt/lists/index", b"i" * 40_000),
        ],
        cmd=["sh"],
    )


@pytest.fixture
def image(tmp_path) -> Path:
    path = tmp_path / "image.tar"
    write_docker_archive(image_spec(), str(path), ["demo:1.0"])
    return path


@pytest.fixture
def env(tmp_path):
    return cli_env(tmp_path / "cache", COLUMNS="120")


def saved_files(env) -> list[Path]:
    root = Path(env["XDG_CACHE_HOME"]) / "slimview" / f"reports-v{saved.FORMAT}"
    return sorted(p for p in root.iterdir() if not p.name.startswith(".tmp-")) if root.exists() else []


def plant(path: Path, body: bytes) -> None:
    """Replace a saved report's body, keeping its key line and a valid checksum."""
    data = path.read_bytes()
    header = data[: 4 + int.from_bytes(data[:4], "big")]
    path.write_bytes(header + body + xxhash.xxh3_128_digest(body))


def test_the_argv_shapes_that_replay():
    assert saved.request_from_argv(["report", "x.tar"]) == ("x.tar", "text", False)
    assert saved.request_from_argv(["report", "--json", "x.tar"]) == ("x.tar", "json", False)
    assert saved.request_from_argv(["report", "x.tar", "--format", "markdown", "--no-files"]) == ("x.tar", "markdown", True)
    assert saved.request_from_argv(["report", "--format=sarif", "x.tar"]) == ("x.tar", "sarif", False)
    assert saved.request_from_argv(["report", "--json", "--format", "json", "x.tar"]) is None  # the parser decides
    for argv in (
        [],
        ["x.tar"],
        ["tui", "x.tar"],
        ["report"],
        ["report", "--format", "html", "x.tar"],
        ["report", "--format"],
        ["report", "x.tar", "y.tar"],
        ["report", "x.tar", "--no-cache"],
        ["report", "x.tar", "-o", "out.json"],
        ["report", "x.tar", "--tag", "a:b"],
        ["report", "x.tar", "--verify"],
        ["report", "x.tar", "--max-entries", "5"],
        ["report", "--", "x.tar"],
        ["ci", "x.tar"],
    ):
        assert saved.request_from_argv(argv) is None, argv


@pytest.mark.parametrize("fmt", ["text", "json", "markdown", "sarif"])
def test_a_second_run_replays_byte_identical_output(image, env, fmt):
    args = ["report", str(image), "--format", fmt]
    first = run_cli(args, env)
    assert (first.returncode, first.stderr) == (0, "")
    assert len(saved_files(env)) == 1
    again = run_cli(args, env)
    assert (again.returncode, again.stdout, again.stderr) == (0, first.stdout, "")
    fresh = run_cli([*args, "--no-cache"], env)
    assert fresh.stdout == first.stdout


def test_the_saved_copy_is_what_a_second_run_prints(image, env):
    first = run_cli(["report", "--json", str(image)], env)
    [entry] = saved_files(env)
    plant(entry, MARK)
    assert run_cli(["report", "--json", str(image)], env).stdout == MARK.decode()
    # A body whose checksum does not match is not served: the report is rendered again.
    entry.write_bytes(entry.read_bytes()[:-1] + b"\0")
    assert run_cli(["report", "--json", str(image)], env).stdout == first.stdout


def test_what_changes_the_output_is_never_replayed(image, env, tmp_path):
    first = run_cli(["report", str(image)], env)
    [entry] = saved_files(env)
    plant(entry, MARK)
    assert run_cli(["report", str(image)], env).stdout == MARK.decode()
    # Other options, another width, another format: rendered, not replayed.
    for args, extra_env in (
        (["report", str(image), "--no-cache"], {}),
        (["report", str(image), "--tag", "demo:1.0"], {}),
        (["report", str(image), "--verify"], {}),
        (["report", str(image)], {"COLUMNS": "100"}),
        (["report", str(image), "--format", "markdown"], {}),
    ):
        proc = run_cli(args, {**env, **extra_env})
        assert proc.returncode == 0 and MARK.decode() not in proc.stdout, args
    out = tmp_path / "out.txt"
    assert run_cli(["report", str(image), "-o", str(out)], env).returncode == 0
    assert out.read_text() == first.stdout
    # Any write to the image moves its ctime: the saved copy no longer applies.
    os.utime(image)
    assert run_cli(["report", str(image)], env).stdout == first.stdout
    assert SLIMVIEW_NO_REPLAY_is_honoured(image, env)


def SLIMVIEW_NO_REPLAY_is_honoured(image, env) -> bool:
    run_cli(["report", str(image)], env)
    for entry in saved_files(env):
        plant(entry, MARK)
    replayed = run_cli(["report", str(image)], env).stdout
    bypassed = run_cli(["report", str(image)], {**env, "SLIMVIEW_NO_REPLAY": "1"}).stdout
    return replayed == MARK.decode() and MARK.decode() not in bypassed


def test_a_code_change_changes_every_key(image, tmp_path, monkeypatch):
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "a.py").write_text("A = 1\n")
    (package / "sub" / "b.py").write_text("B = 1\n")
    monkeypatch.setattr(saved, "_PACKAGE", str(package))
    before = saved.key_for(str(image), "json", False)
    assert before == saved.key_for(str(image), "json", False)
    (package / "sub" / "b.py").write_text("B = 22\n")
    assert saved.key_for(str(image), "json", False) != before
    assert saved.key_for(str(image), "json", True) != saved.key_for(str(image), "json", False)
    # An upgraded output library (here a stand-in module) changes it too.
    library = tmp_path / "libs" / "fakejson"
    library.mkdir(parents=True)
    (library / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path / "libs"))
    monkeypatch.setattr(saved, "_OUTPUT_LIBRARIES", ("fakejson",))
    with_library = saved.key_for(str(image), "json", False)
    (library / "__init__.py").write_text("VERSION = 2\n")
    assert saved.key_for(str(image), "json", False) != with_library
    assert saved.key_for(str(tmp_path), "json", False) is None  # a directory: never replayed
    assert saved.key_for(str(tmp_path / "absent.tar"), "json", False) is None


def test_only_the_newest_reports_are_kept(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    for i in range(saved.KEEP + 5):
        saved.store(f"key {i}", b"report %d" % i)
        os.utime(os.path.join(saved._root(), saved._name(f"key {i}")), ns=(i * 10**9, i * 10**9))
    saved.store("last", b"last")
    kept = os.listdir(saved._root())
    assert len(kept) == saved.KEEP
    assert saved.load("last") == b"last"
    assert saved.load("key 0") is None
    assert saved.load(f"key {saved.KEEP + 4}") == b"report %d" % (saved.KEEP + 4)
    # A stale temporary file (a run killed mid-save) goes; a fresh one (a run saving now) stays.
    stale, fresh = (os.path.join(saved._root(), name) for name in (".tmp-stale", ".tmp-fresh"))
    for path in (stale, fresh):
        Path(path).write_bytes(b"half")
    os.utime(stale, (1, 1))
    saved.store("one more", b"x")
    assert not os.path.exists(stale) and os.path.exists(fresh)


def test_a_reader_that_goes_away_is_not_an_error(image, env):
    run_cli(["report", "--json", str(image)], env)
    [entry] = saved_files(env)
    plant(entry, b"x" * (4 << 20))  # more than a pipe holds
    proc = subprocess.run(
        ["bash", "-o", "pipefail", "-c", f"{sys.executable} -m slimview report --json {image} | head -c 10"],
        capture_output=True, env=env, timeout=60, check=False,
    )
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, b"x" * 10, b"")


def test_a_closed_standard_output_is_one_clear_error(image, env):
    run_cli(["report", "--json", str(image)], env)  # saved: the second run could replay
    for args in (f"report --json {image}", f"report --json --no-cache {image}"):
        proc = subprocess.run(
            ["bash", "-c", f"{sys.executable} -m slimview {args} >&-"], capture_output=True, text=True, env=env, timeout=60, check=False,
        )
        assert (proc.returncode, proc.stderr) == (2, "slimview: error: standard output is closed (pass -o FILE to write the output to a file)\n")

