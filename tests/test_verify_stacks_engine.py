"""End to end with the real engine: `slimview verify --reference` on the Node and Go samples.
The rewrite must build, start as a service and answer its health endpoint, be no larger
than the hand-written reference, and leave nothing avoidable in slimview's report.

Figures come from the engine (`docker image inspect`) and from an independent recount of
the saved rewrite (tests/saved_archive.py reads it with tarfile; the sample's own
package-lock.json says which packages are production ones; ELF sections are read with
struct), never from figures measured once.
"""

from __future__ import annotations

import io
import json
import re
import shutil
import tarfile
from pathlib import Path

import docker
import pytest

from elfbuild import sections
from engine import save_image
from rewrite_util import inspect_size_layers, slimview
from samples import SAMPLES, wait_for_health
from saved_archive import SavedArchive

pytestmark = [pytest.mark.engine, pytest.mark.slow]


@pytest.fixture
def tags(engine, image_tag):
    """The rewrite's tag and the reference's (verify builds it beside the rewrite); both removed."""
    reference = f"{image_tag}-reference"
    yield image_tag, reference
    try:
        engine.images.remove(reference, force=True)
    except docker.errors.ImageNotFound:
        pass


def _context(name: str, tmp_path: Path) -> Path:
    root = tmp_path / "context"
    shutil.copytree(SAMPLES[name].directory, root)
    return root


def _sizes(stdout: str) -> tuple[int, int, int]:
    m = re.search(r"^size\s+\S+ \S+ \(([\d,]+) B\)\s+\S+ \S+ \(([\d,]+) B\)\s+\S+ \S+ \(([\d,]+) B\)", stdout, re.M)
    assert m, stdout
    return tuple(int(g.replace(",", "")) for g in m.groups())  # type: ignore[return-value]


def _verify(engine, name: str, original: str, tags: tuple[str, str], tmp_path: Path) -> tuple[str, int, int, int]:
    """verify's stdout and the three sizes, checked against the engine's own."""
    context = _context(name, tmp_path)
    tag, reference = tags
    result = slimview(engine, "verify", original, "--context", str(context), "--build-tag", tag,
                      "--reference", str(context / "Dockerfile.reference"))
    assert result.returncode == 0, result.stdout + result.stderr
    sizes = (inspect_size_layers(engine, original)[0], inspect_size_layers(engine, tag)[0], inspect_size_layers(engine, reference)[0])
    assert _sizes(result.stdout) == sizes
    assert sizes[1] <= sizes[2], f"the rewrite ({sizes[1]:,} B) is larger than the reference ({sizes[2]:,} B)"
    assert f"No larger than the reference {reference} " in result.stdout
    assert "slimview's report on the rewrite finds nothing it claims to fix and nothing the original did not have.\n" in result.stdout
    path = SAMPLES[name].health_path
    assert re.search(
        rf"^Built {re.escape(tag)}; the service started, answered GET {path} \(200\), was still up 3 s later, "
        r"and stopped by SIGTERM in \d+\.\d s$", result.stdout, re.M,
    ), result.stdout
    # The test's own health check, apart from verify's.
    status, body = wait_for_health(engine, SAMPLES[name], tag)
    assert (status, body["status"]) == (200, "ok")
    return (result.stdout, *sizes)


def _files(engine, tag: str, tmp_path: Path) -> tuple[SavedArchive, set[str]]:
    archive = SavedArchive(_saved(engine, tag, tmp_path))
    return archive, {path for path, member in archive.visible().items() if member.isfile()}


def _saved(engine, tag: str, tmp_path: Path) -> Path:
    path = tmp_path / (tag.replace(":", "-") + ".tar")
    return path if path.exists() else save_image(engine, tag, path)


def _body(saved: Path, wanted: str) -> bytes:
    """The body of ``wanted`` as the last layer that stores it holds it (tarfile alone)."""
    found = b""
    with tarfile.open(saved) as outer:
        (manifest,) = json.load(outer.extractfile("manifest.json"))  # type: ignore[arg-type]
        for name in manifest["Layers"]:
            with tarfile.open(fileobj=io.BytesIO(outer.extractfile(name).read())) as layer:  # type: ignore[union-attr]
                for member in layer.getmembers():
                    if member.isfile() and member.name.removeprefix("./") == wanted:
                        found = layer.extractfile(member).read()  # type: ignore[union-attr]
    return found


def test_node_rewrite_verifies_and_ships_only_production_packages(engine, node_service, node_service_reference, tags, tmp_path):
    _stdout, _original, _rewrite, _reference = _verify(engine, "node-service", node_service, tags, tmp_path)
    directory = SAMPLES["node-service"].directory
    lock = json.loads((directory / "package-lock.json").read_text())["packages"]
    production = {f"app/{loc}/package.json" for loc, info in lock.items() if loc and not info.get("dev")}
    dev = {f"app/{loc}/package.json" for loc, info in lock.items() if loc and info.get("dev")}

    archive, files = _files(engine, tags[0], tmp_path)
    installed = {p for p in files if re.fullmatch(r"app/node_modules/(@[^/]+/)?[^/]+(/node_modules/(@[^/]+/)?[^/]+)*/package\.json", p)}
    assert installed == production
    assert not dev & files
    _ref_archive, reference_files = _files(engine, tags[1], tmp_path)
    dist = {p for p in reference_files if p.startswith("app/dist/")}
    assert {p for p in files if p.startswith("app/dist/")} == {p for p in dist if not p.endswith(".map")}
    app = {p for p in files if p.startswith("app/") and not p.startswith(("app/node_modules/", "app/dist/"))}
    assert app == {"app/package.json"}
    assert not {p for p in files if p.startswith(("root/.npm/", "app/src/", "app/tests/"))}

    config = archive.config["config"]
    assert (config["User"], config["WorkingDir"], config["Cmd"]) == ("1000:1000", "/app", ["node", "dist/server.js"])
    assert "NODE_ENV=production" in config["Env"]


def test_go_rewrite_verifies_and_ships_one_static_stripped_program(engine, go_service, go_service_reference, tags, tmp_path):
    _stdout, _original, _rewrite, _reference = _verify(engine, "go-service", go_service, tags, tmp_path)
    archive, files = _files(engine, tags[0], tmp_path)
    assert files == {"usr/local/bin/server"}
    found = sections(_body(_saved(engine, tags[0], tmp_path), "usr/local/bin/server"))
    assert ".interp" not in found and ".dynamic" not in found  # static
    assert not {name for name in found if name.startswith((".debug_", ".zdebug_")) or name in (".symtab", ".strtab")}
    config = archive.config["config"]
    assert (config["User"], config["Cmd"]) == ("10001:10001", ["/usr/local/bin/server"])


def test_a_service_that_exits_fails_with_its_logs(engine):
    from slimview.verify import service_check

    result = service_check("busybox:latest", ("/health",))  # its sh exits at once without a terminal
    assert not result.ok
    assert result.command[0] == "GET" and result.command[1].endswith("/health")
    assert result.output.startswith("the service exited before answering:\n")
