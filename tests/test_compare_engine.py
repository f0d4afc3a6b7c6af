"""The bloated sample against its hand-written reference, both built by the engine: `slimview
diff` reports the size change exactly and names the build tools and apt files among what
grew; `slimview ci` with no configuration fails the sample and passes the reference; with
the reference as baseline it fails the sample and names what grew. Expected figures come
from the images' `docker save` (recounted with tarfile) and `docker image inspect`."""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from slimview.display import exact_bytes, human_bytes, signed_bytes

from engine import save_image
from saved_archive import SavedArchive

pytestmark = [pytest.mark.engine, pytest.mark.slow]

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_DIR = ROOT / "sample_images" / "python-inference"
CLI_TIMEOUT_S = 900


def slimview(engine, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    # PYTHONPATH: this tree's slimview, whatever the working directory
    env = {"DOCKER_HOST": engine.docker_host, "PATH": "/usr/local/bin:/usr/bin:/bin", "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "slimview", *args], capture_output=True, text=True, env=env, cwd=cwd,
                          timeout=CLI_TIMEOUT_S, check=False)


def config_id(archive: Path) -> str:
    with tarfile.open(archive) as tar:
        member = tar.extractfile("manifest.json")
        assert member is not None
        (manifest,) = json.load(member)
    return "sha256:" + manifest["Config"].rsplit("/", 1)[-1].removesuffix(".json")


def saved_image(engine, tag: str, directory: Path, known: Path | None = None) -> SavedArchive:
    """The tarfile recount of ``tag`` as the engine has it now (a kept save when it is of the same image)."""
    image_id = engine.images.get(tag).id
    if known is None or not known.is_file() or config_id(known) != image_id:
        known = save_image(engine, tag, directory / (tag.replace(":", "-") + ".tar"))
    assert config_id(known) == image_id
    return SavedArchive(known)


@pytest.fixture(scope="module")
def saves(engine, python_inference, python_inference_reference, python_inference_tar, tmp_path_factory):
    directory = tmp_path_factory.mktemp("saves")
    return (saved_image(engine, python_inference_reference, directory),
            saved_image(engine, python_inference, directory, python_inference_tar))


def stored(saved: SavedArchive, layers: range | None = None) -> int:
    chosen = saved.layers if layers is None else [saved.layers[k] for k in layers]
    return sum(m.size for layer in chosen for m in layer.values() if m.isfile())


def rootfs(engine, tag: str) -> list[str]:
    return engine.images.get(tag).attrs["RootFS"]["Layers"]


def stored_under(saved: SavedArchive, prefix: str) -> int:
    return sum(sum(saved.files_under(k, prefix).values()) for k in range(len(saved.layers)))


def base_layers(engine, image: str, base: str) -> int:
    """How many bottom layers ``image`` shares with ``base`` (checked to be a prefix)."""
    ours, theirs = rootfs(engine, image), rootfs(engine, base)
    assert ours[: len(theirs)] == theirs, (image, base)
    return len(theirs)


def test_diff_reports_the_size_change_exactly_and_names_build_tools_and_apt_files(engine, python_inference, python_inference_reference, saves):
    reference, bloated = saves
    result = slimview(engine, "diff", python_inference_reference, python_inference, "--json")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert (doc["before"]["size_bytes"], doc["after"]["size_bytes"]) == (stored(reference), stored(bloated))
    assert doc["size_change_bytes"] == stored(bloated) - stored(reference) == sum(f["change_bytes"] for f in doc["files"])
    assert (doc["before"]["layer_count"], doc["after"]["layer_count"]) == (len(rootfs(engine, python_inference_reference)),
                                                                           len(rootfs(engine, python_inference)))

    # the layers both images share (debian:bookworm's) are one "shared" row
    shared = 0
    for a, b in zip(rootfs(engine, python_inference_reference), rootfs(engine, python_inference)):
        if a != b:
            break
        shared += 1
    assert shared >= 1
    assert (doc["layers"][0]["status"], doc["layers"][0]["after_layers"]) == ("shared", list(range(shared)))

    # the base changed from python:3.11-slim to debian:bookworm, by exactly their layers' bytes
    before_base, after_base = base_layers(engine, python_inference_reference, "python:3.11-slim"), base_layers(engine, python_inference, "debian:bookworm")
    assert (doc["base"]["status"], doc["base"]["before"], doc["base"]["after"]) == ("changed", "python:3.11-slim", "debian:bookworm")
    base_change = stored(bloated, range(after_base)) - stored(reference, range(before_base))
    assert doc["base_change_bytes"] == base_change
    assert doc["own_change_bytes"] == doc["size_change_bytes"] - base_change

    # build tools among the packages that grew the image most, with their bytes and versions
    install = bloated.layer_of("apt-get install -y build-essential")
    versions = bloated.dpkg_versions(len(bloated.layers) - 1)
    packages = {p["name"]: p for p in doc["packages"]}
    top = [p["name"] for p in doc["packages"] if p["change_bytes"] > 0][:5]
    for name in ("gcc-12", "g++-12", "cpp-12"):
        assert name in top, top
        assert name not in reference.dpkg_versions(len(reference.layers) - 1)
        p = packages[name]
        assert (p["change"], p["after_version"], p["after_layer"]) == ("added", versions[name], install)
        assert p["change_bytes"] == bloated.package_bytes(install, name)

    # apt's lists: stored by `apt-get update`, deleted later, still among the largest growth
    growing = [d for d in doc["directories"] if d["change_bytes"] > 0]
    lists = next(d for d in growing if d["path"] == "var/lib/apt/lists")
    assert lists["change_bytes"] == stored_under(bloated, "var/lib/apt/lists/") - stored_under(reference, "var/lib/apt/lists/") > 10_000_000
    assert lists["after_layer"] == bloated.layer_of("apt-get update")
    assert lists in growing[:10]
    gcc = next(d for d in growing if d["path"].startswith("usr/lib/gcc/x86_64-linux-gnu"))
    assert gcc in growing[:5]

    text = slimview(engine, "diff", python_inference_reference, python_inference)
    assert text.returncode == 0, text.stderr
    grew = text.stdout.split("\nGrew (largest first)\n", 1)[1].split("\nShrank", 1)[0]
    assert "gcc-12 " + versions["gcc-12"] in grew and "/var/lib/apt/lists/" in grew and "RUN apt-get install -y build-essential" in grew
    assert f"({doc['size_change_bytes']:+,} B, " in text.stdout


def test_ci_with_no_config_fails_the_sample_and_passes_the_reference(engine, python_inference, python_inference_reference, saves, tmp_path):
    _reference, bloated = saves
    failed = slimview(engine, "ci", python_inference, cwd=tmp_path)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    lines = failed.stdout.splitlines()
    status = {line.split()[1]: line.split()[0] for line in lines if line.startswith("  ") and line.split()[0] in ("PASS", "FAIL", "SKIP")}
    assert {k for k, v in status.items() if v == "FAIL"} == {"buildTools", "maxPackageCacheBytes", "secrets"}
    install = bloated.layer_of("apt-get install -y build-essential")
    assert f"gcc-12 {human_bytes(bloated.package_bytes(install, 'gcc-12'))}" in failed.stdout
    update, cleanup = bloated.layer_of("apt-get update"), bloated.layer_of("rm -rf /var/lib/apt/lists")
    deleted = bloated.whited_out(cleanup)
    lists = sum(n for p, n in bloated.files_under(update, "var/lib/apt/lists/").items()
                if p in deleted or any(p.startswith(d + "/") for d in deleted))
    assert f"FAIL  maxPackageCacheBytes      {exact_bytes(lists)}" in failed.stdout
    assert f"largest: {human_bytes(lists)} `RUN apt-get update` stored files that" in failed.stdout

    passed = slimview(engine, "ci", python_inference_reference, cwd=tmp_path)
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "FAIL" not in passed.stdout and "PASS  buildTools" in passed.stdout and "PASS  maxPackageCacheBytes" in passed.stdout


def test_ci_with_the_reference_as_baseline_fails_the_sample_and_names_what_grew(engine, python_inference, python_inference_reference, saves, tmp_path):
    reference, bloated = saves
    saved = slimview(engine, "ci", python_inference_reference, "--json", "reference.json", cwd=tmp_path)
    assert saved.returncode == 0, saved.stdout + saved.stderr
    dockerfile = SAMPLE_DIR / "Dockerfile"
    install_line = next(n for n, line in enumerate(dockerfile.read_text().splitlines(), 1) if "apt-get install" in line)
    results = []
    for baseline in (python_inference_reference, "reference.json"):
        got = slimview(engine, "ci", python_inference, "--baseline", baseline, "--dockerfile", str(dockerfile), "--markdown", f"{len(results)}.md",
                       cwd=tmp_path)
        assert got.returncode == 1, got.stdout + got.stderr
        results.append(got.stdout)
    assert results[0] == results[1]  # the saved summary stands for the image
    out = results[0]
    before_base = base_layers(engine, python_inference_reference, "python:3.11-slim")
    after_base = base_layers(engine, python_inference, "debian:bookworm")
    own = (stored(bloated) - stored(reference)) - (stored(bloated, range(after_base)) - stored(reference, range(before_base)))
    share = own / stored(reference)
    (growth,) = [line for line in out.splitlines() if line.startswith("  FAIL  maxGrowthPercent")]
    assert growth.split("maxGrowthPercent", 1)[1].strip().startswith(f"{signed_bytes(own)} ({share * 100:+.2f} %)  [threshold ≤ 0.1]")
    why = out.splitlines()[out.splitlines().index(growth) + 1]
    assert "from the new base image (python:3.11-slim → debian:bookworm) not counted" in why
    assert "by instruction: `RUN apt-get install -y build-essential" in why and "packages: gcc-12 " in why and "/usr/lib/gcc/" in why
    assert out.splitlines()[out.splitlines().index(growth) + 2].strip() == f"at {dockerfile}:{install_line}"
    comment = (tmp_path / "0.md").read_text()
    assert "Compared with the baseline `python-inference:reference`:" in comment and "| **FAIL** | `maxGrowthPercent` |" in comment
