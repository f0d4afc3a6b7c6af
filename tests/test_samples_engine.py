"""The sample images build, run and answer their health endpoints; each hand-written
reference is smaller than its bloated sample and leaves out what the sample wastes.

Sizes come from the engine (`docker image inspect`), contents from an independent
recount of the saved image (tests/saved_archive.py), never from figures measured once.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine import save_image
from samples import SAMPLES, wait_for_health
from saved_archive import SavedArchive

pytestmark = pytest.mark.engine

FIXTURES = {
    ("python-inference", False): "python_inference",
    ("python-inference", True): "python_inference_reference",
    ("node-service", False): "node_service",
    ("node-service", True): "node_service_reference",
    ("go-service", False): "go_service",
    ("go-service", True): "go_service_reference",
}


def sample_tag(request, name: str, *, reference: bool) -> str:
    return request.getfixturevalue(FIXTURES[name, reference])


def saved(engine, tag: str, tmp_path: Path) -> SavedArchive:
    return SavedArchive(save_image(engine, tag, tmp_path / (tag.replace(":", "-") + ".tar")))


def regular_files(archive: SavedArchive) -> set[str]:
    return {path for path, member in archive.visible().items() if member.isfile()}


@pytest.mark.parametrize("reference", [False, True], ids=["bloated", "reference"])
@pytest.mark.parametrize("name", list(SAMPLES))
def test_sample_answers_its_health_endpoint(engine, request, name, reference):
    tag = sample_tag(request, name, reference=reference)
    status, body = wait_for_health(engine, SAMPLES[name], tag)
    assert status == 200
    assert body["status"] == "ok"


@pytest.mark.parametrize("name", list(SAMPLES))
def test_reference_is_smaller_and_runs_as_a_non_root_user(engine, request, name):
    bloated = engine.images.get(sample_tag(request, name, reference=False)).attrs
    reference = engine.images.get(sample_tag(request, name, reference=True)).attrs
    assert reference["Size"] < bloated["Size"]
    assert bloated["Config"].get("User", "") == ""  # the bloated samples run as root
    user = reference["Config"]["User"]
    assert user not in ("", "root", "0") and not user.startswith(("0:", "root:"))


def test_node_sample_ships_dev_dependencies_and_the_npm_cache_and_the_reference_does_not(
    engine, node_service, node_service_reference, tmp_path
):
    manifest = json.loads((SAMPLES["node-service"].directory / "package.json").read_text())
    dev = {f"app/node_modules/{name}/package.json" for name in manifest["devDependencies"]}
    runtime = {f"app/node_modules/{name}/package.json" for name in manifest["dependencies"]}
    assert "typescript" in manifest["devDependencies"]

    bloated = regular_files(saved(engine, node_service, tmp_path))
    assert dev | runtime <= bloated
    assert {p for p in bloated if p.startswith("root/.npm/_cacache/content-v2/")}, "npm's cache holds the tarballs"
    assert {"app/src/server.ts", "app/tests/app.test.ts", "app/.env", "app/coverage/lcov.info"} <= bloated
    assert any(p.startswith("app/.git/objects/") for p in bloated)

    reference = regular_files(saved(engine, node_service_reference, tmp_path))
    assert runtime <= reference
    assert not dev & reference
    assert not {p for p in reference if p.startswith("root/.npm/")}
    app = {p for p in reference if p.startswith("app/") and not p.startswith("app/node_modules/")}
    assert app == {"app/package.json"} | {p for p in app if p.startswith("app/dist/")}
    assert "app/dist/server.js" in app


def test_go_sample_ships_the_toolchain_and_the_reference_only_its_binary(
    engine, go_service, go_service_reference, tmp_path
):
    bloated = regular_files(saved(engine, go_service, tmp_path))
    assert {"usr/local/bin/server", "usr/lib/go-1.19/bin/go", "app/main.go", "app/server_test.go", "app/.env"} <= bloated
    assert any(p.startswith("root/.cache/go-build/") for p in bloated)

    reference = saved(engine, go_service_reference, tmp_path)
    assert regular_files(reference) == {"server"}
    assert reference.config["config"]["Entrypoint"] == ["/server"]


def test_python_reference_ships_the_virtualenv_without_compilers(engine, python_inference_reference, tmp_path):
    files = regular_files(saved(engine, python_inference_reference, tmp_path))
    assert any(p.startswith("opt/venv/lib/python3.11/site-packages/numpy/") for p in files)
    assert "app/inference_engine/app.py" in files
    assert not {p for p in files if p.startswith(("usr/bin/gcc", "usr/bin/x86_64-linux-gnu-gcc", "usr/include/python3"))}
    assert not {p for p in files if p.startswith(("app/tests/", "app/.git/", "app/.env", "root/.cache/pip/"))}
